package monitor_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

// assetFiles are the files whose queries must name metrics the monitor
// exports: the Prometheus rules (both forms) and the Grafana dashboard.
var assetFiles = []string{
	"manifests/prometheus/rules.yml",
	"manifests/prometheus/prometheusrule.yaml",
	"grafana/vigil-dashboard.json",
	"grafana/vigil-dashboard-configmap.yaml",
}

var metricRE = regexp.MustCompile(`\bvigil_[a-z0-9_]+`)

// conditional metrics exist only for some logs, so a monitor of the local
// stack cannot show them: checkpoint timestamps are exported only for logs
// whose notes carry a "Timestamp:" line, which neither rekor-server v1.5.4
// nor rekor-tiles writes. Each is checked by a unit test instead.
//
// The witness's and the peer checks' series exist only with witness: and
// peers: configured, and peers only while the monitor runs; the tests named
// gather them from a running monitor.
var conditional = map[string]string{
	"vigil_log_checkpoint_timestamp_seconds": "TestCheckpointTimestampMetric",
	"vigil_witness_requests_total":           "TestWitnessedLogCosigned",
	"vigil_peer_checks_total":                "TestAppPeersAndAudit",
}

// TestAssetsReferenceExportedMetrics runs a monitor against the real logs
// until every kind of series exists (a verified check, a scan with a watch
// match, a delivered alert), gathers its metrics, and checks that every
// metric the rules and the dashboard query is among them.
func TestAssetsReferenceExportedMetrics(t *testing.T) {
	var l testenv.Log
	for _, sl := range stackLogs(t) {
		if sl.Kind == "rekor-v1" {
			l = sl
		}
	}
	rcv := newReceiver(t)
	cfg := scanConfig(t, l, l.URL, rcv, identity.Config{Watch: []identity.Rule{{Name: "anyone", Fingerprint: keyFingerprint(t, mustSigner(t).key)}}})
	// The trust watch, on a real TUF repository and a CA file, so that
	// its series exist too.
	repo := tuftest.New(t)
	dir := t.TempDir()
	cfg.Trust.TUF = config.TUF{Mirror: repo.URL(), RootFile: filepath.Join(dir, "root.json")}
	if err := os.WriteFile(cfg.Trust.TUF.RootFile, repo.RootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, identitytest.NewCA(t, "assets").PEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Trust.Watch.CAFiles = []string{caFile}
	// The stack's CT log, held against Rekor v1, so that the pair's
	// series exist.
	env := testenv.Stack(t)
	ctl := ctLogConfig(t, env, config.KindCT)
	cfg.Logs = append(cfg.Logs, ctl)
	cfg.Reconcile.Pairs = []config.Pair{{Rekor: cfg.Logs[0].Name, CT: ctl.Name, CAFiles: []string{env.Get(t, "FULCIO_ROOT")}}}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	app := newApp(t, cfg)
	defer app.Close()
	for _, o := range app.CheckOnce(t.Context()) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	add(t, l, mustSigner(t))
	app.Check(t.Context(), 10*time.Second)

	mfs, err := app.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = true
	}

	root := repoRoot(t)
	for _, f := range assetFiles {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		names := map[string]bool{}
		for _, m := range metricRE.FindAllString(string(b), -1) {
			names[m] = true
		}
		if len(names) == 0 {
			t.Errorf("%s references no vigil_ metric", f)
		}
		var missing []string
		for n := range names {
			base := n
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if trimmed, ok := strings.CutSuffix(n, suf); ok && exported[trimmed] {
					base = trimmed
				}
			}
			if !exported[base] && conditional[base] == "" {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			t.Errorf("%s queries metrics the monitor does not export: %v", f, missing)
		}
		if strings.HasSuffix(f, "vigil-dashboard.json") {
			// Every vigil_ metric is drawn, but for two that only matter
			// in logs and alerts.
			for n := range exported {
				if strings.HasPrefix(n, "vigil_") && !names[n] && !names[n+"_bucket"] &&
					n != "vigil_log_checks_total" && n != "vigil_alerts_dropped_total" {
					t.Errorf("the dashboard does not show %s", n)
				}
			}
		}
	}
}

// mustSigner returns one key signer per test binary, so the watch rule
// above and the entry added match.
var sharedSigner *signer

func mustSigner(t *testing.T) signer {
	if sharedSigner == nil {
		s := newKeySigner(t)
		sharedSigner = &s
	}
	return *sharedSigner
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}
