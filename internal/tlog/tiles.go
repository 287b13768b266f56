package tlog

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/transparency-dev/tessera/client"
)

// Helpers the kinds that read C2SP tlog-tiles share (rekorv2, staticct).

// TileInclusionProof builds the RFC 6962 audit path of leaf index in the
// tree of size size from the log's Merkle tiles, read with read (tessera's
// ProofBuilder, as consistency proofs are), after checking that the
// level-0 tile holds leaf at index. Every tile is read once: the proof and
// the check share them. A leaf outside the tree, or another leaf hash at
// index, is an error wrapping os.ErrNotExist; a tile that cannot be read
// (tessera's client keeps the cause as text only) is an error without it.
func TileInclusionProof(ctx context.Context, read client.TileFetcherFunc, index, size uint64, leaf []byte) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("leaf %d in a tree of size %d: %w", index, size, os.ErrNotExist)
	}
	read = onceTiles(read)
	got, err := client.FetchLeafHashes(ctx, read, index, 1, size)
	if err != nil {
		return nil, fmt.Errorf("reading the hash of leaf %d from tiles of tree size %d: %w", index, size, err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], leaf) {
		return nil, fmt.Errorf("leaf %d of tree size %d has hash %x in the log's tiles, not %x: %w", index, size, got, leaf, os.ErrNotExist)
	}
	pb, err := client.NewProofBuilder(ctx, size, read)
	if err != nil {
		return nil, fmt.Errorf("fetching tiles for tree size %d: %w", size, err)
	}
	p, err := pb.InclusionProof(ctx, index)
	if err != nil {
		return nil, fmt.Errorf("building inclusion proof of leaf %d in tree size %d from tiles: %w", index, size, err)
	}
	return p, nil
}

// onceTiles wraps read so that each tile is fetched once: tessera's
// ProofBuilder and FetchLeafHashes each keep a tile cache of their own.
func onceTiles(read client.TileFetcherFunc) client.TileFetcherFunc {
	type key struct {
		level, index uint64
		p            uint8
	}
	var (
		mu    sync.Mutex // guards tiles
		tiles = map[key][]byte{}
	)
	return func(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
		k := key{level, index, p}
		mu.Lock()
		t, ok := tiles[k]
		mu.Unlock()
		if ok {
			return t, nil
		}
		t, err := read(ctx, level, index, p)
		if err != nil {
			return nil, err
		}
		mu.Lock()
		tiles[k] = t
		mu.Unlock()
		return t, nil
	}
}
