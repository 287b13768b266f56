package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Indexing
//
// Every entry the scanner proves part of a verified checkpoint is added to
// the search index (package index), chunk by chunk, after the chunk is
// proven and before its progress is saved: the index is never ahead of
// what was verified, and a crash re-adds a chunk (Add is idempotent).
//
// The index does not hold monitoring up: a write that fails (a full disk,
// PostgreSQL down) is logged and counted, and from then on the log's index
// has a gap, which each check backfills, in order, from where the index
// ends (index.Store.Next) up to the scan's progress: the entries are read
// again from the log and proven again against the check's verified
// checkpoint, with no alerts (they were matched when first scanned). The
// same backfill fills the index of a deployment that turns it on, from the
// scan's start, and `monitor index rebuild`. Only the log's active tree is
// backfilled (a Rekor v1 log's inactive shards keep what was indexed while
// they were active).

// maxBackfillChunks bounds the chunks one check backfills, so that a long
// backfill does not delay the log's next checks much: the rest waits for
// the next check.
const maxBackfillChunks = 5

// indexStore is what the monitor writes to the index (*index.Store).
type indexStore interface {
	Add(ctx context.Context, recs []index.Record) error
	Next(ctx context.Context, log string) (uint64, error)
	Truncate(ctx context.Context, log string, from uint64) error
}

// logIndex is one log's part of the index. It is used by the log's checker
// goroutine only.
type logIndex struct {
	store indexStore
	log   string
	m     indexMetrics
	// next is one past the highest log index indexed (index.Store.Next),
	// read at the first check; known says it was read. queued is one past
	// the last entry handed to the writer. mu guards them and gap against
	// the writer.
	mu     sync.Mutex
	next   uint64
	queued uint64
	known  bool
	// gap: the index is behind the scan, so new chunks are not added (that
	// would leave a hole); backfill fills it.
	gap bool

	// The writer (startWriter): batches is nil when none runs.
	batches chan indexBatch
	pending sync.WaitGroup
	stopped chan struct{}
}

type indexMetrics struct {
	added, errors prometheus.Counter
	lag           prometheus.Gauge
}

// indexCollectors are the index metrics, curried per log by forIndex.
type indexCollectors struct {
	added  *prometheus.CounterVec
	errors *prometheus.CounterVec
	lag    *prometheus.GaugeVec
}

func newIndexCollectors(reg prometheus.Registerer) *indexCollectors {
	c := &indexCollectors{
		added: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_index_entries_added_total", Help: "Entries added to the search index (re-adds after a crash count again).",
		}, []string{"log"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_index_write_errors_total", Help: "Failed writes to the search index; the index of the log has a gap until backfilled.",
		}, []string{"log"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_index_lag_entries", Help: "Scanned entries of the log's active tree not yet in the search index (backfilled by the checks).",
		}, []string{"log"}),
	}
	reg.MustRegister(c.added, c.errors, c.lag)
	return c
}

func (c *indexCollectors) forLog(log string) indexMetrics {
	return indexMetrics{added: c.added.WithLabelValues(log), errors: c.errors.WithLabelValues(log), lag: c.lag.WithLabelValues(log)}
}

