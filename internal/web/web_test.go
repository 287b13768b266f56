package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/index"
)

// newServer serves Handler over src on a test server.
func newServer(t testing.TB, src Source) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(Handler(src, Options{Title: "Vigil test", Now: func() time.Time { return testNow }, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv
}

// get fetches path from srv and returns the status, headers and body.
func get(t testing.TB, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// getStatus fetches path and fails t unless the status is want.
func getStatus(t testing.TB, srv *httptest.Server, path string, want int) string {
	t.Helper()
	code, _, body := get(t, srv, path)
	if code != want {
		t.Fatalf("GET %s = %d, want %d; body:\n%s", path, code, want, body)
	}
	return body
}

// escapeText is s as html/template writes text: html.EscapeString, and
// "+" as a character reference.
func escapeText(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "+", "&#43;")
}

var (
	styleRE  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
)

func TestSecurityHeaders(t *testing.T) {
	srv := newServer(t, newFakeSource(t))
	paths := []string{"/", "/search", "/search?subject=" + url.QueryEscape(testEmail), "/alerts/" + integrityID,
		"/alerts/" + integrityID + "/event.json", "/alerts/nope", "/entries/prod-rekor/42", "/entries/prod-rekor/x", "/nope"}
	for _, p := range paths {
		_, h, body := get(t, srv, p)
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
			"X-Frame-Options":        "DENY",
			"Cache-Control":          "no-store",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", p, k, got, want)
			}
		}
		policy := h.Get("Content-Security-Policy")
		for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "img-src data:"} {
			if !strings.Contains(policy, d) {
				t.Errorf("GET %s: Content-Security-Policy %q lacks %q", p, policy, d)
			}
		}
		mustNotContain(t, "GET "+p+": Content-Security-Policy", policy, "unsafe-inline", "unsafe-eval", "*")
		if strings.HasSuffix(p, ".json") {
			continue
		}
		// The inline style and script are exactly what the policy allows.
		for _, re := range []*regexp.Regexp{styleRE, scriptRE} {
			ms := re.FindAllStringSubmatch(body, -1)
			if len(ms) != 1 {
				t.Errorf("GET %s: %d matches of %s, want 1", p, len(ms), re)
				continue
			}
			sum := sha256.Sum256([]byte(ms[0][1]))
			if src := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(policy, src) {
				t.Errorf("GET %s: Content-Security-Policy %q does not allow the inline element (%s)", p, policy, src)
			}
		}
	}
}

func TestOverview(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)
	body := getStatus(t, srv, "/", http.StatusOK)
	mustContain(t, "overview", body,
		"<title>Overview · Vigil test</title>",
		testHealthy, testViolating, "rekor-v1", "rekor-v2",
		"https://rekor.example.internal", "✓ healthy", "✗ unhealthy",
		"integrity violation: consistency proof failed",
		"size 1234", escapeText(src.logs[0].Checkpoint), // the raw note, in a <pre>
		"2m ago", "3h ago", // verified
		`class="warn"`, "in 20d", // trust expiry within 30 days
		`href="/alerts/`+integrityID+`"`, `href="/alerts/`+unexpectedID+`"`,
		"log prod-rekor-v2 failed verification (consistency)",
		"unexpected identity signed entry 42 in log prod-rekor",
		`href="/metrics"`, `href="/healthz"`, `href="/readyz"`, `href="/search"`)
	if strings.Count(body, `class="badge bad">critical`) != 2 {
		t.Errorf("overview: want 2 critical badges")
	}
}

func TestOverviewBounds(t *testing.T) {
	src := newFakeSource(t)
	for i := range 120 {
		src.alerts = append(src.alerts, alert.Event{ID: "bulk-" + u64(uint64(i)), Kind: alert.KindIdentityMatch, Severity: alert.SeverityWarning, Log: testHealthy, Summary: "bulk"})
	}
	body := getStatus(t, newServer(t, src), "/", http.StatusOK)
	if n := strings.Count(body, `href="/alerts/`); n != overviewAlerts {
		t.Errorf("overview lists %d alerts, want %d", n, overviewAlerts)
	}
}

