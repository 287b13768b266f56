package web

import (
	"html"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/web/webtest"
)

// TestChromium loads the pages in a real headless Chromium: what a browser
// shows after the page's scripts ran, under the page's Content-Security-
// Policy. Screenshots of each page go to the artefact directory.
func TestChromium(t *testing.T) {
	t.Parallel()
	b := webtest.Chromium(t)
	src := newFakeSource(t)
	srv := newServer(t, src) // httptest listens on 127.0.0.1
	artifacts := webtest.ArtifactDir(t)

	// load returns the DOM of path and saves a screenshot of it.
	load := func(t *testing.T, path string, height int) string {
		t.Helper()
		file := filepath.Join(artifacts, artifactName(t.Name())+".png")
		dom, err := b.Capture(t.Context(), srv.URL+path, file, 1280, height)
		if err != nil {
			t.Fatal(err)
		}
		// Every page loads its copy script (allowed by its hash in the
		// policy), which shows the copy buttons hidden without it.
		if hiddenCopy.MatchString(dom) {
			t.Errorf("%s: copy buttons still hidden: the page's script did not run", path)
		}
		checkPNG(t, file, 1280, height)
		t.Logf("screenshot: %s", file)
		return dom
	}

	t.Run("overview", func(t *testing.T) {
		dom := load(t, "/", 900)
		mustContain(t, "overview DOM", dom, testHealthy, testViolating, "✓ healthy", "✗ unhealthy",
			"log prod-rekor-v2 failed verification (consistency)", "unexpected identity signed entry 42 in log prod-rekor",
			`href="/alerts/`+integrityID+`"`)
	})

	t.Run("integrity alert", func(t *testing.T) {
		dom := load(t, "/alerts/"+integrityID, 1600)
		ev := src.alerts[0].Evidence
		// The checkpoints as text, line by line, and in the event JSON.
		for _, cp := range []string{ev.OldCheckpoint, ev.NewCheckpoint} {
			for _, line := range strings.Split(strings.TrimSpace(cp), "\n") {
				mustContain(t, "alert DOM", dom, html.EscapeString(line))
			}
		}
		mustContain(t, "alert DOM", dom, `<pre id="old-checkpoint">`, `<pre id="new-checkpoint">`, `<pre id="event-json">`,
			ev.Proof[0], "go run consistency.go 5 8",
			`<button class="copy" type="button" data-target="event-json">copy</button>`) // shown by the script
	})

	t.Run("search", func(t *testing.T) {
		// Submit the page's own form as a browser would: every named field
		// of it, the subject filled in, the rest empty.
		form := getStatus(t, srv, "/search", 200)
		if !strings.Contains(form, `<form class="search" method="get" action="/search">`) {
			t.Fatalf("no search form in the DOM:\n%s", form)
		}
		var names []string
		for _, m := range regexp.MustCompile(`<input name="([^"]+)"`).FindAllStringSubmatch(form, -1) {
			names = append(names, m[1])
		}
		sort.Strings(names)
		want := []string{"digest", "ext_oid", "ext_value", "fingerprint", "issuer", "limit", "log", "since", "subject", "until"}
		if strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("form fields = %v, want %v", names, want)
		}
		v := url.Values{}
		for _, n := range names {
			v.Set(n, "")
		}
		v.Set("subject", testEmail)
		dom := load(t, "/search?"+v.Encode(), 900)
		mustContain(t, "search DOM", dom, "<h2>Results</h2>", `href="/entries/prod-rekor/42"`, `href="/entries/prod-rekor-v2/7"`,
			"proof ✓", "log unreachable: connection refused", `rel="next"`, `value="`+testEmail+`"`)
		if q, _ := src.lastQuery(); q.Subject != testEmail {
			t.Errorf("the search ran for subject %q, want %q", q.Subject, testEmail)
		}
	})

	t.Run("entry", func(t *testing.T) {
		dom := load(t, "/entries/prod-rekor/42", 2400)
		mustContain(t, "entry DOM", dom, "CN="+testCertCN+",O=sigstore.dev", "email: "+testEmail, "ECDSA P-256",
			"source repository URI", testRepo, "-----BEGIN CERTIFICATE-----", "✓ SHA-256(0x00 ‖ body) equals it")
		// The script-injection subjects are text: no element was made of
		// them, and nothing ran (the img's onerror would mark the body).
		mustContain(t, "entry DOM", dom, "&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=")
		mustNotContain(t, "entry DOM", dom, "<script>alert(1)", "<img")
		if pwned.MatchString(dom) {
			t.Error("entry DOM: the injected onerror handler ran")
		}
		if n := strings.Count(dom, "<script>"); n != 1 {
			t.Errorf("entry DOM has %d script elements, want 1 (the page's own)", n)
		}
	})

	t.Run("unexpected identity alert", func(t *testing.T) {
		dom := load(t, "/alerts/"+unexpectedID, 1600)
		mustContain(t, "alert DOM", dom, "&lt;script&gt;alert(1)&lt;/script&gt;", src.alerts[1].Evidence.Entry.LeafHash)
		mustNotContain(t, "alert DOM", dom, "<script>alert(1)")
		if pwned.MatchString(dom) {
			t.Error("alert DOM: an injected handler ran")
		}
	})
}

// hiddenCopy matches a copy button the page's script did not show.
var hiddenCopy = regexp.MustCompile(`<button class="copy"[^>]*hidden`)

// pwned matches a body element that an injected handler marked.
var pwned = regexp.MustCompile(`<body[^>]*data-pwned`)

// artifactName is a test's name as a file name.
func artifactName(test string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, test)
}

// checkPNG fails t unless file is a PNG of width by height pixels.
func checkPNG(t *testing.T, file string, width, height int) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() == 0 {
		t.Fatalf("%s is empty", file)
	}
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if cfg.Width != width || cfg.Height != height {
		t.Errorf("%s is %dx%d, want %dx%d", file, cfg.Width, cfg.Height, width, height)
	}
}