// sync reads where the log's index ends, once, and decides whether it has
// a gap up to the scan's position scanNext (a log index).
func (li *logIndex) sync(ctx context.Context, scanNext uint64) error {
	if !li.known {
		n, err := li.store.Next(ctx, li.log)
		if err != nil {
			return fmt.Errorf("reading where the index of %s ends: %w", li.log, err)
		}
		li.mu.Lock()
		li.next, li.known = n, true
		if n == 0 {
			// Never indexed: index from here on (`monitor index rebuild`
			// fills the log's history).
			li.next = scanNext
		}
		li.mu.Unlock()
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	li.queued = li.next
	li.gap = li.next < scanNext
	if li.gap {
		li.m.lag.Set(float64(scanNext - li.next))
	} else {
		li.m.lag.Set(0)
	}
	return nil
}

// add indexes the records of a proven chunk that starts at log index from:
// through the writer when one runs (startWriter), so that the write
// overlaps the next chunk's fetch, else at once. A failure is logged and
// leaves a gap; it is not the check's failure.
func (li *logIndex) add(ctx context.Context, from uint64, recs []index.Record, logger *slog.Logger) {
	if len(recs) == 0 {
		return
	}
	end := from + uint64(len(recs))
	li.mu.Lock()
	if li.known && li.queued < from {
		li.gap = true // a hole: leave it to the backfill
	}
	gap := li.gap
	if !gap {
		li.queued = max(li.queued, end)
	}
	li.mu.Unlock()
	if gap {
		return
	}
	b := indexBatch{ctx: ctx, from: from, recs: recs, logger: logger}
	if li.batches == nil {
		li.write(b)
		return
	}
	li.pending.Add(1)
	li.batches <- b // blocks while a batch waits: at most two chunks of records held
}

// indexBatch is a proven chunk's records, for the writer.
type indexBatch struct {
	ctx    context.Context
	from   uint64
	recs   []index.Record
	logger *slog.Logger
}

func (li *logIndex) write(b indexBatch) {
	li.mu.Lock()
	gap := li.gap
	li.mu.Unlock()
	if gap {
		return // an earlier batch failed
	}
	err := li.store.Add(b.ctx, b.recs)
	li.mu.Lock()
	defer li.mu.Unlock()
	if err != nil {
		if b.ctx.Err() == nil {
			li.m.errors.Inc()
			b.logger.WarnContext(b.ctx, "search index write failed; the next checks backfill it", "log", li.log, "from", b.from, "entries", len(b.recs), "err", err)
		}
		li.gap = true
		return
	}
	li.m.added.Add(float64(len(b.recs)))
	li.next = max(li.next, b.from+uint64(len(b.recs)))
}

// startWriter starts the goroutine that writes the chunks of a scan while
// the next ones are fetched; stopWriter waits for what it was given and
// stops it. The checker calls both around the scan of a check.
func (li *logIndex) startWriter() {
	li.batches = make(chan indexBatch)
	li.stopped = make(chan struct{})
	go func() {
		defer close(li.stopped)
		for b := range li.batches {
			li.write(b)
			li.pending.Done()
		}
	}()
}

func (li *logIndex) stopWriter() {
	if li.batches == nil {
		return
	}
	close(li.batches)
	<-li.stopped
	li.batches = nil
}

// record is what the index keeps of entry e of the scanner's log.
func (s *scanner) record(e tlog.Entry, leaf []byte, ids []identity.Identity, parseErr error) index.Record {
	r := index.Record{Log: s.log, Index: e.LogIndex, LeafHash: leaf, Time: e.Time}
	if len(ids) > 0 {
		r.Kind = ids[0].EntryKind
	}
	var me *identity.MalformedError
	if parseErr != nil && errors.As(parseErr, &me) {
		r.Kind = me.Kind
	}
	if ds, err := s.src.Digests(e); err == nil {
		r.Digests = ds
	}
	r.Identities = make([]index.Identity, len(ids))
	for i := range ids {
		r.Identities[i] = index.IdentityFrom(&ids[i])
	}
	return r
}

// backfill adds the entries of tree below scanNext (a tree index) that
// the log's index lacks, proving them against cp (verified by this check),
// at most maxBackfillChunks chunks.
func (c *checker) backfill(ctx context.Context, tree tlog.Tree, cp *checkpoint.Checkpoint, scanNext uint64, maxChunks int) error {
	li := c.index
	if li == nil {
		return nil
	}
	rebuilding, err := c.rebuild(ctx)
	if err != nil {
		return err
	}
	if rebuilding {
		maxChunks = max(maxChunks, maxRebuildChunks)
	}
	if err := li.sync(ctx, tree.Offset+scanNext); err != nil {
		return err
	}
	if !li.gap {
		if rebuilding {
			c.rebuilt(ctx)
		}
		return nil
	}
	from := max(li.next, tree.Offset) - tree.Offset
	if from >= scanNext {
		li.gap = false
		return nil
	}
	s := c.scanner()
	s.indexOnly, s.events, s.obs = true, nil, nil
	sc := &state.Scan{TreeID: tree.ID, Next: from}
	if from > 0 {
		nodes, err := s.src.RangeNodes(ctx, tree, from)
		if err != nil && from%256 != 0 {
			// A tile log serves the compact range at a multiple of 256,
			// but at other sizes only where it published a checkpoint:
			// start at the start of the tile (Add skips the entries the
			// index holds).
			from -= from % 256
			sc.Next = from
			nodes, err = s.src.RangeNodes(ctx, tree, from)
		}
		if err != nil {
			return fmt.Errorf("backfilling the index of %s from entry %d: %w", c.log.Name, from, err)
		}
		r, err := rangeFactory.NewRange(0, from, nodes)
		if err != nil {
			return fmt.Errorf("compact range of size %d from %s: %w", from, c.log.Name, err)
		}
		root, err := r.GetRootHash(nil)
		if err != nil {
			return err
		}
		if err := s.prove(ctx, tree.ID, cp, from, root); err != nil {
			return err
		}
		sc.Range = r.Hashes()
	}
	// The backfill's chunks end at scanNext, not at the checkpoint: a
	// checkpoint of that size is not at hand, so each chunk is proven
	// against cp with a consistency proof (scanner.prove).
	start := time.Now()
	c.logger.InfoContext(ctx, "backfilling the search index", "log", c.log.Name, "from", tree.Offset+from, "to", tree.Offset+scanNext)
	for n := 0; sc.Next < scanNext && n < maxChunks; n++ {
		li.gap = false // this chunk starts where the index ends
		var err error
		if sc, err = s.chunkTo(ctx, sc, tree, cp, scanNext); err != nil {
			return fmt.Errorf("backfilling the index of %s: %w", c.log.Name, err)
		}
		if li.gap {
			return nil // the write failed; logged, and the next check goes on
		}
	}
	li.gap = li.next < tree.Offset+scanNext
	if li.gap {
		li.m.lag.Set(float64(tree.Offset + scanNext - li.next))
	} else {
		li.m.lag.Set(0)
		c.logger.InfoContext(ctx, "search index backfilled", "log", c.log.Name, "to", tree.Offset+scanNext, "took", time.Since(start).Round(time.Millisecond).String())
		if rebuilding {
			c.rebuilt(ctx)
		}
	}
	return nil
}

// verifiedTree is a log's latest verified checkpoint and the tree it
// signs, for proofs of search results.
type verifiedTree struct {
	tree tlog.Tree
	cp   *checkpoint.Checkpoint
}

// proofs holds each log's verifiedTree, by name.
type proofs struct {
	mu sync.RWMutex
	m  map[string]verifiedTree
}

func (p *proofs) set(log string, v verifiedTree) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[string]verifiedTree{}
	}
	p.m[log] = v
}

