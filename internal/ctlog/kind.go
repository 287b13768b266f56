package ctlog

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	ct "github.com/google/certificate-transparency-go"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Verifier returns a verifier of the log's tree heads in checkpoint form,
// signed by key under the log's origin (ctleaf.NewVerifier).
func (l *Log) Verifier(key crypto.PublicKey) (note.Verifier, error) {
	return ctleaf.NewVerifier(l.origin, key)
}

// KeyID is the RFC 6962 log ID of key in hex (the SHA-256 of its DER
// SubjectPublicKeyInfo), as trusted roots name a CT log.
func (l *Log) KeyID(key crypto.PublicKey) (string, error) { return ctleaf.KeyID(key) }

// Checkpoint verifies raw, a get-sth answer or a tree head in checkpoint
// form, with one of vs, and returns it in checkpoint form (see the package
// documentation). treeID is ignored.
func (l *Log) Checkpoint(raw []byte, _ string, vs []note.Verifier) (*checkpoint.Checkpoint, error) {
	if len(vs) == 0 {
		return nil, errors.New("parsing tree head: no log key to verify it with")
	}
	if !isJSON(raw) {
		return ctleaf.Parse(raw, l.origin, vs...)
	}
	// The key hash of the signature line is the verifier's: build the
	// checkpoint form for each key in turn (a key rotation has several).
	var first error
	for _, v := range vs {
		form, err := ctleaf.FromSTH(raw, l.origin, v.KeyHash())
		if err != nil {
			return nil, err
		}
		cp, err := ctleaf.Parse(form, l.origin, v)
		if err == nil {
			return cp, nil
		}
		if first == nil {
			first = err
		}
	}
	return nil, first
}

// Identities returns the signer of an entry: its certificate or
// precertificate, with the chain from its extra data (ctleaf).
func (l *Log) Identities(p *identity.Parser, e tlog.Entry) ([]identity.Identity, error) {
	return ctleaf.EntryIdentities(p, e.Data, e.Extra)
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// RangeNodes builds the compact range [0, size) of the tree at t.Size from
// the audit path of leaf size-1 (get-entry-and-proof, or get-entries and
// get-proof-by-hash where the log lacks it): the siblings left of a leaf's
// path to the root are the perfect subtrees covering the leaves before
// it. The caller proves the result against the signed root.
func (l *Log) RangeNodes(ctx context.Context, t tlog.Tree, size uint64) ([][]byte, error) {
	if size == 0 {
		return nil, nil
	}
	if size > t.Size {
		return nil, fmt.Errorf("compact range of %d leaves in a tree of size %d", size, t.Size)
	}
	index := size - 1
	leafHash, path, err := l.entryAndProof(ctx, index, t.Size)
	if err != nil {
		return nil, err
	}
	left, err := tlog.LeftSiblings(index, t.Size, path)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, index, left)
	if err != nil {
		return nil, fmt.Errorf("building compact range from the audit path of leaf %d: %w", index, err)
	}
	if err := r.Append(leafHash, nil); err != nil {
		return nil, fmt.Errorf("building compact range from the audit path of leaf %d: %w", index, err)
	}
	return r.Hashes(), nil
}

// InclusionProof fetches get-proof-by-hash for leaf at tree_size size
// (InclusionByHash): the log must place the leaf at index, and the audit
// path must have the length of a path of index in a tree of that size. A
// leaf the log does not hold, or an index at or past size, is an error
// wrapping os.ErrNotExist.
func (l *Log) InclusionProof(ctx context.Context, t tlog.Tree, index, size uint64, leaf []byte) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("leaf %d in a tree of size %d: %w", index, size, os.ErrNotExist)
	}
	got, path, err := l.InclusionByHash(ctx, tlog.Tree{ID: t.ID, Size: size, Offset: t.Offset}, leaf)
	if err != nil {
		return nil, err
	}
	if got != index {
		return nil, fmt.Errorf("get-proof-by-hash for leaf %d at tree size %d: the log places leaf hash %x at index %d", index, size, leaf, got)
	}
	if want := tlog.InclusionPathLen(index, size); len(path) != want {
		return nil, fmt.Errorf("get-proof-by-hash for leaf %d at tree size %d: audit path of %d hashes, want %d", index, size, len(path), want)
	}
	return path, nil
}

// Digests returns nil: a CT entry is about a certificate, which its
// identity names by fingerprint.
func (l *Log) Digests(tlog.Entry) ([]string, error) { return nil, nil }

