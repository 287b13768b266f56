package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/state"
)

// Enqueue stores events durably and returns once they are on disk: one
// event file for the batch, written to a temp file, fsynced, linked into
// place, and the directory fsynced (state.WriteFileAtomic). Only then may the caller record that it
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
	// The encoding buffer is kept from batch to batch (under enqMu): a
	// catch-up queues many batches of megabytes, and fresh memory for each
	// costs more in page faults than the encoding itself.
	buf := &o.encBuf
	buf.Reset()
	defer func() {
		if buf.Cap() > maxKeptEncodeBuffer {
			*buf = bytes.Buffer{}
		}
	}()
	offs := make([]int64, len(recs)+1)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	for i, rec := range recs {
		if err := enc.Encode(rec); err != nil { // Encode ends the record with a newline
			return nil, fmt.Errorf("enqueueing alert events: encoding event %s: %w", rec.Event.ID, err)
		}
		offs[i+1] = int64(buf.Len())
	}
	path := filepath.Join(o.dir, file+eventSuffix)
	// Never over an existing file: an ID is used once. On error, the file
	// is not there.
	if err := state.WriteFileAtomic(path, buf.Bytes(), 0o600, state.NoReplace); err != nil {
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

// maxKeptEncodeBuffer is the largest encoding buffer Enqueue keeps for
// the next batch; a larger one (a batch of large entry bodies) is dropped.
const maxKeptEncodeBuffer = 8 << 20

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

// seeID records that id is in use: IDs handed out later are greater.
func (o *Outbox) seeID(id string) {
	o.lastID = max(o.lastID, idNanos(id))
}

// idNanos returns the time part of an ID (see formatID); 0 if it has none.
func idNanos(id string) int64 {
	n, _ := strconv.ParseInt(strings.SplitN(id, "-", 2)[0], 10, 64)
	return n
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
