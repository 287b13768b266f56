package alert

// The event files of the outbox directory: reading them, rebuilding the
// queue from them at Open, and removing them once their events are
// finished. See the package documentation for the layout.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigil-tlog/vigil/internal/state"
)

// Names in the outbox directory, besides the journal (journalName).
const (
	// eventSuffix names event files: JSON lines, one record each.
	eventSuffix = ".jsonl"
	// lockName is the outbox's lock file (state.LockFile).
	lockName = "lock"
	// sinkStateDir holds a directory per stateful sink, by sink name.
	sinkStateDir = "sinks"
)

// load rebuilds the queue from the directory.
func (o *Outbox) load() error {
	// A write that crashed before its rename left a temp file: its events
	// were never acknowledged to the caller.
	if err := state.RemoveTempFiles(o.dir); err != nil {
		o.logger.Warn("alert outbox: removing temp files failed", "err", err)
	}
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("reading alert outbox: %w", err)
	}
	js := newJournalState()
	var files []string // event file names, with suffix
	for _, de := range ents {
		if name := de.Name(); !de.IsDir() && strings.HasSuffix(name, eventSuffix) {
			files = append(files, name)
		}
	}
	ignored, err := readJournal(filepath.Join(o.dir, journalName), js)
	if err != nil {
		return err
	}
	if ignored > 0 {
		// A torn last line (a crash mid-append) or damage: at worst a
		// delivery is repeated.
		o.logger.Warn("alert outbox: ignored unreadable lines of the delivery journal", "lines", ignored)
	}
	// IDs only grow: later than every ID in the journal too, even of
	// events whose file is gone.
	for id := range js.done {
		o.seeID(id)
	}
	for id := range js.sent {
		o.seeID(id)
	}
	slices.Sort(files)
	var (
		later bool // a later release's file is left alone
		known = map[string]bool{}
	)
	for _, name := range files {
		file := strings.TrimSuffix(name, eventSuffix)
		path := filepath.Join(o.dir, name)
		recs, damaged, err := readFile(path, file)
		switch {
		case errors.Is(err, errLaterVersion):
			// Written by a later release: leave it, and its journal lines,
			// as they are for that release.
			o.logger.Error("alert outbox: leaving an event file of a later release alone", "file", path, "err", err)
			later = true
			continue
		case err != nil:
			// Event files are renamed into place whole, so this is damage
			// from outside; keep the file for a human, do not loop on it.
			o.logger.Error("alert outbox: setting aside unreadable event file", "file", path+corruptSuffix, "err", err)
			_ = os.Rename(path, path+corruptSuffix)
			continue
		case len(damaged) > 0:
			// Some records are damaged: queue the others, keep a copy of the
			// whole file for a human.
			o.logger.Error("alert outbox: skipping damaged records of an event file", "file", path, "lines", damaged, "copy", path+corruptSuffix)
			if b, err := os.ReadFile(path); err == nil {
				_ = state.WriteFileAtomic(path+corruptSuffix, b, 0o600, state.NoReplace, state.NoDirSync)
			}
		}
		bf := &batchFile{path: path}
		o.files[file] = bf
		for _, r := range recs {
			id := r.rec.Event.ID
			if o.stored[id] != nil {
				o.logger.Error("alert outbox: ignoring a second copy of an event", "id", id, "file", path)
				continue
			}
			o.stored[id] = bf
			known[id] = true
			bf.ids = append(bf.ids, id)
			o.seeID(id)
			q := o.newQueued(r.rec, js.sent[id])
			switch {
			case js.done[id]:
				bf.done = append(bf.done, id)
				continue
			case q.npending == 0:
				// Every configured sink has it, or takes no such event:
				// keep what the journal says for a sink added back.
				q.file, q.sent = file, js.sent[id]
				bf.idle = append(bf.idle, q)
				continue
			}
			q.file, q.path, q.off, q.n, q.sent = file, path, r.off, r.n, js.sent[id]
			o.intern(q)
			o.events[id] = q
			o.order = append(o.order, q)
			bf.live++
		}
		if bf.live == 0 {
			o.removeFile(file)
		}
	}
	slices.SortFunc(o.order, func(a, b *queued) int { return strings.Compare(a.id, b.id) })
	if later {
		// Keep the journal lines of events not loaded: they may be the
		// later release's.
		var b strings.Builder
		for id, sinks := range js.sent {
			for _, s := range sinks {
				if !known[id] {
					fmt.Fprintf(&b, "sent %s %s\n", id, s)
				}
			}
		}
		for id := range js.done {
			if !known[id] {
				fmt.Fprintf(&b, "done %s\n", id)
			}
		}
		o.foreign = b.String()
	}
	// Without the lines of events whose file is gone.
	if err := o.rewriteJournal(); err != nil {
		// A full or read-only disk: go on with the journal as it is.
		o.logger.Error("alert outbox: could not rewrite the delivery journal", "err", err)
	}
	return nil
}