func TestIntegrityAlert(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)
	ev := src.alerts[0]
	body := getStatus(t, srv, "/alerts/"+integrityID, http.StatusOK)
	oldHead, newHead := parseNoteHead(ev.Evidence.OldCheckpoint), parseNoteHead(ev.Evidence.NewCheckpoint)
	if !oldHead.OK || !newHead.OK {
		t.Fatal("fixture checkpoints do not parse")
	}
	mustContain(t, "integrity alert", body,
		"integrity_violation", "VigilIntegrityViolation", "consistency", testViolating,
		escapeText(ev.Evidence.OldCheckpoint), escapeText(ev.Evidence.NewCheckpoint),
		ev.Evidence.Proof[0], ev.Evidence.Proof[1], ev.Evidence.KeyID, ev.DedupeKey,
		"consistency proof from 5 to 8 does not verify",
		`id="event-json"`, `data-target="event-json"`, `href="/alerts/`+integrityID+`/event.json"`,
		"Check it by hand",
		"jq -j .evidence.old_checkpoint event.json &gt; old.note",
		"jq -j .evidence.new_checkpoint event.json &gt; new.note",
		"jq -r &#39;.evidence.proof[]&#39; event.json &gt; proof.txt",
		escapeText("go run consistency.go 5 8 "+oldHead.RootB64+" "+newHead.RootB64+" < proof.txt"),
		"proof.VerifyConsistency(rfc6962.DefaultHasher",
		"note.Open", // a rekor-v2 log: signatures with the note package
	)
	// The event JSON in the page is the event.
	m := regexp.MustCompile(`(?s)<pre id="event-json">(.*?)</pre>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no event JSON in the page")
	}
	var got alert.Event
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &got); err != nil {
		t.Fatalf("event JSON: %v", err)
	}
	if diff := cmp.Diff(ev, got); diff != "" {
		t.Errorf("event JSON differs (-want +got):\n%s", diff)
	}
}

func TestEntryAlert(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)
	ev := src.alerts[1]
	body := getStatus(t, srv, "/alerts/"+unexpectedID, http.StatusOK)
	mustContain(t, "entry alert", body,
		"unexpected_identity", "expected-ci", ev.Evidence.Entry.LeafHash, ev.Evidence.Entry.UUID,
		html.EscapeString(injectSubject), "source repository URI",
		`href="/entries/prod-rekor/42"`,
		"jq -r .evidence.entry.body event.json | base64 -d &gt; body.bin",
		`printf &#39;\0&#39; | cat - body.bin | sha256sum   # must print `+ev.Evidence.Entry.LeafHash,
		"curl -s &#39;https://rekor.example.internal/api/v1/log/entries?logIndex=42&#39; &gt; log-entry.json",
		"cmp body.bin log-body.bin",
		"jq -r .spec.signature.publicKey.content body.bin | base64 -d | openssl x509 -noout -text",
	)
	mustNotContain(t, "entry alert", body, injectSubject)
}

func TestAlertJSON(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)
	_, h, body := get(t, srv, "/alerts/"+unexpectedID+"/event.json")
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var got alert.Event
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(src.alerts[1], got); diff != "" {
		t.Errorf("event.json differs (-want +got):\n%s", diff)
	}
	getStatus(t, srv, "/alerts/nope/event.json", http.StatusNotFound)
}

func TestAlertNotFound(t *testing.T) {
	srv := newServer(t, newFakeSource(t))
	body := getStatus(t, srv, "/alerts/no-such-alert", http.StatusNotFound)
	mustContain(t, "404 page", body, "no-such-alert", "500 most recent")
}

