package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outbox is the durable queue between the monitor and the sinks. See the
// package documentation for the on-disk layout and crash semantics.
//
// Enqueue, Stats and Close are safe for concurrent use; Run is called once.
type Outbox struct {
	dir    string
	cfg    OutboxConfig
	sinks  []Sink
	logger *slog.Logger
	m      *metrics
	now    func() time.Time
	open   func(name string) (*os.File, error) // os.Open; tests inject failures
	wake   map[string]chan struct{}            // per sink; fixed at Open

	enqMu sync.Mutex // serializes Enqueue's disk writes

	mu      sync.Mutex            // guards the fields below
	events  map[string]*queued    // queued events by ID
	order   []*queued             // queued events by ID, ascending; may hold done ones
	ndone   int                   // done events in order
	files   map[string]*batchFile // event files by name (without suffix)
	stored  map[string]*batchFile // every event in a file on disk, done or not
	lastID  int64                 // unix nanos of the last ID handed out
	journal *os.File              // the delivery journal, open for appending
	jlines  int                   // lines in it
	jbase   int                   // lines at its last rewrite
	foreign string                // its lines for events of files left alone
	conds   map[string]*condSlot  // conditions of queued events
	free    []int                 // unused condSlot indexes
	seen    []uint64              // next's scratch: seen[slot] == stamp
	stamp   uint64
	jbuf    []byte // journal lines of a batch, for flushJournal
	jbatch  bool   // logDelivery appends to jbuf
	closed  bool
	running bool
	lock    *os.File
}

// queued is the in-memory record of one event.
type queued struct {
	id       string
	file     string // name of the event file that holds the event, without suffix
	path     string // its path
	off, n   int64  // byte range of the event's record in that file
	enqueued time.Time
	severity Severity
	// cond is the condition the event belongs to: its DedupeKey, or for a
	// recovered event the DedupeKey it resolves. A sink gets the events of
	// one condition in enqueue order (a recovery never overtakes its
	// firing event); unrelated events may overtake one that keeps failing.
	cond string
	slot int // cond's index in next's scratch, while queued
	// group is the event's Event.Group if its kind is groupable: the events
	// of one group due for a GroupSink are sent to it together.
	group string
	index int64 // the event's entry index, -1 without an entry
	// pending is the delivery state for each sink, by index in o.sinks;
	// nil for a sink that has the event or does not take it. npending
	// counts the others.
	pending  []*attempt
	npending int
	sent     []string // sinks that have it (from the journal)
	done     bool     // delivered everywhere or dropped; o.mu guards it
}

// batchFile is the in-memory record of one event file: the events one
// Enqueue stored together.
type batchFile struct {
	path string
	live int       // events in the file not yet done
	ids  []string  // every event in the file
	done []string  // its events finished while others are queued
	idle []*queued // its events no configured sink needs, kept for a sink added back
}

type attempt struct {
	n    int       // failed attempts so far
	next time.Time // not before
}

// Sentinel errors of the outbox.
var (
	// ErrOutboxFull is returned by Enqueue under when_full: reject.
	ErrOutboxFull = errors.New("alert outbox is full")
	// ErrOutboxLocked is returned by Open when another process holds the
	// outbox.
	ErrOutboxLocked = errors.New("alert outbox is in use by another process")
	// ErrOutboxClosed is returned by Enqueue and Run after Close.
	ErrOutboxClosed = errors.New("alert outbox is closed")
)

const (
	// eventSuffix names event files: JSON lines, one record each. Releases
	// before batches wrote one record per file under legacySuffix; Open
	// reads those too. The suffixes differ so that such a release, if
	// rolled back to, leaves batch files alone rather than reading their
	// first record only.
	eventSuffix  = ".jsonl"
	legacySuffix = ".json"
	// Marker files of earlier releases, read and then replaced by the
	// delivery journal.
	markerInfix  = ".sent."
	doneSuffix   = ".done"
	tempPrefix   = ".tmp-"
	lockName     = "lock"
	sinkStateDir = "sinks"
)

// record is one event in an event file: a file holds one JSON record per
// line. Version is 1; a record of a later version is left for the release
// that wrote it.
type record struct {
	Version  int       `json:"version"`
	Enqueued time.Time `json:"enqueued"`
	Event    Event     `json:"event"`
}

