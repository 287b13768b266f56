package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"golang.org/x/sys/unix"
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
	wake   map[string]chan struct{} // per sink; fixed at Open

	enqMu sync.Mutex // serializes Enqueue's disk writes

	mu      sync.Mutex // guards the fields below
	events  map[string]*queued
	lastID  int64 // unix nanos of the last ID handed out
	closed  bool
	running bool
	lock    *os.File
}

// queued is the in-memory record of one event file.
type queued struct {
	id       string
	enqueued time.Time
	severity Severity
	// cond is the condition the event belongs to: its DedupeKey, or for a
	// recovered event the DedupeKey it resolves. A sink gets the events of
	// one condition in enqueue order (a recovery never overtakes its
	// firing event); unrelated events may overtake one that keeps failing.
	cond    string
	pending map[string]*attempt // sink name -> delivery state; delivered sinks are removed
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
	eventSuffix  = ".json"
	markerInfix  = ".sent."
	tempPrefix   = ".tmp-"
	lockName     = "lock"
	sinkStateDir = "sinks"
)

// record is the content of an event file.
type record struct {
	Version  int       `json:"version"`
	Enqueued time.Time `json:"enqueued"`
	Event    Event     `json:"event"`
}

// Open opens (creating it if needed) the outbox in dir, normally
// <state-dir>/outbox, for the given sinks, and loads what a previous run
// left queued: every event file is queued again for each current sink that
// accepts it and has no delivered marker. Sink names must be unique (as
// [Config.Validate] ensures).
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
		wake:   map[string]chan struct{}{},
		events: map[string]*queued{},
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
	markers := map[string][]string{} // event id -> sinks delivered
	var ids []string
	for _, de := range ents {
		name := de.Name()
		switch {
		case de.IsDir() || name == lockName:
		case strings.HasPrefix(name, tempPrefix):
			// A write that crashed before its rename: the event was never
			// acknowledged to the caller.
			_ = os.Remove(filepath.Join(o.dir, name))
		case strings.Contains(name, markerInfix):
			id, sink, _ := strings.Cut(name, markerInfix)
			markers[id] = append(markers[id], sink)
		case strings.HasSuffix(name, eventSuffix):
			ids = append(ids, strings.TrimSuffix(name, eventSuffix))
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		rec, err := o.read(id)
		if err != nil {
			// Event files are renamed into place whole, so this is damage
			// from outside; keep the file for a human, do not loop on it.
			bad := filepath.Join(o.dir, id+eventSuffix+".corrupt")
			o.logger.Error("alert outbox: setting aside unreadable event", "id", id, "file", bad, "err", err)
			_ = os.Rename(filepath.Join(o.dir, id+eventSuffix), bad)
			continue
		}
		q := o.newQueued(rec, markers[id])
		delete(markers, id)
		if len(q.pending) == 0 {
			o.removeFiles(id)
			continue
		}
		o.events[id] = q
		if n, err := strconv.ParseInt(strings.SplitN(id, "-", 2)[0], 10, 64); err == nil && n > o.lastID {
			o.lastID = n
		}
	}
	// Markers whose event file is gone: the event was fully delivered and
	// the crash came between removing the event and its markers.
	for id, sinks := range markers {
		for _, s := range sinks {
			_ = os.Remove(filepath.Join(o.dir, id+markerInfix+s))
		}
	}
	return nil
}

func (o *Outbox) newQueued(rec record, delivered []string) *queued {
	q := &queued{id: rec.Event.ID, enqueued: rec.Enqueued, severity: rec.Event.Severity,
		cond: rec.Event.DedupeKey, pending: map[string]*attempt{}}
	if r := rec.Event.Resolves; r != nil {
		q.cond = r.DedupeKey
	}
	for _, s := range o.sinks {
		if f, ok := s.(Filter); ok && !f.Accepts(rec.Event) {
			continue
		}
		if slices.Contains(delivered, s.Name()) {
			continue
		}
		q.pending[s.Name()] = &attempt{}
	}
	return q
}

func (o *Outbox) read(id string) (record, error) {
	var rec record
	b, err := os.ReadFile(filepath.Join(o.dir, id+eventSuffix))
	if err != nil {
		return rec, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("parsing event file %s: %w", id, err)
	}
	if rec.Event.ID != id {
		return rec, fmt.Errorf("parsing event file %s: it holds event %q", id, rec.Event.ID)
	}
	return rec, nil
}

