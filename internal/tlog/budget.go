package tlog

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/vigil-tlog/vigil/internal/config"

	"golang.org/x/sync/semaphore"
)

// Memory budget
//
// A log decides how large its answers are, so the bytes an entry scan holds
// are bounded here, not by the log:
//
//	request --> headers --> wait for turn --> take share --> read body --> pass turn --> parse
//	                        (job order)       (Budget)       (<= limit)                  |
//	       entries (aliasing the body) --> consumer --> Entry.Release --> share returned
//
// Every response body is read into memory only after taking its size from a
// [Budget] (its Content-Length, or its limit when the server does not say),
// and the share is given back when the consumer has released every entry
// decoded from it (entries alias the body: Rekor v1 bodies are base64-decoded
// in place, Rekor v2 bundles are sliced). Shares are taken in job order, so
// the responses holding the budget are always older than the one waiting for
// it; the consumer takes them in that order and frees them, and a scan never
// deadlocks, even when one response needs the whole budget (it then waits
// until it is alone). Requests still overlap while the server works on them:
// nothing is taken before the response headers arrive.

// MemoryBudgetSetting names the configuration setting behind a Budget, for
// error messages.
const MemoryBudgetSetting = "scan.memory_budget"

// Budget bounds the bytes of log responses held in memory at once by the
// entry scans that share it (every log of a monitor process shares one). A
// Budget is safe for concurrent use.
type Budget struct {
	size  int64
	sem   *semaphore.Weighted
	inUse atomic.Int64
}

// NewBudget returns a budget of size bytes (config.DefaultMemoryBudget if
// size <= 0).
func NewBudget(size int64) *Budget {
	if size <= 0 {
		size = config.DefaultMemoryBudget.Int64()
	}
	return &Budget{size: size, sem: semaphore.NewWeighted(size)}
}

// Size returns the budget's size in bytes.
func (b *Budget) Size() int64 { return b.size }

// InUse returns the bytes currently taken from the budget.
func (b *Budget) InUse() int64 { return b.inUse.Load() }

// limit is the per-response limit of a scan with workers requests in
// flight: an equal share of the budget, but never less than legit, the
// largest answer a log may legitimately give to the request.
func (b *Budget) limit(workers int, legit int64) int64 {
	return max(b.size/int64(max(workers, 1)), legit)
}

// setting describes, for an error message, where a limit derived from the
// budget comes from.
func (b *Budget) setting(workers int, legit int64) string {
	return fmt.Sprintf("%s (the limit is %s of %d bytes / %d workers, at least %d bytes)",
		MemoryBudgetSetting, MemoryBudgetSetting, b.size, workers, legit)
}

// acquire takes n bytes (at most the whole budget) and returns how many it
// took.
func (b *Budget) acquire(ctx context.Context, n int64) (int64, error) {
	n = min(max(n, 0), b.size)
	if n == 0 {
		return 0, nil
	}
	if err := b.sem.Acquire(ctx, n); err != nil {
		return 0, err
	}
	b.inUse.Add(n)
	return n, nil
}

func (b *Budget) release(n int64) {
	if n <= 0 {
		return
	}
	b.inUse.Add(-n)
	b.sem.Release(n)
}

// Slot is one job's place in line for the budget. Its methods are called
// from the job's goroutine.
type Slot struct {
	b      *Budget
	turn   <-chan struct{} // closed when every earlier job has passed
	next   chan struct{}   // closed by pass, once turn is closed
	passed bool
	held   int64
}

// take waits for the slot's turn, then for n bytes of the budget, and
// returns how many it took. A job may take several times before it passes.
func (s *Slot) take(ctx context.Context, n int64) (int64, error) {
	select {
	case <-s.turn:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// A job never waits for bytes it holds itself: one whose answers
	// together need more than the budget (a Rekor v1 request split into
	// single entries) goes on alone, over the budget by what it needs.
	got, err := s.b.acquire(ctx, min(n, s.b.size-s.held))
	s.held += got
	return got, err
}

// giveBack returns n of the bytes the slot holds.
func (s *Slot) giveBack(n int64) {
	n = min(n, s.held)
	if n <= 0 {
		return
	}
	s.held -= n
	s.b.release(n)
}

// Pass lets the next job take its share once every earlier job has: a job
// that failed before its turn must not let later ones overtake the jobs
// before it. It is idempotent.
func (s *Slot) Pass() {
	if s.passed {
		return
	}
	s.passed = true
	select {
	case <-s.turn:
		close(s.next)
	default:
		go func() { <-s.turn; close(s.next) }()
	}
}

// hold is one response's share of the budget, kept until every entry that
// came in it has been released.
type hold struct {
	b    *Budget
	n    int64
	refs atomic.Int64
}

func (h *hold) release() {
	if h.refs.Add(-1) == 0 {
		h.b.release(h.n)
	}
}
