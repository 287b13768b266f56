package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Scanning
//
// After a checkpoint verifies, the scanner reads every entry the log added,
// in order, and:
//
//	entry data --HashLeaf--> compact range [0, next) --root--> == signed root?
//	     |
//	     +--parse--> identities --Match(rules)--> watch hits, unexpected, malformed --> events
//
// The compact range (transparency-dev/merkle/compact) is kept in the state
// file, so every entry the monitor ever matched is proven part of the tree
// the log signed: a log cannot show the monitor one set of entries and its
// clients another. Work is done in chunks (scanner.chunk): a chunk that
// ends before the signed size is proven with a consistency proof from the
// range's root to the signed checkpoint, its events are queued durably, and
// only then does the checker save the progress (with the verified
// checkpoint), so a crash re-scans a chunk and never skips one.

// ScanConfig turns entry scanning on for a log. Zero values take the
// defaults of package config.
type ScanConfig struct {
	Matcher *identity.Matcher
	// Severity of watch-rule matches.
	WatchSeverity alert.Severity
	// StartIndex: at first contact with a tree, start scanning at this
	// index (the compact range below it comes from the log and is proven
	// against the signed root).
	StartIndex uint64
	// StartAtEnd: start at the end of the tree at first contact, like
	// certspotter's -start_at_end.
	StartAtEnd bool
	// Workers bounds parallel entry requests.
	Workers int
	// MemoryBudget bounds the bytes of log responses the scans hold at
	// once, in flight or waiting to be matched: every scan with the same
	// budget in the process shares it, so that no log answer can push the
	// monitor past it. Each response is limited to MemoryBudget/Workers,
	// or to the largest answer a log may legitimately give if that is
	// more (see tlog.EntriesOptions).
	MemoryBudget int64
	// Chunk is the number of entries scanned between saves.
	Chunk uint64
	// ProgressEvery is the interval of catch-up progress log lines.
	ProgressEvery time.Duration
}

// budgets holds one tlog.Budget per size: the logs of a process share
// their ScanConfig, and so its budget.
var budgets sync.Map // int64 -> *tlog.Budget