func (p *proofs) get(log string) (verifiedTree, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	v, ok := p.m[log]
	return v, ok
}

// RebuildRequest asks the monitor to rebuild a log's index from an entry
// on: `monitor index rebuild` writes it into state.IndexRebuildDir, and
// the log's next check drops the index from From on and backfills it
// from the log (up to maxRebuildChunks per check), then removes the
// request. A restart resumes where the rebuild was.
type RebuildRequest struct {
	Log  string `json:"log"`
	From uint64 `json:"from"`
	// Truncated: the index was dropped from From on; the rest is backfill.
	Truncated bool      `json:"truncated,omitempty"`
	At        time.Time `json:"requested_at"`
}

// maxRebuildChunks bounds the chunks one check backfills for a rebuild.
const maxRebuildChunks = 50

// RequestRebuild leaves a rebuild request for log in the state directory
// stateDir, replacing any earlier one.
func RequestRebuild(stateDir, log string, from uint64, now time.Time) error {
	if !state.ValidName(log) {
		return fmt.Errorf("%q is not a log name", log)
	}
	b, err := json.Marshal(RebuildRequest{Log: log, From: from, At: now.UTC()})
	if err != nil {
		return err
	}
	dir := state.IndexRebuildDir(stateDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return state.WriteFileAtomic(filepath.Join(dir, log+".json"), append(b, '\n'), 0o600)
}

// rebuild applies the log's rebuild request, if there is one: it drops
// the index from the request's entry on (once) and points the backfill
// there. It returns whether a rebuild is under way.
func (c *checker) rebuild(ctx context.Context) (bool, error) {
	li := c.index
	if c.rebuildDir == "" || li == nil {
		return false, nil
	}
	path := filepath.Join(c.rebuildDir, c.log.Name+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the index rebuild request of %s: %w", c.log.Name, err)
	}
	var req RebuildRequest
	if err := json.Unmarshal(b, &req); err != nil {
		c.logger.ErrorContext(ctx, "ignoring an unreadable index rebuild request; run monitor index rebuild again", "file", path, "err", err)
		_ = os.Remove(path)
		return false, nil
	}
	if !req.Truncated {
		if err := li.store.Truncate(ctx, c.log.Name, req.From); err != nil {
			return false, fmt.Errorf("dropping the index of %s from entry %d: %w", c.log.Name, req.From, err)
		}
		req.Truncated = true
		nb, _ := json.Marshal(req)
		if err := state.WriteFileAtomic(path, append(nb, '\n'), 0o600); err != nil {
			return false, fmt.Errorf("recording the index rebuild of %s: %w", c.log.Name, err)
		}
		c.logger.InfoContext(ctx, "rebuilding the search index", "log", c.log.Name, "from", req.From)
	}
	n, err := li.store.Next(ctx, c.log.Name)
	if err != nil {
		return false, fmt.Errorf("reading where the index of %s ends: %w", c.log.Name, err)
	}
	li.known, li.next = true, max(n, req.From)
	if n == 0 {
		li.next = req.From
	}
	return true, nil
}

// rebuilt removes the log's rebuild request.
func (c *checker) rebuilt(ctx context.Context) {
	path := filepath.Join(c.rebuildDir, c.log.Name+".json")
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.logger.WarnContext(ctx, "could not remove the index rebuild request", "file", path, "err", err)
		return
	}
	c.logger.InfoContext(ctx, "search index rebuilt", "log", c.log.Name)
}
