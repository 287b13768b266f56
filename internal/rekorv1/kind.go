package rekorv1

import (
	"bytes"
	"context"
	"crypto"
	"fmt"
	"math/bits"
	"os"

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
	e, path, treeSize, err := l.EntryAndProof(ctx, t.Offset, index)
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
	if err := r.Append(e.LeafHash, nil); err != nil {
		return nil, err
	}
	return r.Hashes(), nil
}

// InclusionProof returns the audit path of leaf index of tree t in the
// tree of size size. Rekor v1 serves an entry's inclusion proof only at
// its current tree size (EntryAndProof): that is the answer when the tree
// has size size; a path at a smaller size is derived from it and a
// consistency proof (see pathAt). The entry must hash to leaf: another
// entry at index is an error wrapping os.ErrNotExist, as is an index the
// log does not hold.
func (l *Log) InclusionProof(ctx context.Context, t tlog.Tree, index, size uint64, leaf []byte) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("leaf %d in a tree of size %d: %w", index, size, os.ErrNotExist)
	}
	e, path, treeSize, err := l.EntryAndProof(ctx, t.Offset, index)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(e.LeafHash, leaf) {
		return nil, fmt.Errorf("entry %d of tree %s has leaf hash %x, not %x: %w", index, t.ID, e.LeafHash, leaf, os.ErrNotExist)
	}
	switch {
	case treeSize == size:
		if want := tlog.InclusionPathLen(index, size); len(path) != want {
			return nil, fmt.Errorf("inclusion proof of leaf %d in tree size %d has %d hashes, want %d", index, size, len(path), want)
		}
		return path, nil
	case treeSize < size:
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree size %d: the log serves it at tree size %d, smaller", index, size, treeSize)
	}
	left, err := tlog.LeftSiblings(index, treeSize, path)
	if err != nil {
		return nil, err
	}
	var cons [][]byte
	if m := index + 1; m < size {
		if cons, err = l.ConsistencyProof(ctx, t.ID, m, size); err != nil {
			return nil, fmt.Errorf("inclusion proof of leaf %d in tree size %d: %w", index, size, err)
		}
	}
	return pathAt(index, size, left, cons)
}

// pathAt derives the audit path of leaf index in the tree of size size
// from left, the compact range of the leaves before it (largest subtree
// first, as tlog.LeftSiblings gives it), and cons, the consistency proof
// from m = index+1 to size (none when m = size).
//
// With k the number of trailing zero bits of m, the leaf's ancestor at
// level k is the last perfect subtree of the tree of size m, and below it
// the leaf's siblings are all on its left: the last k nodes of left. Above
// it, the audit path of the leaf is the audit path of that subtree, which
// is what the consistency proof from m consists of (transparency-dev/merkle
// proof.Consistency), after the subtree's own hash when m is not a power
// of two. When m = size every sibling of the leaf is on its left: the path
// is left, smallest first.
func pathAt(index, size uint64, left, cons [][]byte) ([][]byte, error) {
	if index >= size {
		return nil, fmt.Errorf("inclusion proof for index %d in a tree of size %d", index, size)
	}
	if len(left) != bits.OnesCount64(index) {
		return nil, fmt.Errorf("compact range of %d leaves has %d hashes, want %d", index, len(left), bits.OnesCount64(index))
	}
	m := index + 1
	k := bits.TrailingZeros64(m)
	path := make([][]byte, 0, tlog.InclusionPathLen(index, size))
	if m == size {
		k = len(left)
	}
	for i := range k {
		path = append(path, left[len(left)-1-i])
	}
	if m < size {
		if m&(m-1) != 0 {
			if len(cons) == 0 {
				return nil, fmt.Errorf("consistency proof from %d to %d is empty", m, size)
			}
			cons = cons[1:]
		}
		path = append(path, cons...)
	}
	if want := tlog.InclusionPathLen(index, size); len(path) != want {
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree size %d from a consistency proof of %d hashes: %d hashes, want %d", index, size, len(cons), len(path), want)
	}
	return path, nil
}

// Digests returns the artifact digests of a Rekor v1 entry body
// (identity.DigestsV1).
func (l *Log) Digests(e tlog.Entry) ([]string, error) { return identity.DigestsV1(e.Data) }

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
