// Package ctlog reads a certificate transparency log through the RFC 6962
// API (ct_server, Trillian's CT front end, as Fulcio's CT log runs it) as
// the tlog.Log of kind "ct" that the monitor checks: the signed tree head,
// consistency proofs, entries (get-entries, in batches) and, for a scan
// that starts mid-tree, the compact range taken from an entry's audit path.
//
// # Tree heads and checkpoints
//
// get-sth answers JSON (tree_size, timestamp, sha256_root_hash,
// tree_head_signature) that names neither the log nor its key, while the
// monitor trades in signed checkpoints. Head therefore returns the get-sth
// answer exactly as served, and Checkpoint converts it, for each verifier
// it is given, to the checkpoint form of a CT tree head
// (ctleaf.FromSTH: the origin, the size and the root, signed by an
// RFC6962NoteSignature carrying that verifier's key hash, the STH's
// timestamp and its signature bytes unchanged) before verifying it
// (ctleaf.Parse). The checkpoint it returns holds the checkpoint form in
// Raw, so the monitor saves, compares and gives as evidence a signed note
// that any static-ct tool verifies with the log's key, and Checkpoint
// accepts that form too (a saved or configured starting checkpoint).
//
// A get-sth answer that is not JSON of that shape (a proxy's error page, a
// truncated body, a root that is not 32 bytes, a signature that is not a
// TLS DigitallySigned) is a *checkpoint.FormatError: no verdict. A
// well-formed tree head whose signature does not verify is a
// *checkpoint.IntegrityError with reason signature, whose New is the
// checkpoint form.
//
// The origin is the configured one, by default the log's URL without its
// scheme and trailing slash in lower case (ctleaf.OriginFromURL), as
// Sunlight and the static-ct-api name a log. The RFC 6962 signature does
// not cover it: it only names the log in the checkpoint form.
//
// # Entries
//
// get-entries returns the leaves (leaf_input, a TLS MerkleTreeLeaf) and
// their extra data (extra_data: the submitted chain, outside the tree) by
// position: a log may return fewer entries than asked (ct_server returns
// at most 1000), never more. Entries asks for batches of 256 and asks again
// for the rest of a batch; an answer with more entries than asked, none,
// or one that does not decode is an error (no verdict). Entries that are
// swapped or replaced are caught by the monitor, whose leaf hashes then do
// not build the signed root.
package ctlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	ct "github.com/google/certificate-transparency-go"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Bounds of the answers read outside entry scans.
const (
	// maxSTH bounds a get-sth answer: the checkpoint package's limit of a
	// note, far above a tree head (about 300 bytes with an ECDSA
	// signature, 700 with RSA-4096).
	maxSTH = checkpoint.MaxSize
	// maxProof bounds a consistency proof or audit path: at most 2*64
	// hashes of 32 bytes, base64 in JSON, far under 64 KiB.
	maxProof = 64 << 10
	// maxRoots bounds a get-roots answer (public logs accept a few hundred
	// roots, about 1.5 KiB each in base64).
	maxRoots = 8 << 20
)

// maxCertChainSize is ct_server's default --max_cert_chain_size: the
// largest add-chain or add-pre-chain request body, a JSON array of
// base64 DER certificates (so at most 384000 bytes of DER).
const maxCertChainSize = 512000

// maxEntry is the largest legitimate get-entries answer for one entry.
// The chain of an add-chain or add-pre-chain request of at most
// maxCertChainSize bytes comes back twice, base64-encoded: the leaf
// certificate (or its TBSCertificate) in leaf_input, under
// maxCertChainSize plus the 47 bytes of MerkleTreeLeaf framing, and the
// whole chain in extra_data, under maxCertChainSize plus 4 bytes of TLS
// framing per certificate (each of which took at least 7 bytes of the
// request), so under 1.15 x maxCertChainSize. Twice that bounds both with
// the JSON around them: 2048000 bytes. A per-response limit never goes
// below it, and a batch over the limit is asked for again in halves.
const maxEntry = 4 * maxCertChainSize

// batch is the number of entries one get-entries request asks for: the
// answers for Fulcio's certificates (about 6 KiB per entry) stay around
// 1.5 MiB, under a default budget share, and ct_server's cap of 1000 and
// its alignment of requests of 1000 or more do not apply.
const batch = 256

// Log reads a CT log through the RFC 6962 API under its base URL (with
// the log's prefix, e.g. https://ctfe.example.com/2025):
//
//	GET <base>/ct/v1/get-sth
//	GET <base>/ct/v1/get-sth-consistency?first=F&second=S
//	GET <base>/ct/v1/get-entries?start=A&end=B           (B inclusive)
//	GET <base>/ct/v1/get-entry-and-proof?leaf_index=I&tree_size=S
//	GET <base>/ct/v1/get-proof-by-hash?hash=H&tree_size=S
//	GET <base>/ct/v1/get-roots
//
// A Log is safe for concurrent use.
type Log struct {
	url    *url.URL // the configured URL, for explanations
	root   string   // the base URL without trailing slash
	base   string   // root + "/ct/v1/"
	c      *http.Client
	origin string
}

var (
	_ tlog.Log       = (*Log)(nil)
	_ tlog.Explainer = (*Log)(nil)
)