func TestNotFoundAndMethods(t *testing.T) {
	srv := newServer(t, newFakeSource(t))
	body := getStatus(t, srv, "/no/such/page", http.StatusNotFound)
	mustContain(t, "404 page", body, "There is no page at /no/such/page", "<nav")
	resp, err := srv.Client().Post(srv.URL+"/search", "application/x-www-form-urlencoded", strings.NewReader("subject=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /search = %d, Allow %q; want 405, GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodHead, srv.URL+"/", nil)
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD / = %d, want 200", resp.StatusCode)
	}
}

func TestSearchPage(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)

	// No parameters (or only empty ones, as a form sends): the form, no search.
	for _, p := range []string{"/search", "/search?subject=&issuer=&ext_oid=&ext_value="} {
		body := getStatus(t, srv, p, http.StatusOK)
		mustContain(t, p, body, `<form class="search" method="get" action="/search">`, `name="subject"`, `name="ext_oid"`, `list="fulcio-oids"`,
			`<option value="1.3.6.1.4.1.57264.1.12">source repository URI</option>`, `<option value="prod-rekor">`)
		mustNotContain(t, p, body, "<h2>Results</h2>")
	}
	if _, n := src.lastQuery(); n != 0 {
		t.Fatalf("an empty form searched (%d queries)", n)
	}

	// A search with results, proofs, a proof error and a next page.
	body := getStatus(t, srv, "/search?subject="+url.QueryEscape(testEmail)+"&issuer=&limit=2", http.StatusOK)
	q, _ := src.lastQuery()
	if want := (index.Query{Subject: testEmail, Limit: 2}); !cmp.Equal(q, want, cmpopts.EquateEmpty()) {
		t.Errorf("query = %+v, want %+v", q, want)
	}
	mustContain(t, "results", body,
		`<h2>Results</h2>`, `href="/entries/prod-rekor/42"`, `href="/entries/prod-rekor-v2/7"`,
		"hashedrekord:0.0.1", "proof ✓", "log unreachable: connection refused",
		"sha256:"+hexOf("artifact"), testIssuer, html.EscapeString(injectSubject),
		`value="`+testEmail+`"`, // the form keeps the query
		`href="/search?cursor=`+testCursor+`&amp;limit=2&amp;subject=`+url.QueryEscape(testEmail)+`"`)
	mustNotContain(t, "results", body, injectSubject, "page-two@example.com")

	// The next page carries the cursor.
	body = getStatus(t, srv, "/search?cursor="+testCursor+"&limit=2&subject="+url.QueryEscape(testEmail), http.StatusOK)
	if q, _ := src.lastQuery(); q.Cursor != testCursor {
		t.Errorf("next page: cursor = %q, want %q", q.Cursor, testCursor)
	}
	mustContain(t, "page 2", body, "page-two@example.com", `href="/entries/prod-rekor/3"`)
	mustNotContain(t, "page 2", body, `rel="next"`)

	// The form's extension fields become an extension parameter, by OID or by name.
	for _, oid := range []string{"1.3.6.1.4.1.57264.1.12", "Source repository URI"} {
		body = getStatus(t, srv, "/search?ext_oid="+url.QueryEscape(oid)+"&ext_value="+url.QueryEscape(testRepo), http.StatusOK)
		q, _ = src.lastQuery()
		if want := map[string]string{"1.3.6.1.4.1.57264.1.12": testRepo}; !cmp.Equal(q.Extensions, want) {
			t.Errorf("ext_oid %q: extensions = %v, want %v", oid, q.Extensions, want)
		}
		mustContain(t, "extension search", body, `rel="next"`, "extension.1.3.6.1.4.1.57264.1.12="+url.QueryEscape(testRepo))
	}
	// As does the API's form, which entry view links use.
	getStatus(t, srv, "/search?"+url.Values{"extension.1.3.6.1.4.1.57264.1.12": {testRepo}}.Encode(), http.StatusOK)
	if q, _ = src.lastQuery(); q.Extensions["1.3.6.1.4.1.57264.1.12"] != testRepo {
		t.Errorf("extension parameter: extensions = %v", q.Extensions)
	}
}

func TestSearchErrors(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)
	for _, tc := range []struct {
		name, query string
		status      int
		want        []string
	}{
		{"bad limit", "subject=a&limit=0", 400, []string{"The query is malformed", "limit &#34;0&#34;", `name="limit" value="0" inputmode="numeric" aria-invalid="true"`}},
		{"limit too large", "subject=a&limit=501", 400, []string{"limit &#34;501&#34;", "1 to 500"}},
		{"bad since", "since=yesterday", 400, []string{"since &#34;yesterday&#34;", "RFC 3339", `aria-invalid="true"`}},
		{"until before since", "since=2025-05-02&until=2025-05-01", 400, []string{"until", "not after since"}},
		{"unknown parameter", "subject=a&colour=blue", 400, []string{"colour &#34;blue&#34;: unknown parameter"}},
		{"repeated parameter", "subject=a&subject=b", 400, []string{"subject &#34;a,b&#34;: given more than once"}},
		{"value without OID", "ext_value=x", 400, []string{"ext_oid", `name="ext_oid" value="" list="fulcio-oids"`}},
		{"bad OID", "ext_oid=github&ext_value=x", 400, []string{"extension.github"}},
		{"index rejects", "digest=" + testQueryErr, 400, []string{"digest &#34;zzzz&#34;: not a digest", `name="digest" value="zzzz" placeholder="sha256:…" class="mono" aria-invalid="true"`}},
		{"source fails", "subject=" + url.QueryEscape(testFailQuery), 500, []string{"searching: reading the index: permission denied"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := getStatus(t, srv, "/search?"+tc.query, tc.status)
			mustContain(t, tc.name, body, tc.want...)
		})
	}

	off := newFakeSource(t)
	off.noIndex = true
	srv = newServer(t, off)
	body := getStatus(t, srv, "/search?subject=a", http.StatusNotImplemented)
	mustContain(t, "no index", body, "without an index", "index: {disabled: true}")
	body = getStatus(t, srv, "/entries/prod-rekor/42", http.StatusNotImplemented)
	mustContain(t, "no index", body, "without an index")
}

