package alert

import (
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOutboxBatchFile: a batch is one file; its events finish one by one
// (journal lines), survive a reopen as they were, and the file goes with the last.
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

func TestOutboxRestartKeepsJournal(t *testing.T) {
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
	eventually(t, "journal lines for sink a", func() bool {
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

func TestOutboxCleansUpAfterCrash(t *testing.T) {
	dir := t.TempDir()
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}}, nil)
	o, _ := openOutbox(t, dir, sinks, OutboxConfig{})
	stored, err := o.Enqueue(t.Context(), forkEvent())
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	// What crashes leave behind: half-written temp files (of this release,
	// and of releases before the outbox used state.WriteFileAtomic), journal
	// lines of an event already removed, an event delivered everywhere but
	// not removed. And damage from outside: an unreadable event file, and a
	// batch file with one damaged record.
	writeRaw(t, dir, ".tmp-123", []byte("{half"))
	writeRaw(t, dir, "."+formatID(5)+eventSuffix+".tmp-456", []byte("{half"))
	appendJournal(t, dir, []byte("sent 0000000000000000001-00000000 x\nsent "+stored[0].ID+" log\n"))
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

// TestOutboxLaterRelease: a file of a later release is left alone, and so
// are journal lines that may be its, while the other events are delivered.
func TestOutboxLaterRelease(t *testing.T) {
	dir := t.TempDir()
	cur, later := formatID(100), formatID(200)
	writeRaw(t, dir, cur+eventSuffix, rawRecord(t, 1, withID(forkEvent(), cur)))
	writeRaw(t, dir, later+eventSuffix, rawRecord(t, 2, withID(forkEvent(), later)))
	orphan := formatID(300)
	// The later release's lines, or an orphan's.
	writeRaw(t, dir, journalName, []byte("done "+later+"\nsent "+orphan+" s\n"))
	s := newScriptSink("s", func(Event) bool { return true })
	var logs logBuffer
	o, err := Open(dir, []Sink{s}, nil, slogTo(&logs), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	if got := queuedIDs(t, o); !slices.Equal(got, []string{cur}) {
		t.Fatalf("queued %v, want only the current event %s", got, cur)
	}
	if !strings.Contains(logs.String(), "leaving an event file of a later release alone") {
		t.Errorf("no error logged for the later release's file: %s", logs.String())
	}
	run(t, o)
	eventually(t, "an empty queue", func() bool { return o.Stats().Queued == 0 })
	want := []string{later + eventSuffix, journalName, "lock"}
	eventually(t, "the delivered file gone, the later release's file kept", func() bool {
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
