package tlog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// memTiles holds the C2SP tlog-tiles Merkle tiles of a tree of n leaves
// and serves them as a log would: a partial tile of width p, or the full
// tile.
type memTiles struct {
	nodes map[compact.NodeID][]byte
	size  uint64
	reads map[string]int
}

func newMemTiles(t *testing.T, tree *testonly.Tree) *memTiles {
	m := &memTiles{nodes: map[compact.NodeID][]byte{}, size: tree.Size(), reads: map[string]int{}}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for i := range tree.Size() {
		if err := r.Append(tree.LeafHash(i), func(id compact.NodeID, h []byte) { m.nodes[id] = h }); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// read serves tile (level, index) of width p (0: full). A tile wider than
// the tree is not there yet.
func (m *memTiles) read(_ context.Context, level, index uint64, p uint8) ([]byte, error) {
	m.reads[layout.TilePath(level, index, p)]++
	w := uint64(p)
	if w == 0 {
		w = layout.TileWidth
	}
	var out []byte
	for i := range w {
		h, ok := m.nodes[compact.NewNodeID(uint(level*layout.TileHeight), index*layout.TileWidth+i)]
		if !ok {
			return nil, fmt.Errorf("tile %s: %w", layout.TilePath(level, index, p), os.ErrNotExist)
		}
		out = append(out, h...)
	}
	return out, nil
}

// TestTileInclusionProof proves leaves of trees across tile boundaries
// (partial tiles at level 0 and 1) from the tiles of a larger tree, and
// checks that each tile is read once and the errors.
func TestTileInclusionProof(t *testing.T) {
	const n = 600
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		tree.AppendData([]byte(fmt.Sprintf("leaf %d", i)))
	}
	tiles := newMemTiles(t, tree)
	for _, size := range []uint64{1, 2, 3, 255, 256, 257, 511, 512, 513, 599, 600} {
		for _, index := range []uint64{0, 1, size / 2, 255, 256, size - 2, size - 1} {
			if index >= size {
				continue
			}
			clear(tiles.reads)
			p, err := tlog.TileInclusionProof(t.Context(), tiles.read, index, size, tree.LeafHash(index))
			if err != nil {
				t.Fatalf("TileInclusionProof(%d, %d): %v", index, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, tree.LeafHash(index), p, tree.HashAt(size)); err != nil {
				t.Fatalf("TileInclusionProof(%d, %d) does not verify: %v", index, size, err)
			}
			if len(p) != tlog.InclusionPathLen(index, size) {
				t.Errorf("InclusionPathLen(%d, %d) = %d, the proof has %d", index, size, tlog.InclusionPathLen(index, size), len(p))
			}
			for path, n := range tiles.reads {
				if n != 1 {
					t.Errorf("TileInclusionProof(%d, %d) read %s %d times", index, size, path, n)
				}
			}
		}
	}
	for _, tc := range []struct {
		name        string
		index, size uint64
		leaf        []byte
		notExist    bool
		err         string
	}{
		{"another leaf", 5, 100, tree.LeafHash(6), true, "has hash"},
		{"index past size", 100, 100, tree.LeafHash(99), true, "tree of size 100"},
		{"size past the log", 5, n + 300, tree.LeafHash(5), false, "building inclusion proof of leaf 5"},
		{"leaf past the log", 700, n + 300, tree.LeafHash(5), false, "reading the hash of leaf 700"},
	} {
		_, err := tlog.TileInclusionProof(t.Context(), tiles.read, tc.index, tc.size, tc.leaf)
		if err == nil || errors.Is(err, os.ErrNotExist) != tc.notExist || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: TileInclusionProof = %v, want an error with %q (os.ErrNotExist: %v)", tc.name, err, tc.err, tc.notExist)
		}
	}
}
