package monitor_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

type stackLog = testenv.Log

func stackLogs(t *testing.T) []stackLog { return testenv.Logs(t) }

func addEntries(t *testing.T, l stackLog, n int) { l.AddN(t, n) }

// logConfig returns a complete configuration watching url as l.
func logConfig(t *testing.T, l stackLog, url, stateDir string) *config.Config {
	t.Helper()
	cfg := &config.Config{
		StateDir: stateDir,
		Listen:   "127.0.0.1:0",
		Interval: config.Duration(time.Second),
		Logs: []config.Log{{
			Name: l.Name(), Kind: config.Kind(l.Kind), URL: url, PublicKeyFile: l.PubKey, Origin: l.Origin,
			Timeout: config.Duration(3 * time.Second),
		}},
		// Scanning is tested in scan_test.go; elsewhere, skip the backlog.
		Scan: config.Scan{StartAtEnd: true},
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newApp(t *testing.T, cfg *config.Config) *monitor.App {
	t.Helper()
	app, err := monitor.NewApp(t.Context(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	return app
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func checkOne(t *testing.T, app *monitor.App) monitor.Outcome {
	t.Helper()
	outs := app.CheckOnce(t.Context())
	if len(outs) != 1 {
		t.Fatalf("CheckOnce returned %d outcomes, want 1", len(outs))
	}
	return outs[0]
}

// TestFollowsRealLog: the monitor trusts the first checkpoint, follows the
// log as entries are added between polls (checking consistency proofs from
// the real server), and resumes from saved state after a restart.
func TestFollowsRealLog(t *testing.T) {
	for _, l := range stackLogs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			cfg := logConfig(t, l, l.URL, t.TempDir())
			app := newApp(t, cfg)
			first := checkOne(t, app)
			if first.Err != nil || !first.TOFU {
				t.Fatalf("first check = %v (TOFU %v), want verified on first use", first.Err, first.TOFU)
			}
			for round := range 2 {
				addEntries(t, l, 3)
				o := checkOne(t, app)
				if o.Err != nil || o.TOFU {
					t.Fatalf("round %d: check = %v (TOFU %v), want verified against saved state", round, o.Err, o.TOFU)
				}
				if o.Checkpoint.Size < first.Checkpoint.Size+3*uint64(round+1) {
					t.Fatalf("round %d: size %d, want >= %d", round, o.Checkpoint.Size, first.Checkpoint.Size+3*uint64(round+1))
				}
				if got := gauge(t, app.Gatherer(), "vigil_log_tree_size", "log", cfg.Logs[0].Name); got != float64(o.Checkpoint.Size) {
					t.Errorf("vigil_log_tree_size = %v, want %d", got, o.Checkpoint.Size)
				}
			}
			app.Close()

			// Restart: resumes from the saved checkpoint, no trust on first use.
			addEntries(t, l, 2)
			app = newApp(t, cfg)
			defer app.Close()
			o := checkOne(t, app)
			if o.Err != nil || o.TOFU {
				t.Fatalf("after restart: check = %v (TOFU %v), want verified against saved state", o.Err, o.TOFU)
			}
		})
	}
}

// gauge returns the value of the series of name with the given label.
func gauge(t *testing.T, g prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricValue(t, g, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels ...string) (float64, bool) {
	t.Helper()
	return testenv.MetricValue(t, g, name, labels...)
}

// stateBytes returns the raw state file of log in dir.
func stateBytes(t *testing.T, dir, log string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, log+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
