package rekor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// maxCheckpoint bounds a Rekor v2 checkpoint response.
const maxCheckpoint = 64 << 10

// V2 reads a Rekor v2 log (C2SP tlog-tiles) from its read URL:
//
//	GET <base>/checkpoint                 signed note
//	GET <base>/tile/<L>/<N>[.p/<W>]       Merkle tiles, level L
//	GET <base>/tile/entries/<N>[.p/<W>]   entry bundles (256 entries each)
//
// Consistency proofs and compact ranges are built from tiles by tessera's
// client. Every read is bounded by the largest answer the format allows
// (256 hashes for a tile, 256 entries of up to 64 KiB for a bundle). A V2 is
// safe for concurrent use.
type V2 struct {
	base string // with trailing slash
	c    *http.Client
}

// NewV2 returns a reader for the tiles served under baseURL.
func NewV2(baseURL string, c *http.Client) (*V2, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rekor v2 URL %q: want http(s)://host[:port][/path]", baseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return &V2{base: u.String(), c: c}, nil
}

// Head fetches GET <base>/checkpoint.
func (l *V2) Head(ctx context.Context) (*Head, error) {
	note, err := get(ctx, l.c, l.base+"checkpoint", maxCheckpoint)
	if err != nil {
		return nil, err
	}
	return &Head{Note: note}, nil
}

// ConsistencyProof computes the proof that the tree at size from is a prefix
// of the tree at size to, from the log's tiles (partial tiles for a tree
// whose size is not a multiple of 256). treeID is ignored.
func (l *V2) ConsistencyProof(ctx context.Context, _ string, from, to uint64) ([][]byte, error) {
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
func (l *V2) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return partialOrFull(p, func(p uint8) ([]byte, error) {
		return get(ctx, l.c, l.base+layout.TilePath(level, index, p), maxTile)
	})
}

// ReadEntryBundle fetches an entry bundle (p is the partial width).
func (l *V2) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return partialOrFull(p, func(p uint8) ([]byte, error) {
		return get(ctx, l.c, l.base+layout.EntriesPath(index, p), maxBundle)
	})
}

// readBundle is ReadEntryBundle for a scan: each answer's bytes are taken
// from the budget through s.
func (l *V2) readBundle(ctx context.Context, s *slot, index uint64, p uint8, limit int64, setting string) ([]byte, error) {
	raw, err := partialOrFull(p, func(p uint8) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+layout.EntriesPath(index, p), nil)
		if err != nil {
			return nil, err
		}
		return fetchShared(ctx, l.c, req, s, limit, setting)
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
