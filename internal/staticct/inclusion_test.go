package staticct

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/tlog/tlogtest"
)

// TestInclusionProof proves leaves from the tiles of a log of two tile
// levels, at sizes it signed checkpoints for (whose partial tiles may be
// gone, read in full) and at others whose tiles exist. A size whose
// partial tile was never published cannot be proven from tiles.
func TestInclusionProof(t *testing.T) {
	const size = 700
	tl := newTestLog(t, size, 1, 255, 300, 513)
	l := tl.newLog(t)
	for _, n := range []uint64{1, 2, 255, 256, 257, 300, 512, 513, size} {
		for _, i := range []uint64{0, n / 2, n - 1} {
			leaf := tl.tree.LeafHash(i)
			p, err := l.InclusionProof(t.Context(), tlog.Tree{Size: size}, i, n, leaf)
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, n, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, n, leaf, p, tl.tree.HashAt(n)); err != nil {
				t.Errorf("InclusionProof(%d, %d) does not verify: %v", i, n, err)
			}
		}
	}
	if _, err := l.InclusionProof(t.Context(), tlog.Tree{Size: size}, 5, size, tl.tree.LeafHash(6)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InclusionProof of another leaf = %v, want os.ErrNotExist", err)
	}
	if _, err := l.InclusionProof(t.Context(), tlog.Tree{Size: size}, 5, 600, tl.tree.LeafHash(5)); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Errorf("InclusionProof at a size the log published no tiles for = %v, want an error other than os.ErrNotExist", err)
	}
	if ds, err := l.Digests(tlog.Entry{Data: tl.entries[0].leaf}); ds != nil || err != nil {
		t.Errorf("Digests = %q, %v; want nil, nil", ds, err)
	}
}

// TestInclusionProofStack proves leaves of the stack's static-ct log
// (tesseract) from its tiles at sizes up to its checkpoint's (an earlier
// checkpoint's among them), and checks the entries' times against their
// leaves decoded by certificate-transparency-go, and against the SCT of a
// certificate logged for the test.
func TestInclusionProofStack(t *testing.T) {
	env := testenv.Stack(t)
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(tlog.Options{URL: env.Get(t, "STATIC_CT_READ_URL"), Origin: env.Get(t, "STATIC_CT_ORIGIN"), Client: c})
	if err != nil {
		t.Fatal(err)
	}
	key := tlogtest.PublicKey(t, env.Get(t, "STATIC_CT_PUBKEY"))
	before, _ := tlogtest.Verified(t, l, key)

	// Log a certificate (tesseract answers once a checkpoint covers it).
	dir := filepath.Join(env.Get(t, "STACK_DIR"), "testca")
	ca, err := identitytest.LoadTestCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.IssueChain(signer.Public(), "ci@example.com", "https://issuer.example", identitytest.Extensions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	sct, err := stack.AddCTChain(t.Context(), env.Get(t, "STATIC_CT_WRITE_URL"), chain, false)
	if err != nil {
		t.Fatal(err)
	}
	added, ok := stack.StaticCTLeafIndex(sct)
	if !ok {
		t.Fatal("the SCT has no leaf_index")
	}

	tree, root := tlogtest.Verified(t, l, key)
	check := func(t *testing.T, e tlog.Entry) {
		t.Helper()
		leaf, err := ctleaf.DecodeLeaf(e.Data)
		if err != nil {
			t.Fatalf("entry %d: %v", e.Index, err)
		}
		ms := leaf.TimestampedEntry.Timestamp
		if want := time.UnixMilli(int64(ms)).UTC(); !e.Time.Equal(want) || e.Time.Location() != time.UTC || e.Time.Year() < 2020 {
			t.Errorf("entry %d: Time = %v, want the leaf's timestamp %v", e.Index, e.Time, want)
		}
		if ds, err := l.Digests(e); ds != nil || err != nil {
			t.Errorf("Digests(entry %d) = %q, %v; want nil, nil", e.Index, ds, err)
		}
	}
	tlogtest.CheckInclusion(t, l, tree, root, tlogtest.TileSizes(tree.Size, before.Size), check)

	e := tlogtest.ProveEntry(t, l, tree, root, uint64(added))
	check(t, e)
	if want := time.UnixMilli(int64(sct.Timestamp)).UTC(); !e.Time.Equal(want) {
		t.Errorf("the added entry's Time = %v, want its SCT's timestamp %v", e.Time, want)
	}
}