// recordAt is a record and where it lies in its file.
type recordAt struct {
	rec    record
	off, n int64
}

// errLaterVersion marks an event file with a record of a later version.
var errLaterVersion = errors.New("record of a later version")

// corruptSuffix is added to the name of a damaged event file set aside, or
// of the copy kept of one with damaged records.
const corruptSuffix = ".corrupt"

// readFile parses the event file at path, named file without its suffix:
// one record per line, the first of which has the file's name as its ID.
// It returns the records it can read and the line numbers of those it
// cannot; an error means none of the file can be trusted.
func readFile(path, file string) (recs []recordAt, damaged []int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	line := 0
	for off := 0; off < len(b); {
		end := bytes.IndexByte(b[off:], '\n')
		if end < 0 {
			end = len(b) - off
		}
		text := b[off : off+end]
		line++
		start := off
		off += end + 1
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		var rec record
		if err := decodeRecord(text, &rec); err != nil || !idRE.MatchString(rec.Event.ID) {
			damaged = append(damaged, line)
			continue
		}
		if rec.Version != 1 {
			return nil, nil, fmt.Errorf("event file %s, line %d: %w (%d)", path, line, errLaterVersion, rec.Version)
		}
		if line == 1 && rec.Event.ID != file {
			return nil, nil, fmt.Errorf("event file %s holds event %q first", path, rec.Event.ID)
		}
		recs = append(recs, recordAt{rec: rec, off: int64(start), n: int64(len(text))})
	}
	if len(recs) == 0 {
		return nil, nil, fmt.Errorf("event file %s holds no readable event", path)
	}
	return recs, damaged, nil
}

// errDamaged marks a queued event whose record can no longer be read.
var errDamaged = errors.New("damaged event record")

// read reads one queued event from its file. It returns an error wrapping
// [fs.ErrNotExist] or errDamaged when the event is gone for good, and other
// errors (descriptors, I/O) for what may pass.
func (o *Outbox) read(q *queued) (Event, error) {
	f, err := o.open(q.path)
	if err != nil {
		return Event{}, err
	}
	defer f.Close()
	return readRecord(f, q)
}

// readRecord reads q's record from f, its open event file.
func readRecord(f *os.File, q *queued) (Event, error) {
	b := make([]byte, q.n)
	switch _, err := f.ReadAt(b, q.off); {
	case errors.Is(err, io.EOF):
		return Event{}, fmt.Errorf("reading event %s from %s: %w: file truncated", q.id, q.path, errDamaged)
	case err != nil:
		return Event{}, fmt.Errorf("reading event %s from %s: %w", q.id, q.path, err)
	}
	var rec record
	if err := decodeRecord(b, &rec); err != nil {
		return Event{}, fmt.Errorf("parsing event %s in %s: %w: %w", q.id, q.path, errDamaged, err)
	}
	if rec.Event.ID != q.id {
		return Event{}, fmt.Errorf("parsing event %s in %s: %w: found event %q", q.id, q.path, errDamaged, rec.Event.ID)
	}
	return rec.Event, nil
}

// removeFile forgets an event file and deletes it; its journal lines go at
// the next rewrite, which must not come before the file is gone. o.mu is
// held (or load runs).
func (o *Outbox) removeFile(file string) {
	bf := o.files[file]
	if bf == nil {
		return
	}
	delete(o.files, file)
	for _, id := range bf.ids {
		delete(o.stored, id)
	}
	if err := os.Remove(bf.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		o.logger.Warn("alert outbox: removing a delivered event file failed; a restart sends its events again", "file", bf.path, "err", err)
	}
	if len(o.files) == 0 {
		o.journalEmpty()
	}
}
