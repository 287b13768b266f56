package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// fastRetry keeps retries quick in tests; it does not make any assertion
// depend on timing.
var fastRetry = OutboxConfig{RetryInitial: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond}

func openOutbox(t *testing.T, dir string, sinks []Sink, cfg OutboxConfig) (*Outbox, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o, err := Open(dir, sinks, reg, discardLogger(), cfg)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { o.Close() })
	return o, reg
}

// run starts o.Run and returns a function that stops it and waits.
func run(t *testing.T, o *Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	return testenv.MetricValue(t, reg, name, labels...)
}

// eventually polls cond; the deadline only stops a hung test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func numbered(n int) []Event {
	var evs []Event
	for i := range n {
		evs = append(evs, Event{Kind: KindIdentityMatch, Severity: SeverityWarning, Log: "rekor",
			Evidence: Evidence{Rule: "release-signer", Entry: &Entry{Index: int64(i)}}})
	}
	return evs
}

func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

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

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
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

func TestOutboxRestartKeepsMarkers(t *testing.T) {
	dir := t.TempDir()
	a := newReceiver(t)
	b := newReceiver(t)
	b.setStatus(http.StatusServiceUnavailable)
	cfg := Config{Sinks: []SinkConfig{{Name: "a", Type: TypeWebhook, URL: a.srv.URL}, {Name: "b", Type: TypeWebhook, URL: b.srv.URL}}}

	o1, _ := openOutbox(t, dir, mustSinks(t, cfg, nil), fastRetry)
	stop := run(t, o1)
	stored, err := o1.Enqueue(t.Context(), numbered(2)...)
	if err != nil {
		t.Fatal(err)
	}
	a.waitFor(2)
	eventually(t, "markers for sink a", func() bool {
		return len(journal(t, dir)["sent a"]) == 2
	})
	stop()
	if err := o1.Close(); err != nil {
		t.Fatal(err)
	}

	b.setStatus(http.StatusOK)
	o2, _ := openOutbox(t, dir, mustSinks(t, cfg, nil), fastRetry)
	if st := o2.Stats(); st.Queued != 2 || st.Pending["a"] != 0 || st.Pending["b"] != 2 {
		t.Fatalf("after reopening, Stats() = %+v, want 2 events pending for b only", st)
	}
	run(t, o2)
	b.waitFor(2)
	eventually(t, "an empty queue", func() bool { return o2.Stats().Queued == 0 })
	// A request to b that o1 abandoned when it stopped may still have
	// reached b after b came up: at-least-once, so compare without repeats.
	if got := uniqueSorted(ids(b.events())); !slices.Equal(got, ids(stored)) {
		t.Errorf("b got %v, want %v", got, ids(stored))
	}
	if n := len(a.got()); n != 2 {
		t.Errorf("a got %d requests, want 2 (no re-send after restart)", n)
	}
}

// scriptSink delivers what ok accepts and fails the rest, and counts
// deliveries by entry index (-1: no entry).
type scriptSink struct {
	name string
	mu   sync.Mutex
	ok   func(Event) bool
	got  map[int64]int // entry index -> deliveries
}

func newScriptSink(name string, ok func(Event) bool) *scriptSink {
	return &scriptSink{name: name, ok: ok, got: map[int64]int{}}
}

func (s *scriptSink) Name() string { return s.name }

func (s *scriptSink) Send(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := int64(-1) // events without an entry
	if e.Evidence.Entry != nil {
		i = e.Evidence.Entry.Index
	}
	if !s.ok(e) {
		return fmt.Errorf("refusing entry %d", i)
	}
	s.got[i]++
	return nil
}