// entryAndProof returns the leaf hash of entry index and its audit path in
// the tree of treeSize.
func (l *Log) entryAndProof(ctx context.Context, index, treeSize uint64) ([]byte, [][]byte, error) {
	u := fmt.Sprintf("%sget-entry-and-proof?leaf_index=%d&tree_size=%d", l.base, index, treeSize)
	body, err := tlog.Get(ctx, l.c, u, maxEntry+maxProof)
	var se *tlog.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusNotFound || se.Code == http.StatusMethodNotAllowed || se.Code == http.StatusNotImplemented) {
		return l.entryThenProof(ctx, index, treeSize)
	}
	if err != nil {
		return nil, nil, err
	}
	var r ct.GetEntryAndProofResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, nil, fmt.Errorf("decoding entry and proof from %s: %w", u, err)
	}
	if err := checkHashes(r.AuditPath); err != nil {
		return nil, nil, fmt.Errorf("audit path from %s: %w", u, err)
	}
	return rfc6962.DefaultHasher.HashLeaf(r.LeafInput), r.AuditPath, nil
}

// entryThenProof is entryAndProof for a log without get-entry-and-proof:
// the entry from get-entries, its audit path from get-proof-by-hash.
func (l *Log) entryThenProof(ctx context.Context, index, treeSize uint64) ([]byte, [][]byte, error) {
	var leafHash []byte
	err := l.Entries(ctx, tlog.Tree{Size: treeSize}, index, index+1, tlog.EntriesOptions{Workers: 1}, func(e tlog.Entry) error {
		leafHash = e.LeafHash
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	got, path, err := l.InclusionByHash(ctx, tlog.Tree{Size: treeSize}, leafHash)
	if err != nil {
		return nil, nil, fmt.Errorf("audit path of entry %d: %w", index, err)
	}
	if got != index {
		// The same leaf logged twice: get-proof-by-hash gives the first.
		return nil, nil, fmt.Errorf("audit path of entry %d: the log has its leaf hash at index %d", index, got)
	}
	return leafHash, path, nil
}

// ExplainNotFound says what the URL serves instead of the RFC 6962 API: a
// static-ct-api log, Rekor, or the API under another path (the URL given
// with /ct/v1, or without the log's prefix).
func (l *Log) ExplainNotFound(ctx context.Context) string {
	path := strings.TrimSuffix(l.url.Path, "/")
	switch {
	case strings.HasSuffix(path, "/ct/v1"):
		return fmt.Sprintf("the URL ends in /ct/v1: give the log's base URL without it (%s), the RFC 6962 paths are added to it",
			strings.TrimSuffix(l.root, "/ct/v1"))
	case tlog.Probe(ctx, l.c, l.root+"/checkpoint"):
		return "the URL serves a static-ct-api checkpoint, not the RFC 6962 API: set kind: static-ct (--log-kind static-ct)"
	case tlog.Probe(ctx, l.c, l.root+"/api/v1/log"):
		return "the URL serves Rekor v1's API, not a CT log: set kind: rekor-v1 (--log-kind rekor-v1)"
	}
	// The API one or two levels up: the URL has a path after the prefix.
	u := *l.url
	for p, i := path, 0; strings.Contains(p, "/") && i < 2; i++ {
		p = p[:strings.LastIndexByte(p, '/')]
		u.Path = p
		if tlog.Probe(ctx, l.c, strings.TrimSuffix(u.String(), "/")+"/ct/v1/get-sth") {
			return fmt.Sprintf("the RFC 6962 API answers at %s/ct/v1/: set the URL to %s", strings.TrimSuffix(u.String(), "/"), u.String())
		}
	}
	if path == "" {
		return "the URL has no path: ct_server serves each log under its prefix (<url>/<prefix>/ct/v1/get-sth); add the log's prefix to the URL"
	}
	return ""
}

// ExplainSignature explains a tree head that no configured key verifies:
// in checkpoint form (a saved or starting checkpoint), one signed under
// another origin; a get-sth answer names no key, so it says that the key
// is not the log's.
func (l *Log) ExplainSignature(raw []byte, keys []crypto.PublicKey) string {
	if !isJSON(raw) {
		return ctleaf.ExplainSignature(raw, l.origin, keys)
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if id, err := ctleaf.KeyID(k); err == nil {
			ids = append(ids, id)
		}
	}
	return fmt.Sprintf("the tree head from get-sth is not signed by the configured key (log ID %s; an RFC 6962 tree head does not name its key, and the origin plays no part in its signature): is it this log's key (the log ID in trusted_root.json or the log's configuration)?",
		strings.Join(ids, " or "))
}
