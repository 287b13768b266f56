package alert

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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
