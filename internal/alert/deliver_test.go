package alert

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestOutboxReceiverDownThenUp(t *testing.T) {
	r := newReceiver(t)
	r.setStatus(http.StatusServiceUnavailable)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: r.srv.URL}}}, nil)
	o, reg := openOutbox(t, t.TempDir(), sinks, fastRetry)
	run(t, o)

	stored, err := o.Enqueue(t.Context(), numbered(3)...)
	if err != nil {
		t.Fatalf("Enqueue() = %v", err)
	}
	eventually(t, "failed attempts while the receiver is down", func() bool {
		v, _ := metricValue(t, reg, "vigil_alert_failures_total", "sink", "hook")
		return v >= 2
	})
	if v, _ := metricValue(t, reg, "vigil_alert_queue_depth"); v != 3 {
		t.Errorf("vigil_alert_queue_depth = %v while the receiver is down, want 3", v)
	}
	if v, _ := metricValue(t, reg, "vigil_alert_oldest_queued_timestamp_seconds"); v <= 0 {
		t.Errorf("vigil_alert_oldest_queued_timestamp_seconds = %v, want the enqueue time", v)
	}

	r.setStatus(http.StatusOK)
	r.waitFor(3)
	eventually(t, "an empty queue", func() bool { return o.Stats().Queued == 0 })
	// Unrelated events may arrive in any order after retries.
	got := uniqueSorted(ids(r.events()))
	if !slices.Equal(got, ids(stored)) {
		t.Errorf("delivered %v, want %v", got, ids(stored))
	}
	if v, _ := metricValue(t, reg, "vigil_alerts_sent_total", "sink", "hook"); v != 3 {
		t.Errorf("vigil_alerts_sent_total{sink=hook} = %v, want 3", v)
	}
	if v, _ := metricValue(t, reg, "vigil_alert_oldest_queued_timestamp_seconds"); v != 0 {
		t.Errorf("vigil_alert_oldest_queued_timestamp_seconds = %v with an empty queue, want 0", v)
	}
	if files := dirNames(t, o.dir); !slices.Equal(files, []string{journalName, "lock"}) {
		t.Errorf("outbox holds %v after delivery, want only the journal and the lock", files)
	}
	if b, _ := os.ReadFile(filepath.Join(o.dir, journalName)); len(b) != 0 {
		t.Errorf("the journal holds %q with nothing queued, want it empty", b)
	}
}

func TestOutboxFailingSinkDoesNotStopOthers(t *testing.T) {
	good := newReceiver(t)
	bad := newReceiver(t)
	bad.setStatus(http.StatusInternalServerError)
	var logs logBuffer
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{
		{Name: "bad", Type: TypeWebhook, URL: bad.srv.URL},
		{Name: "good", Type: TypeWebhook, URL: good.srv.URL},
		{Name: "log", Type: TypeLog},
	}}, slogTo(&logs))
	o, reg := openOutbox(t, t.TempDir(), sinks, fastRetry)
	run(t, o)
	stored, err := o.Enqueue(t.Context(), numbered(5)...)
	if err != nil {
		t.Fatal(err)
	}
	good.waitFor(5)
	eventually(t, "the log sink to log all events", func() bool { return strings.Count(logs.String(), `msg=alert`) == 5 })
	eventually(t, "deliveries to good and log recorded", func() bool {
		st := o.Stats()
		return st.Pending["good"] == 0 && st.Pending["log"] == 0
	})
	eventually(t, "repeated failures of the bad sink", func() bool {
		v, _ := metricValue(t, reg, "vigil_alert_failures_total", "sink", "bad")
		return v >= 3
	})
	if got := ids(good.events()); !slices.Equal(got, ids(stored)) {
		t.Errorf("good sink got %v, want %v", got, ids(stored))
	}
	for _, tc := range []struct {
		name, sink string
		want       float64
	}{
		{"vigil_alerts_sent_total", "good", 5},
		{"vigil_alerts_sent_total", "log", 5},
		{"vigil_alerts_sent_total", "bad", 0},
		{"vigil_alert_failures_total", "good", 0},
	} {
		if v, ok := metricValue(t, reg, tc.name, "sink", tc.sink); !ok || v != tc.want {
			t.Errorf("%s{sink=%s} = %v (present %v), want %v", tc.name, tc.sink, v, ok, tc.want)
		}
	}
	st := o.Stats()
	if st.Queued != 5 || st.Pending["bad"] != 5 || st.Pending["good"] != 0 {
		t.Errorf("Stats() = %+v, want 5 queued, all for bad", st)
	}
	if v, _ := metricValue(t, reg, "vigil_alert_queue_depth"); v != 5 {
		t.Errorf("vigil_alert_queue_depth = %v, want 5", v)
	}
}

