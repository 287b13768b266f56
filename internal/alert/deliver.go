package alert

import (
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"sync"
	"time"
)

// Run delivers queued events until ctx is done, then returns nil. Each sink
// has its own goroutine, backoff and order (oldest first), so a sink that
// fails or hangs delays only itself. Sinks that are [Runner]s are run too.
// Run may run once at a time (again after it returned: App.Check flushes
// the outbox after each check); stop it by cancelling ctx and wait for it
// to return before Close.
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
	defer func() {
		o.mu.Lock()
		o.running = false
		o.mu.Unlock()
	}()

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
