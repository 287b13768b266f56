package main

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// TestSearchCommand asks a real monitor (watching the real Rekor v2, its
// page and API served on loopback behind a token) with `monitor search`.
func TestSearchCommand(t *testing.T) {
	env := testenv.Stack(t)
	var l testenv.Log
	for _, sl := range testenv.Logs(t) {
		if sl.Kind == string(config.KindRekorV2) {
			l = sl
		}
	}
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{StateDir: filepath.Join(dir, "state"), Logs: []config.Log{{Name: "rekor2", Kind: config.KindRekorV2, URL: l.URL,
		PublicKeyFile: l.PubKey, Origin: l.Origin}}, Scan: config.Scan{StartAtEnd: true}, API: config.API{TokenFile: tokenFile}}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	app, err := monitor.NewApp(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if o := app.CheckOnce(t.Context()); o[0].Err != nil {
		t.Fatal(o[0].Err)
	}
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	key, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	san := "cli-" + strconv.Itoa(os.Getpid()) + "@example.com"
	cert, err := ca.Issue(key.Public(), san, "https://issuer.example.com", identitytest.Extensions{})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := stack.AddV2HashedRekord(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), key, cert, identitytest.Artifact())
	if err != nil {
		t.Fatal(err)
	}
	if o := app.CheckOnce(t.Context()); o[0].Err != nil {
		t.Fatal(o[0].Err)
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()

	code, out := runMonitor(t, "search", "--server", srv.URL, "--token-file", tokenFile, "--subject", san)
	if code != exitOK || !strings.Contains(out, "rekor2") || !strings.Contains(out, strconv.FormatInt(idx, 10)) ||
		!strings.Contains(out, san) || !strings.Contains(out, "ok@") || !strings.Contains(out, "1 result(s)") {
		t.Errorf("monitor search = %d:\n%s\nwant the entry %d with a proof", code, out, idx)
	}
	code, out = runMonitor(t, "search", "--server", srv.URL, "--token-file", tokenFile, "--subject", san, "--json")
	if code != exitOK || !strings.Contains(out, `"inclusion_proof"`) {
		t.Errorf("monitor search --json = %d:\n%s", code, out)
	}
	// Without the token, a wrong filter, a monitor that is not there.
	if code, out := runMonitor(t, "search", "--server", srv.URL, "--subject", san); code != exitUsage || !strings.Contains(out, "401") {
		t.Errorf("without the token: %d %s, want 2 and HTTP 401", code, out)
	}
	if code, out := runMonitor(t, "search", "--server", srv.URL, "--since", "yesterday"); code != exitUsage || !strings.Contains(out, "since") {
		t.Errorf("bad --since: %d %s, want 2 naming since", code, out)
	}
	if code, out := runMonitor(t, "search", "--server", "http://127.0.0.1:9", "--subject", san, "--timeout", "5s"); code != exitNoVerdict {
		t.Errorf("monitor down: %d %s, want 3", code, out)
	}

	// index rebuild leaves a request in the state directory.
	code, out = runMonitor(t, "index", "rebuild", "--state-dir", cfg.StateDir, "--log", "rekor2", "--from", "5")
	if code != exitOK {
		t.Fatalf("index rebuild = %d %s", code, out)
	}
	b, err := os.ReadFile(filepath.Join(state.IndexRebuildDir(cfg.StateDir), "rekor2.json"))
	if err != nil || !strings.Contains(string(b), `"from":5`) {
		t.Errorf("rebuild request = %s, %v", b, err)
	}
	if code, out := runMonitor(t, "index", "rebuild", "--state-dir", cfg.StateDir, "--log", "../x"); code != exitUsage || !strings.Contains(out, "not a log name") {
		t.Errorf("bad log name: %d %s", code, out)
	}
	if code, _ := runMonitor(t, "index", "frobnicate"); code != exitUsage {
		t.Errorf("index frobnicate = %d, want 2", code)
	}
}
