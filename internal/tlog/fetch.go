package tlog

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/vigil-tlog/vigil/internal/config"
)

// Entry is one log entry as the log served it.
type Entry struct {
	// Index is the entry's index in its tree (for Rekor v1 shards: the index
	// in the shard's Trillian tree, not the log-wide virtual index).
	Index uint64
	// LogIndex is the index clients see: Rekor v1's virtual index (shard
	// offset + Index); Index for Rekor v2.
	LogIndex uint64
	// UUID is the Rekor v1 entry UUID; "" for v2.
	UUID string
	// Data is the leaf data: the Merkle leaf is RFC 6962 leaf hash of Data.
	// Rekor v1: the canonicalized entry body; Rekor v2: the entry bundle's
	// entry. It shares its array with the response it came in.
	Data []byte
	// LeafHash is the RFC 6962 leaf hash of Data, computed by the fetching
	// goroutine (so hashing runs in parallel with the in-order consumer).
	LeafHash []byte
	// Extra is what a log serves beside the leaf and outside the Merkle
	// tree, for kinds that need it to name the signer (a CT log's
	// extra_data: the submitted chain); nil for Rekor.
	Extra []byte
	// Time is when the log says it took the entry in, in UTC: Rekor v1's
	// integratedTime (seconds), a CT leaf's timestamp (milliseconds, from
	// the MerkleTreeLeaf, so covered by the tree). It is the zero Time for
	// Rekor v2, whose entries carry none, and for a leaf too malformed to
	// hold one. It is the log's claim, unchecked.
	Time time.Time

	// hold is the budget share of the response Data is part of.
	hold *hold
	// last marks the last entry of its response.
	last bool
}

// LastOfResponse reports whether e is the last entry of the response it
// came in. A consumer that keeps entries (EntriesOptions.Retain) must not
// keep one past the last of its response while waiting for later entries:
// the next response may need the budget they hold.
func (e Entry) LastOfResponse() bool { return e.last }

// Release gives the entry's part of the memory budget back: once every
// entry of a response is released, the budget no longer counts the
// response. Call it once per entry handed to the fn of Entries with
// EntriesOptions.Retain, when done with Data (which stays valid). It does
// nothing for an entry that holds no share, and is safe to call from any
// goroutine.
func (e Entry) Release() {
	if e.hold != nil {
		e.hold.release()
	}
}

// EntriesOptions tunes entry fetching.
type EntriesOptions struct {
	// Workers is the number of requests in flight (default 16).
	Workers int
	// Budget bounds the bytes of responses held at once; it may be shared
	// by concurrent scans. Nil means a budget of DefaultMemoryBudget for
	// this call alone. Each response is limited to Budget.Size()/Workers
	// bytes, or to the largest answer a log may legitimately give if that
	// is more.
	Budget *Budget
	// Retain says that fn keeps entries after it returns: each then holds
	// its share of the budget until the caller calls its Release method,
	// which must not wait for later entries (see Entry.LastOfResponse).
	// Without Retain, an entry's share is released when fn returns.
	Retain bool
}

type entriesOpts struct {
	workers int
	budget  *Budget
	retain  bool
}

func (o EntriesOptions) resolve() entriesOpts {
	r := entriesOpts{workers: o.Workers, budget: o.Budget, retain: o.Retain}
	if r.workers <= 0 {
		r.workers = config.DefaultWorkers
	}
	if r.budget == nil {
		r.budget = NewBudget(0)
	}
	return r
}

// InFlight returns the number of requests in flight: Workers, or
// config.DefaultWorkers.
func (o EntriesOptions) InFlight() int { return o.resolve().workers }

// Limit returns the limit of one response of a fetch with these options,
// and the setting that raises it (for errors): an equal share of the budget
// per worker, but never less than legit, the largest answer a log may
// legitimately give to the request.
func (o EntriesOptions) Limit(legit int64) (int64, string) {
	r := o.resolve()
	return r.budget.limit(r.workers, legit), r.budget.setting(r.workers, legit)
}

// FetchOrdered runs fetch for each job with at most opts.Workers in flight and
// hands the results to fn in job order, checking that they are the entries
// [from, to) in sequence. At most depth (>= workers) jobs are started ahead
// of the one fn is waiting for: finished jobs behind a slow one wait in
// memory, and when depth of them do, no new job starts until the slow one
// finishes (head-of-line blocking). Each job gets a slot in line for the
// budget (see budget.go); what its slot holds when fetch returns becomes
// the share of the entries it returns. When it returns, every share but
// those of entries handed to fn is back in the budget.
//
// It is the engine of a kind's Entries: fetch reads one job's answer with
// [FetchShared] through its slot, calls [Slot.Pass] once the answer is read
// and decodes it.
func FetchOrdered[J any](ctx context.Context, opts EntriesOptions, depth int, jobs iter.Seq[J], fetch func(context.Context, J, *Slot) ([]Entry, error), from, to uint64, fn func(Entry) error) error {
	o := opts.resolve()
	type future struct {
		done chan struct{}
		out  []Entry
		err  error
	}
	release := func(es []Entry) {
		for _, e := range es {
			e.Release()
		}
	}
	// abandon releases a future's entries once it is done.
	abandon := func(f *future) { <-f.done; release(f.out) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *future, max(depth, o.workers))
	go func() {
		defer close(queue)
		sem := make(chan struct{}, o.workers)
		turn := make(chan struct{})
		close(turn)
		for j := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			f := &future{done: make(chan struct{})}
			s := &Slot{b: o.budget, turn: turn, next: make(chan struct{})}
			turn = s.next
			go func() {
				defer func() { <-sem; close(f.done) }()
				out, err := fetch(ctx, j, s)
				s.Pass()
				if err != nil || len(out) == 0 {
					s.giveBack(s.held)
					f.err = err
					return
				}
				h := &hold{b: s.b, n: s.held}
				h.refs.Store(int64(len(out)))
				for i := range out {
					out[i].hold = h
				}
				out[len(out)-1].last = true
				f.out = out
			}()
			select {
			case queue <- f:
			case <-ctx.Done():
				abandon(f)
				return
			}
		}
	}()
	// stop cancels the jobs still running and releases what they fetched,
	// so that a scan that ends holds nothing of the budget (but what it
	// handed to fn).
	stop := func() {
		cancel()
		for f := range queue {
			abandon(f)
		}
	}
	next := from
	for f := range queue {
		select {
		case <-f.done:
		case <-ctx.Done():
			stop()
			abandon(f)
			return ctx.Err()
		}
		if f.err != nil {
			stop()
			return f.err
		}
		for i, e := range f.out {
			if e.Index != next {
				release(f.out[i:])
				stop()
				return fmt.Errorf("log served entry %d where %d was due", e.Index, next)
			}
			err := fn(e)
			if !o.retain {
				e.Release()
			}
			if err != nil {
				release(f.out[i+1:])
				stop()
				return err
			}
			next++
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if next != to {
		return fmt.Errorf("fetched entries %d to %d, want up to %d", from, next, to)
	}
	return nil
}
