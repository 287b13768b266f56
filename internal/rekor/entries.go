package rekor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"

	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
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
	// entry.
	Data []byte
	// LeafHash is the RFC 6962 leaf hash of Data, computed by the fetching
	// goroutine (so hashing runs in parallel with the in-order consumer).
	LeafHash []byte
}

// EntriesOptions tunes entry fetching.
type EntriesOptions struct {
	// Workers is the number of requests in flight (default 16).
	Workers int
}

func (o EntriesOptions) workers() int {
	if o.Workers <= 0 {
		return 16
	}
	return o.Workers
}

// maxRetrieve is the number of entries one Rekor v1 retrieve request may ask
// for (rekor-server's limit).
const maxRetrieve = 10

// Entries calls fn for the entries [from, to) of Rekor v1 tree treeID in
// index order, fetching them with bounded parallel POST
// /api/v1/log/entries/retrieve requests of 10 log indexes each. offset is
// the tree's first virtual log index (the sizes of the shards before it).
// It stops at the first error, from the log or from fn.
func (l *V1) Entries(ctx context.Context, offset, from, to uint64, opts EntriesOptions, fn func(Entry) error) error {
	batches := func(yield func(uint64) bool) {
		for first := from; first < to; first += maxRetrieve {
			if !yield(first) {
				return
			}
		}
	}
	fetch := func(ctx context.Context, first uint64) ([]Entry, error) {
		return l.retrieve(ctx, offset, first, int(min(maxRetrieve, to-first)))
	}
	// A retrieve answer is 10 entries: let finished ones queue up deep
	// behind a slow one, so that a slow request does not stall the others.
	return fetchOrdered(ctx, opts.workers(), v1Lookahead*opts.workers(), batches, fetch, from, to, fn)
}

// v1Lookahead is how many retrieve requests per worker may be started
// ahead of the oldest unfinished one.
const v1Lookahead = 4

// fetchOrdered runs fetch for each job with at most workers in flight and
// hands the results to fn in job order, checking that they are the entries
// [from, to) in sequence. At most depth (>= workers) jobs are started ahead
// of the one fn is waiting for: finished jobs behind a slow one wait in
// memory, and when depth of them do, no new job starts until the slow one
// finishes (head-of-line blocking).
func fetchOrdered[J any](ctx context.Context, workers, depth int, jobs iter.Seq[J], fetch func(context.Context, J) ([]Entry, error), from, to uint64, fn func(Entry) error) error {
	type future struct {
		done chan struct{}
		out  []Entry
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *future, max(depth, workers))
	go func() {
		defer close(queue)
		sem := make(chan struct{}, workers)
		for j := range jobs {
			f := &future{done: make(chan struct{})}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem; close(f.done) }()
				f.out, f.err = fetch(ctx, j)
			}()
			select {
			case queue <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	next := from
	for f := range queue {
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.err != nil {
			return f.err
		}
		for _, e := range f.out {
			if e.Index != next {
				return fmt.Errorf("log served entry %d where %d was due", e.Index, next)
			}
			if err := fn(e); err != nil {
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

// retrieve fetches n entries of the tree starting at index first.
func (l *V1) retrieve(ctx context.Context, offset, first uint64, n int) ([]Entry, error) {
	q := models.SearchLogQuery{LogIndexes: make([]*int64, n)}
	for i := range n {
		v := int64(offset + first + uint64(i))
		q.LogIndexes[i] = &v
	}
	body, err := json.Marshal(q)
	if err != nil {
		return nil, fmt.Errorf("encoding retrieve query: %w", err)
	}
	u := l.base + "/api/v1/log/entries/retrieve"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := l.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("retrieving entries %d+%d: %w", offset+first, n, err)
	}
	defer resp.Body.Close()
	raw, err := readBody(resp, u, 64<<20)
	if err != nil {
		return nil, fmt.Errorf("retrieving entries %d+%d: %w", offset+first, n, err)
	}
	var got []models.LogEntry
	if err := json.Unmarshal(raw, &got); err != nil {
		return nil, fmt.Errorf("decoding entries %d+%d: %w", offset+first, n, err)
	}
	out := make([]Entry, n)
	found := make([]bool, n)
	for _, m := range got {
		for uuid, e := range m {
			if e.LogIndex == nil || *e.LogIndex < int64(offset+first) || *e.LogIndex >= int64(offset+first)+int64(n) {
				return nil, fmt.Errorf("retrieving entries %d+%d: log returned entry %s with log index %v", offset+first, n, uuid, e.LogIndex)
			}
			i := uint64(*e.LogIndex) - offset - first
			b64, ok := e.Body.(string)
			if !ok {
				return nil, fmt.Errorf("entry %d: body is %T, want base64 string", *e.LogIndex, e.Body)
			}
			data, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, fmt.Errorf("entry %d: decoding body: %w", *e.LogIndex, err)
			}
			out[i] = Entry{Index: first + i, LogIndex: uint64(*e.LogIndex), UUID: uuid, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data)}
			found[i] = true
		}
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("retrieving entries: log did not return entry %d", offset+first+uint64(i))
		}
	}
	return out, nil
}

// InclusionProof returns the entry at index of the tree whose first virtual
// log index is offset, with the inclusion proof the log serves with it (for
// the tree size the log has when asked: treeSize).
func (l *V1) InclusionProof(ctx context.Context, offset, index uint64) (e Entry, proof [][]byte, treeSize uint64, err error) {
	u := fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", l.base, offset+index)
	raw, err := get(ctx, l.c, u, 64<<20)
	if err != nil {
		return Entry{}, nil, 0, err
	}
	var m models.LogEntry
	if err := json.Unmarshal(raw, &m); err != nil {
		return Entry{}, nil, 0, fmt.Errorf("decoding %s: %w", u, err)
	}
	for uuid, le := range m {
		if le.LogIndex == nil || uint64(*le.LogIndex) != offset+index {
			return Entry{}, nil, 0, fmt.Errorf("%s: log returned entry %s with log index %v", u, uuid, le.LogIndex)
		}
		b64, ok := le.Body.(string)
		if !ok {
			return Entry{}, nil, 0, fmt.Errorf("%s: body is %T, want base64 string", u, le.Body)
		}
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return Entry{}, nil, 0, fmt.Errorf("%s: decoding body: %w", u, err)
		}
		v := le.Verification
		if v == nil || v.InclusionProof == nil || v.InclusionProof.TreeSize == nil || v.InclusionProof.LogIndex == nil {
			return Entry{}, nil, 0, fmt.Errorf("%s: entry has no inclusion proof", u)
		}
		p := v.InclusionProof
		if uint64(*p.LogIndex) != index {
			return Entry{}, nil, 0, fmt.Errorf("%s: inclusion proof is for index %d, want %d", u, *p.LogIndex, index)
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			if hashes[i], err = hex.DecodeString(h); err != nil || len(hashes[i]) != 32 {
				return Entry{}, nil, 0, fmt.Errorf("%s: inclusion proof hash %d is not a hex SHA-256", u, i)
			}
		}
		return Entry{Index: index, LogIndex: offset + index, UUID: uuid, Data: data}, hashes, uint64(*p.TreeSize), nil
	}
	return Entry{}, nil, 0, fmt.Errorf("%s: no entry in response", u)
}

