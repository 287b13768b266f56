package tlog

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/go-json-experiment/json/jsontext"
)

// Helpers the kinds that speak JSON and RFC 6962 proofs share (rekorv1,
// ctlog).

// ReadDelim reads the JSON delimiter want ('[', ']', '{' or '}').
func ReadDelim(dec *jsontext.Decoder, want jsontext.Kind) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != want {
		return fmt.Errorf("found a JSON %s where %s was due", tok.Kind(), want)
	}
	return nil
}

// DecodeBase64String decodes the standard base64 in the JSON string v (with
// its quotes), in place unless the string has escapes.
func DecodeBase64String(v jsontext.Value) ([]byte, error) {
	src := v[1 : len(v)-1]
	if bytes.IndexByte(src, '\\') >= 0 {
		s, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(string(s))
	}
	// A JSON string holds no raw newlines (which base64 decoding would
	// skip), so standard base64 is whole quanta with '=' only at the end,
	// and can be decoded chunk by chunk, each chunk written over bytes
	// already read.
	if len(src)%4 != 0 || bytes.IndexByte(src[:max(len(src)-4, 0)], '=') >= 0 {
		return nil, errors.New("not standard base64")
	}
	var tmp [3 * 1024]byte
	w := 0
	for r := 0; r < len(src); r += 4096 {
		n, err := base64.StdEncoding.Decode(tmp[:], src[r:min(r+4096, len(src))])
		if err != nil {
			return nil, fmt.Errorf("not standard base64: %w", err)
		}
		w += copy(src[w:], tmp[:n])
	}
	return src[:w:w], nil
}

// LeftSiblings picks, from the inclusion proof of leaf index in a tree of
// treeSize, the siblings left of the path, largest first.
func LeftSiblings(index, treeSize uint64, path [][]byte) ([][]byte, error) {
	if index >= treeSize {
		return nil, fmt.Errorf("inclusion proof for index %d in a tree of size %d", index, treeSize)
	}
	inner := bits.Len64(index ^ (treeSize - 1))
	if want := InclusionPathLen(index, treeSize); len(path) != want {
		return nil, fmt.Errorf("inclusion proof of leaf %d in tree %d has %d hashes, want %d", index, treeSize, len(path), want)
	}
	var left [][]byte
	for l := range inner {
		if index>>l&1 == 1 {
			left = append(left, path[l])
		}
	}
	left = append(left, path[inner:]...)
	slices.Reverse(left)
	return left, nil
}

// InclusionPathLen returns the number of hashes in the RFC 6962 audit path
// of leaf index in a tree of treeSize > index: one per level below the
// point where the leaf's path leaves the tree's right border, then one per
// perfect subtree of the border on the left.
func InclusionPathLen(index, treeSize uint64) int {
	inner := bits.Len64(index ^ (treeSize - 1))
	return inner + bits.OnesCount64(index>>inner)
}
