package alert

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/state"
)

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
	if err := state.WriteFileAtomic(filepath.Join(dir, b+eventSuffix), []byte("x"), 0o600, state.NoReplace); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteFileAtomic(NoReplace) over an event file = %v, want fs.ErrExist", err)
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
