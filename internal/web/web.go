// Package web is the monitor's web page: an overview of the watched logs
// and the recent alerts, one page per alert with its evidence and the
// commands that check it by hand, a search form over the index, and one
// page per indexed entry with its certificates decoded.
//
// # Pages
//
//	GET /                          overview: logs, their health and last verified checkpoint; recent alerts
//	GET /alerts/{id}               one alert, its evidence as JSON, how to check it by hand
//	GET /alerts/{id}/event.json    the alert as JSON, to save as event.json
//	GET /search?subject=...        the search form and one page of results
//	GET /entries/{log}/{index}     one indexed entry, its proof, certificates and body
//
// Everything else is a 404 page; a method other than GET or HEAD is a 405
// page. Errors are pages too, never a bare status.
//
// # Security
//
// Log names, subjects, checkpoints and entry bodies come from the logs
// (and so, for entries, from whoever signed them): every value goes
// through html/template's contextual escaping, and none is ever marked
// safe. The pages need no outside assets: the CSS and the few lines of
// JavaScript (the "copy" buttons, hidden without JavaScript) are inline,
// allowed by their SHA-256 hashes in a Content-Security-Policy that allows
// nothing else, so an injected script would not run even if escaping
// failed. Commands shown for checking evidence by hand never embed
// evidence text: they read it from the saved event with jq; only numbers,
// hex checked as hex, and the configured log URL (shell-quoted) appear in
// them.
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/search"
)

// ErrNoIndex is what [Source.Search] and [Source.Entry] return when the
// monitor runs without an index (index.disabled in its configuration). It
// is search.ErrNoIndex, which the search service returns, so that either
// name matches with errors.Is.
var ErrNoIndex = search.ErrNoIndex

// Options configures [Handler]. The zero value is usable.
type Options struct {
	// Title names the monitor in headings and page titles (default
	// "Vigil").
	Title string
	// Now returns the current time (default time.Now); tests set it.
	Now func() time.Time
	// Logger receives the source's and the templates' errors (default
	// slog.Default()).
	Logger *slog.Logger
}

// Bounds on what one page asks of the source and shows.
const (
	// overviewAlerts is how many alerts the overview lists.
	overviewAlerts = 50
	// lookupAlerts is how many recent alerts /alerts/{id} looks through.
	lookupAlerts = 500
	// maxCertificates is how many certificates the entry view decodes.
	maxCertificates = 16
	// maxBodyShown bounds the entry body the entry view shows.
	maxBodyShown = 1 << 20
)

//go:embed templates/*.html static/vigil.css static/copy.js
var assets embed.FS

var (
	styleCSS = mustRead("static/vigil.css")
	copyJS   = mustRead("static/copy.js")
	// csp allows the inline style and script by hash and nothing else.
	// img-src data: is for the empty data: favicon (no /favicon.ico
	// request); form-action keeps the search form on this origin.
	csp = fmt.Sprintf("default-src 'none'; style-src '%s'; script-src '%s'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		hashSource(styleCSS), hashSource(copyJS))
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic("web: embedded asset missing: " + name)
	}
	return string(b)
}

// hashSource is the CSP source expression allowing exactly the inline
// element content s.
func hashSource(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// pages are the templates, each a page template with the base layout.
var pages = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"css":       func() template.CSS { return template.CSS(styleCSS) },
		"js":        func() template.JS { return template.JS(copyJS) },
		"timeText":  timeText,
		"timeAttr":  timeAttr,
		"join":      strings.Join,
		"pathEsc":   pathEscape,
		"searchURL": searchURL,
		"entryURL":  entryURL,
		"alertURL":  alertURL,
		"extName":   extensionName,
		"sevClass":  severityClass,
		"add1":      func(i int) int { return i + 1 },
		"short":     short,
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		panic(err)
	}
	m := make(map[string]*template.Template)
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		m[base] = template.Must(template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n))
	}
	return m
}()

// handler serves the pages of one [Handler].
type handler struct {
	src   Source
	title string
	now   func() time.Time
	log   *slog.Logger
}

// Handler returns the page's handler, serving the paths listed in the
// package documentation from the root of its URL space. Every response
// carries a strict Content-Security-Policy and the usual hardening headers.
// Each request's context is passed to src.
func Handler(src Source, opts Options) http.Handler {
	h := &handler{src: src, title: opts.Title, now: opts.Now, log: opts.Logger}
	if h.title == "" {
		h.title = "Vigil"
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.overview)
	mux.HandleFunc("GET /alerts/{id}", h.alert)
	mux.HandleFunc("GET /alerts/{id}/event.json", h.alertJSON)
	mux.HandleFunc("GET /search", h.search)
	mux.HandleFunc("GET /entries/{log}/{index}", h.entry)
	mux.HandleFunc("/", h.notFound)
	return secure(mux)
}

// secure sets the security headers on every response.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		// The pages show live state and evidence: nothing to cache.
		hd.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// page is what every page template gets: the layout's fields.
type page struct {
	Title   string // the monitor's name
	Heading string // the page's
	Nav     string // "overview", "search" or "" (highlights the nav link)
	Now     time.Time
}

// Ago is t relative to the page's time: "3m ago", "in 2d".
func (p page) Ago(t time.Time) string { return ago(p.Now, t) }

func (h *handler) page(heading, nav string) page {
	return page{Title: h.title, Heading: heading, Nav: nav, Now: h.now().UTC()}
}

// render executes the page template name with data and writes it with
// status. It renders into a buffer first, so that a template error is a
// 500 page, not half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	t, ok := pages[name]
	if !ok {
		h.log.ErrorContext(r.Context(), "web: no such template", "template", name)
		writeFallback(w, "no template "+name)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.ErrorContext(r.Context(), "web: rendering page", "template", name, "path", r.URL.Path, "err", err)
		writeFallback(w, "rendering the page failed: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// writeFallback is the 500 page for when the templates themselves fail.
func writeFallback(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, "<!doctype html><title>Internal error</title><h1>Internal error</h1><p>%s</p>\n", template.HTMLEscapeString(msg))
}

// errorPage is the data of the error template.
type errorPage struct {
	page
	Status  int
	Message string
	// Hint is a second paragraph: what to do about it.
	Hint string
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, status int, msg, hint string) {
	h.render(w, r, status, "error", errorPage{
		page:   h.page(http.StatusText(status), ""),
		Status: status, Message: msg, Hint: hint,
	})
}

// sourceFailed renders err, which src returned, as a 500 page, and logs
// it.
func (h *handler) sourceFailed(w http.ResponseWriter, r *http.Request, what string, err error) {
	if errors.Is(err, context.Canceled) {
		// The client went away; nobody reads the page.
		return
	}
	h.log.ErrorContext(r.Context(), "web: "+what, "path", r.URL.Path, "err", err)
	h.fail(w, r, http.StatusInternalServerError, what+": "+err.Error(), "")
}

// noIndex is the page for ErrNoIndex.
func (h *handler) noIndex(w http.ResponseWriter, r *http.Request, nav string) {
	p := errorPage{
		page:    h.page("Search is off", nav),
		Status:  http.StatusNotImplemented,
		Message: "This monitor runs without an index, so it cannot search entries or show them.",
		Hint: "The index is on by default; it is turned off with index: {disabled: true} in the monitor's configuration. " +
			"Remove that (the default keeps a SQLite file in the state directory, or set index.driver: postgres) and restart the monitor: " +
			"it indexes the entries it verifies from then on.",
	}
	h.render(w, r, http.StatusNotImplemented, "error", p)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed, "This page only answers GET requests.", "")
		return
	}
	h.fail(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".", "")
}