// Open opens (creating it if needed) the outbox in dir, normally
// <state-dir>/outbox, for the given sinks, and loads what a previous run
// left queued: every event is queued again for each current sink that
// accepts it and, by the delivery journal, has not had it. Sink names must be
// unique (as [Config.Validate] ensures).
//
// Open takes an exclusive lock on dir/lock; a second Open of the same
// directory, from this process or another, fails with [ErrOutboxLocked].
// Metrics are registered on reg (nil: not registered); logger may be nil.
// Zero fields of cfg take their defaults.
func Open(dir string, sinks []Sink, reg prometheus.Registerer, logger *slog.Logger, cfg OutboxConfig) (*Outbox, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := &Outbox{
		dir:    dir,
		cfg:    cfg.withDefaults(),
		sinks:  sinks,
		logger: logger,
		now:    time.Now,
		open:   os.Open,
		wake:   map[string]chan struct{}{},
		events: map[string]*queued{},
		files:  map[string]*batchFile{},
		stored: map[string]*batchFile{},
		conds:  map[string]*condSlot{},
	}
	for _, s := range sinks {
		if _, dup := o.wake[s.Name()]; dup || !sinkNameRE.MatchString(s.Name()) {
			return nil, fmt.Errorf("opening alert outbox: sink name %q is invalid or used twice", s.Name())
		}
		o.wake[s.Name()] = make(chan struct{}, 1)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating alert outbox: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening alert outbox lock: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("opening alert outbox %s: %w", dir, ErrOutboxLocked)
		}
		return nil, fmt.Errorf("locking alert outbox %s: %w", dir, err)
	}
	o.lock = lock
	if err := o.load(); err != nil {
		o.Close()
		return nil, err
	}
	for _, s := range sinks {
		if st, ok := s.(stateful); ok {
			if err := st.openState(filepath.Join(dir, sinkStateDir, s.Name())); err != nil {
				o.Close()
				return nil, fmt.Errorf("opening state of alert sink %s: %w", s.Name(), err)
			}
		}
	}
	o.m = newMetrics(o)
	if reg != nil {
		if err := o.m.register(reg); err != nil {
			o.Close()
			return nil, err
		}
	}
	for _, s := range sinks {
		o.m.sent.WithLabelValues(s.Name())
		o.m.failures.WithLabelValues(s.Name())
	}
	return o, nil
}