// New returns a reader for the CT log at o.URL, its base URL including the
// log's prefix. An empty o.Origin defaults to ctleaf.OriginFromURL(o.URL).
func New(o tlog.Options) (*Log, error) {
	u, err := o.BaseURL("ct")
	if err != nil {
		return nil, err
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("ct URL %q: want the log's base URL without query or fragment", o.URL)
	}
	origin := o.Origin
	if origin == "" {
		origin = ctleaf.OriginFromURL(o.URL)
	}
	if err := ctleaf.CheckOrigin(origin); err != nil {
		return nil, fmt.Errorf("ct log %s: %w", o.URL, err)
	}
	root := strings.TrimSuffix(u.String(), "/")
	return &Log{url: u, root: root, base: root + "/ct/v1/", c: o.Client, origin: origin}, nil
}

// Open is New as a tlog.Open, for the monitor's table of kinds.
func Open(o tlog.Options) (tlog.Log, error) {
	l, err := New(o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Origin returns the checkpoint origin the log's tree heads are verified
// under.
func (l *Log) Origin() string { return l.origin }

// Head fetches get-sth. Its Note is the JSON answer exactly as served (see
// the package documentation).
func (l *Log) Head(ctx context.Context) (*tlog.Head, error) {
	body, err := tlog.Get(ctx, l.c, l.base+"get-sth", maxSTH)
	if err != nil {
		return nil, err
	}
	return &tlog.Head{Note: body}, nil
}

// isJSON reports whether raw is (meant as) a JSON object: a get-sth answer
// rather than a checkpoint, which starts with its origin.
func isJSON(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// ConsistencyProof fetches get-sth-consistency. It returns an empty proof
// when from is 0 or equals to, without asking. treeID is ignored (a CT log
// is one tree).
func (l *Log) ConsistencyProof(ctx context.Context, _ string, from, to uint64) ([][]byte, error) {
	if from == 0 || from == to {
		return nil, nil
	}
	u := fmt.Sprintf("%sget-sth-consistency?first=%d&second=%d", l.base, from, to)
	body, err := tlog.Get(ctx, l.c, u, maxProof)
	if err != nil {
		return nil, err
	}
	var r ct.GetSTHConsistencyResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding consistency proof from %s: %w", u, err)
	}
	if err := checkHashes(r.Consistency); err != nil {
		return nil, fmt.Errorf("consistency proof from %s: %w", u, err)
	}
	return r.Consistency, nil
}

// checkHashes checks that every hash of a proof is a SHA-256.
func checkHashes(hs [][]byte) error {
	for i, h := range hs {
		if len(h) != 32 {
			return fmt.Errorf("hash %d has %d bytes, want 32", i, len(h))
		}
	}
	return nil
}

// InclusionByHash fetches get-proof-by-hash for the leaf hash leafHash in
// tree t (at t.Size): the index of the leaf and its audit path, which the
// caller verifies against the tree's signed root. A log that does not hold
// the leaf (HTTP 404, or 400 saying "not found") gives an error matching
// os.ErrNotExist.
func (l *Log) InclusionByHash(ctx context.Context, t tlog.Tree, leafHash []byte) (index uint64, proof [][]byte, err error) {
	if len(leafHash) != 32 {
		return 0, nil, fmt.Errorf("leaf hash has %d bytes, want 32", len(leafHash))
	}
	if t.Size == 0 {
		return 0, nil, fmt.Errorf("leaf hash %x in an empty tree: %w", leafHash, os.ErrNotExist)
	}
	q := url.Values{}
	q.Set("hash", base64.StdEncoding.EncodeToString(leafHash))
	q.Set("tree_size", strconv.FormatUint(t.Size, 10))
	u := l.base + "get-proof-by-hash?" + q.Encode()
	body, err := tlog.Get(ctx, l.c, u, maxProof)
	if se := (*tlog.StatusError)(nil); errors.As(err, &se) {
		// Only the log saying it holds no such leaf is an answer: a 404
		// also comes from a replica behind the asked size ("log returned
		// tree size: N but we expected: M") or an ingress's default
		// backend, which are no verdict.
		if b := strings.ToLower(se.Body); (se.Code == http.StatusNotFound || se.Code == http.StatusBadRequest) &&
			(strings.Contains(b, "no leaf found") || strings.Contains(b, "code = notfound") || strings.Contains(b, "did not return a proof")) {
			return 0, nil, fmt.Errorf("%v: %w", se, os.ErrNotExist)
		}
		return 0, nil, fmt.Errorf("asking %s for a leaf by hash: %v", u, se)
	}
	if err != nil {
		return 0, nil, err
	}
	var r ct.GetProofByHashResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, nil, fmt.Errorf("decoding inclusion proof from %s: %w", u, err)
	}
	if r.LeafIndex < 0 || uint64(r.LeafIndex) >= t.Size {
		return 0, nil, fmt.Errorf("%s: leaf index %d is outside the tree of size %d", u, r.LeafIndex, t.Size)
	}
	if err := checkHashes(r.AuditPath); err != nil {
		return 0, nil, fmt.Errorf("inclusion proof from %s: %w", u, err)
	}
	return uint64(r.LeafIndex), r.AuditPath, nil
}

// Roots fetches get-roots: the DER certificates of the roots the log
// accepts chains to.
func (l *Log) Roots(ctx context.Context) ([][]byte, error) {
	u := l.base + "get-roots"
	body, err := tlog.Get(ctx, l.c, u, maxRoots)
	if err != nil {
		return nil, err
	}
	var r ct.GetRootsResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decoding roots from %s: %w", u, err)
	}
	out := make([][]byte, len(r.Certificates))
	for i, c := range r.Certificates {
		if out[i], err = base64.StdEncoding.DecodeString(c); err != nil {
			return nil, fmt.Errorf("roots from %s: certificate %d is not base64: %w", u, i, err)
		}
	}
	return out, nil
}
