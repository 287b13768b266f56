package ctlog_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/ctlog"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/tlog/tlogtest"
)

func TestInclusionProof(t *testing.T) {
	const n = 20
	mem := newLog(t, n)
	s := newServer(t, mem)
	l := s.open(t)
	tree := tlog.Tree{Size: n}
	for size := uint64(1); size <= n; size++ {
		for _, i := range []uint64{0, size / 2, size - 1} {
			p, err := l.InclusionProof(t.Context(), tree, i, size, mem.LeafHash(i))
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", i, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, size, mem.LeafHash(i), p, mem.Root(size)); err != nil {
				t.Errorf("InclusionProof(%d, %d) does not verify: %v", i, size, err)
			}
		}
	}
	if _, err := l.InclusionProof(t.Context(), tree, 3, 10, make([]byte, 32)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InclusionProof of an unknown leaf = %v, want os.ErrNotExist", err)
	}
	if _, err := l.InclusionProof(t.Context(), tree, 10, 10, mem.LeafHash(9)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("InclusionProof of index 10 in a tree of size 10 = %v, want os.ErrNotExist", err)
	}
	// The log places the leaf elsewhere (the caller's index is wrong, or
	// the leaf was logged twice), or answers a path of the wrong length
	// (for another tree size): errors, but no verdict that the leaf is
	// not there.
	path, err := mem.InclusionProof(4, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, answer, err string
	}{
		{"another index", fmt.Sprintf(`{"leaf_index":5,"audit_path":%s}`, jsonHashes(t, path)), "at index 5"},
		{"short path", fmt.Sprintf(`{"leaf_index":4,"audit_path":%s}`, jsonHashes(t, path[1:])), "audit path of 3 hashes, want 4"},
	} {
		s.set(func(s *server) { s.extra = map[string]string{prefix + "/ct/v1/get-proof-by-hash": tc.answer} })
		_, err := l.InclusionProof(t.Context(), tree, 4, 10, mem.LeafHash(4))
		if err == nil || errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: InclusionProof = %v, want an error with %q", tc.name, err, tc.err)
		}
	}
	if ds, err := l.Digests(tlog.Entry{Data: []byte("anything")}); ds != nil || err != nil {
		t.Errorf("Digests = %q, %v; want nil, nil", ds, err)
	}
}

func jsonHashes(t *testing.T, hs [][]byte) string {
	t.Helper()
	b, err := jsonMarshal(hs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestInclusionProofStack proves leaves of the stack's CT log (ct_server)
// with get-proof-by-hash at sizes up to its tree head's, and checks the
// entries' times against their leaves decoded by certificate-transparency-go.
func TestInclusionProofStack(t *testing.T) {
	env := testenv.Stack(t)
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ctlog.New(tlog.Options{URL: env.Get(t, "CT_URL"), Client: c})
	if err != nil {
		t.Fatal(err)
	}
	tree, root := tlogtest.Verified(t, l, tlogtest.PublicKey(t, env.Get(t, "CT_PUBKEY")))
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
	tlogtest.CheckInclusion(t, l, tree, root, tlogtest.Sizes(tree.Size), check)
}