func TestEntryView(t *testing.T) {
	src := newFakeSource(t)
	srv := newServer(t, src)
	e := src.entry
	body := getStatus(t, srv, "/entries/prod-rekor/42", http.StatusOK)
	mustContain(t, "entry view", body,
		"Entry 42 of prod-rekor", "hashedrekord:0.0.1", e.LeafHash, "✓ SHA-256(0x00 ‖ body) equals it",
		"sha256:"+hexOf("artifact"), `href="/search?digest=sha256%3A`+hexOf("artifact")+`"`,
		// identities, with the Fulcio extensions named
		testEmail, html.EscapeString(injectSubject), html.EscapeString(injectImg),
		"source repository URI", testRepo, e.Identities[0].CertFingerprint,
		// the proof
		"Leaf index", "1234", e.Proof.RootHash, e.Proof.Hashes[2], escapeText(e.Proof.Checkpoint),
		// the certificates, decoded
		"CN="+testCertCN+",O=sigstore.dev", "email: "+testEmail, "ECDSA P-256", "5eed",
		"issuer (deprecated)", "<th>issuer<div", testIssuer, "-----BEGIN CERTIFICATE-----", `<span class="badge info">CA</span>`,
		"2025-06-01 11:59:00 UTC", "2025-06-01 12:09:00 UTC",
		// the body
		escapeText(base64.StdEncoding.EncodeToString(e.Body)), "&#34;kind&#34;: &#34;hashedrekord&#34;",
		// by hand
		"base64 -d body.b64 &gt; body.bin", "go run inclusion.go 42 1234 "+e.LeafHash+" "+e.Proof.RootHash,
		"logIndex=42", "openssl x509 -in cert.pem -noout -text",
	)
	mustNotContain(t, "entry view", body, injectSubject, "<img")
}

func TestEntryErrors(t *testing.T) {
	srv := newServer(t, newFakeSource(t))
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/entries/prod-rekor/9999", 404, "no entry 9999 of log &#34;prod-rekor&#34;"},
		{"/entries/elsewhere/1", 404, "elsewhere"},
		{"/entries/prod-rekor/abc", 400, "&#34;abc&#34; is not a whole number"},
		{"/entries/prod-rekor/-1", 400, "not a whole number"},
		{"/entries/prod-rekor/666", 500, "fetching the entry: fetching entry 666 from the log: context deadline exceeded"},
		{"/entries/" + url.PathEscape(injectSubject) + "/1", 404, html.EscapeString(injectSubject)},
	} {
		body := getStatus(t, srv, tc.path, tc.status)
		mustContain(t, tc.path, body, tc.want, "<nav")
		mustNotContain(t, tc.path, body, injectSubject)
	}
}

