package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/rekor"
	"github.com/vigil-tlog/vigil/internal/state"
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
// clients another. Work is done in chunks; a chunk that ends before the
// signed size is proven with a consistency proof from the range's root to
// the signed checkpoint, its events are queued durably, and only then is the
// progress saved (with the verified checkpoint), so a crash re-scans a chunk
// and never skips one.

// ScanConfig turns entry scanning on for a log.
type ScanConfig struct {
	Matcher *identity.Matcher
	// Severity of watch-rule matches (default warning).
	WatchSeverity alert.Severity
	// StartIndex: at first contact with a tree, start scanning at this
	// index (the compact range below it comes from the log and is proven
	// against the signed root).
	StartIndex uint64
	// StartAtEnd: start at the end of the tree at first contact, like
	// certspotter's -start_at_end.
	StartAtEnd bool
	// Workers bounds parallel entry requests (default 16).
	Workers int
	// MemoryBudget bounds the bytes of log responses the scans hold at
	// once, in flight or waiting to be matched (default 64 MiB): every
	// scan with the same budget in the process shares it, so that no log
	// answer can push the monitor past it. Each response is limited to
	// MemoryBudget/Workers, or to the largest answer a log may
	// legitimately give if that is more (see rekor.EntriesOptions).
	MemoryBudget int64
	// Chunk is the number of entries scanned between saves (default 20000).
	Chunk uint64
	// ProgressEvery is the interval of catch-up progress log lines
	// (default 10s).
	ProgressEvery time.Duration
}

// EntrySource reads a log's entries; package rekor's V1 and V2 are adapted
// to it by [NewEntrySource].
type EntrySource interface {
	// Entries calls fn for entries [from, to) of the tree of head at size
	// size, in order.
	Entries(ctx context.Context, head *rekor.Head, size, from, to uint64, workers int, fn func(rekor.Entry) error) error
	// RangeNodes returns the compact range of the tree's first size leaves,
	// as the log serves them (to be proven by the caller).
	RangeNodes(ctx context.Context, head *rekor.Head, size uint64) ([][]byte, error)
	// Parse returns the identities of an entry's data.
	Parse(p *identity.Parser, data []byte) ([]identity.Identity, error)
}

// NewEntrySource adapts a *rekor.V1 or *rekor.V2 source.
func NewEntrySource(src Source) (EntrySource, error) {
	switch s := src.(type) {
	case *rekor.V1:
		return v1Entries{s}, nil
	case *rekor.V2:
		return v2Entries{s}, nil
	}
	return nil, fmt.Errorf("no entry reader for %T", src)
}

// budgetedSource is an EntrySource whose entries hold shares of a memory
// budget until released (package rekor's sources, through their adapters).
type budgetedSource interface {
	budgetedEntries(ctx context.Context, head *rekor.Head, size, from, to uint64, opts rekor.EntriesOptions, fn func(rekor.Entry) error) error
}

// budgets holds one rekor.Budget per size: the logs of a process share
// their ScanConfig, and so its budget.
var budgets sync.Map // int64 -> *rekor.Budget

func budgetFor(size int64) *rekor.Budget {
	if size <= 0 {
		size = rekor.DefaultMemoryBudget
	}
	if b, ok := budgets.Load(size); ok {
		return b.(*rekor.Budget)
	}
	b, _ := budgets.LoadOrStore(size, rekor.NewBudget(size))
	return b.(*rekor.Budget)
}

type v1Entries struct{ l *rekor.V1 }

// shardOffset is the first virtual log index of the active tree: the sizes
// of the inactive shards before it.
func shardOffset(head *rekor.Head) uint64 {
	var off uint64
	for _, s := range head.Inactive {
		off += s.Size
	}
	return off
}

func (v v1Entries) Entries(ctx context.Context, head *rekor.Head, size, from, to uint64, workers int, fn func(rekor.Entry) error) error {
	return v.budgetedEntries(ctx, head, size, from, to, rekor.EntriesOptions{Workers: workers}, fn)
}

