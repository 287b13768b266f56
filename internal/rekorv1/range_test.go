package rekorv1

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// TestLeftSiblings checks, for every leaf of trees up to 70 leaves, that the
// left siblings of its inclusion proof plus its leaf hash form the compact
// range [0, index+1): the range a Rekor v1 scan starts from.
func TestLeftSiblings(t *testing.T) {
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range 70 {
		tree.AppendData([]byte(fmt.Sprintf("leaf %d", i)))
	}
	for size := uint64(1); size <= 70; size++ {
		for index := uint64(0); index < size; index++ {
			path, err := tree.InclusionProof(index, size)
			if err != nil {
				t.Fatal(err)
			}
			left, err := tlog.LeftSiblings(index, size, path)
			if err != nil {
				t.Fatalf("tlog.LeftSiblings(%d, %d): %v", index, size, err)
			}
			r, err := rangeFactory.NewRange(0, index, left)
			if err != nil {
				t.Fatalf("index %d size %d: NewRange: %v", index, size, err)
			}
			if err := r.Append(tree.LeafHash(index), nil); err != nil {
				t.Fatal(err)
			}
			root, err := r.GetRootHash(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := tree.HashAt(index + 1); !bytes.Equal(root, want) {
				t.Fatalf("index %d size %d: range root %x, want %x", index, size, root, want)
			}
		}
	}
	if _, err := tlog.LeftSiblings(5, 8, make([][]byte, 2)); err == nil {
		t.Error("leftSiblings accepted a proof of the wrong length")
	}
	if _, err := tlog.LeftSiblings(8, 8, nil); err == nil {
		t.Error("leftSiblings accepted an index beyond the tree")
	}
}
