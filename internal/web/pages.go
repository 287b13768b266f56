package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/search"
)

// trustWarning is how long before a trust expiry the overview highlights
// it.
const trustWarning = 30 * 24 * time.Hour

// findLog returns the log named name, or nil.
func findLog(logs []Log, name string) *Log {
	for i := range logs {
		if logs[i].Name == name {
			return &logs[i]
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// Overview

// logRow is one log of the overview.
type logRow struct {
	Log
	// Trust is "bad" when the trust expiry is past, "warn" within 30
	// days, "" otherwise.
	Trust string
	Head  noteHead
}

type overviewPage struct {
	page
	Logs   []logRow
	Alerts []alert.Event
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := overviewPage{page: h.page("Overview", "overview")}
	for _, l := range h.src.Logs(ctx) {
		row := logRow{Log: l, Head: parseNoteHead(l.Checkpoint)}
		if !l.TrustExpiry.IsZero() {
			switch left := l.TrustExpiry.Sub(p.Now); {
			case left <= 0:
				row.Trust = "bad"
			case left <= trustWarning:
				row.Trust = "warn"
			}
		}
		p.Logs = append(p.Logs, row)
	}
	p.Alerts = h.src.Alerts(ctx, overviewAlerts)
	if len(p.Alerts) > overviewAlerts {
		p.Alerts = p.Alerts[:overviewAlerts]
	}
	h.render(w, r, http.StatusOK, "overview", p)
}

// ---------------------------------------------------------------------------
// Alerts

type alertPage struct {
	page
	Event alert.Event
	// JSON is the event, indented.
	JSON     string
	Identity []kv
	Before   []kv
	After    []kv
	// EntryLink is the entry view of the event's entry; "" when it has
	// none.
	EntryLink string
	// Log is the event's log, nil when Vigil does not watch it.
	Log   *Log
	Steps []step
}

// findAlert returns the alert with id among the recent ones.
func (h *handler) findAlert(r *http.Request, id string) (alert.Event, bool) {
	evs := h.src.Alerts(r.Context(), lookupAlerts)
	for i := 0; i < len(evs) && i < lookupAlerts; i++ {
		if evs[i].ID == id {
			return evs[i], true
		}
	}
	return alert.Event{}, false
}

func (h *handler) alertMissing(w http.ResponseWriter, r *http.Request, id string) {
	h.fail(w, r, http.StatusNotFound, "There is no alert "+strconv.Quote(id)+" among the recent ones.",
		"The page looks through the "+strconv.Itoa(lookupAlerts)+" most recent alerts; older ones are in the alert sinks (webhook, Alertmanager, Slack, the log).")
}

func (h *handler) alert(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, ok := h.findAlert(r, id)
	if !ok {
		h.alertMissing(w, r, id)
		return
	}
	js, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		h.sourceFailed(w, r, "encoding the alert", err)
		return
	}
	p := alertPage{
		page:     h.page("Alert "+string(e.Kind), ""),
		Event:    e,
		JSON:     string(js),
		Identity: sortedKV(e.Evidence.Identity),
		Before:   sortedKV(e.Evidence.Before),
		After:    sortedKV(e.Evidence.After),
		Log:      findLog(h.src.Logs(r.Context()), e.Log),
	}
	if en := e.Evidence.Entry; en != nil && en.Index >= 0 && e.Log != "" {
		p.EntryLink = entryURL(e.Log, en.Index)
	}
	p.Steps = alertSteps(e, p.Log)
	h.render(w, r, http.StatusOK, "alert", p)
}

// alertJSON serves the alert as a JSON file, to save as event.json.
func (h *handler) alertJSON(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	e, ok := h.findAlert(r, id)
	if !ok {
		h.alertMissing(w, r, id)
		return
	}
	js, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		h.sourceFailed(w, r, "encoding the alert", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="event.json"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(js, '\n'))
	}
}

// ---------------------------------------------------------------------------
// Search

// Parameters of the search page's form that the JSON API does not take:
// one extension as an OID (or its name) and a value.
const (
	formExtOID   = "ext_oid"
	formExtValue = "ext_value"
)

// searchForm is what the search form shows: the request's values.
type searchForm struct {
	Subject, Issuer, Digest, Fingerprint, Log string
	Since, Until, Limit                       string
	ExtOID, ExtValue                          string
	// Extra are further extension.<oid> parameters, kept as hidden
	// fields.
	Extra []kv
}

// resultRow is one search result.
type resultRow struct {
	search.Result
	Subjects []string
	Issuers  []string
}

type searchPage struct {
	page
	Form     searchForm
	Searched bool
	// Err is a malformed query; Invalid marks the form fields it names.
	Err     string
	Invalid map[string]bool
	Results []resultRow
	// Next is the URL of the next page, "" on the last.
	Next string
	// Known lists the Fulcio extensions for the OID field's suggestions;
	// Logs the watched logs' names for the log field's.
	Known []extRow
	Logs  []string
}

// formValues turns the search page's parameters into ParseQuery's:
// ext_oid (an OID or an extension's name) and ext_value become
// extension.<oid>.
func formValues(v url.Values) (url.Values, error) {
	out := make(url.Values, len(v))
	for k, vs := range v {
		if k != formExtOID && k != formExtValue {
			out[k] = vs
		}
	}
	for _, k := range []string{formExtOID, formExtValue} {
		if len(v[k]) > 1 {
			return nil, &index.QueryError{Field: k, Value: strings.Join(v[k], ","), Reason: "given more than once"}
		}
	}
	oid, val := strings.TrimSpace(v.Get(formExtOID)), strings.TrimSpace(v.Get(formExtValue))
	switch {
	case oid == "" && val == "":
		return out, nil
	case oid == "":
		return nil, &index.QueryError{Field: formExtOID, Value: oid, Reason: "give the extension (its OID) that should have this value"}
	case val == "":
		return nil, &index.QueryError{Field: formExtValue, Value: val, Reason: "give the value extension " + oid + " should have"}
	}
	if !validOID(oid) {
		for n, name := range fulcioNames {
			if strings.EqualFold(name, oid) {
				oid = fulcioArc + strconv.Itoa(n)
				break
			}
		}
	}
	out.Add(paramExtension+oid, val)
	return out, nil
}

// fillForm is the form showing the request's values v.
func fillForm(v url.Values) searchForm {
	f := searchForm{
		Subject: v.Get(paramSubject), Issuer: v.Get(paramIssuer), Digest: v.Get(paramDigest),
		Fingerprint: v.Get(paramFingerprint), Log: v.Get(paramLog), Since: v.Get(paramSince),
		Until: v.Get(paramUntil), Limit: v.Get(paramLimit),
		ExtOID: v.Get(formExtOID), ExtValue: v.Get(formExtValue),
	}
	var exts []string
	for k := range v {
		if strings.HasPrefix(k, paramExtension) {
			exts = append(exts, k)
		}
	}
	sort.Strings(exts)
	for _, k := range exts {
		if f.ExtOID == "" && f.ExtValue == "" {
			f.ExtOID, f.ExtValue = strings.TrimPrefix(k, paramExtension), v.Get(k)
			continue
		}
		f.Extra = append(f.Extra, kv{k, v.Get(k)})
	}
	return f
}

// anySet reports whether v has a non-empty value.
func anySet(v url.Values) bool {
	for _, vs := range v {
		for _, s := range vs {
			if strings.TrimSpace(s) != "" {
				return true
			}
		}
	}
	return false
}

// invalidFields marks the form fields a query error names.
func invalidFields(err error) map[string]bool {
	var qe *index.QueryError
	if !errors.As(err, &qe) {
		return nil
	}
	f := qe.Field
	if f == formExtOID || f == formExtValue || strings.HasPrefix(f, paramExtension) {
		return map[string]bool{formExtOID: true, formExtValue: true}
	}
	return map[string]bool{f: true}
}

func (h *handler) search(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v := r.URL.Query()
	p := searchPage{page: h.page("Search", "search"), Form: fillForm(v)}
	for n := 1; n <= 24; n++ {
		if n == 7 {
			continue // a SAN type, not an extension
		}
		p.Known = append(p.Known, extRow{OID: fulcioArc + strconv.Itoa(n), Name: fulcioNames[n]})
	}
	for _, l := range h.src.Logs(ctx) {
		p.Logs = append(p.Logs, l.Name)
	}
	if !anySet(v) {
		h.render(w, r, http.StatusOK, "search", p)
		return
	}
	p.Searched = true
	api, err := formValues(v)
	var q index.Query
	if err == nil {
		q, err = ParseQuery(api)
	}
	if err != nil {
		p.Err, p.Invalid = err.Error(), invalidFields(err)
		h.render(w, r, http.StatusBadRequest, "search", p)
		return
	}
	resp, err := h.src.Search(ctx, q)
	var qe *index.QueryError
	switch {
	case errors.As(err, &qe):
		p.Err, p.Invalid = qe.Error(), invalidFields(qe)
		h.render(w, r, http.StatusBadRequest, "search", p)
		return
	case errors.Is(err, ErrNoIndex):
		h.noIndex(w, r, "search")
		return
	case err != nil:
		h.sourceFailed(w, r, "searching", err)
		return
	}
	limit := q.Limit
	if limit == 0 {
		limit = index.DefaultLimit
	}
	res := resp.Results
	if len(res) > limit {
		res = res[:limit]
	}
	for _, rs := range res {
		row := resultRow{Result: rs}
		for _, id := range rs.Identities {
			row.Subjects = appendNew(row.Subjects, id.Subjects...)
			if id.Issuer != "" {
				row.Issuers = appendNew(row.Issuers, id.Issuer)
			}
		}
		p.Results = append(p.Results, row)
	}
	if resp.Next != "" {
		next := make(url.Values, len(api))
		for k, vs := range api {
			if len(vs) == 1 && strings.TrimSpace(vs[0]) != "" {
				next[k] = vs
			}
		}
		next.Set(paramCursor, resp.Next)
		p.Next = "/search?" + next.Encode()
	}
	h.render(w, r, http.StatusOK, "search", p)
}

// appendNew appends the elements of add that list does not hold yet.
func appendNew(list []string, add ...string) []string {
	for _, s := range add {
		found := false
		for _, t := range list {
			if t == s {
				found = true
				break
			}
		}
		if !found {
			list = append(list, s)
		}
	}
	return list
}

// ---------------------------------------------------------------------------
// Entries

// identityView is one signer of an entry.
type identityView struct {
	search.Identity
	Ext []extRow
}

type entryPage struct {
	page
	Entry *search.Entry
	// Log is the entry's log, nil when Vigil does not watch it.
	Log        *Log
	Identities []identityView
	// LeafCheck is SHA-256(0x00 || body) in hex; LeafMatch whether it is
	// the indexed leaf hash.
	LeafCheck string
	LeafMatch bool
	Certs     []certView
	// CertsOmitted counts certificates beyond maxCertificates.
	CertsOmitted int
	BodyB64      string
	// BodyText is the body as text (indented if JSON), "" when binary.
	BodyText string
	// BodyCut is set when the body shown is cut at maxBodyShown.
	BodyCut bool
	Steps   []step
}

func (h *handler) entry(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	logName, idxText := r.PathValue("log"), r.PathValue("index")
	idx, err := strconv.ParseUint(idxText, 10, 64)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "The entry index "+strconv.Quote(idxText)+" is not a whole number.", "")
		return
	}
	if logName == "" {
		h.fail(w, r, http.StatusBadRequest, "The path names no log.", "")
		return
	}
	e, err := h.src.Entry(ctx, logName, idx)
	switch {
	case errors.Is(err, os.ErrNotExist):
		h.fail(w, r, http.StatusNotFound, "The index holds no entry "+u64(idx)+" of log "+strconv.Quote(logName)+".",
			"The index holds the entries Vigil has verified and scanned; a newer entry may not be scanned yet, and a log not watched is not indexed.")
		return
	case errors.Is(err, ErrNoIndex):
		h.noIndex(w, r, "")
		return
	case err != nil:
		h.sourceFailed(w, r, "fetching the entry", err)
		return
	case e == nil:
		h.sourceFailed(w, r, "fetching the entry", errors.New("no entry and no error"))
		return
	}
	p := entryPage{
		page:  h.page("Entry "+u64(idx)+" of "+logName, ""),
		Entry: e,
		Log:   findLog(h.src.Logs(ctx), logName),
	}
	for _, id := range e.Identities {
		p.Identities = append(p.Identities, identityView{Identity: id, Ext: extensionRows(id.Extensions)})
	}
	if len(e.Body) > 0 {
		sum := sha256.Sum256(append([]byte{0}, e.Body...))
		p.LeafCheck = hex.EncodeToString(sum[:])
		p.LeafMatch = strings.EqualFold(p.LeafCheck, e.LeafHash)
		body := e.Body
		if len(body) > maxBodyShown {
			body, p.BodyCut = body[:maxBodyShown], true
		}
		p.BodyB64 = base64.StdEncoding.EncodeToString(body)
		p.BodyText = bodyText(body)
	}
	for i, der := range e.Certificates {
		if i == maxCertificates {
			p.CertsOmitted = len(e.Certificates) - i
			break
		}
		p.Certs = append(p.Certs, decodeCertificate(der))
	}
	p.Steps = entrySteps(e, p.Log)
	h.render(w, r, http.StatusOK, "entry", p)
}

// bodyText is b as text: indented when it is JSON, as it is when it is
// printable UTF-8, "" otherwise.
func bodyText(b []byte) string {
	if json.Valid(b) {
		var out bytes.Buffer
		if json.Indent(&out, b, "", "  ") == nil {
			return out.String()
		}
	}
	if !utf8.Valid(b) {
		return ""
	}
	for _, c := range string(b) {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' || c == 0x7f || c == utf8.RuneError {
			return ""
		}
	}
	return string(b)
}