func (v v1Entries) budgetedEntries(ctx context.Context, head *rekor.Head, _, from, to uint64, opts rekor.EntriesOptions, fn func(rekor.Entry) error) error {
	return v.l.Entries(ctx, shardOffset(head), from, to, opts, fn)
}

// RangeNodes builds the compact range [0, size) from the inclusion proof of
// leaf size-1: the siblings on the left of a leaf's path to the root are
// exactly the perfect subtrees covering the leaves before it (RFC 6962:
// inner proof nodes at the levels where the index has a 1 bit, and every
// border node). The caller proves the result against the signed root.
func (v v1Entries) RangeNodes(ctx context.Context, head *rekor.Head, size uint64) ([][]byte, error) {
	index := size - 1
	e, path, treeSize, err := v.l.InclusionProof(ctx, shardOffset(head), index)
	if err != nil {
		return nil, err
	}
	left, err := leftSiblings(index, treeSize, path)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, index, left)
	if err != nil {
		return nil, fmt.Errorf("building compact range from the audit path of leaf %d: %w", index, err)
	}
	if err := r.Append(rfc6962.DefaultHasher.HashLeaf(e.Data), nil); err != nil {
		return nil, err
	}
	return r.Hashes(), nil
}

// leftSiblings picks, from the inclusion proof of leaf index in a tree of
// treeSize, the siblings left of the path, largest first.
func leftSiblings(index, treeSize uint64, path [][]byte) ([][]byte, error) {
	if index >= treeSize {
		return nil, fmt.Errorf("inclusion proof for index %d in a tree of size %d", index, treeSize)
	}
	inner := bits.Len64(index ^ (treeSize - 1))
	border := bits.OnesCount64(index >> inner)
	if len(path) != inner+border {
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree %d has %d hashes, want %d", index, treeSize, len(path), inner+border)
	}
	var left [][]byte
	for l := range inner {
		if index>>l&1 == 1 {
			left = append(left, path[l])
		}
	}
	left = append(left, path[inner:]...)
	slices.Reverse(left)
	return left, nil
}

func (v1Entries) Parse(p *identity.Parser, data []byte) ([]identity.Identity, error) {
	return p.ParseV1(data)
}

type v2Entries struct{ l *rekor.V2 }

func (v v2Entries) Entries(ctx context.Context, head *rekor.Head, size, from, to uint64, workers int, fn func(rekor.Entry) error) error {
	return v.budgetedEntries(ctx, head, size, from, to, rekor.EntriesOptions{Workers: workers}, fn)
}

func (v v2Entries) budgetedEntries(ctx context.Context, _ *rekor.Head, size, from, to uint64, opts rekor.EntriesOptions, fn func(rekor.Entry) error) error {
	return v.l.Entries(ctx, size, from, to, opts, fn)
}

func (v v2Entries) RangeNodes(ctx context.Context, _ *rekor.Head, size uint64) ([][]byte, error) {
	return v.l.RangeNodes(ctx, size)
}

