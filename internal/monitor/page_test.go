package monitor_test

import (
	"html"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/web/webtest"
)

// TestPageInChromium serves the page of a real monitor watching the real
// logs and loads it in headless Chromium: the overview shows the logs and
// the alert a watched identity raised, the alert view its evidence, the
// search form's URL finds the entry, and the entry view decodes its
// certificate. Screenshots go to the test artefacts.
func TestPageInChromium(t *testing.T) {
	b := webtest.Chromium(t)
	artifacts := webtest.ArtifactDir(t)
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	var l stackLog
	for _, sl := range stackLogs(t) {
		if sl.Kind == "rekor-v2" {
			l = sl
		}
	}
	san := "page-" + strconv.Itoa(os.Getpid()) + "@example.com"
	rcv := newReceiver(t)
	cfg := scanConfig(t, l, l.URL, rcv, identity.Config{Watch: []identity.Rule{{Name: "page-signer", Subject: strings.ReplaceAll(san, ".", `\.`)}}})
	app := newApp(t, cfg)
	defer app.Close()
	if o := checkOne(t, app); o.Err != nil {
		t.Fatalf("first check: %v", o.Err)
	}
	s := newCertSigner(t, ca, san, "https://issuer.example.com", identitytest.Extensions{})
	idx := add(t, l, s)
	if o := checkOne(t, app); o.Err != nil {
		t.Fatalf("check: %v", o.Err)
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()

	load := func(t *testing.T, path string, height int) string {
		t.Helper()
		file := filepath.Join(artifacts, "monitor-"+strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())+".png")
		dom, err := b.Capture(t.Context(), srv.URL+path, file, 1280, height)
		if err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(file); err != nil || st.Size() == 0 {
			t.Errorf("no screenshot of %s: %v", path, err)
		}
		return html.UnescapeString(dom)
	}
	contains := func(t *testing.T, what, dom string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(dom, w) {
				t.Errorf("%s lacks %q", what, w)
			}
		}
	}
	name := cfg.Logs[0].Name
	var alertPath string
	t.Run("overview", func(t *testing.T) {
		dom := load(t, "/", 1000)
		contains(t, "overview", dom, name, l.URL, "identity_match", "rule page-signer", "entry "+strconv.FormatInt(idx, 10))
		i := strings.Index(dom, `href="/alerts/`)
		if i < 0 {
			t.Fatal("overview links to no alert")
		}
		alertPath = dom[i+len(`href="`):]
		alertPath = alertPath[:strings.IndexByte(alertPath, '"')]
	})
	t.Run("alert", func(t *testing.T) {
		if alertPath == "" {
			t.Skip("no alert link")
		}
		dom := load(t, alertPath, 1400)
		// The evidence: the entry's index, its leaf hash and the identity.
		contains(t, "alert view", dom, strconv.FormatInt(idx, 10), san, "page-signer", `"leaf_hash"`)
	})
	t.Run("search", func(t *testing.T) {
		dom := load(t, "/search?subject="+url.QueryEscape(san), 900)
		contains(t, "search results", dom, "/entries/"+name+"/"+strconv.FormatInt(idx, 10), san)
		if strings.Contains(dom, "no inclusion proof") {
			t.Error("the result has no inclusion proof")
		}
	})
	t.Run("entry", func(t *testing.T) {
		dom := load(t, "/entries/"+name+"/"+strconv.FormatInt(idx, 10), 1600)
		contains(t, "entry view", dom, san, "https://issuer.example.com", "BEGIN CERTIFICATE")
	})
}
