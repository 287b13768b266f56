// Package tlogtest checks a tlog.Log against a real log: the same test of
// InclusionProof for every kind (rekorv1, rekorv2, ctlog, staticct), run
// by each kind's tests on the local stack (internal/testenv).
//
// Production code must not import it.
package tlogtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// PublicKey reads a PEM "PUBLIC KEY" file, such as the stack's log keys.
func PublicKey(t testing.TB, path string) crypto.PublicKey {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("%s holds no PEM public key", path)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return pub
}

// Verified fetches l's head, verifies its checkpoint with key and returns
// the active tree at the checkpoint's size and its root hash: what the
// monitor trusts after a check.
func Verified(t testing.TB, l tlog.Log, key crypto.PublicKey) (tlog.Tree, []byte) {
	t.Helper()
	h, err := l.Head(t.Context())
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	v, err := l.Verifier(key)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := l.Checkpoint(h.Note, h.TreeID, []note.Verifier{v})
	if err != nil {
		t.Fatalf("verifying the head: %v", err)
	}
	return h.Tree(h.TreeID, cp.Size), cp.Hash
}

// Sizes returns the tree sizes CheckInclusion proves leaves in for a tree
// of size n: the smallest trees, powers of two and their neighbours (tile
// boundaries among them), and the largest.
func Sizes(n uint64) []uint64 {
	var out []uint64
	for _, s := range []uint64{1, 2, 3, 5, 7, 8, 255, 256, 257, 1000, 1024, n / 3, n/2 + 1, n - 1, n} {
		if s >= 1 && s <= n {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TileSizes returns the tree sizes CheckInclusion proves leaves in for a
// tile log (C2SP tlog-tiles) whose tree has size n, with the sizes of
// checkpoints seen earlier. A proof at a size needs the partial tiles of
// that size, which a log publishes only for the sizes it signs
// checkpoints for (and may drop once the full tile exists): the sizes
// within the first full tile (read in full), the checkpoints' sizes and n.
func TileSizes(n uint64, checkpoints ...uint64) []uint64 {
	var out []uint64
	for _, s := range append([]uint64{1, 2, 3, 5, 7, 8, 255, 256, n}, checkpoints...) {
		if s >= 1 && s <= n && (s <= 256 && n >= 256 || s == n || slices.Contains(checkpoints, s)) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// indexes returns the leaves proven in a tree of size: the first, the
// last, the last of a perfect subtree, and two in between.
func indexes(size uint64) []uint64 {
	out := []uint64{0, size - 1, size / 2, (size - 1) / 3}
	if p := uint64(1); size > 2 {
		for p*2 < size {
			p *= 2
		}
		out = append(out, p-1)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Entry reads entry i of tree with Entries.
func Entry(t testing.TB, l tlog.Log, tree tlog.Tree, i uint64) tlog.Entry {
	t.Helper()
	var got []tlog.Entry
	err := l.Entries(t.Context(), tree, i, i+1, tlog.EntriesOptions{Workers: 1}, func(e tlog.Entry) error {
		got = append(got, e)
		return nil
	})
	if err != nil || len(got) != 1 {
		t.Fatalf("Entries(%d, %d) = %d entries, %v", i, i+1, len(got), err)
	}
	e := got[0]
	if !bytes.Equal(e.LeafHash, rfc6962.DefaultHasher.HashLeaf(e.Data)) {
		t.Fatalf("entry %d: LeafHash %x is not the leaf hash of its Data", i, e.LeafHash)
	}
	return e
}

// ProveEntry reads entry i of tree and checks its inclusion proof at the
// tree's size against root.
func ProveEntry(t testing.TB, l tlog.Log, tree tlog.Tree, root []byte, i uint64) tlog.Entry {
	t.Helper()
	e := Entry(t, l, tree, i)
	p, err := l.InclusionProof(t.Context(), tree, i, tree.Size, e.LeafHash)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", i, tree.Size, err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, tree.Size, e.LeafHash, p, root); err != nil {
		t.Errorf("InclusionProof(%d, %d) = %d hashes that do not verify: %v", i, tree.Size, len(p), err)
	}
	return e
}

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// CheckInclusion checks l.InclusionProof on tree, whose verified root is
// root, at each of sizes (at most tree.Size; Sizes gives a spread): for a
// few leaves of each, the proof must verify (proof.VerifyInclusion)
// against the root at that size, which is the root of the log's compact
// range (RangeNodes) proven consistent with root. Each entry proven is
// read with Entries and handed to check, for the kind's own checks (its
// Time, its Digests). A wrong leaf hash and an index past the size must be
// os.ErrNotExist.
func CheckInclusion(t *testing.T, l tlog.Log, tree tlog.Tree, root []byte, sizes []uint64, check func(*testing.T, tlog.Entry)) {
	t.Helper()
	ctx := t.Context()
	h := rfc6962.DefaultHasher
	entries := map[uint64]tlog.Entry{}
	entry := func(t *testing.T, i uint64) tlog.Entry {
		t.Helper()
		if e, ok := entries[i]; ok {
			return e
		}
		e := Entry(t, l, tree, i)
		if check != nil {
			check(t, e)
		}
		entries[i] = e
		return e
	}
	for _, size := range sizes {
		if size == 0 || size > tree.Size {
			t.Fatalf("size %d is not in a tree of size %d", size, tree.Size)
		}
		at := root
		if size != tree.Size {
			nodes, err := l.RangeNodes(ctx, tree, size)
			if err != nil {
				t.Fatalf("RangeNodes(%d): %v", size, err)
			}
			r, err := rangeFactory.NewRange(0, size, nodes)
			if err != nil {
				t.Fatalf("RangeNodes(%d): %v", size, err)
			}
			if at, err = r.GetRootHash(nil); err != nil {
				t.Fatal(err)
			}
			cons, err := l.ConsistencyProof(ctx, tree.ID, size, tree.Size)
			if err != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size, tree.Size, err)
			}
			if err := proof.VerifyConsistency(h, size, tree.Size, cons, at, root); err != nil {
				t.Fatalf("the root of the compact range of %d leaves is not consistent with the verified root: %v", size, err)
			}
		}
		for _, i := range indexes(size) {
			e := entry(t, i)
			p, err := l.InclusionProof(ctx, tree, i, size, e.LeafHash)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			if err := proof.VerifyInclusion(h, i, size, e.LeafHash, p, at); err != nil {
				t.Errorf("InclusionProof(%d, %d) = %d hashes that do not verify: %v", i, size, len(p), err)
			}
		}
	}

	e := entry(t, 0)
	wrong := make([]byte, 32)
	if _, err := rand.Read(wrong); err != nil {
		t.Fatal(err)
	}
	if _, err := l.InclusionProof(ctx, tree, 0, tree.Size, wrong); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InclusionProof of a leaf hash the log does not hold = %v, want os.ErrNotExist", err)
	}
	if _, err := l.InclusionProof(ctx, tree, tree.Size, tree.Size, e.LeafHash); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InclusionProof of index %d in a tree of that size = %v, want os.ErrNotExist", tree.Size, err)
	}
}
