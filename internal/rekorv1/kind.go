package rekorv1

import (
	"context"
	"crypto"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Verifier returns a verifier of Rekor v1 signatures by key: matched by key
// hint, whatever hostname they carry.
func (l *Log) Verifier(key crypto.PublicKey) (note.Verifier, error) {
	return checkpoint.NewRekorV1Verifier(l.origin, key)
}

// KeyID is the SHA-256 of the DER key, Rekor v1's log ID.
func (l *Log) KeyID(key crypto.PublicKey) (string, error) { return checkpoint.KeyID(key) }

// Checkpoint verifies raw as a signed tree head of tree treeID (see
// checkpoint.ParseRekorV1).
func (l *Log) Checkpoint(raw []byte, treeID string, vs []note.Verifier) (*checkpoint.Checkpoint, error) {
	return checkpoint.ParseRekorV1(raw, treeID, vs...)
}

// Identities parses a Rekor v1 entry body.
func (l *Log) Identities(p *identity.Parser, e tlog.Entry) ([]identity.Identity, error) {
	return p.ParseV1(e.Data)
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// RangeNodes builds the compact range [0, size) of tree t from the
// inclusion proof of leaf size-1: the siblings on the left of a leaf's path
// to the root are exactly the perfect subtrees covering the leaves before
// it (RFC 6962: inner proof nodes at the levels where the index has a 1
// bit, and every border node). The caller proves the result against the
// signed root.
func (l *Log) RangeNodes(ctx context.Context, t tlog.Tree, size uint64) ([][]byte, error) {
	if size == 0 {
		return nil, nil
	}
	index := size - 1
	e, path, treeSize, err := l.InclusionProof(ctx, t.Offset, index)
	if err != nil {
		return nil, err
	}
	left, err := tlog.LeftSiblings(index, treeSize, path)
	if err != nil {
		return nil, err
	}
	r, err := rangeFactory.NewRange(0, index, left)
	if err != nil {
		return nil, fmt.Errorf("building compact range from the audit path of leaf %d: %w", index, err)
	}
	if err := r.Append(rfc6962.DefaultHasher.HashLeaf(e.Data), nil); err != nil {
		return nil, err
	}
	return r.Hashes(), nil
}

// ExplainNotFound says whether the URL serves a tlog-tiles checkpoint
// instead of the Rekor v1 API.
func (l *Log) ExplainNotFound(ctx context.Context) string {
	if tlog.Probe(ctx, l.c, l.base+"/checkpoint") {
		return "the URL serves a tlog-tiles checkpoint, not the Rekor v1 API: set kind: rekor-v2 (--log-kind rekor-v2)"
	}
	return ""
}

// ExplainSignature has nothing to add for Rekor v1: its signatures are
// matched by key hint alone, so a note the keys do not verify is signed by
// another key.
func (l *Log) ExplainSignature([]byte, []crypto.PublicKey) string { return "" }

// Renamed describes a change of the hostname rekor-server signs as: it
// signs as its host name unless --rekor_server.hostname is set, so a
// restart or a rollout of its pod renames it. The key and the tree are what
// count.
func (l *Log) Renamed(trusted *checkpoint.Checkpoint, trustedTree string, cp *checkpoint.Checkpoint, treeID string) string {
	was, now := checkpoint.RekorV1Hostname(trusted.Origin, trustedTree), checkpoint.RekorV1Hostname(cp.Origin, treeID)
	if was == now {
		return ""
	}
	return fmt.Sprintf("Rekor v1 signs as %q now, not %q (a restart or rollout of rekor-server renames it unless --rekor_server.hostname is set)", now, was)
}