func (v2Entries) Parse(p *identity.Parser, data []byte) ([]identity.Identity, error) {
	return p.ParseV2(data)
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// scanner scans one check's new entries. It is used by one goroutine, which
// hashes entries into the compact range in order; parsing and matching run
// on the goroutines of a matchPipeline.
type scanner struct {
	c      *checker
	cfg    *ScanConfig
	src    EntrySource
	parser *identity.Parser
	// from is the index the current scan call started at: with kind, log
	// and rule it makes the alert.Event.Group of the scan's entry events,
	// equal across its chunks, so the outbox delivers them in groups.
	from uint64
}

// scan scans from prev up to cp.Size and returns the new progress. commit
// saves intermediate progress together with cp (which has verified).
func (s *scanner) scan(ctx context.Context, prev *state.Scan, head *rekor.Head, cp *checkpoint.Checkpoint, commit func(*state.Scan) error) (*state.Scan, error) {
	l := s.c.log
	sc, err := s.start(ctx, prev, head, cp)
	if err != nil {
		return nil, err
	}
	s.from = sc.Next
	if sc.Next > cp.Size {
		return nil, &checkpoint.IntegrityError{Reason: checkpoint.ReasonInclusion, New: cp.Raw,
			Err: fmt.Errorf("scanned %d entries of tree %q, but the verified checkpoint has only %d", sc.Next, sc.TreeID, cp.Size)}
	}
	rng, err := rangeFactory.NewRange(0, sc.Next, sc.Range)
	if err != nil {
		return nil, fmt.Errorf("saved scan range of %s is corrupt: %w", l.Name, err)
	}
	chunk := s.cfg.Chunk
	if chunk == 0 {
		chunk = 20000
	}
	every := s.cfg.ProgressEvery
	if every == 0 {
		every = 10 * time.Second
	}
	started, startIdx, lastLog := time.Now(), sc.Next, time.Now()
	s.c.m.scanLag.WithLabelValues(l.Name).Set(float64(cp.Size - sc.Next))
	for sc.Next < cp.Size {
		end := min(sc.Next+chunk, cp.Size)
		mp := s.newMatchPipeline()
		// Each entry holds a share of the memory budget until the match
		// pipeline is done with it, or until it is turned away here.
		err := s.entries(ctx, head, cp.Size, sc.Next, end, func(e rekor.Entry) error {
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
				// The next response may need the budget this one
				// holds: hand its entries on, to be matched and
				// released, rather than keep them for a full batch.
				mp.flush()
			}
			return nil
		})
		events := mp.wait()
		if errors.Is(err, errChunkFull) {
			// The chunk raised many events: end it here, so that the
			// events held until the chunk is proven stay bounded.
			err, end = nil, rng.End()
		}
		if err != nil {
			return nil, fmt.Errorf("fetching entries %d-%d of %s: %w", sc.Next, end, l.Name, err)
		}
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		if err := s.prove(ctx, head, cp, end, root); err != nil {
			return nil, err
		}
		if err := s.queue(ctx, events); err != nil {
			return nil, fmt.Errorf("queueing %d alerts for entries %d-%d of %s: %w", len(events), sc.Next, end, l.Name, err)
		}

		s.c.m.entriesScanned.WithLabelValues(l.Name).Add(float64(end - sc.Next))
		s.c.m.scanLag.WithLabelValues(l.Name).Set(float64(cp.Size - end))
		sc = &state.Scan{TreeID: head.TreeID, Next: end, Range: rng.Hashes()}
		if end < cp.Size {
			if err := commit(sc); err != nil {
				return nil, err
			}
		}
		if now := time.Now(); now.Sub(lastLog) >= every || (end == cp.Size && end-startIdx >= chunk) {
			lastLog = now
			rate := float64(end-startIdx) / now.Sub(started).Seconds()
			eta := time.Duration(float64(cp.Size-end) / rate * float64(time.Second)).Round(time.Second)
			s.c.logger.InfoContext(ctx, "scanning entries", "log", l.Name, "scanned", end, "size", cp.Size,
				"entries_per_second", int(rate), "eta", eta.String())
		}
	}
	return sc, nil
}