func TestParseQuery(t *testing.T) {
	day := func(s string) time.Time {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	for _, tc := range []struct {
		name  string
		query string
		want  index.Query
	}{
		{"empty", "", index.Query{}},
		{"empty values", "subject=&issuer=&limit=&since=", index.Query{}},
		{"fields", "subject=a%40b.c&issuer=https%3A%2F%2Fi&digest=sha256%3Aab&fingerprint=cd&log=l&cursor=xyz",
			index.Query{Subject: "a@b.c", Issuer: "https://i", Digest: "sha256:ab", Fingerprint: "cd", Log: "l", Cursor: "xyz"}},
		{"trimmed", "subject=+a%40b.c+", index.Query{Subject: "a@b.c"}},
		{"limit", "limit=500", index.Query{Limit: 500}},
		{"rfc3339", "since=2025-05-01T12:00:00%2B02:00&until=2025-05-02T00:00:00.5Z",
			index.Query{Since: time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC), Until: time.Date(2025, 5, 2, 0, 0, 0, 5e8, time.UTC)}},
		{"dates", "since=2025-05-01&until=2025-05-01", index.Query{Since: day("2025-05-01"), Until: day("2025-05-02")}},
		{"extensions", "extension.1.3.6.1.4.1.57264.1.12=https%3A%2F%2Fgithub.com%2Facme%2Fapp&extension.1.3.6.1.4.1.57264.1.14=refs%2Fheads%2Fmain&extension.1.3.6.1.4.1.57264.1.20=",
			index.Query{Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app", "1.3.6.1.4.1.57264.1.14": "refs/heads/main"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(v)
			if err != nil {
				t.Fatalf("ParseQuery(%q) = %v", tc.query, err)
			}
			if !cmp.Equal(got, tc.want, cmpopts.EquateEmpty()) {
				t.Errorf("ParseQuery(%q) = %+v, want %+v", tc.query, got, tc.want)
			}
		})
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		query, field string
	}{
		{"bogus=1", "bogus"},
		{"subject=a&Subject=b", "Subject"},
		{"subject=a&subject=b", "subject"},
		{"limit=0", "limit"},
		{"limit=-3", "limit"},
		{"limit=501", "limit"},
		{"limit=ten", "limit"},
		{"since=2025-13-01", "since"},
		{"since=yesterday", "since"},
		{"until=1714521600", "until"},
		{"since=2025-05-02&until=2025-05-01T23:00:00Z", "until"},
		{"extension.=x", "extension."},
		{"extension.1=x", "extension.1"},
		{"extension.1.3.06=x", "extension.1.3.06"},
		{"extension.1..3=x", "extension.1..3"},
		{"extension.github.workflow=x", "extension.github.workflow"},
		{"ext_oid=1.2.3&ext_value=x", "ext_oid"}, // the page's form fields are not the API's
	} {
		v, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseQuery(v)
		var qe *index.QueryError
		if !errors.As(err, &qe) {
			t.Errorf("ParseQuery(%q) = %v, want an *index.QueryError", tc.query, err)
			continue
		}
		if qe.Field != tc.field {
			t.Errorf("ParseQuery(%q): field %q, want %q (%v)", tc.query, qe.Field, tc.field, err)
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("ParseQuery(%q) = %q, does not name %q", tc.query, err, tc.field)
		}
	}
}