// removeFiles deletes an event and then its markers. A crash in between
// leaves markers only, which load removes.
func (o *Outbox) removeFiles(id string) {
	_ = os.Remove(filepath.Join(o.dir, id+eventSuffix))
	for _, s := range o.sinks {
		_ = os.Remove(filepath.Join(o.dir, id+markerInfix+s.Name()))
	}
}

// Enqueue stores events durably and returns once they are on disk: every
// event file written, fsynced and renamed into place and the directory
// fsynced. Only then may the caller record that it has moved past what
// caused them. It never waits for delivery, or for a receiver.
//
// Empty ID, Time, DedupeKey and Summary are filled in (ID from the current
// time, so IDs sort in enqueue order; a preset ID must have the same form; DedupeKey by [DefaultDedupeKey];
// Summary by [DefaultSummary]). Events no sink accepts are not stored. The
// batch is all or nothing: an invalid event ([ErrInvalidEvent]), a full outbox
// under when_full: reject ([ErrOutboxFull]) or a write error stores none of
// them. Under when_full: drop_oldest, room is made by dropping the oldest
// queued events of the lowest severity.
//
// Enqueue returns the events as stored (IDs and defaults filled in).
func (o *Outbox) Enqueue(ctx context.Context, events ...Event) ([]Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, e := range events {
		if err := e.Check(); err != nil {
			return nil, fmt.Errorf("enqueueing event %d: %w", i, err)
		}
		if e.ID != "" && !idRE.MatchString(e.ID) {
			return nil, fmt.Errorf("enqueueing event %d: %w: id %q is not an outbox id", i, ErrInvalidEvent, e.ID)
		}
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
	for i, e := range events {
		if e.ID == "" {
			n := now.UnixNano()
			if n <= o.lastID {
				n = o.lastID + 1
			}
			o.lastID = n
			e.ID = formatID(n)
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
		out[i] = e
		if q := o.newQueued(record{Event: e}, nil); len(q.pending) > 0 {
			recs = append(recs, record{Version: 1, Enqueued: now.UTC(), Event: e})
		}
	}
	victims, err := o.makeRoom(len(recs))
	o.mu.Unlock()
	if err != nil {
		return nil, err
	}

	written := make([]string, 0, len(recs))
	fail := func(err error) ([]Event, error) {
		for _, id := range written {
			_ = os.Remove(filepath.Join(o.dir, id+eventSuffix))
		}
		return nil, fmt.Errorf("enqueueing alert events: %w", err)
	}
	// One event is fsynced on its own. A batch (a scan chunk may queue
	// thousands) is written unsynced and made durable by one syncfs of the
	// outbox's file system: one flush instead of one per event. A crash
	// before it returns can leave damaged files, which load sets aside;
	// their events were never acknowledged, so the monitor re-creates them.
	batch := len(recs) > 1
	for _, rec := range recs {
		b, err := json.Marshal(rec)
		if err != nil {
			return fail(err)
		}
		if err := writeFile(filepath.Join(o.dir, rec.Event.ID+eventSuffix), b, !batch); err != nil {
			return fail(err)
		}
		written = append(written, rec.Event.ID)
	}
	if batch {
		if err := syncFS(o.dir); err != nil {
			return fail(err)
		}
	}
	if err := syncDir(o.dir); err != nil {
		return fail(err)
	}

	o.mu.Lock()
	for _, id := range victims {
		if q, ok := o.events[id]; ok {
			delete(o.events, id)
			o.removeFiles(id)
			o.m.dropped.WithLabelValues("queue_full").Inc()
			o.logger.Error("alert outbox full: dropped queued event", "id", id, "severity", q.severity)
		}
	}
	for _, rec := range recs {
		o.events[rec.Event.ID] = o.newQueued(rec, nil)
	}
	o.mu.Unlock()
	o.wakeAll()
	return out, nil
}

// makeRoom checks capacity for n new events and picks the events to drop
// under drop_oldest. o.mu is held.
func (o *Outbox) makeRoom(n int) ([]string, error) {
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
	victims := make([]string, 0, over)
	for _, q := range all[:over] {
		victims = append(victims, q.id)
	}
	return victims, nil
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
		for s := range q.pending {
			st.Pending[s]++
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
	for _, s := range o.sinks {
		wg.Go(func() { o.deliver(ctx, s) })
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
func (o *Outbox) deliver(ctx context.Context, s Sink) {
	name := s.Name()
	failures := 0 // consecutive, across events: the sink's own backoff
	for {
		id, wait := o.next(name)
		if id == "" {
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
		rec, err := o.read(id)
		if err != nil {
			// Dropped or delivered under us, or damaged: forget it here.
			o.mu.Lock()
			if q, ok := o.events[id]; ok {
				delete(q.pending, name)
				o.finishIfDone(q)
			}
			o.mu.Unlock()
			if !errors.Is(err, fs.ErrNotExist) {
				o.logger.Error("alert outbox: cannot read queued event", "id", id, "sink", name, "err", err)
			}
			continue
		}
		err = s.Send(ctx, rec.Event)
		if ctx.Err() != nil {
			// Shutting down: the attempt is not counted; the event stays
			// queued and is sent after the restart.
			return
		}
		o.count(name, err)
		if err != nil {
			failures++
			o.mu.Lock()
			if q, ok := o.events[id]; ok {
				if a := q.pending[name]; a != nil {
					a.n++
					a.next = o.now().Add(o.backoff(a.n))
				}
			}
			o.mu.Unlock()
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
		o.delivered(id, name)
	}
}

// next picks the oldest event due for sink, or says how long until one is
// (0: nothing queued for it). An event waits while an older event of the
// same condition is pending for the sink. Expired events are dropped on the
// way.
func (o *Outbox) next(sink string) (id string, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	var due time.Time
	older := map[string]bool{} // conditions with an older event pending for sink
	for _, q := range o.sortedLocked() {
		a, ok := q.pending[sink]
		if !ok {
			continue
		}
		if now.Sub(q.enqueued) > o.cfg.MaxAge {
			delete(o.events, q.id)
			o.removeFiles(q.id)
			o.m.dropped.WithLabelValues("expired").Inc()
			o.logger.Error("alert outbox: dropped event undelivered for too long", "id", q.id, "enqueued", q.enqueued, "max_age", o.cfg.MaxAge)
			continue
		}
		if older[q.cond] {
			continue
		}
		older[q.cond] = true
		if !a.next.After(now) {
			return q.id, 0
		}
		if due.IsZero() || a.next.Before(due) {
			due = a.next
		}
	}
	if due.IsZero() {
		return "", 0
	}
	return "", due.Sub(now)
}

func (o *Outbox) sortedLocked() []*queued {
	qs := make([]*queued, 0, len(o.events))
	for _, q := range o.events {
		qs = append(qs, q)
	}
	slices.SortFunc(qs, func(a, b *queued) int { return strings.Compare(a.id, b.id) })
	return qs
}

// delivered records that sink has the event: the marker is made durable
// before the in-memory state changes, and the event's files go once every
// sink has it.
func (o *Outbox) delivered(id, sink string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	q, ok := o.events[id]
	if !ok {
		return // dropped while we were sending
	}
	delete(q.pending, sink)
	if len(q.pending) == 0 {
		o.finishIfDone(q)
		return
	}
	err := writeFile(filepath.Join(o.dir, id+markerInfix+sink), nil, true)
	if err == nil {
		err = syncDir(o.dir)
	}
	if err != nil {
		// Without the marker, a restart sends the event to this sink again:
		// a duplicate, which the dedupe key lets receivers drop.
		o.logger.Warn("alert outbox: recording delivery failed", "id", id, "sink", sink, "err", err)
	}
}

// finishIfDone removes a fully delivered event. o.mu is held.
func (o *Outbox) finishIfDone(q *queued) {
	if len(q.pending) > 0 {
		return
	}
	delete(o.events, q.id)
	o.removeFiles(q.id)
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
	if o.lock == nil {
		return nil
	}
	err := o.lock.Close() // closing the descriptor releases the flock
	o.lock = nil
	return err
}

// writeFile writes b to path atomically: a temp file in the same directory,
// fsync (unless the caller syncs the file system itself), rename. The caller
// fsyncs the directory (once per batch).
func writeFile(path string, b []byte, sync bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("creating temp file: %w", err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("syncing %s: %w", tmp, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	ok = true
	return nil
}

// syncFS flushes every written file and rename on dir's file system.
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncing the file system of %s: %w", dir, err)
	}
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