// entries reads entries [from, to) for the scan, from a source under the
// scan's memory budget when it has one (entries then hold their share until
// released).
func (s *scanner) entries(ctx context.Context, head *rekor.Head, size, from, to uint64, fn func(rekor.Entry) error) error {
	if bs, ok := s.src.(budgetedSource); ok {
		opts := rekor.EntriesOptions{Workers: s.cfg.Workers, Budget: budgetFor(s.cfg.MemoryBudget), Retain: true}
		return bs.budgetedEntries(ctx, head, size, from, to, opts, fn)
	}
	return s.src.Entries(ctx, head, size, from, to, s.cfg.Workers, fn)
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
	if s.c.events == nil {
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
		if _, err := s.c.events.Enqueue(ctx, events[:n]...); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// start returns the progress to continue from: prev, or at first contact
// (no progress saved) a start at the configured index.
func (s *scanner) start(ctx context.Context, prev *state.Scan, head *rekor.Head, cp *checkpoint.Checkpoint) (*state.Scan, error) {
	if prev != nil {
		if prev.TreeID != head.TreeID {
			return nil, fmt.Errorf("scan progress is for tree %q, not %q", prev.TreeID, head.TreeID)
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
	sc := &state.Scan{TreeID: head.TreeID}
	if at == 0 {
		return sc, nil
	}
	nodes, err := s.src.RangeNodes(ctx, head, at)
	if err != nil {
		return nil, fmt.Errorf("starting the scan of %s at index %d: %w", s.c.log.Name, at, err)
	}
	r, err := rangeFactory.NewRange(0, at, nodes)
	if err != nil {
		return nil, fmt.Errorf("compact range of size %d from %s: %w", at, s.c.log.Name, err)
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	// The seed is data from the log: prove it against the signed root
	// before building on it.
	if err := s.prove(ctx, head, cp, at, root); err != nil {
		return nil, err
	}
	sc.Next, sc.Range = at, r.Hashes()
	s.c.logger.InfoContext(ctx, "scan starts at a chosen index; earlier entries are not scanned", "log", s.c.log.Name, "start_index", at)
	return sc, nil
}

// prove checks that the leaves [0, size) hashing to root are the start of
// the tree cp signs: equal roots at cp's size, else a consistency proof.
func (s *scanner) prove(ctx context.Context, head *rekor.Head, cp *checkpoint.Checkpoint, size uint64, root []byte) error {
	if size == cp.Size {
		if !bytes.Equal(root, cp.Hash) {
			return &checkpoint.IntegrityError{Reason: checkpoint.ReasonInclusion, New: cp.Raw,
				Err: fmt.Errorf("the %d entries the log served hash to root %x, but its signed checkpoint says %x", size, root, cp.Hash)}
		}
		return nil
	}
	p, err := timed(s.c, func() ([][]byte, error) {
		return s.c.log.Source.ConsistencyProof(ctx, head.TreeID, size, cp.Size)
	})
	if err != nil {
		return fmt.Errorf("fetching consistency proof %d->%d of %s: %w", size, cp.Size, s.c.log.Name, err)
	}
	err = checkpoint.CheckConsistency(&checkpoint.Checkpoint{Size: size, Hash: root}, cp, p)
	var ie *checkpoint.IntegrityError
	if errors.As(err, &ie) {
		ie.Reason = checkpoint.ReasonInclusion
		ie.Err = fmt.Errorf("the first %d entries the log served hash to %x, which the signed checkpoint does not extend: %w", size, root, ie.Err)
	}
	return err
}

// matchBatch is the number of consecutive entries one match worker takes.
const matchBatch = 64

// maxChunkEvents ends a chunk early once its entries have raised this many
// events: they are held in memory until the chunk is proven to be in the
// tree (no alert for an entry the log did not commit to), and an event
// carries its entry, some kilobytes. The count lags the fetch by the
// batches in flight, a few hundred entries at most.
const maxChunkEvents = 2000

// maxChunkEventBytes ends a chunk early once its events carry this many
// bytes of entry bodies as evidence: a log of large entries that all raise
// events would otherwise hold maxChunkEvents of them. The count lags like
// the number of events, by entries that the memory budget bounds.
const maxChunkEventBytes = 8 << 20

// errChunkFull stops a chunk's fetch at maxChunkEvents or
// maxChunkEventBytes.
var errChunkFull = errors.New("chunk raised its maximum of events")

// matchPipeline parses and matches a chunk's entries on GOMAXPROCS
// goroutines, while the scanner's goroutine keeps hashing them into the
// compact range in order. Entries go in batches of consecutive entries; the
// batches' events are collected in entry order, so the chunk's events come
// out in the same order as a serial scan's. At most 2*GOMAXPROCS batches are
// in flight: add blocks beyond that, which bounds memory whatever the chunk
// size.
//
//	add --batch--> jobs --> worker (parse+match) --+
//	  \                                            | done
//	   +--batch--> order ----> collector <----------+--> events, in order
type matchPipeline struct {
	s         *scanner
	cur       *matchJob
	jobs      chan *matchJob
	order     chan *matchJob
	events    []alert.Event
	nevents   atomic.Int64 // len(events), for the fetching goroutine
	nbytes    atomic.Int64 // bytes of entry bodies in events, likewise
	collected chan struct{}
}

// full reports whether the chunk's events reached their bounds.
func (mp *matchPipeline) full() bool {
	return mp.nevents.Load() >= maxChunkEvents || mp.nbytes.Load() >= maxChunkEventBytes
}

type matchJob struct {
	now     time.Time
	entries []rekor.Entry
	leaves  [][]byte
	events  []alert.Event
	done    chan struct{}
}

func (s *scanner) newMatchPipeline() *matchPipeline {
	n := runtime.GOMAXPROCS(0)
	mp := &matchPipeline{s: s, jobs: make(chan *matchJob, 2*n), order: make(chan *matchJob, 2*n), collected: make(chan struct{})}
	for range n {
		go func() {
			for j := range mp.jobs {
				for i, e := range j.entries {
					j.events = append(j.events, s.match(e, j.leaves[i], j.now)...)
					// Done with the entry: its bytes no longer count
					// against the budget, so drop the reference too.
					e.Release()
					j.entries[i] = rekor.Entry{}
				}
				close(j.done)
			}
		}()
	}
	go func() {
		defer close(mp.collected)
		for j := range mp.order {
			<-j.done
			mp.events = append(mp.events, j.events...)
			mp.nevents.Store(int64(len(mp.events)))
			for _, ev := range j.events {
				if ev.Evidence.Entry != nil {
					mp.nbytes.Add(int64(len(ev.Evidence.Entry.Body)))
				}
			}
		}
	}()
	return mp
}

// add queues an entry; it is called from one goroutine, in entry order.
func (mp *matchPipeline) add(e rekor.Entry, leaf []byte) {
	if mp.cur == nil {
		// The clock is read here, on the scanner's goroutine, not by the
		// workers: Config.Now need not be safe for concurrent use.
		mp.cur = &matchJob{now: mp.s.c.now(), entries: make([]rekor.Entry, 0, matchBatch),
			leaves: make([][]byte, 0, matchBatch), done: make(chan struct{})}
	}
	mp.cur.entries = append(mp.cur.entries, e)
	mp.cur.leaves = append(mp.cur.leaves, leaf)
	if len(mp.cur.entries) == matchBatch {
		mp.flush()
	}
}

func (mp *matchPipeline) flush() {
	if mp.cur == nil {
		return
	}
	// order first: the collector waits for batches in this order, and the
	// workers drain jobs (as large as order) whatever the collector does.
	mp.order <- mp.cur
	mp.jobs <- mp.cur
	mp.cur = nil
}

// wait matches what is still queued, stops the goroutines and returns the
// events of every added entry, in entry order.
func (mp *matchPipeline) wait() []alert.Event {
	mp.flush()
	close(mp.order)
	close(mp.jobs)
	<-mp.collected
	return mp.events
}

// match parses and matches one entry and returns the events it causes. It
// is called concurrently by the match workers.
func (s *scanner) match(e rekor.Entry, leaf []byte, now time.Time) []alert.Event {
	l := s.c.log
	ids, err := s.src.Parse(s.parser, e.Data)
	// The evidence is built only for entries that cause events, which are
	// few. Its Body is a copy, of at most alert.MaxEvidenceBody bytes: e.Data
	// may share its array with the whole entry bundle it came in, which
	// queued events must not keep alive.
	var entry *alert.Entry
	evidence := func() *alert.Entry {
		if entry == nil {
			body, size := e.Data, int64(0)
			if len(body) > alert.MaxEvidenceBody {
				body, size = body[:alert.MaxEvidenceBody], int64(len(body))
			}
			entry = &alert.Entry{Index: int64(e.LogIndex), UUID: e.UUID, LeafHash: hex.EncodeToString(leaf), BodySize: size, Body: bytes.Clone(body)}
		}
		return entry
	}
	key := func(kind alert.Kind, extra string) string {
		return fmt.Sprintf("%s/%s/%d/%s%s", kind, l.Name, e.LogIndex, evidence().LeafHash[:16], extra)
	}
	group := func(kind alert.Kind, rule string) string {
		return fmt.Sprintf("%s/%s/%s/%d", kind, l.Name, rule, s.from)
	}
	if err != nil {
		s.c.m.malformedEntries.WithLabelValues(l.Name).Inc()
		s.c.logger.Warn("malformed entry", "log", l.Name, "index", e.LogIndex, "err", err)
		return []alert.Event{{Kind: alert.KindMalformedEntry, Severity: alert.SeverityWarning, Log: l.Name, Time: now,
			DedupeKey: key(alert.KindMalformedEntry, ""), Group: group(alert.KindMalformedEntry, ""), Evidence: alert.Evidence{KeyID: l.keys().KeyID, Entry: evidence(), Detail: err.Error()}}}
	}
	res := s.cfg.Matcher.Match(ids)
	var events []alert.Event
	sev := s.cfg.WatchSeverity
	if sev == "" {
		sev = alert.SeverityWarning
	}
	for _, h := range res.Watched {
		s.c.m.identityMatches.WithLabelValues(l.Name, h.Rule).Inc()
		fields := identityFields(h.Identity)
		for k, v := range h.Fields {
			fields["matched."+k] = v
		}
		s.c.logger.Info("watched identity signed", "log", l.Name, "index", e.LogIndex, "rule", h.Rule, "subject", fields["subject"], "issuer", fields["issuer"])
		events = append(events, alert.Event{Kind: alert.KindIdentityMatch, Severity: sev, Log: l.Name, Time: now,
			DedupeKey: key(alert.KindIdentityMatch, "/"+h.Rule), Group: group(alert.KindIdentityMatch, h.Rule),
			Evidence: alert.Evidence{KeyID: l.keys().KeyID, Entry: evidence(), Identity: fields, Rule: h.Rule}})
	}
	if !res.Expected {
		s.c.m.unexpected.WithLabelValues(l.Name).Inc()
		fields := map[string]string{}
		for i := range ids {
			for k, v := range identityFields(&ids[i]) {
				if len(ids) > 1 {
					k = fmt.Sprintf("%d.%s", i, k)
				}
				fields[k] = v
			}
		}
		s.c.logger.Warn("unexpected identity signed", "log", l.Name, "index", e.LogIndex, "subject", fields["subject"], "issuer", fields["issuer"])
		events = append(events, alert.Event{Kind: alert.KindUnexpectedIdentity, Severity: alert.SeverityCritical, Log: l.Name, Time: now,
			DedupeKey: key(alert.KindUnexpectedIdentity, ""), Group: group(alert.KindUnexpectedIdentity, ""), Evidence: alert.Evidence{KeyID: l.keys().KeyID, Entry: evidence(), Identity: fields}})
	}
	return events
}

// identityFields flattens an identity for alert evidence.
func identityFields(id *identity.Identity) map[string]string {
	f := map[string]string{"entry_kind": id.EntryKind, "key_type": string(id.KeyType)}
	set := func(k, v string) {
		if v != "" {
			f[k] = v
		}
	}
	var subjects []string
	id.Subjects(func(s string) bool { subjects = append(subjects, s); return true })
	if len(subjects) > 0 {
		set("subject", subjects[0])
		for i, s := range subjects[1:] {
			set(fmt.Sprintf("subject.%d", i+1), s)
		}
	}
	set("issuer", id.Issuer)
	set("cert_fingerprint", id.CertFingerprint)
	set("key_fingerprint", id.KeyFingerprint)
	for oid, v := range id.Extensions {
		set(oid, v)
	}
	return f
}
