package alert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// seedRecords returns valid record lines: entry events with bodies (the
// fast path of decodeRecord), an integrity violation, a recovery.
func seedRecords() [][]byte {
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	evs := scanEvents(2, 7)
	f := forkEvent()
	f.DedupeKey = DefaultDedupeKey(f)
	evs = append(evs, f, Recovered(f, now, ""))
	var out [][]byte
	for i, e := range evs {
		// Fixed IDs: the corpus and every fuzz worker see the same seeds.
		e.ID = fmt.Sprintf("%019d-%08x", now.UnixNano()+int64(i), i)
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(record{Version: 1, Enqueued: now, Event: e}); err != nil {
			panic(err)
		}
		out = append(out, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	return out
}

// FuzzDecodeRecord: decodeRecord never panics, and whenever its fast path
// takes a record, json.Unmarshal gives the same.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range seedRecords() {
		f.Add(r)
	}
	f.Add([]byte(`{"version":1,"event":{"evidence":{"entry":{"body":"` + strings.Repeat("QUFB", 100) + `"},"entry":{"body":""}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast record
		if fastDecodeRecord(b, &fast) {
			var full record
			if err := json.Unmarshal(b, &full); err != nil {
				t.Fatalf("fast path took %q, json.Unmarshal rejects it: %v", b, err)
			}
			if !reflect.DeepEqual(fast, full) {
				t.Fatalf("fast path decodes %q to %+v, json.Unmarshal to %+v", b, fast, full)
			}
		}
		var r record
		_ = decodeRecord(b, &r)
	})
}

// FuzzReadFile: an event file of any content is read without panicking;
// what readFile accepts is version 1, led by the file's own event, and each
// record lies where readFile says.
func FuzzReadFile(f *testing.F) {
	recs := seedRecords()
	f.Add(bytes.Join(recs, []byte("\n")))
	f.Add(append(bytes.Join(recs, []byte("\n")), '\n'))
	f.Add(append(append([]byte{}, recs[0]...), "\n{garbage\n"...))
	f.Add([]byte("\n\n"))
	var first record
	if err := json.Unmarshal(recs[0], &first); err != nil {
		f.Fatal(err)
	}
	name := first.Event.ID
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), name+eventSuffix)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, damaged, err := readFile(path, name)
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatal("readFile accepted a file with no record")
		}
		// A damaged first line is skipped with the other damaged ones;
		// a readable one must be the file's own event.
		if got[0].off == 0 && got[0].rec.Event.ID != name {
			t.Errorf("first record is %q, want the file's %q", got[0].rec.Event.ID, name)
		}
		for _, r := range got {
			if r.rec.Version != 1 || !idRE.MatchString(r.rec.Event.ID) {
				t.Errorf("accepted record %+v", r.rec)
			}
			var again record
			if err := decodeRecord(data[r.off:r.off+r.n], &again); err != nil || again.Event.ID != r.rec.Event.ID {
				t.Errorf("record at %d+%d reads as %q, %v; want %q", r.off, r.n, again.Event.ID, err, r.rec.Event.ID)
			}
		}
		_ = damaged
	})
}

// FuzzJournal: a delivery journal of any content is read without
// panicking, and an event it says a sink has (or that is done) is not
// queued for that sink again.
func FuzzJournal(f *testing.F) {
	recs := seedRecords()
	var ids []string
	for _, r := range recs {
		var rec record
		if err := json.Unmarshal(r, &rec); err != nil {
			f.Fatal(err)
		}
		ids = append(ids, rec.Event.ID)
	}
	f.Add([]byte("sent " + ids[0] + " a\nsent " + ids[1] + " b\ndone " + ids[2] + "\n"))
	f.Add([]byte("sent " + ids[0] + " a\nsent " + ids[0] + " b\nsent " + ids[3] + " pag"))
	f.Add([]byte("done " + ids[1] + "\ngarbage line\n\n\x00sent x y\n"))
	file := bytes.Join(recs, []byte("\n"))
	f.Fuzz(func(t *testing.T, journal []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ids[0]+eventSuffix), file, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, journalName), journal, 0o600); err != nil {
			t.Fatal(err)
		}
		// What the journal says, read independently: whole lines only.
		sent, done := map[string][]string{}, map[string]bool{}
		lines := strings.Split(string(journal), "\n")
		for _, line := range lines[:len(lines)-1] {
			switch f := strings.Fields(line); {
			case len(f) == 3 && f[0] == "sent" && idRE.MatchString(f[1]) && sinkNameRE.MatchString(f[2]):
				sent[f[1]] = append(sent[f[1]], f[2])
			case len(f) == 2 && f[0] == "done" && idRE.MatchString(f[1]):
				done[f[1]] = true
			}
		}
		a, b := newScriptSink("a", func(Event) bool { return true }), newScriptSink("b", func(Event) bool { return true })
		o, err := Open(dir, []Sink{a, b}, nil, nil, OutboxConfig{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		defer o.Close()
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, id := range ids {
			q := o.events[id]
			if done[id] || (slices.Contains(sent[id], "a") && slices.Contains(sent[id], "b")) {
				if q != nil {
					t.Errorf("event %s queued again, the journal has it done or sent everywhere", id)
				}
				continue
			}
			if q == nil {
				t.Errorf("event %s lost: the journal does not have it done", id)
				continue
			}
			for i, s := range []string{"a", "b"} {
				if slices.Contains(sent[id], s) != (q.pending[i] == nil) {
					t.Errorf("event %s: journal says sent to %s %v, queued for it %v", id, s, slices.Contains(sent[id], s), q.pending[i] != nil)
				}
			}
		}
	})
}
