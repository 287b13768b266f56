package alert

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-tlog/vigil/internal/state"
)

// The delivery journal records what the event files cannot: that one sink
// has an event while others still need it, and that an event is finished
// (delivered everywhere, or dropped) while other events of its file are
// queued. It is one append-only file of lines
//
//	sent <event id> <sink>
//	done <event id>
//
// written without fsync: a process crash keeps every line, and one lost to a
// power failure costs a duplicate delivery, which at-least-once allows. A
// torn or unknown line is ignored. Lines of events whose file is gone are
// dropped when the journal is rewritten: at Open, once it has grown to twice
// the lines of its last rewrite plus 1024, and (truncated) whenever the
// queue is empty. Event IDs only grow (Enqueue refuses a preset ID that is
// not later than every ID the outbox has seen), so a stale line never names
// a new event.
const journalName = "delivered.log"

// journalState is what a journal says.
type journalState struct {
	sent map[string][]string // event id -> sinks that have it
	done map[string]bool     // finished events
}

func newJournalState() journalState {
	return journalState{sent: map[string][]string{}, done: map[string]bool{}}
}

// readJournal reads the journal at path, if any, into js and returns the
// number of lines it ignored. Only whole lines count: a last line without
// its newline is torn ("sent <id> pager" of "... pagerduty"), and so is
// anything that does not parse.
func readJournal(path string, js journalState) (ignored int, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading alert delivery journal: %w", err)
	}
	for len(b) > 0 {
		line, rest, whole := bytes.Cut(b, []byte("\n"))
		b = rest
		if !whole {
			ignored++
			break
		}
		switch f := strings.Fields(string(line)); {
		case len(f) == 3 && f[0] == "sent" && idRE.MatchString(f[1]) && sinkNameRE.MatchString(f[2]):
			js.sent[f[1]] = append(js.sent[f[1]], f[2])
		case len(f) == 2 && f[0] == "done" && idRE.MatchString(f[1]):
			js.done[f[1]] = true
		case len(line) > 0:
			ignored++
		}
	}
	return ignored, nil
}

// journalLines renders the journal of the queued state, plus the lines of
// events not loaded (foreign: kept for a later release's files). o.mu is
// held (or load runs).
func (o *Outbox) journalLines() []byte {
	var b strings.Builder
	for _, bf := range o.files {
		for _, id := range bf.done {
			fmt.Fprintf(&b, "done %s\n", id)
		}
		for _, q := range bf.idle {
			for _, s := range q.sent {
				fmt.Fprintf(&b, "sent %s %s\n", q.id, s)
			}
		}
	}
	for _, q := range o.events {
		for _, s := range q.sent {
			fmt.Fprintf(&b, "sent %s %s\n", q.id, s)
		}
	}
	b.WriteString(o.foreign)
	return []byte(b.String())
}

// rewriteJournal replaces the journal with the lines the queued state needs
// and opens it for appending. On failure the journal in use stays. o.mu is
// held (or load runs).
func (o *Outbox) rewriteJournal() error {
	path := filepath.Join(o.dir, journalName)
	lines := o.journalLines()
	// Without a directory fsync: a power failure may bring back the old
	// journal, whose lines are a superset of these.
	if err := state.WriteFileAtomic(path, lines, 0o600, state.NoDirSync); err != nil {
		return fmt.Errorf("rewriting alert delivery journal: %w", err)
	}
	// The old descriptor now names the replaced file: appends go to the
	// new one from here on.
	if o.journal != nil {
		o.journal.Close()
		o.journal = nil
	}
	if err := o.openJournal(); err != nil {
		return err
	}
	o.jlines = strings.Count(string(lines), "\n")
	o.jbase = o.jlines
	return nil
}

// openJournal opens the journal for appending, creating it if needed.
// o.mu is held (or load runs).
func (o *Outbox) openJournal() error {
	f, err := os.OpenFile(filepath.Join(o.dir, journalName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening alert delivery journal: %w", err)
	}
	o.journal = f
	return nil
}

// logDelivery appends a line to the journal, and rewrites the journal when
// it has grown well past what the queue needs. In a batch (o.jbatch), the
// line waits in o.jbuf for flushJournal. o.mu is held.
func (o *Outbox) logDelivery(line string) {
	if o.jbatch {
		o.jbuf = append(append(o.jbuf, line...), '\n')
		return
	}
	o.writeJournal(line+"\n", 1)
}

// flushJournal ends a batch: it writes the lines logDelivery kept, in one
// write. o.mu is held.
func (o *Outbox) flushJournal() {
	o.jbatch = false
	if len(o.jbuf) == 0 {
		return
	}
	lines := string(o.jbuf)
	o.jbuf = o.jbuf[:0]
	o.writeJournal(lines, strings.Count(lines, "\n"))
}

// writeJournal appends n lines to the journal. o.mu is held.
func (o *Outbox) writeJournal(line string, n int) {
	if o.journal == nil {
		if o.closed {
			// Close released the outbox to another process: write nothing.
			return
		}
		if err := o.openJournal(); err != nil {
			o.logger.Warn("alert outbox: delivery journal unavailable; a restart may send this event again", "line", line, "err", err)
			return
		}
	}
	if _, err := o.journal.WriteString(line); err != nil {
		// Without the line, a restart sends the event again: a duplicate,
		// which the dedupe key lets receivers drop.
		o.logger.Warn("alert outbox: recording delivery failed", "lines", n, "err", err)
		return
	}
	if o.jlines += n; o.jlines > 2*o.jbase+1024 {
		if err := o.rewriteJournal(); err != nil {
			o.logger.Warn("alert outbox: compacting the delivery journal failed", "err", err)
		}
	}
}

// journalEmpty truncates the journal once nothing is queued. o.mu is held.
func (o *Outbox) journalEmpty() {
	if o.foreign == "" {
		o.jbuf = o.jbuf[:0] // lines of a batch: no event needs them now
	}
	if o.journal == nil || o.jlines == 0 || o.foreign != "" {
		return
	}
	if err := o.journal.Truncate(0); err != nil {
		o.logger.Warn("alert outbox: truncating the delivery journal failed", "err", err)
		return
	}
	o.jlines, o.jbase = 0, 0
}