func (s *scriptSink) delivered() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for i := range s.got {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func even(e Event) bool { return e.Evidence.Entry.Index%2 == 0 }

// TestOutboxBatchFile: a batch is one file; its events finish one by one
// (markers), survive a reopen as they were, and the file goes with the last.
func TestOutboxBatchFile(t *testing.T) {
	dir := t.TempDir()
	all := newScriptSink("all", func(Event) bool { return true })
	picky := newScriptSink("picky", even)
	o1, _ := openOutbox(t, dir, []Sink{all, picky}, fastRetry)
	stored, err := o1.Enqueue(t.Context(), numbered(5)...)
	if err != nil {
		t.Fatal(err)
	}
	if got := queuedIDs(t, o1); !slices.Equal(got, ids(stored)) {
		t.Fatalf("queued %v, want %v", got, ids(stored))
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*"+eventSuffix)); len(files) != 1 || filepath.Base(files[0]) != stored[0].ID+eventSuffix {
		t.Fatalf("event files %v, want one named after the first event %s", files, stored[0].ID)
	}
	stop := run(t, o1)
	eventually(t, "every event at sink all, the even ones at sink picky", func() bool {
		return len(all.delivered()) == 5 && len(picky.delivered()) == 3 && o1.Stats().Queued == 2
	})
	stop()
	if err := o1.Close(); err != nil {
		t.Fatal(err)
	}
	j := journal(t, dir)
	if done, want := slices.Sorted(slices.Values(j["done"])), []string{stored[0].ID, stored[2].ID, stored[4].ID}; !slices.Equal(done, want) {
		t.Errorf("journal: done %v, want %v", done, want)
	}
	// Events that reached all before picky may have a line too.
	if sent := j["sent all"]; !slices.Contains(sent, stored[1].ID) || !slices.Contains(sent, stored[3].ID) {
		t.Errorf("journal: sent to all %v, want %s and %s among them", sent, stored[1].ID, stored[3].ID)
	}

	// Reopen: only the odd events, only for picky, which now takes them.
	picky2 := newScriptSink("picky", func(Event) bool { return true })
	all2 := newScriptSink("all", func(Event) bool { return true })
	o2, _ := openOutbox(t, dir, []Sink{all2, picky2}, fastRetry)
	if st := o2.Stats(); st.Queued != 2 || st.Pending["all"] != 0 || st.Pending["picky"] != 2 {
		t.Fatalf("after reopening, Stats() = %+v, want 2 events pending for picky only", st)
	}
	if got, want := queuedIDs(t, o2), []string{stored[1].ID, stored[3].ID}; !slices.Equal(got, want) {
		t.Fatalf("after reopening, queued %v, want %v", got, want)
	}
	run(t, o2)
	eventually(t, "an empty queue", func() bool { return o2.Stats().Queued == 0 })
	if got := picky2.delivered(); !slices.Equal(got, []int64{1, 3}) {
		t.Errorf("picky got entries %v after reopening, want [1 3]", got)
	}
	if got := all2.delivered(); len(got) != 0 {
		t.Errorf("all got entries %v again after reopening, want none", got)
	}
	eventually(t, "only the journal and the lock left", func() bool {
		return slices.Equal(dirNames(t, dir), []string{journalName, "lock"})
	})
}

// TestOutboxPresetIDs: events with preset IDs are queued in ID order, and an
// ID cannot be queued twice.
func TestOutboxPresetIDs(t *testing.T) {
	o, _ := openOutbox(t, t.TempDir(), []Sink{newScriptSink("s", even)}, OutboxConfig{})
	evs := numbered(3)
	evs[0].ID, evs[1].ID, evs[2].ID = formatID(30), formatID(10), formatID(20)
	if _, err := o.Enqueue(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	if got, want := queuedIDs(t, o), []string{evs[1].ID, evs[2].ID, evs[0].ID}; !slices.Equal(got, want) {
		t.Errorf("queued %v, want %v", got, want)
	}
	again := numbered(1)
	again[0].ID = evs[2].ID
	if _, err := o.Enqueue(t.Context(), again...); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Enqueue() of a queued ID = %v, want ErrInvalidEvent", err)
	}
	twice := numbered(2)
	twice[0].ID, twice[1].ID = formatID(40), formatID(40)
	twice[1].ID = twice[0].ID
	if _, err := o.Enqueue(t.Context(), twice...); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Enqueue() of one ID twice = %v, want ErrInvalidEvent", err)
	}
	if n := len(queuedIDs(t, o)); n != 3 {
		t.Errorf("%d events queued, want 3", n)
	}
}