func budgetFor(size int64) *tlog.Budget {
	if size <= 0 {
		size = config.DefaultMemoryBudget.Int64()
	}
	if b, ok := budgets.Load(size); ok {
		return b.(*tlog.Budget)
	}
	b, _ := budgets.LoadOrStore(size, tlog.NewBudget(size))
	return b.(*tlog.Budget)
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// scanner scans one check's new entries of one log. It is used by one
// goroutine, which hashes entries into the compact range in order; parsing
// and matching run on the goroutines of a matchPipeline. It reads the log,
// queues events and counts; saving progress is the checker's.
type scanner struct {
	log    string // the log's name
	src    tlog.Log
	cfg    *ScanConfig
	parser *identity.Parser
	events Notifier // nil: events are only logged
	keyID  string   // the log's key IDs, for evidence
	logger *slog.Logger
	now    func() time.Time
	m      scanMetrics
	obs    *observer // the log's part in CT/Rekor pairs; nil for none
	ix     *logIndex // the log's part of the search index; nil for none
	// indexOnly: the scan backfills the index; entries are not matched,
	// raise no events and are not counted as scanned.
	indexOnly bool

	// from is the index the current scan started at (begin): with kind,
	// log and rule it makes the alert.Event.Group of the scan's entry
	// events, equal across its chunks, so the outbox delivers them in
	// groups.
	from uint64
	// Catch-up progress, for the log lines.
	started, lastLog time.Time
}

// begin starts a scan from index from to size: it sets the scan lag and
// the group of its events, and starts the progress clock.
func (s *scanner) begin(from, size uint64) {
	s.from = from
	s.started, s.lastLog = time.Now(), time.Now()
	s.m.scanLag.Set(float64(size - from))
}

// chunk scans the entries of tree from sc.Next up to at most a chunk's
// worth below cp.Size, proves them part of cp's tree, queues their events
// durably, and returns the progress after them.
func (s *scanner) chunk(ctx context.Context, sc *state.Scan, tree tlog.Tree, cp *checkpoint.Checkpoint) (*state.Scan, error) {
	return s.chunkTo(ctx, sc, tree, cp, cp.Size)
}

// chunkTo is chunk, ending at most at limit (at most cp.Size).
func (s *scanner) chunkTo(ctx context.Context, sc *state.Scan, tree tlog.Tree, cp *checkpoint.Checkpoint, limit uint64) (*state.Scan, error) {
	rng, err := rangeFactory.NewRange(0, sc.Next, sc.Range)
	if err != nil {
		return nil, fmt.Errorf("saved scan range of %s is corrupt: %w", s.log, err)
	}
	chunk := s.cfg.Chunk
	if chunk == 0 {
		chunk = config.DefaultChunk
	}
	end := sc.Next + min(chunk, limit-sc.Next)
	mp := s.newMatchPipeline()
	// Each entry holds a share of the memory budget until the match
	// pipeline is done with it, or until it is turned away here.
	opts := tlog.EntriesOptions{Workers: s.cfg.Workers, Budget: budgetFor(s.cfg.MemoryBudget), Retain: true}
	err = s.src.Entries(ctx, tree, sc.Next, end, opts, func(e tlog.Entry) error {
		if mp.full() {
			e.Release()
			return errChunkFull
		}
		if e.Index != rng.End() {
			e.Release()
			return fmt.Errorf("log served entry %d where %d was due", e.Index, rng.End())
		}
		leaf := e.LeafHash
		if leaf == nil {
			leaf = rfc6962.DefaultHasher.HashLeaf(e.Data)
		}
		if err := rng.Append(leaf, nil); err != nil {
			e.Release()
			return err
		}
		mp.add(e, leaf)
		if e.LastOfResponse() {
			// The next response may need the budget this one holds:
			// hand its entries on, to be matched and released, rather
			// than keep them for a full batch.
			mp.flush()
		}
		return nil
	})
	events, obs, recs, merr := mp.wait()
	if err == nil || errors.Is(err, errChunkFull) {
		// An entry that could not be judged fails the chunk like a fetch.
		if merr != nil {
			err = merr
		}
	}
	if errors.Is(err, errChunkFull) {
		// The chunk raised many events: end it here, so that the events
		// held until the chunk is proven stay bounded.
		err, end = nil, rng.End()
	}
	if err != nil {
		return nil, fmt.Errorf("fetching entries %d-%d of %s: %w", sc.Next, end, s.log, err)
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if err := s.prove(ctx, tree.ID, cp, end, root); err != nil {
		return nil, err
	}
	if err := s.queue(ctx, events); err != nil {
		return nil, fmt.Errorf("queueing %d alerts for entries %d-%d of %s: %w", len(events), sc.Next, end, s.log, err)
	}
	if s.obs != nil {
		// Proven, and their events queued: the pairs may build on them,
		// and save before the progress moves past them.
		if err := s.obs.observe(sc.Next, obs, s.now()); err != nil {
			return nil, fmt.Errorf("reconciling entries %d-%d of %s: %w", sc.Next, end, s.log, err)
		}
	}
	if s.ix != nil && len(recs) > 0 {
		// Proven: the index may hold them (before the progress is saved).
		s.ix.add(ctx, recs[0].Index, recs, s.logger)
	}
	if !s.indexOnly {
		s.m.entriesScanned.Add(float64(end - sc.Next))
		s.m.scanLag.Set(float64(cp.Size - end))
		s.progress(ctx, end, cp.Size, chunk)
	}
	return &state.Scan{TreeID: tree.ID, Next: end, Range: rng.Hashes()}, nil
}

// progress logs a catch-up's progress every ProgressEvery, and at its end
// when it took more than one chunk.
func (s *scanner) progress(ctx context.Context, end, size, chunk uint64) {
	every := s.cfg.ProgressEvery
	if every == 0 {
		every = config.DefaultProgressEvery
	}
	now := time.Now()
	if now.Sub(s.lastLog) < every && (end != size || end-s.from < chunk) {
		return
	}
	s.lastLog = now
	rate := float64(end-s.from) / now.Sub(s.started).Seconds()
	eta := time.Duration(float64(size-end) / rate * float64(time.Second)).Round(time.Second)
	s.logger.InfoContext(ctx, "scanning entries", "log", s.log, "scanned", end, "size", size,
		"entries_per_second", int(rate), "eta", eta.String())
}

// maxQueueBatch bounds the events handed to the outbox at once: a chunk of
// a flooded log can cause more events than the outbox holds, and the outbox
// refuses a batch larger than itself.
const maxQueueBatch = 500

// maxQueueBytes ends an outbox batch early once its events carry this many
// bytes of entry bodies: the outbox encodes a batch in one piece.
const maxQueueBytes = 4 << 20

// queue hands events to the notifier durably, in batches. A failure part way
// leaves earlier batches queued; the chunk is scanned again and they are
// queued again (delivery is at-least-once, receivers drop repeats by key).
func (s *scanner) queue(ctx context.Context, events []alert.Event) error {
	if s.events == nil {
		return nil
	}
	for len(events) > 0 {
		n, size := 0, 0
		for n < len(events) && n < maxQueueBatch && size < maxQueueBytes {
			if e := events[n].Evidence.Entry; e != nil {
				size += len(e.Body)
			}
			n++
		}
		if _, err := s.events.Enqueue(ctx, events[:n]...); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// start returns the progress to continue from in tree: prev, or at first
// contact (no progress saved) a start at the configured index, seeded with
// the compact range below it that the log serves, proven against cp.
func (s *scanner) start(ctx context.Context, prev *state.Scan, tree tlog.Tree, cp *checkpoint.Checkpoint) (*state.Scan, error) {
	if prev != nil {
		if prev.TreeID != tree.ID {
			return nil, fmt.Errorf("scan progress is for tree %q, not %q", prev.TreeID, tree.ID)
		}
		return prev, nil
	}
	at := uint64(0)
	switch {
	case s.cfg.StartAtEnd:
		at = cp.Size
	case s.cfg.StartIndex > 0:
		at = min(s.cfg.StartIndex, cp.Size)
	}
	sc := &state.Scan{TreeID: tree.ID}
	if at == 0 {
		return sc, nil
	}
	nodes, err := s.src.RangeNodes(ctx, tree, at)
	if err != nil {
		return nil, fmt.Errorf("starting the scan of %s at index %d: %w", s.log, at, err)
	}
	r, err := rangeFactory.NewRange(0, at, nodes)
	if err != nil {
		return nil, fmt.Errorf("compact range of size %d from %s: %w", at, s.log, err)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	// The seed is data from the log: prove it against the signed root
	// before building on it.
	if err := s.prove(ctx, tree.ID, cp, at, root); err != nil {
		return nil, err
	}
	sc.Next, sc.Range = at, r.Hashes()
	s.logger.InfoContext(ctx, "scan starts at a chosen index; earlier entries are not scanned", "log", s.log, "start_index", at)
	return sc, nil
}

// prove checks that the leaves [0, size) hashing to root are the start of
// the tree cp signs: equal roots at cp's size, else a consistency proof.
func (s *scanner) prove(ctx context.Context, treeID string, cp *checkpoint.Checkpoint, size uint64, root []byte) error {
	if size == cp.Size {
		if !bytes.Equal(root, cp.Hash) {
			return &checkpoint.IntegrityError{Reason: checkpoint.ReasonInclusion, New: cp.Raw,
				Err: fmt.Errorf("the %d entries the log served hash to root %x, but its signed checkpoint says %x", size, root, cp.Hash)}
		}
		return nil
	}
	start := time.Now()
	p, err := s.src.ConsistencyProof(ctx, treeID, size, cp.Size)
	s.m.fetchDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		return fmt.Errorf("fetching consistency proof %d->%d of %s: %w", size, cp.Size, s.log, err)
	}
	err = checkpoint.CheckConsistency(&checkpoint.Checkpoint{Size: size, Hash: root}, cp, p)
	var ie *checkpoint.IntegrityError
	if errors.As(err, &ie) {
		ie.Reason = checkpoint.ReasonInclusion
		ie.Err = fmt.Errorf("the first %d entries the log served hash to %x, which the signed checkpoint does not extend: %w", size, root, ie.Err)
	}
	return err
}