func TestDecodeCertificate(t *testing.T) {
	leaf, _ := testCert(t)
	c := decodeCertificate(leaf)
	if c.Err != "" {
		t.Fatal(c.Err)
	}
	want := []extRow{
		{"1.3.6.1.4.1.57264.1.1", "issuer (deprecated)", testIssuer},
		{"1.3.6.1.4.1.57264.1.8", "issuer", testIssuer},
		{"1.3.6.1.4.1.57264.1.12", "source repository URI", testRepo},
	}
	if diff := cmp.Diff(want, c.Extensions); diff != "" {
		t.Errorf("extensions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"email: " + testEmail}, c.SANs); diff != "" {
		t.Errorf("SANs (-want +got):\n%s", diff)
	}
	bad := decodeCertificate([]byte("not a certificate"))
	if bad.Err == "" || bad.SHA256 == "" || !strings.Contains(bad.PEM, "BEGIN CERTIFICATE") {
		t.Errorf("decodeCertificate(garbage) = %+v, want an error with fingerprint and PEM", bad)
	}
}

func TestOtherNameSAN(t *testing.T) {
	// SEQUENCE { [0] { OID 1.3.6.1.4.1.57264.1.7, [0] { UTF8String "octocat" } }, [1] IA5String "a@b.c" }
	oid := []byte{0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01, 0x07}
	val := append([]byte{0xa0, 0x09, 0x0c, 0x07}, "octocat"...)
	other := append([]byte{0xa0, byte(len(oid) + len(val))}, append(oid, val...)...)
	email := append([]byte{0x81, 0x05}, "a@b.c"...)
	ext := append([]byte{0x30, byte(len(other) + len(email))}, append(other, email...)...)
	if got, want := otherNames(ext), []string{"otherName (Fulcio username): octocat"}; !cmp.Equal(got, want) {
		t.Errorf("otherNames = %q, want %q", got, want)
	}
}

func TestExtensionValue(t *testing.T) {
	for _, tc := range []struct {
		n    int
		raw  []byte
		want string
	}{
		{8, []byte{0x0c, 0x03, 'a', 'b', 'c'}, "abc"},
		{1, []byte("https://raw"), "https://raw"},
		{12, []byte("not DER"), "not DER"},
		{12, []byte{0x0c, 0x01}, "hex:0c01"},
	} {
		if got := extensionValue(tc.n, tc.raw); got != tc.want {
			t.Errorf("extensionValue(%d, %x) = %q, want %q", tc.n, tc.raw, got, tc.want)
		}
	}
}

// TestRekorV2BundleCommands runs the shell commands the page gives for
// pulling an entry out of a Rekor v2 entry bundle, on a real bundle.
func TestRekorV2BundleCommands(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	entries := [][]byte{[]byte("first"), []byte(strings.Repeat("second entry, 300 bytes long ", 10)), []byte("third")}
	var bundle []byte
	for _, e := range entries {
		bundle = append(bundle, byte(len(e)>>8), byte(len(e)))
		bundle = append(bundle, e...)
	}
	lg := &Log{Name: "v2", Kind: "rekor-v2", URL: "https://log.example/", Size: 256 + 3}
	for i, want := range entries {
		cmd, note, ok := fetchEntry(lg, uint64(256+i))
		if !ok {
			t.Fatalf("fetchEntry: not ok")
		}
		if !strings.Contains(cmd, "'https://log.example/tile/entries/001.p/3'") || !strings.Contains(note, ".p/3") {
			t.Errorf("fetchEntry(%d): wrong bundle:\n%s\n%s", 256+i, cmd, note)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "bundle.bin"), bundle, 0o644); err != nil {
			t.Fatal(err)
		}
		_, script, _ := strings.Cut(cmd, "\n") // without the curl line
		sh := exec.CommandContext(t.Context(), "bash", "-eu", "-c", script)
		sh.Dir = dir
		if out, err := sh.CombinedOutput(); err != nil {
			t.Fatalf("entry %d: %v\n%s", i, err, out)
		}
		got, err := os.ReadFile(filepath.Join(dir, "log-body.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("entry %d: log-body.bin = %q, want %q", i, got, want)
		}
	}
}

// TestLeafHashCommand runs the leaf hash command the page gives.
func TestLeafHashCommand(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("no sha256sum")
	}
	src := newFakeSource(t)
	e := src.entry
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "body.b64"), []byte(base64.StdEncoding.EncodeToString(e.Body)), 0o644); err != nil {
		t.Fatal(err)
	}
	steps := entrySteps(e, &src.logs[0])
	sh := exec.CommandContext(t.Context(), "sh", "-c", steps[0].Cmd)
	sh.Dir = dir
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", steps[0].Cmd, err, out)
	}
	if !strings.HasPrefix(string(out), e.LeafHash+" ") {
		t.Errorf("%s printed %q, want the leaf hash %s", steps[0].Cmd, out, e.LeafHash)
	}
}

func TestFetchEntryKinds(t *testing.T) {
	for _, tc := range []struct {
		lg     *Log
		want   string
		wantOK bool
	}{
		{&Log{Kind: "rekor-v1", URL: "https://r.example/"}, "curl -s 'https://r.example/api/v1/log/entries?logIndex=300' > log-entry.json", true},
		{&Log{Kind: "rekor-v2", URL: "https://r2.example", Size: 1000}, "'https://r2.example/tile/entries/001'", true},
		{&Log{Kind: "ct", URL: "https://ct.example/2025"}, "curl -s 'https://ct.example/2025/ct/v1/get-entries?start=300&end=300' | jq -r '.entries[0].leaf_input' | base64 -d > log-body.bin", true},
		{&Log{Kind: "static-ct", URL: "https://sct.example", Size: 301}, "curl -s -o data.bin 'https://sct.example/tile/data/001.p/45'", false},
		{&Log{Kind: "rekor-v1", URL: "https://evil.example/'; rm -rf ~; '"}, `'https://evil.example/'\''; rm -rf ~; '\''/api/v1/log/entries?logIndex=300'`, true},
		{nil, "", false},
	} {
		cmd, _, ok := fetchEntry(tc.lg, 300)
		if ok != tc.wantOK || !strings.Contains(cmd, tc.want) {
			t.Errorf("fetchEntry(%+v, 300) = %q, %v; want it to contain %q, %v", tc.lg, cmd, ok, tc.want, tc.wantOK)
		}
	}
}
