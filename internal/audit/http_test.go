package audit_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/audit"
)

func TestHandler(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 40)
	head := m.publish(t)
	dir := t.TempDir()
	saveState(t, dir, "mem", m.origin, head)
	srv := httptest.NewServer(newAuditor(t, m, dir, nil).Handler())
	defer srv.Close()

	// A second log the monitor watches whose server is down: no verdict.
	down := newMemLog(t)
	down.fill(t, 40)
	downHead := down.publish(t)
	downDir := t.TempDir()
	saveState(t, downDir, "mem", down.origin, downHead)
	downBundle := down.bundle(t, 2, 20, down.sign(t, 20))
	downSrv := httptest.NewServer(newAuditor(t, down, downDir, nil).Handler())
	defer downSrv.Close()
	down.srv.Close()

	for _, tc := range []struct {
		name     string
		url      string
		body     []byte
		code     int
		verdict  audit.Verdict
		contains string
	}{
		{"consistent", srv.URL, m.bundle(t, 3, 20, m.sign(t, 20)), 200, audit.Consistent, `"source": "state"`},
		{"split view", srv.URL, m.fork(t, 3, 20), 200, audit.SplitView, `"old_checkpoint": "memlog.example\n40\n`},
		{"truncated", srv.URL, m.bundle(t, 3, 40, head)[:200], 400, audit.Invalid, `truncated`},
		{"garbage", srv.URL, []byte("garbage"), 400, audit.Invalid, `not valid JSON`},
		{"too large", srv.URL, bytes.Repeat([]byte(" "), audit.MaxBundleSize+1), 413, audit.Invalid, `byte limit`},
		{"log down", downSrv.URL, downBundle, 503, audit.NoVerdict, `fetching the consistency proof`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(tc.url+audit.Path+"?name=b.json", "application/json", bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tc.code, buf.String())
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			var r audit.Report
			if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if r.Verdict != tc.verdict || !strings.Contains(buf.String(), tc.contains) {
				t.Errorf("verdict %s, want %s, and %q in:\n%s", r.Verdict, tc.verdict, tc.contains, buf.String())
			}
		})
	}

	resp, err := http.Get(srv.URL + audit.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d, want 405", resp.StatusCode)
	}
}
