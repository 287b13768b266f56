package alert

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-tlog/vigil/internal/state"
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

	enqMu  sync.Mutex   // serializes Enqueue's disk writes, and guards encBuf
	encBuf bytes.Buffer // Enqueue's encoding buffer, reused

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
	lock    *state.DirLock
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

// Open opens (creating it if needed) the outbox in dir, normally
// <state-dir>/outbox ([state.OutboxDir]), for the given sinks, and loads what a previous run
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
	// The outbox's lock file has its own name, kept from before state.Lock
	// existed, so that a monitor of an earlier release is locked out too.
	lock, err := state.LockFile(dir, lockName)
	switch {
	case errors.Is(err, state.ErrLocked):
		return nil, fmt.Errorf("opening alert outbox %s: %w", dir, ErrOutboxLocked)
	case err != nil:
		return nil, fmt.Errorf("opening alert outbox: %w", err)
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
	err := o.lock.Close() // releases the flock
	o.lock = nil
	return err
}

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
