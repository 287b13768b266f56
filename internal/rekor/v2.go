package rekor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
// Tiles are fetched with tessera's client, which also builds consistency
// proofs from them. A V2 is safe for concurrent use.
type V2 struct {
	base    string // with trailing slash
	c       *http.Client
	fetcher *client.HTTPFetcher
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
	f, err := client.NewHTTPFetcher(u, c)
	if err != nil {
		return nil, fmt.Errorf("creating tile fetcher for %s: %w", u, err)
	}
	return &V2{base: u.String(), c: c, fetcher: f}, nil
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
	pb, err := client.NewProofBuilder(ctx, to, l.fetcher.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("fetching tiles for tree size %d: %w", to, err)
	}
	p, err := pb.ConsistencyProof(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("building consistency proof %d->%d from tiles: %w", from, to, err)
	}
	return p, nil
}

// ReadTile fetches a Merkle tile (p is the partial width, 0 for a full tile).
// A tile that does not exist yet is reported as os.ErrNotExist.
func (l *V2) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return l.fetcher.ReadTile(ctx, level, index, p)
}

// ReadEntryBundle fetches an entry bundle (p is the partial width).
func (l *V2) ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error) {
	return l.fetcher.ReadEntryBundle(ctx, index, p)
}