// TestOutboxFileNameReuse: damaged input holds one event in two files; an
// event with the name of the second file is refused, not written over it.
func TestOutboxFileNameReuse(t *testing.T) {
	dir := t.TempDir()
	a, b, c := formatID(100), formatID(200), formatID(300)
	evs := numbered(3)
	writeRaw(t, dir, a+eventSuffix, rawRecord(t, 1, withID(evs[0], a)), rawRecord(t, 1, withID(evs[1], b)))
	writeRaw(t, dir, b+eventSuffix, rawRecord(t, 1, withID(evs[1], b)), rawRecord(t, 1, withID(evs[2], c)))
	o, _ := openOutbox(t, dir, []Sink{newScriptSink("s", func(Event) bool { return true })}, OutboxConfig{})
	if got := queuedIDs(t, o); !slices.Equal(got, []string{a, b, c}) {
		t.Fatalf("queued %v, want each event once: [%s %s %s]", got, a, b, c)
	}
	again := numbered(1)
	again[0].ID = b
	if _, err := o.Enqueue(t.Context(), again...); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Enqueue() of an event named like a live file = %v, want ErrInvalidEvent", err)
	}
	// And on disk, a file is never replaced.
	if err := writeFile(filepath.Join(dir, b+eventSuffix), []byte("x"), false); !errors.Is(err, fs.ErrExist) {
		t.Errorf("writeFile over an event file = %v, want fs.ErrExist", err)
	}
}

func TestOutboxLocked(t *testing.T) {
	dir := t.TempDir()
	openOutbox(t, dir, nil, OutboxConfig{})
	_, err := Open(dir, nil, nil, nil, OutboxConfig{})
	if !errors.Is(err, ErrOutboxLocked) {
		t.Fatalf("second Open() = %v, want ErrOutboxLocked", err)
	}
}

func TestOutboxFull(t *testing.T) {
	sev := func(s Severity, i int) Event {
		return Event{Kind: KindMalformedEntry, Severity: s, Log: "rekor", Evidence: Evidence{Entry: &Entry{Index: int64(i)}}}
	}
	logSinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}}, nil)

	t.Run("drop_oldest drops the oldest of the lowest severity", func(t *testing.T) {
		o, reg := openOutbox(t, t.TempDir(), logSinks, OutboxConfig{MaxEvents: 3})
		first, err := o.Enqueue(t.Context(), sev(SeverityCritical, 0), sev(SeverityInfo, 1), sev(SeverityInfo, 2))
		if err != nil {
			t.Fatal(err)
		}
		second, err := o.Enqueue(t.Context(), sev(SeverityWarning, 3))
		if err != nil {
			t.Fatalf("Enqueue() into a full drop_oldest outbox = %v", err)
		}
		want := []string{first[0].ID, first[2].ID, second[0].ID}
		if got := queuedIDs(t, o); !slices.Equal(got, want) {
			t.Errorf("queued %v, want %v (info event %s dropped)", got, want, first[1].ID)
		}
		if v, _ := metricValue(t, reg, "vigil_alerts_dropped_total", "reason", "queue_full"); v != 1 {
			t.Errorf("vigil_alerts_dropped_total{reason=queue_full} = %v, want 1", v)
		}
		// The dropped event shares its file with queued ones: it stays
		// dropped after a restart.
		o.Close()
		o2, _ := openOutbox(t, o.dir, logSinks, OutboxConfig{MaxEvents: 3})
		if got := queuedIDs(t, o2); !slices.Equal(got, want) {
			t.Errorf("after reopening, queued %v, want %v", got, want)
		}
	})
	t.Run("reject stores nothing", func(t *testing.T) {
		o, reg := openOutbox(t, t.TempDir(), logSinks, OutboxConfig{MaxEvents: 2, WhenFull: Reject})
		if _, err := o.Enqueue(t.Context(), sev(SeverityInfo, 0)); err != nil {
			t.Fatal(err)
		}
		_, err := o.Enqueue(t.Context(), sev(SeverityCritical, 1), sev(SeverityCritical, 2))
		if !errors.Is(err, ErrOutboxFull) {
			t.Fatalf("Enqueue() = %v, want ErrOutboxFull", err)
		}
		if n := len(queuedIDs(t, o)); n != 1 {
			t.Errorf("%d events queued after a rejected batch, want 1", n)
		}
		if v, _ := metricValue(t, reg, "vigil_alerts_dropped_total", "reason", "rejected"); v != 2 {
			t.Errorf("vigil_alerts_dropped_total{reason=rejected} = %v, want 2", v)
		}
	})
}

