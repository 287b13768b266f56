// Command alertlatency measures how long a watched identity's signature
// takes to reach an alert receiver: it runs the monitor against the local
// Rekor v1 and v2 (scripts/stack/up.sh) with a webhook sink, signs entries as
// the watched identity, and reports the time from each entry's upload to the
// webhook call carrying its alert, against the target of one poll interval
// plus one second. Part of make bench.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/stack"
)

func main() { os.Exit(run()) }

func run() int {
	var (
		envFile  = flag.String("env", stack.EnvFile(), "stack env file written by scripts/stack/up.sh")
		interval = flag.Duration("interval", 2*time.Second, "poll interval of the monitor")
		samples  = flag.Int("n", 5, "entries to sign per log")
	)
	flag.Parse()
	if err := measure(*envFile, *interval, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "alertlatency:", err)
		return 1
	}
	return 0
}

// receipt is when the webhook got the alert for an entry of a log.
type receipt struct {
	mu   sync.Mutex
	seen map[string]time.Time // "<log>/<index>"
}

func (r *receipt) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	// A single event, or a group of entry events (alert.GroupBody).
	var b alert.GroupBody
	if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
		return
	}
	evs := b.Events
	if len(evs) == 0 {
		evs = []alert.Event{b.Event}
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		if ev.Evidence.Entry == nil {
			continue
		}
		k := fmt.Sprintf("%s/%d", ev.Log, ev.Evidence.Entry.Index)
		if _, ok := r.seen[k]; !ok {
			r.seen[k] = now
		}
	}
}

func (r *receipt) at(k string) (time.Time, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, ok := r.seen[k]
	return t, ok
}

func measure(envFile string, interval time.Duration, n int) error {
	env, err := stack.ReadEnv(envFile)
	if err != nil {
		return fmt.Errorf("reading the stack env (make stack-up): %w", err)
	}
	ca, err := identitytest.NewTestCA()
	if err != nil {
		return err
	}
	key, err := identitytest.NewSigner()
	if err != nil {
		return err
	}
	email := fmt.Sprintf("latency-%d@example.com", time.Now().UnixNano())
	cert, err := ca.Issue(key.Public(), email, "https://issuer.example.com", identitytest.Extensions{})
	if err != nil {
		return err
	}
	rcv := &receipt{seen: map[string]time.Time{}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "vigil-alertlatency-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := &config.Config{
		StateDir: filepath.Join(dir, "state"), Interval: config.Duration(interval), LogFormat: "text", LogLevel: "error",
		Logs: []config.Log{
			{Name: "v1", Kind: config.KindRekorV1, URL: env["REKOR_URL"], PublicKeyFile: env["REKOR_PUBKEY"], Origin: env["REKOR_HOSTNAME"]},
			{Name: "v2", Kind: config.KindRekorV2, URL: env["REKOR_V2_READ_URL"], PublicKeyFile: env["REKOR_V2_PUBKEY"], Origin: env["REKOR_V2_ORIGIN"]},
		},
		Scan:       config.Scan{StartAtEnd: true},
		Identities: identity.Config{Watch: []identity.Rule{{Name: "latency", Subject: email}}},
		Alerts:     alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: srv.URL}}},
	}
	if err := cfg.Complete(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	app, err := monitor.NewApp(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		return err
	}
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Run(runCtx, ln) }()
	defer func() { stop(); <-done }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if ok, _ := app.Ready(); ok {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("monitor not ready after a minute")
		}
	}

	add := map[string]func() (int64, error){
		"v1": func() (int64, error) {
			return stack.AddV1HashedRekord(ctx, env["REKOR_URL"], key, cert, identitytest.Artifact())
		},
		"v2": func() (int64, error) {
			return stack.AddV2HashedRekord(ctx, env["REKOR_V2_WRITE_URL"], key, cert, identitytest.Artifact())
		},
	}
	target := interval + time.Second
	fmt.Printf("alert latency: upload returned -> webhook received, poll interval %s (jitter up to 10%%), target %s\n", interval, target)
	for _, log := range []string{"v1", "v2"} {
		var lat []time.Duration
		for range n {
			idx, err := add[log]()
			if err != nil {
				return fmt.Errorf("signing into %s: %w", log, err)
			}
			sent := time.Now()
			k := fmt.Sprintf("%s/%d", log, idx)
			for {
				if at, ok := rcv.at(k); ok {
					lat = append(lat, max(at.Sub(sent), 0))
					break
				}
				if time.Since(sent) > 10*target+time.Minute {
					return fmt.Errorf("no alert for %s after %s", k, time.Since(sent).Round(time.Second))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		slices.Sort(lat)
		worst := lat[len(lat)-1]
		met := "yes"
		if worst > target {
			met = "NO"
		}
		fmt.Printf("  %s: %d alerts, median %s, worst %s, within target: %s\n", log, len(lat),
			lat[len(lat)/2].Round(time.Millisecond), worst.Round(time.Millisecond), met)
	}
	return nil
}