func TestOutboxExpires(t *testing.T) {
	r := newReceiver(t)
	r.setStatus(http.StatusServiceUnavailable)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: r.srv.URL}}}, nil)
	cfg := fastRetry
	cfg.MaxAge = time.Hour
	o, reg := openOutbox(t, t.TempDir(), sinks, cfg)
	var mu sync.Mutex
	now := time.Now()
	o.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	if _, err := o.Enqueue(t.Context(), numbered(2)...); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	run(t, o)
	eventually(t, "expired events dropped", func() bool { return o.Stats().Queued == 0 })
	if v, _ := metricValue(t, reg, "vigil_alerts_dropped_total", "reason", "expired"); v != 2 {
		t.Errorf("vigil_alerts_dropped_total{reason=expired} = %v, want 2", v)
	}
}

// TestOutboxRetryOrder: an event whose retry is due goes before newer events
// of lower severity, and a transient read error only delays an event.
func TestOutboxRetryOrder(t *testing.T) {
	var (
		mu     sync.Mutex
		failed bool
		order  []int64
		o      *Outbox
	)
	s := &funcSink{name: "s", send: func(e Event) error {
		mu.Lock()
		defer mu.Unlock()
		if e.Evidence.Entry.Index == 0 && !failed {
			failed = true
			// A backlog arrives while the critical event backs off.
			if _, err := o.Enqueue(context.Background(), numbered(101)[1:]...); err != nil {
				t.Error(err)
			}
			return errors.New("503")
		}
		// At least 1ms a send: at most a handful go out while the
		// critical event waits out its retry (at most 5ms), however
		// slow the machine.
		time.Sleep(time.Millisecond)
		order = append(order, e.Evidence.Entry.Index)
		return nil
	}}
	o, _ = openOutbox(t, t.TempDir(), []Sink{s}, fastRetry)
	crit := numbered(1)
	crit[0].Severity = SeverityCritical
	if _, err := o.Enqueue(t.Context(), crit...); err != nil {
		t.Fatal(err)
	}
	// The first read fails as if out of descriptors.
	var once sync.Once
	o.open = func(name string) (*os.File, error) {
		var err error
		once.Do(func() { err = &fs.PathError{Op: "open", Path: name, Err: syscall.EMFILE} })
		if err != nil {
			return nil, err
		}
		return os.Open(name)
	}
	run(t, o)
	eventually(t, "every event delivered", func() bool { mu.Lock(); defer mu.Unlock(); return len(order) == 101 })
	mu.Lock()
	defer mu.Unlock()
	if i := slices.Index(order, 0); i > 10 {
		t.Errorf("the critical event went out %dth, behind the warnings enqueued after it", i+1)
	}
}

// TestOutboxConditionOrder: a recovery is never delivered before the firing
// event it resolves, even when that one keeps failing, while unrelated
// events go past it.
func TestOutboxConditionOrder(t *testing.T) {
	var mu sync.Mutex
	rejectFork := true
	var kinds []Kind
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if e.Kind == KindIntegrityViolation && rejectFork {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		kinds = append(kinds, e.Kind)
	}))
	defer srv.Close()
	got := func() []Kind {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(kinds)
	}
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: srv.URL}}}, nil)
	o, reg := openOutbox(t, t.TempDir(), sinks, fastRetry)
	run(t, o)
	stored, err := o.Enqueue(t.Context(), forkEvent())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Enqueue(t.Context(), Recovered(stored[0], time.Now(), ""), numbered(1)[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the unrelated event to overtake the failing fork", func() bool { return slices.Equal(got(), []Kind{KindIdentityMatch}) })
	eventually(t, "the fork to fail again", func() bool {
		v, _ := metricValue(t, reg, "vigil_alert_failures_total", "sink", "hook")
		return v >= 3
	})
	if g := got(); !slices.Equal(g, []Kind{KindIdentityMatch}) {
		t.Fatalf("receiver got %v while the fork fails; the recovery must wait for it", g)
	}
	mu.Lock()
	rejectFork = false
	mu.Unlock()
	eventually(t, "fork then recovery", func() bool { return len(got()) == 3 })
	if g := got(); !slices.Equal(g, []Kind{KindIdentityMatch, KindIntegrityViolation, KindRecovered}) {
		t.Errorf("receiver got %v, want the recovery after its fork", g)
	}
}

func TestBackoff(t *testing.T) {
	o := &Outbox{cfg: OutboxConfig{RetryInitial: time.Second, RetryMax: 8 * time.Second}.withDefaults()}
	for _, tc := range []struct {
		n        int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{5, 4 * time.Second, 8 * time.Second},
		{100, 4 * time.Second, 8 * time.Second},
	} {
		for range 50 {
			if d := o.backoff(tc.n); d < tc.min || d > tc.max {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.n, d, tc.min, tc.max)
			}
		}
	}
}
