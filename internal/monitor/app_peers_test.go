package monitor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// TestAppPeersAndAudit runs the monitor as `monitor run` does, watching the
// stack's witnessed Rekor v2 with the stack's Vigil witness as its peer:
// the peer's cosigned checkpoint is proven consistent with this monitor's
// (vigil_peer_checks_total{result="consistent"}), and the API serves the
// bundle audit (POST /api/v1/audit-bundle) behind its token.
func TestAppPeersAndAudit(t *testing.T) {
	env := testenv.Stack(t)
	l := stackLog{Kind: string(config.KindRekorV2), URL: env.Get(t, "REKOR_V2_WITNESSED_READ_URL"),
		PubKey: env.Get(t, "REKOR_V2_WITNESSED_PUBKEY"), Origin: env.Get(t, "REKOR_V2_WITNESSED_ORIGIN")}
	cfg := logConfig(t, l, l.URL, t.TempDir())
	cfg.Peers = []config.Peer{{Name: "stack-witness", URL: env.Get(t, "VIGIL_WITNESS_URL"), Key: env.Get(t, "VIGIL_WITNESS_VKEY"),
		Interval: config.Duration(time.Second), Timeout: config.Duration(5 * time.Second)}}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	app := newApp(t, cfg)
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// The peer answers once this monitor verified the log: a few rounds.
	peerChecks := func(result string) float64 {
		v, _ := metricValue(t, app.Gatherer(), "vigil_peer_checks_total", "peer", "stack-witness", "log", cfg.Logs[0].Name, "result", result)
		return v
	}
	deadline := time.Now().Add(30 * time.Second)
	for peerChecks("consistent") < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no consistent peer check within 30s (split_view %v, no_verdict %v)", peerChecks("split_view"), peerChecks("no_verdict"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := peerChecks("split_view"); n != 0 {
		t.Errorf("vigil_peer_checks_total{result=split_view} = %v, want 0", n)
	}
	if f := app.Firing(); len(f) != 0 {
		t.Errorf("firing %v, want nothing", f)
	}

	// The audit endpoint is mounted: a bundle that is not JSON is invalid,
	// the error naming what is wrong.
	resp, err := http.Post("http://"+ln.Addr().String()+audit.Path+"?name=junk.json", "application/json", bytes.NewReader([]byte("not a bundle")))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep audit.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatalf("POST %s: %v", audit.Path, err)
	}
	if resp.StatusCode != http.StatusBadRequest || rep.Verdict != audit.Invalid || rep.Bundle != "junk.json" || !strings.Contains(rep.Error, "JSON") {
		t.Errorf("POST %s of junk: HTTP %d %+v, want 400 invalid naming the JSON error", audit.Path, resp.StatusCode, rep)
	}
}
