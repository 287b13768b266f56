package staticct

import (
	"context"

	"github.com/transparency-dev/tessera/api/layout"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Entries calls fn for the entries [from, to) of the tree t (of size t.Size)
// in index order, fetching data tiles (tile/data/N[.p/W], ranges from
// tessera's layout package; a partial tile that is gone is read in full)
// with bounded parallelism. Each entry's Index and LogIndex are its index,
// Data its RFC 6962 MerkleTreeLeaf (so LeafHash is the Merkle leaf the log
// committed to) and Extra its chain (see SplitExtra). A tile over its
// limit (see EntriesOptions.Budget; never below maxDataTile) is an error
// wrapping a *BodyTooLargeError; a tile that is not a sequence of
// TileLeafs an error naming the tile, the entry and the offset. It stops
// at the first error.
func (l *Log) Entries(ctx context.Context, t tlog.Tree, from, to uint64, opts tlog.EntriesOptions, fn func(tlog.Entry) error) error {
	if from >= to {
		return nil
	}
	limit, setting := opts.Limit(maxDataTile)
	fetch := func(ctx context.Context, ri layout.RangeInfo, s *tlog.Slot) ([]tlog.Entry, error) {
		raw, err := l.readDataTile(ctx, s, ri.Index, ri.Partial, limit, setting)
		if err != nil {
			return nil, err
		}
		s.Pass() // parse and hash in parallel with the next jobs' reads
		return parseDataTile(raw, ri)
	}
	// A tile is up to 256 entries: keep the lookahead at one per worker.
	return tlog.FetchOrdered(ctx, opts, opts.InFlight(), layout.Range(from, to-from, t.Size), fetch, from, to, fn)
}