// load rebuilds the queue from the directory.
func (o *Outbox) load() error {
	ents, err := os.ReadDir(o.dir)
	if err != nil {
		return fmt.Errorf("reading alert outbox: %w", err)
	}
	js := newJournalState()
	var (
		files   []string // event file names, with suffix
		markers []string // marker files of earlier releases
	)
	for _, de := range ents {
		name := de.Name()
		switch {
		case de.IsDir() || name == lockName || name == journalName:
		case strings.HasPrefix(name, tempPrefix):
			// A write that crashed before its rename: the events were never
			// acknowledged to the caller.
			_ = os.Remove(filepath.Join(o.dir, name))
		case strings.Contains(name, markerInfix):
			if id, sink, _ := strings.Cut(name, markerInfix); idRE.MatchString(id) && sinkNameRE.MatchString(sink) {
				js.sent[id] = append(js.sent[id], sink)
			}
			markers = append(markers, name)
		case strings.HasSuffix(name, doneSuffix):
			if id := strings.TrimSuffix(name, doneSuffix); idRE.MatchString(id) {
				js.done[id] = true
			}
			markers = append(markers, name)
		case strings.HasSuffix(name, eventSuffix) || strings.HasSuffix(name, legacySuffix):
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
		file := strings.TrimSuffix(strings.TrimSuffix(name, eventSuffix), legacySuffix)
		path := filepath.Join(o.dir, name)
		if o.files[file] != nil {
			// x.json of an earlier release next to x.jsonl: IDs are used
			// once, so this is damage; leave the second for a human.
			o.logger.Error("alert outbox: ignoring a second event file of the same name", "file", path)
			continue
		}
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
				_ = writeFile(path+corruptSuffix, b, false)
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
	// The journal now holds what the markers said; then they can go.
	if err := o.rewriteJournal(); err != nil {
		// A full or read-only disk: go on with the journal as it is, and
		// keep the markers.
		o.logger.Error("alert outbox: could not rewrite the delivery journal", "err", err)
		return nil
	}
	if len(markers) > 0 && syncDir(o.dir) == nil {
		for _, name := range markers {
			_ = os.Remove(filepath.Join(o.dir, name))
		}
	}
	return nil
}

// seeID records that id is in use: IDs handed out later are greater.
func (o *Outbox) seeID(id string) {
	o.lastID = max(o.lastID, idNanos(id))
}

// idNanos returns the time part of an ID (see formatID); 0 if it has none.
func idNanos(id string) int64 {
	n, _ := strconv.ParseInt(strings.SplitN(id, "-", 2)[0], 10, 64)
	return n
}

func (o *Outbox) newQueued(rec record, delivered []string) *queued {
	q := &queued{id: rec.Event.ID, enqueued: rec.Enqueued, severity: rec.Event.Severity,
		cond: rec.Event.DedupeKey, pending: make([]*attempt, len(o.sinks))}
	if rec.Event.Kind.Groupable() {
		q.group = rec.Event.Group
	}
	q.index = -1
	if en := rec.Event.Evidence.Entry; en != nil {
		q.index = en.Index
	}
	if r := rec.Event.Resolves; r != nil {
		q.cond = r.DedupeKey
	}
	for i, s := range o.sinks {
		if f, ok := s.(Filter); ok && !f.Accepts(rec.Event) {
			continue
		}
		if slices.Contains(delivered, s.Name()) {
			continue
		}
		q.pending[i] = &attempt{}
		q.npending++
	}
	return q
}

// took records that sink i has q, or is done with it; it reports whether
// no sink needs q any more. o.mu is held.
func (q *queued) took(i int) (finished bool) {
	if q.pending[i] != nil {
		q.pending[i] = nil
		q.npending--
	}
	return q.npending == 0
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

// finish forgets an event that every sink has, or that is dropped. Once
// every event of its file is finished, the file goes; until then the journal
// records that this one is finished. o.mu is held.
func (o *Outbox) finish(q *queued) {
	if q.done {
		return
	}
	q.done = true
	o.ndone++
	delete(o.events, q.id)
	o.release(q)
	bf := o.files[q.file]
	if bf == nil {
		return
	}
	if bf.live--; bf.live > 0 {
		bf.done = append(bf.done, q.id)
		o.logDelivery("done " + q.id)
		return
	}
	o.removeFile(q.file)
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

// condSlot numbers a condition of queued events for next's scratch.
type condSlot struct {
	slot int
	refs int // queued events of the condition
}

// intern gives q the slot of its condition. o.mu is held (or load runs).
func (o *Outbox) intern(q *queued) {
	c := o.conds[q.cond]
	if c == nil {
		c = &condSlot{slot: len(o.seen)}
		if n := len(o.free); n > 0 {
			c.slot, o.free = o.free[n-1], o.free[:n-1]
		} else {
			o.seen = append(o.seen, 0)
		}
		o.conds[q.cond] = c
	}
	c.refs++
	q.slot = c.slot
}

// release gives up q's hold on its condition's slot. o.mu is held.
func (o *Outbox) release(q *queued) {
	c := o.conds[q.cond]
	if c == nil {
		return
	}
	if c.refs--; c.refs == 0 {
		delete(o.conds, q.cond)
		o.free = append(o.free, c.slot)
	}
}

// compact drops finished events from o.order once they are half of it.
// o.mu is held; not while iterating o.order.
func (o *Outbox) compact() {
	if o.ndone > 0 && o.ndone >= len(o.order)/2 {
		o.order = slices.DeleteFunc(o.order, func(q *queued) bool { return q.done })
		o.ndone = 0
	}
}

// Enqueue stores events durably and returns once they are on disk: one
// event file for the batch, written to a temp file, fsynced, renamed into
// place, and the directory fsynced. Only then may the caller record that it
// has moved past what caused them. It never waits for delivery, or for a
// receiver.
//
// Empty ID, Time, DedupeKey and Summary are filled in (ID from the current
// time, so IDs sort in enqueue order; a preset ID must have the same form and
// be later than every ID the outbox has used; DedupeKey by
// [DefaultDedupeKey]; Summary by [DefaultSummary]). Events no sink accepts are not stored. The batch is all
// or nothing: an invalid event ([ErrInvalidEvent]), a full outbox under
// when_full: reject ([ErrOutboxFull]) or a write error stores none of them.
// Under when_full: drop_oldest, room is made by dropping the oldest queued
// events of the lowest severity.
//
// Enqueue returns the events as stored (IDs and defaults filled in).
func (o *Outbox) Enqueue(ctx context.Context, events ...Event) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	preset := map[string]bool{}
	for i, e := range events {
		if err := e.Check(); err != nil {
			return nil, fmt.Errorf("enqueueing event %d: %w", i, err)
		}
		if e.ID == "" {
			continue
		}
		if !idRE.MatchString(e.ID) {
			return nil, fmt.Errorf("enqueueing event %d: %w: id %q is not an outbox id", i, ErrInvalidEvent, e.ID)
		}
		if preset[e.ID] {
			return nil, fmt.Errorf("enqueueing event %d: %w: id %q is used twice", i, ErrInvalidEvent, e.ID)
		}
		preset[e.ID] = true
	}
	o.enqMu.Lock()
	defer o.enqMu.Unlock()

	now := o.now()
	out := make([]Event, len(events))
	var recs []record
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return nil, ErrOutboxClosed
	}
	first := o.lastID // preset IDs must be later: a journal line never names a new event
	for i, e := range events {
		if e.ID == "" {
			n := now.UnixNano()
			if n <= o.lastID {
				n = o.lastID + 1
			}
			o.lastID = n
			e.ID = formatID(n)
		} else if idNanos(e.ID) <= first { // every ID stored, or named by the journal, is not later
			o.mu.Unlock()
			return nil, fmt.Errorf("enqueueing event %d: %w: id %q is not later than every id the outbox has used", i, ErrInvalidEvent, e.ID)
		} else {
			o.seeID(e.ID)
		}
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		if e.DedupeKey == "" {
			e.DedupeKey = DefaultDedupeKey(e)
		}
		if e.Summary == "" {
			e.Summary = DefaultSummary(e)
		}
		if !e.Kind.Groupable() {
			// Conditions and recoveries are never delivered in a group.
			e.Group = ""
		}
		out[i] = e
		if q := o.newQueued(record{Event: e}, nil); q.npending > 0 {
			recs = append(recs, record{Version: 1, Enqueued: now.UTC(), Event: e})
		}
	}
	victims, err := o.makeRoom(len(recs))
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return out, nil
	}

	// The batch is one file, one JSON record per line, named after its
	// first event; where each record lies is kept for delivery.
	file := recs[0].Event.ID
	var buf bytes.Buffer
	offs := make([]int64, len(recs)+1)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, rec := range recs {
		if err := enc.Encode(rec); err != nil { // Encode ends the record with a newline
			return nil, fmt.Errorf("enqueueing alert events: encoding event %s: %w", rec.Event.ID, err)
		}
		offs[i+1] = int64(buf.Len())
	}
	path := filepath.Join(o.dir, file+eventSuffix)
	// Never over an existing file: an ID is used once.
	if err := writeFile(path, buf.Bytes(), false); err != nil {
		return nil, fmt.Errorf("enqueueing alert events: %w", err)
	}
	if err := syncDir(o.dir); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("enqueueing alert events: %w", err)
	}

	o.mu.Lock()
	for _, q := range victims {
		if !q.done {
			o.finish(q)
			o.m.dropped.WithLabelValues("queue_full").Inc()
			o.logger.Error("alert outbox full: dropped queued event", "id", q.id, "severity", q.severity)
		}
	}
	o.compact()
	bf := &batchFile{path: path, live: len(recs)}
	o.files[file] = bf
	for i, rec := range recs {
		q := o.newQueued(rec, nil)
		q.file, q.path, q.off, q.n = file, path, offs[i], offs[i+1]-offs[i]-1 // without the newline
		o.intern(q)
		o.events[q.id] = q
		o.stored[q.id] = bf
		bf.ids = append(bf.ids, q.id)
		o.insert(q)
	}
	o.mu.Unlock()
	o.wakeAll()
	return out, nil
}

