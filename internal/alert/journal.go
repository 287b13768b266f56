package alert

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
// dropped when the journal is rewritten: at Open, once it has grown by half
// again as many lines as its last rewrite held (and 1024 more), and
// (truncated) whenever the queue is empty.
const journalName = "delivered.log"

// journalState is what a journal says.
type journalState struct {
	sent map[string][]string // event id -> sinks that have it
	done map[string]bool     // finished events
}

func newJournalState() journalState {
	return journalState{sent: map[string][]string{}, done: map[string]bool{}}
}

// readJournal reads the journal at path, if any, into js.
func readJournal(path string, js journalState) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening alert delivery journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch fields := strings.Fields(sc.Text()); {
		case len(fields) == 3 && fields[0] == "sent" && idRE.MatchString(fields[1]):
			js.sent[fields[1]] = append(js.sent[fields[1]], fields[2])
		case len(fields) == 2 && fields[0] == "done" && idRE.MatchString(fields[1]):
			js.done[fields[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading alert delivery journal: %w", err)
	}
	return nil
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
// and opens it for appending. o.mu is held (or load runs).
func (o *Outbox) rewriteJournal() error {
	path := filepath.Join(o.dir, journalName)
	if o.journal != nil {
		o.journal.Close()
		o.journal = nil
	}
	lines := o.journalLines()
	if err := writeFile(path, lines, true); err != nil {
		return fmt.Errorf("rewriting alert delivery journal: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening alert delivery journal: %w", err)
	}
	o.journal, o.jlines = f, strings.Count(string(lines), "\n")
	o.jbase = o.jlines
	return nil
}

// logDelivery appends a line to the journal, and rewrites the journal when
// it has grown well past what the queue needs. o.mu is held.
func (o *Outbox) logDelivery(line string) {
	if o.journal == nil {
		o.logger.Warn("alert outbox: delivery journal unavailable; a restart may send this event again", "line", line)
		return
	}
	if _, err := o.journal.WriteString(line + "\n"); err != nil {
		// Without the line, a restart sends the event again: a duplicate,
		// which the dedupe key lets receivers drop.
		o.logger.Warn("alert outbox: recording delivery failed", "line", line, "err", err)
		return
	}
	if o.jlines++; o.jlines > 2*o.jbase+1024 {
		if err := o.rewriteJournal(); err != nil {
			o.logger.Warn("alert outbox: compacting the delivery journal failed", "err", err)
		}
	}
}

// journalEmpty truncates the journal once nothing is queued. o.mu is held.
func (o *Outbox) journalEmpty() {
	if o.journal == nil || o.jlines == 0 || o.foreign != "" {
		return
	}
	if err := o.journal.Truncate(0); err != nil {
		o.logger.Warn("alert outbox: truncating the delivery journal failed", "err", err)
		return
	}
	o.jlines, o.jbase = 0, 0
}
