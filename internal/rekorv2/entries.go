package rekorv2

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Entries calls fn for the entries [from, to) of the tree t (of size t.Size) in
// index order, fetching entry bundles (tile/entries/N[.p/W], ranges from
// tessera's layout package) with bounded parallelism. A bundle over its
// limit (see EntriesOptions.Budget; never below the largest bundle the
// tlog-tiles format allows) is an error wrapping a *BodyTooLargeError. It
// stops at the first error.
func (l *Log) Entries(ctx context.Context, t tlog.Tree, from, to uint64, opts tlog.EntriesOptions, fn func(tlog.Entry) error) error {
	if from >= to {
		return nil
	}
	limit, setting := opts.Limit(maxBundle)
	fetch := func(ctx context.Context, ri layout.RangeInfo, s *tlog.Slot) ([]tlog.Entry, error) {
		raw, err := l.readBundle(ctx, s, ri.Index, ri.Partial, limit, setting)
		if err != nil {
			return nil, err
		}
		s.Pass() // parse and hash in parallel with the next jobs' reads
		return parseBundle(raw, ri)
	}
	// A bundle is up to 256 entries: keep the lookahead at one per worker.
	return tlog.FetchOrdered(ctx, opts, opts.InFlight(), layout.Range(from, to-from, t.Size), fetch, from, to, fn)
}

// parseBundle returns the entries ri covers of an entry bundle (C2SP
// tlog-tiles: each entry a big-endian uint16 length and its bytes, 256
// entries in a full bundle), slicing raw.
func parseBundle(raw []byte, ri layout.RangeInfo) ([]tlog.Entry, error) {
	first, n := uint64(ri.First), uint64(ri.N)
	if n == 0 || first+n > layout.EntryBundleWidth {
		return nil, fmt.Errorf("entry bundle %d: asked for %d entries from %d", ri.Index, n, first)
	}
	out := make([]tlog.Entry, 0, n)
	base := ri.Index * layout.EntryBundleWidth
	var count uint64
	for at := 0; at < len(raw); count++ {
		if count == layout.EntryBundleWidth {
			return nil, fmt.Errorf("entry bundle %d holds more than %d entries", ri.Index, layout.EntryBundleWidth)
		}
		if len(raw)-at < 2 {
			return nil, fmt.Errorf("entry bundle %d: dangling byte at %d", ri.Index, at)
		}
		size := int(binary.BigEndian.Uint16(raw[at:]))
		at += 2
		if len(raw)-at < size {
			return nil, fmt.Errorf("entry bundle %d: entry %d needs %d bytes at %d, the bundle has %d", ri.Index, count, size, at, len(raw))
		}
		if count >= first && count < first+n {
			data := raw[at : at+size : at+size]
			out = append(out, tlog.Entry{Index: base + count, LogIndex: base + count, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data)})
		}
		at += size
	}
	if count < first+n {
		return nil, fmt.Errorf("entry bundle %d has %d entries, want at least %d", ri.Index, count, first+n)
	}
	return out, nil
}

// InclusionProof builds the audit path of leaf index in the tree of size
// size from the log's tiles (tlog.TileInclusionProof, which checks that
// the tiles hold leaf at index).
func (l *Log) InclusionProof(ctx context.Context, _ tlog.Tree, index, size uint64, leaf []byte) ([][]byte, error) {
	return tlog.TileInclusionProof(ctx, l.ReadTile, index, size, leaf)
}

// RangeNodes returns the compact range of the first size leaves, read from
// the log's tiles (tessera's FetchRangeNodes).
func (l *Log) RangeNodes(ctx context.Context, _ tlog.Tree, size uint64) ([][]byte, error) {
	nodes, err := client.FetchRangeNodes(ctx, size, l.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("fetching compact range of size %d from tiles: %w", size, err)
	}
	return nodes, nil
}