// queuedIDs lists the queued events, in order.
func queuedIDs(t *testing.T, o *Outbox) []string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, q := range o.order {
		if !q.done {
			out = append(out, q.id)
		}
	}
	return out
}

func TestOutboxEnqueue(t *testing.T) {
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "crit", Type: TypeLog, MinSeverity: SeverityCritical}}}, nil)
	o, _ := openOutbox(t, t.TempDir(), sinks, OutboxConfig{})

	_, err := o.Enqueue(t.Context(), forkEvent(), Event{Kind: "nope", Severity: SeverityInfo, Log: "x"})
	if !errors.Is(err, ErrInvalidEvent) || len(queuedIDs(t, o)) != 0 {
		t.Fatalf("Enqueue() with an invalid event = %v, %d stored; want ErrInvalidEvent and nothing stored", err, len(queuedIDs(t, o)))
	}
	bad := forkEvent()
	bad.ID = "../../etc/passwd"
	if _, err := o.Enqueue(t.Context(), bad); !errors.Is(err, ErrInvalidEvent) {
		t.Fatalf("Enqueue() with id %q = %v, want ErrInvalidEvent", bad.ID, err)
	}
	stored, err := o.Enqueue(t.Context(), forkEvent(), Event{Kind: KindStaleLog, Severity: SeverityWarning, Log: "rekor"})
	if err != nil {
		t.Fatal(err)
	}
	f := stored[0]
	if f.ID == "" || f.DedupeKey != DefaultDedupeKey(forkEvent()) || f.Summary != DefaultSummary(forkEvent()) {
		t.Errorf("stored event %+v lacks its defaults", f)
	}
	// Only the fork passes the sink's filter; the warning is not stored.
	if got := queuedIDs(t, o); !slices.Equal(got, []string{f.ID}) {
		t.Errorf("queued %v, want only %s", got, f.ID)
	}
	b, err := os.ReadFile(filepath.Join(o.dir, f.ID+eventSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"new_checkpoint":"rekor.local - 1\n8\nZmFr`) {
		t.Errorf("event file does not hold the raw checkpoint: %s", b)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Enqueue(t.Context(), forkEvent()); !errors.Is(err, ErrOutboxClosed) {
		t.Errorf("Enqueue() after Close = %v, want ErrOutboxClosed", err)
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

// rawRecord renders one event file line.
func rawRecord(t *testing.T, version int, e Event) []byte {
	t.Helper()
	if e.DedupeKey == "" {
		e.DedupeKey = DefaultDedupeKey(e)
	}
	b, err := json.Marshal(record{Version: version, Enqueued: time.Now().UTC(), Event: e})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func writeRaw(t *testing.T, dir, name string, parts ...[]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), slices.Concat(parts...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func withID(e Event, id string) Event { e.ID = id; return e }

func TestOutboxCleansUpAfterCrash(t *testing.T) {
	dir := t.TempDir()
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}}, nil)
	o, _ := openOutbox(t, dir, sinks, OutboxConfig{})
	stored, err := o.Enqueue(t.Context(), forkEvent())
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	// What crashes leave behind: a half-written temp file, markers of an
	// event already removed, an event delivered everywhere but not removed.
	// And damage from outside: an unreadable event file, and a batch file
	// with one damaged record.
	writeRaw(t, dir, ".tmp-123", []byte("{half"))
	writeRaw(t, dir, "0000000000000000001-00000000.sent.x")
	writeRaw(t, dir, stored[0].ID+".sent.log")
	writeRaw(t, dir, "0000000000000000002-00000000.jsonl", []byte("not json"))
	three, four := "0000000000000000003-00000000", "0000000000000000004-00000000"
	writeRaw(t, dir, three+".jsonl", rawRecord(t, 1, withID(forkEvent(), three)), []byte("{\"version\":1,\"ev\n"),
		rawRecord(t, 1, withID(forkEvent(), four)))
	var logs logBuffer
	o2, err := Open(dir, sinks, nil, slogTo(&logs), OutboxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	want := []string{"0000000000000000002-00000000.jsonl.corrupt", three + ".jsonl", three + ".jsonl.corrupt", journalName, "lock"}
	if got := dirNames(t, dir); !slices.Equal(got, want) {
		t.Errorf("after Open the outbox holds %v, want %v", got, want)
	}
	// The readable records of the damaged batch are queued.
	if got := queuedIDs(t, o2); !slices.Equal(got, []string{three, four}) {
		t.Errorf("after Open, queued %v, want [%s %s]", got, three, four)
	}
	for _, msg := range []string{"setting aside unreadable event file", "skipping damaged records of an event file"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("no %q logged: %s", msg, logs.String())
		}
	}
}

// TestOutboxFormats: files of the release before batches (one record, .json)
// and its marker files are read, the markers folded into the journal; a file
// of a later release is left alone, and so are journal lines that may be
// its.
func TestOutboxFormats(t *testing.T) {
	dir := t.TempDir()
	old, later := formatID(100), formatID(200)
	writeRaw(t, dir, old+legacySuffix, rawRecord(t, 1, withID(forkEvent(), old)))
	writeRaw(t, dir, later+eventSuffix, rawRecord(t, 2, withID(forkEvent(), later)))
	writeRaw(t, dir, later+doneSuffix)
	orphan := formatID(300)
	writeRaw(t, dir, orphan+markerInfix+"s") // an orphan, or the later release's
	s := newScriptSink("s", func(Event) bool { return true })
	var logs logBuffer
	o, err := Open(dir, []Sink{s}, nil, slogTo(&logs), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if got := queuedIDs(t, o); !slices.Equal(got, []string{old}) {
		t.Fatalf("queued %v, want only the legacy event %s", got, old)
	}
	if !strings.Contains(logs.String(), "leaving an event file of a later release alone") {
		t.Errorf("no error logged for the later release's file: %s", logs.String())
	}
	run(t, o)
	eventually(t, "an empty queue", func() bool { return o.Stats().Queued == 0 })
	want := []string{later + eventSuffix, journalName, "lock"}
	eventually(t, "the legacy file and markers gone, the later release's file kept", func() bool {
		return slices.Equal(dirNames(t, dir), want)
	})
	j := journal(t, dir)
	if !slices.Equal(j["done"], []string{later}) || !slices.Equal(j["sent s"], []string{orphan}) {
		t.Errorf("journal %v, want the later release's lines kept: done %s, sent %s s", j, later, orphan)
	}
}

// TestOutboxExpiredInBatchStaysDropped: an event dropped for its age while
// the rest of its file is queued is not queued again after a restart.
func TestOutboxExpiredInBatchStaysDropped(t *testing.T) {
	dir := t.TempDir()
	s := newScriptSink("s", func(Event) bool { return false })
	o, reg := openOutbox(t, dir, []Sink{s}, OutboxConfig{MaxAge: time.Hour})
	var mu sync.Mutex
	now := time.Now()
	o.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	first, err := o.Enqueue(t.Context(), numbered(1)...)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(90 * time.Minute)
	mu.Unlock()
	second, err := o.Enqueue(t.Context(), numbered(2)...)
	if err != nil {
		t.Fatal(err)
	}
	if q, _ := o.next(0); q == nil || q.id != second[0].ID {
		t.Fatalf("next() = %v, want %s after the expired %s", q, second[0].ID, first[0].ID)
	}
	if v, _ := metricValue(t, reg, "vigil_alerts_dropped_total", "reason", "expired"); v != 1 {
		t.Errorf("vigil_alerts_dropped_total{reason=expired} = %v, want 1", v)
	}
	// Drop one of a live batch too, as drop_oldest would.
	o.mu.Lock()
	o.finish(o.events[second[0].ID])
	o.mu.Unlock()
	o.Close()
	o2, _ := openOutbox(t, dir, []Sink{s}, OutboxConfig{})
	if got := queuedIDs(t, o2); !slices.Equal(got, []string{second[1].ID}) {
		t.Errorf("after reopening, queued %v, want only %s", got, second[1].ID)
	}
}

// journal reads the delivery journal of dir as lists of event IDs by
// "done" and "sent <sink>", in line order.
func journal(t *testing.T, dir string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		switch f := strings.Fields(line); len(f) {
		case 2:
			out[f[0]] = append(out[f[0]], f[1])
		case 3:
			out[f[0]+" "+f[2]] = append(out[f[0]+" "+f[2]], f[1])
		}
	}
	return out
}

func appendJournal(t *testing.T, dir string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, journalName), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

// TestOutboxJournalDamage: a torn last line does not count (here it would
// name another sink), and a long run of garbage (a power loss's zeroes) is
// skipped, not a reason to refuse to open.
func TestOutboxJournalDamage(t *testing.T) {
	dir := t.TempDir()
	never := func(Event) bool { return false }
	sinks := func() []Sink { return []Sink{newScriptSink("pager", never), newScriptSink("pagerduty", never)} }
	o, _ := openOutbox(t, dir, sinks(), OutboxConfig{})
	stored, err := o.Enqueue(t.Context(), numbered(1)...)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	appendJournal(t, dir, make([]byte, 70<<10))
	appendJournal(t, dir, []byte("\nsent "+stored[0].ID+" pager")) // "... pagerduty\n", torn
	var logs logBuffer
	o2, err := Open(dir, sinks(), nil, slogTo(&logs), OutboxConfig{})
	if err != nil {
		t.Fatalf("Open() with a damaged journal = %v", err)
	}
	defer o2.Close()
	if st := o2.Stats(); st.Pending["pager"] != 1 || st.Pending["pagerduty"] != 1 {
		t.Errorf("after reopening, Stats() = %+v, want the event pending for both sinks", st)
	}
	if !strings.Contains(logs.String(), "ignored unreadable lines of the delivery journal") {
		t.Errorf("no warning about the damaged journal: %s", logs.String())
	}
}

// TestOutboxIDsOnlyGrow: an ID the journal still names (its event finished,
// its file gone, other files queued) cannot be used again, even after a
// restart, so a stale line never finishes a new event.
func TestOutboxIDsOnlyGrow(t *testing.T) {
	dir := t.TempDir()
	x := formatID(100)
	sinks := func() []Sink { return []Sink{newScriptSink("s", func(e Event) bool { return e.ID == x })} }
	o, _ := openOutbox(t, dir, sinks(), fastRetry)
	evs := numbered(2)
	evs[0].ID = x
	stored, err := o.Enqueue(t.Context(), evs...) // one file: [x, y]
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, o)
	eventually(t, "x delivered", func() bool { return slices.Contains(journal(t, dir)["done"], x) })
	stop()
	if _, err := o.Enqueue(t.Context(), numbered(1)...); err != nil { // another file, still queued
		t.Fatal(err)
	}
	o.mu.Lock()
	if y := o.events[stored[1].ID]; y != nil {
		o.finish(y) // y dropped: the file [x, y] goes, "done x" stays
	}
	o.mu.Unlock()
	if slices.Contains(queuedIDs(t, o), stored[1].ID) || !slices.Contains(journal(t, dir)["done"], x) {
		t.Fatalf("queued %v, journal %v; want y gone and done x kept", queuedIDs(t, o), journal(t, dir))
	}
	again := numbered(1)
	again[0].ID = x
	if _, err := o.Enqueue(t.Context(), again...); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("Enqueue() of a used id = %v, want ErrInvalidEvent", err)
	}
	o.Close()
	o2, _ := openOutbox(t, dir, sinks(), fastRetry)
	if _, err := o2.Enqueue(t.Context(), again...); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("after reopening, Enqueue() of a used id = %v, want ErrInvalidEvent", err)
	}
}

