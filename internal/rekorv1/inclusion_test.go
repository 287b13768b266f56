package rekorv1

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/tlog/tlogtest"
)

func newTree(n int) *testonly.Tree {
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		tree.AppendData([]byte(fmt.Sprintf("leaf %d", i)))
	}
	return tree
}

// TestPathAt derives, for every leaf of every tree up to 70 leaves, its
// audit path from the path in a larger tree (the tree itself, one a few
// leaves larger, the largest) and the consistency proof, and verifies it
// against the tree's root.
func TestPathAt(t *testing.T) {
	const n = 70
	tree := newTree(n)
	h := rfc6962.DefaultHasher
	for size := uint64(1); size <= n; size++ {
		for index := range size {
			m := index + 1
			var cons [][]byte
			if m < size {
				var err error
				if cons, err = tree.ConsistencyProof(m, size); err != nil {
					t.Fatal(err)
				}
			}
			for _, cur := range []uint64{size, min(size+3, n), n} {
				p, err := tree.InclusionProof(index, cur)
				if err != nil {
					t.Fatal(err)
				}
				left, err := tlog.LeftSiblings(index, cur, p)
				if err != nil {
					t.Fatal(err)
				}
				path, err := pathAt(index, size, left, cons)
				if err != nil {
					t.Fatalf("pathAt(%d, %d) from tree %d: %v", index, size, cur, err)
				}
				if err := proof.VerifyInclusion(h, index, size, tree.LeafHash(index), path, tree.HashAt(size)); err != nil {
					t.Fatalf("pathAt(%d, %d) from tree %d does not verify: %v", index, size, cur, err)
				}
			}
		}
	}
	// Malformed inputs are errors, not panics or short paths.
	left := func(index, cur uint64) [][]byte {
		p, _ := tree.InclusionProof(index, cur)
		l, err := tlog.LeftSiblings(index, cur, p)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	cons, _ := tree.ConsistencyProof(6, 20)
	for _, tc := range []struct {
		name        string
		index, size uint64
		left, cons  [][]byte
	}{
		{"index past size", 5, 5, left(5, 6), nil},
		{"short compact range", 5, 20, left(5, 6)[1:], cons},
		{"empty consistency proof", 5, 20, left(5, 6), nil},
		{"short consistency proof", 5, 20, left(5, 6), cons[:len(cons)-1]},
		{"long consistency proof", 5, 20, left(5, 6), append(cons, cons[0])},
	} {
		if p, err := pathAt(tc.index, tc.size, tc.left, tc.cons); err == nil {
			t.Errorf("%s: pathAt = %d hashes, want an error", tc.name, len(p))
		}
	}
}

// fakeRekor serves GET /api/v1/log/entries?logIndex=N (with the inclusion
// proof at the current size) and GET /api/v1/log/proof from tree.
func fakeRekor(t *testing.T, tree *testonly.Tree, cur uint64, offset uint64) string {
	hexes := func(hs [][]byte) []string {
		var out []string
		for _, h := range hs {
			out = append(out, hex.EncodeToString(h))
		}
		return out
	}
	return serve(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		switch r.URL.Path {
		case "/api/v1/log/entries":
			v, err := strconv.ParseUint(q.Get("logIndex"), 10, 64)
			if err != nil || v < offset || v-offset >= cur {
				http.Error(w, `{"code":404,"message":"not found"}`, http.StatusNotFound)
				return
			}
			i := v - offset
			p, err := tree.InclusionProof(i, cur)
			if err != nil {
				t.Error(err)
			}
			json.NewEncoder(w).Encode(map[string]any{fmt.Sprintf("%064x", i): map[string]any{
				"body": base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("leaf %d", i))), "logIndex": v,
				"integratedTime": 1700000000 + i, "logID": "00",
				"verification": map[string]any{"inclusionProof": map[string]any{
					"logIndex": i, "treeSize": cur, "rootHash": hex.EncodeToString(tree.HashAt(cur)), "hashes": hexes(p)}}}})
		case "/api/v1/log/proof":
			first, err1 := strconv.ParseUint(q.Get("firstSize"), 10, 64)
			last, err2 := strconv.ParseUint(q.Get("lastSize"), 10, 64)
			if err1 != nil || err2 != nil || q.Get("treeID") != "7" || last > cur {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			p, err := tree.ConsistencyProof(first, last)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"hashes": hexes(p), "rootHash": hex.EncodeToString(tree.HashAt(last))})
		default:
			http.NotFound(w, r)
		}
	})
}

