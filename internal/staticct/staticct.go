// Package staticct reads a certificate transparency log that serves the
// C2SP static-ct-api (Sunlight, TesseraCT) as the tlog.Log that the monitor
// checks: the checkpoint (an RFC6962NoteSignature, verified by package
// ctleaf), consistency proofs and compact ranges built from Merkle tiles by
// tessera's client, entries from data tiles, and the issuers of their
// chains by fingerprint.
//
// It is the sibling of package rekorv2: the tiles are C2SP tlog-tiles, but
// the entries are TileLeaf structures (RFC 6962 TimestampedEntry and the
// submitted chain by fingerprint) in tile/data/ instead of entry bundles.
//
// TesseraCT's own client and data-tile types live in internal packages of
// github.com/transparency-dev/tesseract, and its importable packages are
// the server and its storage back ends (cloud SDKs), so this package parses
// the format itself.
package staticct

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/sync/singleflight"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// maxCheckpoint bounds a checkpoint response.
const maxCheckpoint = 64 << 10

// Largest legitimate answers, which a per-request limit never goes below.
//
// A data tile is up to 256 TileLeafs, each bounded only by the length
// prefixes of the format: an x509_entry by 8+2 bytes of timestamp and type,
// the certificate (3 + 2^24-1), the extensions (2 + 2^16-1) and the chain
// fingerprints (2 + 2^16-1), 16,908,302 bytes; a precert_entry by 8+2+32
// bytes (timestamp, type, issuer key hash), the TBSCertificate (3 +
// 2^24-1), the extensions (2 + 2^16-1), the pre_certificate (3 + 2^24-1)
// and the fingerprints (2 + 2^16-1), 33,685,552 bytes. A full tile of the
// largest precert entries is 8,623,501,312 bytes (8 GiB): no memory budget
// can take that, so it is not the floor of the per-request limit. The
// floor is maxDataTile, 16 MiB, as for a Rekor v2 entry bundle: 256 entries
// of 64 KiB on average, a precertificate (which a precert entry carries
// twice, as TBSCertificate and as pre_certificate) of up to about 32 KiB.
// Fulcio's entries are 1-3 KiB (a full tile of the local TesseraCT stack
// is 344 KiB), Web PKI ones rarely over 10 KiB. A larger tile is refused with a *BodyTooLargeError
// that names scan.memory_budget, which raises the limit.
const (
	// maxDataTile is the floor of the limit of one data tile response.
	maxDataTile = 16 << 20
	// maxTile is the largest Merkle tile: 256 hashes.
	maxTile = layout.TileWidth * 32
	// maxIssuer bounds an issuer certificate. The format allows 16 MiB
	// (an ASN.1Cert); CA certificates are a few KiB.
	maxIssuer = 64 << 10
	// maxIssuers bounds the fingerprints of one entry's chain that
	// Identities resolves (as rekor bounds a PEM chain at 10).
	maxIssuers = 10
	// issuerCacheSize bounds the issuers a Log keeps (at most
	// issuerCacheSize * maxIssuer bytes).
	issuerCacheSize = 64
	// issuerRetry is how long a failure to fetch an issuer is remembered,
	// so that the entries naming an issuer the log does not serve fail
	// fast instead of each waiting for the timeout.
	issuerRetry = 30 * time.Second
)

// Log reads a static-ct-api log from its monitoring prefix:
//
//	GET <base>/checkpoint              signed note (RFC6962NoteSignature)
//	GET <base>/tile/<L>/<N>[.p/<W>]    Merkle tiles, level L
//	GET <base>/tile/data/<N>[.p/<W>]   data tiles (256 TileLeafs each)
//	GET <base>/issuer/<fingerprint>    issuer certificates (DER), by the
//	                                   lower-case hex SHA-256 of the DER
//
// Consistency proofs and compact ranges are built from tiles by tessera's
// client. Every read is bounded (see the constants). Issuers are kept in a
// small cache. A Log is safe for concurrent use.
type Log struct {
	base    string // with trailing slash
	c       *http.Client
	origin  string        // the checkpoint origin, which signatures are made under
	timeout time.Duration // bounds Identities' issuer fetches

	issuers *lru.Cache[[32]byte, issuerEntry]
	flight  singleflight.Group
}

var (
	_ tlog.Log       = (*Log)(nil)
	_ tlog.Explainer = (*Log)(nil)
)

// New returns a reader for the static-ct-api log served under o.URL (its
// monitoring prefix). The origin is o.Origin or, when that is empty, the
// URL without its scheme and trailing slash, in lower case
// (ctleaf.OriginFromURL), as the static-ct-api derives it from the
// submission prefix: set it when the log is read at another URL than it is
// submitted to. A nil o.Client is a client from tlog.NewHTTPClient with
// its defaults.
func New(o tlog.Options) (*Log, error) {
	u, err := o.BaseURL("static-ct")
	if err != nil {
		return nil, err
	}
	origin := o.Origin
	if origin == "" {
		origin = ctleaf.OriginFromURL(o.URL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		if u.RawPath != "" {
			u.RawPath += "/"
		}
	}
	c := o.Client
	if c == nil {
		if c, err = tlog.NewHTTPClient(tlog.ClientConfig{}); err != nil {
			return nil, fmt.Errorf("static-ct HTTP client: %w", err)
		}
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = config.DefaultTimeout
	}
	cache, err := lru.New[[32]byte, issuerEntry](issuerCacheSize)
	if err != nil {
		return nil, fmt.Errorf("static-ct issuer cache: %w", err)
	}
	return &Log{base: u.String(), c: c, origin: origin, timeout: timeout, issuers: cache}, nil
}

// Open is New as a tlog.Open, for the monitor's table of kinds.
func Open(o tlog.Options) (tlog.Log, error) {
	l, err := New(o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Origin returns the checkpoint origin the log is verified under.
func (l *Log) Origin() string { return l.origin }

// Head fetches GET <base>/checkpoint.
func (l *Log) Head(ctx context.Context) (*tlog.Head, error) {
	note, err := tlog.Get(ctx, l.c, l.base+layout.CheckpointPath, maxCheckpoint)
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

// InclusionProof builds the audit path of leaf index in the tree of size
// size from the log's tiles (tlog.TileInclusionProof, which checks that
// the tiles hold leaf at index). treeID is ignored.
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

// ReadTile fetches a Merkle tile (p is the partial width, 0 for a full tile;
// a partial tile that is gone is read in full). A tile that does not exist
// yet is reported as os.ErrNotExist.
func (l *Log) ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	return partialOrFull(p, func(p uint8) ([]byte, error) {
		return tlog.Get(ctx, l.c, l.base+layout.TilePath(level, index, p), maxTile)
	})
}

// dataTilePath returns the path of the data tile index (p is the partial
// width, 0 for a full tile) under the monitoring prefix.
func dataTilePath(index uint64, p uint8) string {
	return "tile/data/" + layout.NWithSuffix(0, index, p)
}

// readDataTile fetches a data tile for a scan: each answer's bytes are
// taken from the budget through s.
func (l *Log) readDataTile(ctx context.Context, s *tlog.Slot, index uint64, p uint8, limit int64, setting string) ([]byte, error) {
	raw, err := partialOrFull(p, func(p uint8) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.base+dataTilePath(index, p), nil)
		if err != nil {
			return nil, err
		}
		return tlog.FetchShared(ctx, l.c, req, s, limit, setting)
	})
	if err != nil {
		return nil, fmt.Errorf("fetching data tile %d: %w", index, err)
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
