package ctlog

import (
	"bytes"
	"testing"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// FuzzParseEntries: a get-entries answer yields between one and n entries
// in sequence from first, each with its leaf, or an error; never a panic.
func FuzzParseEntries(f *testing.F) {
	f.Add([]byte(`{"entries":[{"leaf_input":"AAAA","extra_data":"AQID"},{"leaf_input":"AAE=","extra_data":""}]}`), uint8(2))
	f.Add([]byte(`{"entries":[{"leaf_input":"A\u0041AA"}],"other":[1,2]}`), uint8(1))
	f.Add([]byte(`{"entries":[{"leaf_input":"AAAA","leaf_input":"AAAA"}]}`), uint8(3))
	f.Add([]byte(`{"entries":[]}`), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, n uint8) {
		orig := bytes.Clone(raw)
		es, err := parseEntries(raw, 1000, uint64(n))
		if err != nil {
			return
		}
		if len(es) == 0 || len(es) > int(n) {
			t.Fatalf("parseEntries(%q, n=%d) returned %d entries", orig, n, len(es))
		}
		for i, e := range es {
			if e.Index != 1000+uint64(i) || e.LogIndex != e.Index {
				t.Fatalf("entry %d = %+v", i, e)
			}
			if len(e.Data) != cap(e.Data) {
				t.Fatalf("entry %d: data len %d cap %d", i, len(e.Data), cap(e.Data))
			}
		}
	})
}

// FuzzLeftSiblings: an audit path of any shape yields the left siblings or
// an error; never a panic.
func FuzzLeftSiblings(f *testing.F) {
	f.Add(uint64(5), uint64(8), uint8(3))
	f.Add(uint64(0), uint64(1), uint8(0))
	f.Add(uint64(9), uint64(3), uint8(2))
	f.Fuzz(func(t *testing.T, index, size uint64, n uint8) {
		path := make([][]byte, n)
		for i := range path {
			path[i] = make([]byte, 32)
		}
		_, _ = tlog.LeftSiblings(index, size, path)
	})
}
