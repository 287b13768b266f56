// Package rekorv2 reads a Rekor v2 log (rekor-tiles, a C2SP tlog-tiles log
// read from static files) as the tlog.Log that the monitor checks: the
// checkpoint, consistency proofs and compact ranges built from Merkle tiles
// by tessera's client, and entries from entry bundles.
package rekorv2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// maxCheckpoint bounds a Rekor v2 checkpoint response.
const maxCheckpoint = 64 << 10

// Largest legitimate answers, which a per-request limit never goes below.
const (
	// maxBundle is the largest entry bundle: 256 entries of at most 65535
	// bytes, each after its 2-byte length (C2SP tlog-tiles).
	maxBundle = layout.EntryBundleWidth * (2 + 0xffff)
	// maxTile is the largest Merkle tile: 256 hashes.
	maxTile = layout.TileWidth * 32
)

// Log reads a Rekor v2 log (C2SP tlog-tiles) from its read URL:
//
//	GET <base>/checkpoint                 signed note
//	GET <base>/tile/<L>/<N>[.p/<W>]       Merkle tiles, level L
//	GET <base>/tile/entries/<N>[.p/<W>]   entry bundles (256 entries each)
//
// Consistency proofs and compact ranges are built from tiles by tessera's
// client. Every read is bounded by the largest answer the format allows
// (256 hashes for a tile, 256 entries of up to 64 KiB for a bundle). A Log
// is safe for concurrent use.
type Log struct {
	base   string // with trailing slash
	c      *http.Client
	origin string // the checkpoint origin, which signatures are made under
}

var (
	_ tlog.Log       = (*Log)(nil)
	_ tlog.Explainer = (*Log)(nil)
)

// New returns a reader for the tiles served under o.URL.
func New(o tlog.Options) (*Log, error) {
	u, err := o.BaseURL("rekor v2")
	if err != nil {
		return nil, err
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &Log{base: u.String(), c: o.Client, origin: o.Origin}, nil
}

// Open is New as a tlog.Open, for the monitor's table of kinds.
func Open(o tlog.Options) (tlog.Log, error) {
	l, err := New(o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Head fetches GET <base>/checkpoint.
func (l *Log) Head(ctx context.Context) (*tlog.Head, error) {
	note, err := tlog.Get(ctx, l.c, l.base+"checkpoint", maxCheckpoint)
	if err != nil {
		return nil, err
	}
	return &tlog.Head{Note: note}, nil
}

// ConsistencyProof computes the proof that the tree at size from is a prefix
// of the tree at size to, from the log's tiles (partial tiles for a tree
// whose size is not a multiple of 256). treeID is ignored.
func (l *Log) ConsistencyProof(ctx context.Context, _ string, from, to uint64) ([][]byte, error) {
	if from == 0 || from == to {
		return nil, nil
	}
	pb, err := client.NewProofBuilder(ctx, to, l.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("fetching tiles for tree size %d: %w", to, err)
	}
	p, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("building consistency proof %d->%d from tiles: %w", from, to, err)
	}
	return p, nil
}

// ReadTile fetches a Merkle tile (p is the partial width, 0 for a full tile;
// a partial tile that is gone is read in full). A tile that does not exist
// yet is reported as os.ErrNotExist.
func (l *Log) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return partialOrFull(p, func(p uint8) ([]byte, error) {
		return tlog.Get(ctx, l.c, l.base+layout.TilePath(level, index, p), maxTile)
	})
}

// ReadEntryBundle fetches an entry bundle (p is the partial width).
func (l *Log) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return partialOrFull(p, func(p uint8) ([]byte, error) {
		return tlog.Get(ctx, l.c, l.base+layout.EntriesPath(index, p), maxBundle)
	})
}

// readBundle is ReadEntryBundle for a scan: each answer's bytes are taken
// from the budget through s.
func (l *Log) readBundle(ctx context.Context, s *tlog.Slot, index uint64, p uint8, limit int64, setting string) ([]byte, error) {
	raw, err := partialOrFull(p, func(p uint8) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+layout.EntriesPath(index, p), nil)
		if err != nil {
			return nil, err
		}
		return tlog.FetchShared(ctx, l.c, req, s, limit, setting)
	})
	if err != nil {
		return nil, fmt.Errorf("fetching entry bundle %d: %w", index, err)
	}
	return raw, nil
}

// partialOrFull reads a partial resource (p > 0) or, when it is gone (the
// tree grew past it), the full one, as tessera's fetchers do.
func partialOrFull(p uint8, read func(p uint8) ([]byte, error)) ([]byte, error) {
	b, err := read(p)
	if p > 0 && errors.Is(err, os.ErrNotExist) {
		return read(0)
	}
	return b, err
}