// insert adds q to o.order, which stays sorted by ID. Generated IDs only
// grow, so this is an append unless the caller preset an older ID. o.mu is
// held.
func (o *Outbox) insert(q *queued) {
	if n := len(o.order); n == 0 || o.order[n-1].id < q.id {
		o.order = append(o.order, q)
		return
	}
	i, _ := slices.BinarySearchFunc(o.order, q.id, func(e *queued, id string) int { return strings.Compare(e.id, id) })
	o.order = slices.Insert(o.order, i, q)
}

// makeRoom checks capacity for n new events and picks the events to drop
// under drop_oldest. o.mu is held.
func (o *Outbox) makeRoom(n int) ([]*queued, error) {
	over := len(o.events) + n - o.cfg.MaxEvents
	if over <= 0 {
		return nil, nil
	}
	if o.cfg.WhenFull == Reject || n > o.cfg.MaxEvents {
		o.m.dropped.WithLabelValues("rejected").Add(float64(n))
		return nil, fmt.Errorf("enqueueing %d alert events with %d of %d queued: %w", n, len(o.events), o.cfg.MaxEvents, ErrOutboxFull)
	}
	all := make([]*queued, 0, len(o.events))
	for _, q := range o.events {
		all = append(all, q)
	}
	// Lowest severity first, then oldest.
	slices.SortFunc(all, func(a, b *queued) int {
		if d := a.severity.Rank() - b.severity.Rank(); d != 0 {
			return d
		}
		return strings.Compare(a.id, b.id)
	})
	return all[:over], nil
}