// TestOutboxSinkAddedBack: an event no configured sink needs while its file
// is still queued keeps its journal lines, so a sink that was left out of
// one run gets it when it is back.
func TestOutboxSinkAddedBack(t *testing.T) {
	dir := t.TempDir()
	never := func(Event) bool { return false }
	first := func(e Event) bool { return e.Evidence.Entry.Index == 0 }
	o, _ := openOutbox(t, dir, []Sink{newScriptSink("a", first), newScriptSink("b", never)}, fastRetry)
	stored, err := o.Enqueue(t.Context(), numbered(2)...)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, o)
	eventually(t, "a has the first event", func() bool { return slices.Contains(journal(t, dir)["sent a"], stored[0].ID) })
	stop()
	o.Close()
	o2, _ := openOutbox(t, dir, []Sink{newScriptSink("a", never)}, fastRetry) // b left out
	o2.Close()
	o3, _ := openOutbox(t, dir, []Sink{newScriptSink("a", never), newScriptSink("b", never)}, fastRetry)
	if st := o3.Stats(); st.Pending["b"] != 2 || st.Pending["a"] != 1 {
		t.Errorf("with b back, Stats() = %+v, want both events pending for b, the second for a", st)
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

type funcSink struct {
	name string
	send func(Event) error
}

func (s *funcSink) Name() string                          { return s.name }
func (s *funcSink) Send(_ context.Context, e Event) error { return s.send(e) }

// TestOutboxCrashSnapshots: a crash at any moment leaves what a copy of the
// directory holds; opened, no copy may have finished an event for a sink
// that never got it.
func TestOutboxCrashSnapshots(t *testing.T) {
	dir := t.TempDir()
	var (
		mu   sync.Mutex
		n    int
		got  = map[string]map[string]bool{"a": {}, "b": {}}
		fail = map[string]bool{}
	)
	send := func(sink string) func(Event) error {
		return func(e Event) error {
			mu.Lock()
			defer mu.Unlock()
			if n++; sink == "a" && n%3 == 0 {
				fail[e.ID] = true
				return errors.New("flaky")
			}
			got[sink][e.ID] = true
			return nil
		}
	}
	o, _ := openOutbox(t, dir, []Sink{&funcSink{"a", send("a")}, &funcSink{"b", send("b")}}, fastRetry)
	var all []string
	for range 4 {
		stored, err := o.Enqueue(t.Context(), numbered(50)...)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(stored)...)
	}
	stop := run(t, o)
	defer stop()
	for k := range 40 {
		mu.Lock()
		had := map[string]map[string]bool{"a": maps.Clone(got["a"]), "b": maps.Clone(got["b"])}
		mu.Unlock()
		snap := t.TempDir()
		names := dirNames(t, dir)
		if k%2 == 1 {
			// Journal before event files, then after: copies with a
			// journal older, and newer, than the files.
			slices.Reverse(names)
		}
		for _, name := range names {
			if name == lockName {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				writeRaw(t, snap, name, b)
			}
		}
		nop := func(Event) error { return nil }
		o2, err := Open(snap, []Sink{&funcSink{"a", nop}, &funcSink{"b", nop}}, nil, nil, OutboxConfig{})
		if err != nil {
			t.Fatal(err)
		}
		o2.mu.Lock()
		for _, id := range all {
			for _, sink := range []string{"a", "b"} {
				pending := o2.events[id] != nil && o2.events[id].pending[slices.Index([]string{"a", "b"}, sink)] != nil
				// Deliveries after the copy was taken count too: the copy
				// lags the sinks, never the other way round.
				mu.Lock()
				delivered := had[sink][id] || got[sink][id]
				mu.Unlock()
				if !pending && !delivered {
					t.Errorf("copy %d: event %s is finished for sink %s, which never got it", k, id, sink)
				}
			}
		}
		o2.mu.Unlock()
		o2.Close()
		if o.Stats().Queued == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
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

// The SIGKILL test runs the outbox in a child process (this test binary,
// re-executed), kills it while events are queued and a delivery is in flight,
// and checks that a new process delivers every event.

const childEnv = "VIGIL_ALERT_OUTBOX_CHILD"

func TestOutboxSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	// The first receiver accepts the connection and never answers, so the
	// child is inside Send when it is killed.
	hung := make(chan struct{}, 10)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice when the killed
		// child's connection closes.
		io.Copy(io.Discard, r.Body)
		select {
		case hung <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	defer hang.Close()

	const n = 5
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_DIR="+dir, "CHILD_URL="+hang.URL, "CHILD_N="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var enqueued []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "ENQUEUED "); ok {
			enqueued = strings.Fields(rest)
			break
		}
	}
	if len(enqueued) != n {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child reported %d enqueued events, want %d", len(enqueued), n)
	}
	select {
	case <-hung:
	case <-time.After(60 * time.Second):
		t.Fatal("child never tried to deliver")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child exit = %v, want killed by SIGKILL", err)
	}

	// Restart: a new outbox on the same directory, receiver up.
	r := newReceiver(t)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: r.srv.URL}}}, nil)
	o, _ := openOutbox(t, dir, sinks, fastRetry)
	if st := o.Stats(); st.Queued != n {
		t.Fatalf("after the crash %d events are queued, want %d", st.Queued, n)
	}
	run(t, o)
	r.waitFor(n)
	if got := uniqueSorted(ids(r.events())); !slices.Equal(got, enqueued) {
		t.Errorf("delivered after restart %v, want %v", got, enqueued)
	}
}

// TestMain runs outboxChild instead of the tests when this binary is the
// child process of TestOutboxSurvivesSIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(outboxChild())
	}
	os.Exit(m.Run())
}

// outboxChild opens the outbox, enqueues CHILD_N events, reports their IDs
// only once Enqueue returned (as the monitor would before saving its state),
// then delivers until it is killed.
func outboxChild() int {
	n, _ := strconv.Atoi(os.Getenv("CHILD_N"))
	sinks, err := NewSinks(Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: os.Getenv("CHILD_URL"), Timeout: 10 * time.Minute}}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o, err := Open(os.Getenv("CHILD_DIR"), sinks, prometheus.NewRegistry(), discardLogger(), OutboxConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	stored, err := o.Enqueue(ctx, numbered(n)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ENQUEUED " + strings.Join(ids(stored), " "))
	go o.Run(ctx)
	time.Sleep(5 * time.Minute) // killed long before
	fmt.Fprintln(os.Stderr, "child was not killed")
	return 1
}

func uniqueSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
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
