package rekorv2

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/tlog/tlogtest"
)

// TestInclusionProofStack proves leaves of the stack's Rekor v2 from its
// tiles at sizes up to its checkpoint's (an earlier checkpoint's among
// them), and checks the entries' digests, among them an entry added for
// the test with a known artifact.
func TestInclusionProofStack(t *testing.T) {
	env := testenv.Stack(t)
	signer, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := identitytest.PublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(tlog.Options{URL: env.Get(t, "REKOR_V2_READ_URL"), Origin: env.Get(t, "REKOR_V2_ORIGIN"), Client: c})
	if err != nil {
		t.Fatal(err)
	}
	key := tlogtest.PublicKey(t, env.Get(t, "REKOR_V2_PUBKEY"))
	before, _ := tlogtest.Verified(t, l, key)
	artifact := identitytest.Artifact()
	idx, err := stack.AddV2HashedRekord(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), signer, pubPEM, artifact)
	if err != nil {
		t.Fatal(err)
	}
	tree, root := tlogtest.Verified(t, l, key)
	added := uint64(idx)
	if added >= tree.Size {
		t.Fatalf("added entry %d is not in the verified tree of size %d", added, tree.Size)
	}
	sum := sha256.Sum256(artifact)
	check := func(t *testing.T, e tlog.Entry) {
		t.Helper()
		if !e.Time.IsZero() {
			t.Errorf("entry %d: Time = %v, want none (Rekor v2 entries carry no time)", e.Index, e.Time)
		}
		if ds, err := l.Digests(e); err != nil || len(ds) != 1 {
			t.Errorf("Digests(entry %d) = %q, %v; want one digest", e.Index, ds, err)
		}
	}
	e := tlogtest.ProveEntry(t, l, tree, root, added)
	check(t, e)
	if ds, want := fmt.Sprint(l.Digests(e)), fmt.Sprintf("[sha256:%x] <nil>", sum); ds != want {
		t.Errorf("Digests(the added entry) = %s, want %s", ds, want)
	}
	tlogtest.CheckInclusion(t, l, tree, root, tlogtest.TileSizes(tree.Size, before.Size), check)
}