// TestInclusionProofDerived proves leaves of a tree at every size below
// the size the (fake) log serves its proofs at, and checks the errors.
func TestInclusionProofDerived(t *testing.T) {
	const n, offset = 40, 1000
	tree := newTree(n)
	l, err := New(tlog.Options{URL: fakeRekor(t, tree, n, offset), Client: newClient(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	tr := tlog.Tree{ID: "7", Size: n, Offset: offset}
	for size := uint64(1); size <= n; size++ {
		for _, index := range []uint64{0, size / 2, size - 1} {
			p, err := l.InclusionProof(t.Context(), tr, index, size, tree.LeafHash(index))
			if err != nil {
				t.Fatalf("InclusionProof(%d, %d): %v", index, size, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, tree.LeafHash(index), p, tree.HashAt(size)); err != nil {
				t.Fatalf("InclusionProof(%d, %d) does not verify: %v", index, size, err)
			}
		}
	}
	for _, tc := range []struct {
		name              string
		index, size       uint64
		leaf              []byte
		notExist, errText string
	}{
		{"another leaf", 3, 10, tree.LeafHash(4), "yes", "has leaf hash"},
		{"index past size", 10, 10, tree.LeafHash(9), "yes", ""},
		{"index past the log", n, n + 1, tree.LeafHash(0), "yes", ""},
		{"size past the log", 3, n + 1, tree.LeafHash(3), "", "serves it at tree size 40"},
	} {
		_, err := l.InclusionProof(t.Context(), tr, tc.index, tc.size, tc.leaf)
		if err == nil || errors.Is(err, os.ErrNotExist) != (tc.notExist != "") || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s: InclusionProof = %v, want an error with %q (os.ErrNotExist: %v)", tc.name, err, tc.errText, tc.notExist != "")
		}
	}
}

func TestParseRetrieveTime(t *testing.T) {
	for _, tc := range []struct {
		name, at string
		want     time.Time
		err      string
	}{
		{"seconds", `,"integratedTime":1700000001`, time.Unix(1700000001, 0).UTC(), ""},
		{"absent", ``, time.Time{}, ""},
		{"string", `,"integratedTime":"1700000001"`, time.Time{}, "want a number"},
		{"before 1970", `,"integratedTime":-5`, time.Unix(-5, 0).UTC(), ""},
		{"too large", `,"integratedTime":9223372036854775808`, time.Time{}, "not a time"},
		{"fraction", `,"integratedTime":1.5`, time.Time{}, "not a time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := `[{"u1":{"logIndex":5,"body":"AA=="` + tc.at + `}}]`
			es, err := parseRetrieve([]byte(raw), 0, 5, 1)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseRetrieve = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !es[0].Time.Equal(tc.want) || es[0].Time.Location() != time.UTC {
				t.Errorf("Time = %v, want %v (UTC)", es[0].Time, tc.want)
			}
		})
	}
}

// TestInclusionProofStack proves leaves of the stack's Rekor v1 at sizes
// below its current one (derived paths) and at it (the log's own), and
// checks entries' times and digests, among them an entry added for the
// test with a known artifact.
func TestInclusionProofStack(t *testing.T) {
	env := testenv.Stack(t)
	url := env.Get(t, "REKOR_URL")
	signer, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := identitytest.PublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	artifact := identitytest.Artifact()
	start := time.Now().Add(-time.Minute)
	idx, err := stack.AddV1HashedRekord(t.Context(), url, signer, pubPEM, artifact)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(tlog.Options{URL: url, Origin: env.Get(t, "REKOR_HOSTNAME"), Client: newClient(t, 0)})
	if err != nil {
		t.Fatal(err)
	}
	tree, root := tlogtest.Verified(t, l, tlogtest.PublicKey(t, env.Get(t, "REKOR_PUBKEY")))
	if uint64(idx) < tree.Offset || uint64(idx)-tree.Offset >= tree.Size {
		t.Fatalf("added entry %d is not in the verified tree (offset %d, size %d)", idx, tree.Offset, tree.Size)
	}
	added := uint64(idx) - tree.Offset
	sum := sha256.Sum256(artifact)
	check := func(t *testing.T, e tlog.Entry) {
		t.Helper()
		if e.Time.IsZero() || e.Time.Location() != time.UTC || e.Time.Year() < 2020 || e.Time.After(time.Now().Add(time.Hour)) {
			t.Errorf("entry %d: Time = %v, want its integratedTime in UTC", e.Index, e.Time)
		}
		// The same entry through the API's models (GET by index).
		e2, _, _, err := l.EntryAndProof(t.Context(), tree.Offset, e.Index)
		if err != nil {
			t.Fatal(err)
		}
		if !e2.Time.Equal(e.Time) || string(e2.Data) != string(e.Data) {
			t.Errorf("entry %d: Time %v from retrieve, %v from GET by index", e.Index, e.Time, e2.Time)
		}
		if _, err := l.Digests(e); err != nil {
			t.Errorf("Digests(entry %d): %v", e.Index, err)
		}
	}
	tlogtest.CheckInclusion(t, l, tree, root, tlogtest.Sizes(tree.Size), check)

	e := tlogtest.ProveEntry(t, l, tree, root, added)
	check(t, e)
	if ds, want := fmt.Sprint(l.Digests(e)), fmt.Sprintf("[sha256:%x] <nil>", sum); ds != want {
		t.Errorf("Digests(the added entry) = %s, want %s", ds, want)
	}
	if e.Time.Before(start) || e.Time.After(time.Now()) {
		t.Errorf("the added entry's Time %v is not the time it was added (after %v)", e.Time, start)
	}
}