// Entries calls fn for the entries [from, to) of a tree of size treeSize in
// index order, fetching entry bundles (tile/entries/N[.p/W], ranges from
// tessera's layout package) with bounded parallelism. It stops at the first
// error.
func (l *V2) Entries(ctx context.Context, treeSize, from, to uint64, opts EntriesOptions, fn func(Entry) error) error {
	if from >= to {
		return nil
	}
	fetch := func(ctx context.Context, ri layout.RangeInfo) ([]Entry, error) {
		raw, err := l.fetcher.ReadEntryBundle(ctx, ri.Index, ri.Partial)
		if err != nil {
			return nil, fmt.Errorf("fetching entry bundle %d: %w", ri.Index, err)
		}
		var eb api.EntryBundle
		if err := eb.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("parsing entry bundle %d: %w", ri.Index, err)
		}
		first, n := int(ri.First), int(ri.N)
		if first+n > len(eb.Entries) {
			return nil, fmt.Errorf("entry bundle %d has %d entries, want at least %d", ri.Index, len(eb.Entries), first+n)
		}
		out := make([]Entry, n)
		base := ri.Index*layout.EntryBundleWidth + uint64(first)
		for i, data := range eb.Entries[first : first+n] {
			out[i] = Entry{Index: base + uint64(i), LogIndex: base + uint64(i), Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data)}
		}
		return out, nil
	}
	// A bundle is up to 256 entries: keep the lookahead at one per worker.
	return fetchOrdered(ctx, opts.workers(), opts.workers(), layout.Range(from, to-from, treeSize), fetch, from, to, fn)
}

// RangeNodes returns the compact range of the first size leaves, read from
// the log's tiles (tessera's FetchRangeNodes).
func (l *V2) RangeNodes(ctx context.Context, size uint64) ([][]byte, error) {
	nodes, err := client.FetchRangeNodes(ctx, size, l.fetcher.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("fetching compact range of size %d from tiles: %w", size, err)
	}
	return nodes, nil
}