func (o *Outbox) wakeAll() {
	for _, c := range o.wake {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// formatID renders an event ID: the enqueue time in unix nanoseconds, 19
// digits, zero padded, then 8 random hex digits. IDs sort by time.
func formatID(nanos int64) string {
	return fmt.Sprintf("%019d-%08x", nanos, rand.Uint32())
}

func newID(t time.Time) string { return formatID(t.UnixNano()) }

// idRE matches the IDs formatID makes; Enqueue accepts only these, since IDs
// become file names.
var idRE = regexp.MustCompile(`^[0-9]{19}-[0-9a-f]{8}$`)

// Stats describes the queue.
type Stats struct {
	// Queued is the number of events not yet delivered to every sink that
	// takes them.
	Queued int
	// Oldest is the enqueue time of the oldest of them; zero when none.
	Oldest time.Time
	// Pending counts queued events per sink.
	Pending map[string]int
}

// Stats returns the current queue statistics.
func (o *Outbox) Stats() Stats {
	o.mu.Lock()
	defer o.mu.Unlock()
	st := Stats{Queued: len(o.events), Pending: map[string]int{}}
	for _, s := range o.sinks {
		st.Pending[s.Name()] = 0
	}
	for _, q := range o.events {
		if st.Oldest.IsZero() || q.enqueued.Before(st.Oldest) {
			st.Oldest = q.enqueued
		}
		for i, a := range q.pending {
			if a != nil {
				st.Pending[o.sinks[i].Name()]++
			}
		}
	}
	return st
}

// Run delivers queued events until ctx is done, then returns nil. Each sink
// has its own goroutine, backoff and order (oldest first), so a sink that
// fails or hangs delays only itself. Sinks that are [Runner]s are run too.
// Run may be called once; stop it by cancelling ctx and wait for it to
// return before Close.
func (o *Outbox) Run(ctx context.Context) error {
	o.mu.Lock()
	switch {
	case o.closed:
		o.mu.Unlock()
		return ErrOutboxClosed
	case o.running:
		o.mu.Unlock()
		return errors.New("alert outbox is already running")
	}
	o.running = true
	o.mu.Unlock()

	var wg sync.WaitGroup
	wg.Go(func() { <-ctx.Done() }) // with no sinks, still run until ctx ends
	for i, s := range o.sinks {
		wg.Go(func() { o.deliver(ctx, i, s) })
		if r, ok := s.(Runner); ok {
			wg.Go(func() {
				r.Run(ctx, func(err error) { o.count(s.Name(), err) })
			})
		}
	}
	wg.Wait()
	return nil
}

func (o *Outbox) count(sink string, err error) {
	if err != nil {
		o.m.failures.WithLabelValues(sink).Inc()
		o.logger.Warn("alert delivery failed", "sink", sink, "err", err)
		return
	}
	o.m.sent.WithLabelValues(sink).Inc()
}

// deliver is the loop of one sink.
func (o *Outbox) deliver(ctx context.Context, i int, s Sink) {
	name := s.Name()
	limit := 1
	gs, ok := s.(GroupSink)
	if ok {
		limit = max(gs.GroupLimit(), 1)
	}
	failures := 0 // consecutive, across events: the sink's own backoff
	for {
		qs, wait := o.nextBatch(i, limit)
		if qs == nil {
			var timer <-chan time.Time
			var t *time.Timer
			if wait > 0 {
				t = time.NewTimer(wait)
				timer = t.C
			}
			select {
			case <-ctx.Done():
			case <-o.wake[name]:
			case <-timer:
			}
			if t != nil {
				t.Stop()
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		var (
			evs []Event
			err error
		)
		if ts, ok := s.(textSink); ok && len(qs) > ts.listed() {
			// Only the first entries are named: read only those.
			var listed []*queued
			evs, listed = o.readAll(qs[:ts.listed()], i)
			if len(listed) == 0 {
				continue
			}
			qs = append(listed, qs[ts.listed():]...)
			err = ts.sendText(ctx, textGroup(evs, qs))
		} else {
			evs, qs = o.readAll(qs, i)
			switch {
			case len(qs) == 0:
				continue
			case len(evs) == 1:
				err = s.Send(ctx, evs[0])
			default:
				err = gs.SendGroup(ctx, evs)
			}
		}
		if ctx.Err() != nil {
			// Shutting down: the attempt is not counted; the events stay
			// queued and are sent after the restart.
			return
		}
		o.countEvents(name, err, len(qs))
		if err != nil {
			failures++
			o.failed(qs, i)
			t := time.NewTimer(o.backoff(failures))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		failures = 0
		o.delivered(qs, i)
	}
}

// textGroup is the Group of the events qs, of which listed are the first
// ones read, for a textSink: count, severity and index range come from the
// queue's memory.
func textGroup(listed []Event, qs []*queued) Group {
	first := listed[0]
	g := Group{Key: first.Group, DedupeKey: groupDedupeKey(first), Kind: first.Kind, Severity: first.Severity,
		Log: first.Log, Rule: first.Evidence.Rule, FirstIndex: -1, LastIndex: -1, Count: len(qs), Events: listed}
	for _, q := range qs {
		if q.severity.Rank() > g.Severity.Rank() {
			g.Severity = q.severity
		}
		if q.index < 0 {
			continue
		}
		if g.FirstIndex < 0 || q.index < g.FirstIndex {
			g.FirstIndex = q.index
		}
		g.LastIndex = max(g.LastIndex, q.index)
	}
	return g
}

// countEvents counts one delivery attempt of n events to sink: on success n
// events sent, on failure one failed attempt.
func (o *Outbox) countEvents(sink string, err error, n int) {
	if err != nil {
		o.m.failures.WithLabelValues(sink).Inc()
		o.logger.Warn("alert delivery failed", "sink", sink, "events", n, "err", err)
		return
	}
	o.m.sent.WithLabelValues(sink).Add(float64(n))
}

// readAll reads the events qs for sink i from their files, opening each file
// once. An event that cannot be read is handled as [Outbox.read]'s errors
// say (given up, or retried later) and left out; it returns the events read
// and their queue records.
func (o *Outbox) readAll(qs []*queued, i int) ([]Event, []*queued) {
	if len(qs) == 1 {
		ev, err := o.read(qs[0])
		if err != nil {
			o.unreadable(qs[0], i, err)
			return nil, nil
		}
		return []Event{ev}, qs
	}
	evs := make([]Event, 0, len(qs))
	kept := qs[:0:0]
	var (
		f    *os.File
		path string
		ferr error
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for _, q := range qs {
		if q.path != path {
			if f != nil {
				f.Close()
				f = nil
			}
			path = q.path
			f, ferr = o.open(path)
		}
		var (
			ev  Event
			err = ferr
		)
		if err == nil {
			ev, err = readRecord(f, q)
		}
		if err != nil {
			o.unreadable(q, i, err)
			continue
		}
		evs = append(evs, ev)
		kept = append(kept, q)
	}
	return evs, kept
}

// unreadable handles an event that could not be read for sink i.
func (o *Outbox) unreadable(q *queued, i int, err error) {
	name := o.sinks[i].Name()
	o.mu.Lock()
	defer o.mu.Unlock()
	gone := errors.Is(err, fs.ErrNotExist) || errors.Is(err, errDamaged)
	switch {
	case q.done, o.closed:
		// Finished under us (dropped, or its file went with the
		// last event of the file), or closed: nothing to do.
	case gone:
		// Damaged from outside: forget it here.
		o.logger.Error("alert outbox: cannot read queued event, giving up on it", "id", q.id, "sink", name, "err", err)
		if q.took(i) {
			o.finish(q)
		}
	default:
		// Out of descriptors, an I/O error: try again later.
		o.logger.Warn("alert outbox: cannot read queued event, will retry", "id", q.id, "sink", name, "err", err)
		if a := q.pending[i]; a != nil {
			a.n++
			a.next = o.now().Add(o.backoff(a.n))
		}
	}
}

// failed records a failed attempt to send qs to sink i. The events of a
// group are retried together: they get one retry time, after the backoff of
// the one that failed most.
func (o *Outbox) failed(qs []*queued, i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, q := range qs {
		if a := q.pending[i]; a != nil && !q.done {
			n = max(n, a.n+1)
		}
	}
	next := o.now().Add(o.backoff(n))
	for _, q := range qs {
		if q.done {
			continue
		}
		if a := q.pending[i]; a != nil {
			a.n++
			a.next = next
		}
	}
}

// next picks the event to send to sink next, or says how long until one is
// due (0: nothing queued for it); see nextBatch.
func (o *Outbox) next(sink int) (q *queued, wait time.Duration) {
	qs, wait := o.nextBatch(sink, 1)
	if len(qs) == 0 {
		return nil, wait
	}
	return qs[0], 0
}

// nextBatch picks the events to send to sink next, or says how long until one
// is due (0: nothing queued for it). Of the events due, it picks the most
// severe, and of those the one that has been ready longest: since it was
// enqueued, or since its retry came due after a failure. So an event that
// failed goes behind those that were waiting before its retry came due, and
// events that keep failing cannot starve the rest. An event waits while an
// older event of the same condition is pending for the sink. Expired events
// are dropped on the way.
//
// With limit > 1 (a [GroupSink]) and a picked event with a group, the other
// due events of that group that may go now join it, up to limit events and
// groupMaxBytes of records, in enqueue order.
func (o *Outbox) nextBatch(sink, limit int) (qs []*queued, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil, 0 // Run outlived Close: touch nothing until ctx ends
	}
	o.compact()
	now := o.now()
	cutoff := now.Add(-o.cfg.MaxAge) // enqueued before: expired
	var (
		due       time.Time // earliest retry of events not due yet
		best      *queued
		bestReady time.Time
	)
	// Conditions with an older event pending for sink: o.seen[slot] ==
	// o.stamp (a slice, not a map: next runs once per delivery, over the
	// whole queue).
	o.stamp++
	for _, q := range o.order {
		if q.done {
			continue
		}
		a := q.pending[sink]
		if a == nil {
			continue
		}
		if q.enqueued.Before(cutoff) {
			o.finish(q)
			o.m.dropped.WithLabelValues("expired").Inc()
			o.logger.Error("alert outbox: dropped event undelivered for too long", "id", q.id, "enqueued", q.enqueued, "max_age", o.cfg.MaxAge)
			continue
		}
		if o.seen[q.slot] == o.stamp {
			continue
		}
		o.seen[q.slot] = o.stamp
		if a.next.After(now) {
			if due.IsZero() || a.next.Before(due) {
				due = a.next
			}
			continue
		}
		ready := q.enqueued
		if a.n > 0 {
			ready = a.next
		}
		switch d := q.severity.Rank() - best.rank(); {
		case best == nil, d > 0, d == 0 && ready.Before(bestReady):
			best, bestReady = q, ready
		}
	}
	switch {
	case best != nil && (limit < 2 || best.group == ""):
		return []*queued{best}, 0
	case best != nil:
		return o.groupOf(best, sink, limit, now), 0
	case due.IsZero():
		return nil, 0
	}
	return nil, due.Sub(now)
}

// groupMaxBytes bounds the records of one group, so that a group of large
// entries makes a bounded body too: a group holds at least one event, and
// more only while their records stay within it.
const groupMaxBytes = 8 << 20

// groupOf returns the events of best's group that may go to sink with it,
// best included, in enqueue order: pending for sink, due, and not behind an
// older pending event of their condition outside the group. o.mu is held.
func (o *Outbox) groupOf(best *queued, sink, limit int, now time.Time) []*queued {
	qs := make([]*queued, 0, min(limit, 64))
	var size int64 // of the records in qs, best's aside
	have := false  // best is in qs
	o.stamp++
	for _, q := range o.order {
		if q.done {
			continue
		}
		a := q.pending[sink]
		if a == nil {
			continue
		}
		blocked := o.seen[q.slot] == o.stamp
		take := q == best || !blocked && q.group == best.group && !a.next.After(now) &&
			(len(qs) < limit-1 || have && len(qs) < limit) && size+q.n <= groupMaxBytes-best.n
		if !take {
			// Later events of its condition must not overtake it.
			o.seen[q.slot] = o.stamp
			continue
		}
		qs = append(qs, q)
		if q == best {
			have = true
		} else {
			size += q.n
		}
		if have && len(qs) == limit {
			break
		}
	}
	return qs
}

// rank is the severity rank of q, or -1 for nil.
func (q *queued) rank() int {
	if q == nil {
		return -1
	}
	return q.severity.Rank()
}

// delivered records that sink i has the events qs, with a journal line for
// each while other sinks still need it, and finishes each once every sink
// has it. The journal lines of one call are written at once.
func (o *Outbox) delivered(qs []*queued, i int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		// Closed: the directory maybe another process's by now (the events
		// are sent again by it).
		return
	}
	o.jbatch = true
	defer o.flushJournal()
	sink := o.sinks[i].Name()
	for _, q := range qs {
		if q.done {
			// Dropped while we were sending.
			continue
		}
		if q.took(i) {
			o.finish(q)
			continue
		}
		q.sent = append(q.sent, sink)
		o.logDelivery("sent " + q.id + " " + sink)
	}
}

// backoff returns the wait before attempt n+1 after n failures: initial·2^(n-1),
// capped at RetryMax, then jittered to a uniform value in [d/2, d] so that
// sinks and replicas do not retry in lock step.
func (o *Outbox) backoff(n int) time.Duration {
	d := o.cfg.RetryMax
	if n <= 30 {
		if e := o.cfg.RetryInitial << max(n-1, 0); e > 0 && e < d {
			d = e
		}
	}
	return d/2 + rand.N(d/2+1)
}

// Close releases the outbox's lock. Events still queued stay on disk for the
// next Open. Close does not stop Run: cancel Run's context first. Close is
// idempotent.
func (o *Outbox) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	if o.journal != nil {
		o.journal.Close()
		o.journal = nil
	}
	if o.lock == nil {
		return nil
	}
	err := o.lock.Close() // closing the descriptor releases the flock
	o.lock = nil
	return err
}

// writeFile writes b to path atomically: a temp file in the same directory,
// fsync, then a rename over path, or with replace false a link that fails if
// path exists. The caller fsyncs the directory.
func writeFile(path string, b []byte, replace bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("creating temp file: %w", err)
	}
	tmp := f.Name()
	placed := false
	defer func() {
		if !placed || !replace {
			os.Remove(tmp) // a failed write, or the name a link left behind
		}
	}()
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("putting %s in place: %w", path, err)
	}
	placed = true
	return nil
}

// writeFileAtomic is writeFile followed by an fsync of the directory.
func writeFileAtomic(path string, b []byte) error {
	if err := writeFile(path, b, true); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory for sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
