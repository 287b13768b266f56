package monitor_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// receiver is a webhook receiver on loopback that records events.
type receiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []alert.Event
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// A single event, or a group of entry events (alert.GroupBody):
		// record each event.
		var b alert.GroupBody
		if err := json.NewDecoder(req.Body).Decode(&b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		evs := b.Events
		if len(evs) == 0 {
			evs = []alert.Event{b.Event}
		}
		r.mu.Lock()
		r.events = append(r.events, evs...)
		r.mu.Unlock()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []string
	for _, e := range r.events {
		ks = append(ks, string(e.Kind)+"/"+e.Reason)
	}
	return ks
}

// waitFor polls cond every 100ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRunSurvivesFork runs the monitor as a service against the real Rekor v2
// log behind a proxy that starts serving a forged fork: the monitor stays up,
// reports the fork in its metrics and to the alert webhook with both
// checkpoints as evidence, and verifies again when the proxy goes back to
// passing the real log through; the fork stays firing (a proven fork stays
// proven: a log that forks once and then behaves must not close the page)
// until an operator acknowledges it, which sends the recovered event.
func TestRunSurvivesFork(t *testing.T) {
	var l stackLog
	for _, sl := range stackLogs(t) {
		if sl.Kind == "rekor-v2" {
			l = sl
		}
	}
	proxy := faultproxy.Start(t, l.URL)
	rcv := newReceiver(t)
	cfg := logConfig(t, l, proxy.URL, t.TempDir())
	cfg.Alerts = alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: rcv.srv.URL}},
		Outbox: alert.OutboxConfig{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}}
	app := newApp(t, cfg)
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	}()

	name := cfg.Logs[0].Name
	metric := func(name string, labels ...string) float64 {
		v, _ := metricValue(t, app.Gatherer(), name, labels...)
		return v
	}
	waitFor(t, 20*time.Second, "first verification", func() bool {
		return metric("vigil_log_checks_total", "log", name, "result", "verified") >= 1
	})
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz = %d %q after verification, want 200", code, body)
	}

	sizeBefore := metric("vigil_log_tree_size", "log", name)
	signer, err := faultproxy.LoadSigner(l.PrivKey, l.Origin)
	if err != nil {
		t.Fatal(err)
	}
	forged := signer.Checkpoint(l.Origin, uint64(sizeBefore), faultproxy.RandomHash())
	proxy.Set(faultproxy.OnPath("/checkpoint", faultproxy.Body(forged)))
	waitFor(t, 20*time.Second, "the fork to be reported", func() bool {
		return metric("vigil_log_integrity_failures_total", "log", name, "reason", "fork") >= 2
	})
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d during a fork, want 200 (the process is alive)", code)
	}
	if _, body := httpGet(t, base+"/metrics"); !strings.Contains(body, `vigil_log_integrity_failures_total{log="`+name+`",reason="fork"}`) {
		t.Errorf("/metrics does not show the fork")
	}

	proxy.Clear()
	verified := metric("vigil_log_checks_total", "log", name, "result", "verified")
	waitFor(t, 20*time.Second, "two clean checks", func() bool {
		return metric("vigil_log_checks_total", "log", name, "result", "verified") > verified+1
	})
	waitFor(t, 20*time.Second, "the fork event at the webhook", func() bool {
		return strings.Contains(strings.Join(rcv.kinds(), " "), "integrity_violation/fork")
	})
	if ks := strings.Join(rcv.kinds(), " "); strings.Contains(ks, "recovered/fork") {
		t.Fatalf("the webhook got %s: clean checks resolved a proven fork", ks)
	}
	if v := metric("vigil_log_integrity_violations_unacknowledged", "log", name); v != 1 {
		t.Errorf("vigil_log_integrity_violations_unacknowledged = %v while the fork is not acknowledged, want 1", v)
	}
	firing := app.Firing()
	if len(firing) != 1 {
		t.Fatalf("firing conditions %v, want the fork", firing)
	}
	if _, err := monitor.RequestAck(state.AckDir(cfg.StateDir), monitor.Ack{DedupeKey: firing[0].DedupeKey, By: "test"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the recovered event after the acknowledgement", func() bool {
		return strings.Contains(strings.Join(rcv.kinds(), " "), "recovered/fork")
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	forks := 0
	for _, ev := range rcv.events {
		if ev.Kind != alert.KindIntegrityViolation {
			continue
		}
		forks++
		if ev.Evidence.OldCheckpoint == "" || ev.Evidence.NewCheckpoint == "" || ev.Evidence.KeyID == "" {
			t.Errorf("fork event lacks evidence: %+v", ev.Evidence)
		}
	}
	if forks != 1 {
		t.Errorf("webhook got %d fork events for one continuing fork, want 1 (kinds %v)", forks, rcv.kinds())
	}
}

// TestForkReachesAlertmanager: the monitor sees a forged fork of the real
// Rekor v1 log (served by a proxy, signed with the log's own key) and a real
// Alertmanager's API shows the alert, with both checkpoints in its
// annotations.
func TestForkReachesAlertmanager(t *testing.T) {
	var l stackLog
	for _, sl := range stackLogs(t) {
		if sl.Kind == "rekor-v1" {
			l = sl
		}
	}
	am := testenv.Alertmanager(t)
	proxy := faultproxy.Start(t, l.URL)
	cfg := logConfig(t, l, proxy.URL, t.TempDir())
	cfg.Alerts = alert.Config{Sinks: []alert.SinkConfig{{Name: "am", Type: alert.TypeAlertmanager, URL: am}},
		Outbox: alert.OutboxConfig{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}}
	app := newApp(t, cfg)
	defer app.Close()
	good := checkOne(t, app)
	if good.Err != nil {
		t.Fatal(good.Err)
	}
	f := newForger(t, l)
	forged := faultproxy.RandomHash()
	proxy.Set(f.serveNote(func(_ []byte, origin string, _ uint64, _ []byte) []byte {
		return f.signer.Checkpoint(origin, good.Checkpoint.Size, forged)
	}, false))
	outs := app.Check(t.Context(), 10*time.Second)
	if outs[0].Result() != "violation" {
		t.Fatalf("check of the forged fork = %v, want a violation", outs[0].Err)
	}
	alertname := alert.KindIntegrityViolation.AlertName()
	waitFor(t, 20*time.Second, "the fork in Alertmanager", func() bool {
		return len(testenv.AlertmanagerAlerts(t, am, alertname)) > 0
	})
	a := testenv.AlertmanagerAlerts(t, am, alertname)[0]
	if a.Labels["log"] != cfg.Logs[0].Name || a.Labels["severity"] != "critical" || a.Status.State != "active" {
		t.Errorf("alert labels %v state %q, want log %s, severity critical, active", a.Labels, a.Status.State, cfg.Logs[0].Name)
	}
	var all strings.Builder
	for _, v := range a.Annotations {
		all.WriteString(v)
	}
	if !strings.Contains(all.String(), "fork") || !strings.Contains(all.String(), "old checkpoint") {
		t.Errorf("alert annotations lack the evidence: %v", a.Annotations)
	}
}
