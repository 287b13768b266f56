package staticct

import (
	"bytes"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
)

// FuzzParseDataTile: a data tile yields exactly the entries a range asks
// for, each a MerkleTreeLeaf whose leaf hash is set and whose Extra
// SplitExtra reads, with no more memory than the tile and two bytes an
// entry; or an error.
func FuzzParseDataTile(f *testing.F) {
	ca := newTestCA(f)
	var es []testEntry
	for i := range 6 {
		es = append(es, ca.makeEntry(f, uint64(i), i%2 == 1, ca.inter, ca.root))
	}
	full := tileOf(es)
	f.Add(full, uint8(0), uint8(6))
	f.Add(full, uint8(2), uint8(3))
	f.Add(full[:len(full)-3], uint8(0), uint8(6))
	f.Add(es[1].tileLeaf, uint8(0), uint8(1))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff}, uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, first, n uint8) {
		ri := layout.RangeInfo{Index: 7, First: uint(first), N: uint(n)}
		got, err := parseDataTile(raw, ri)
		if err != nil {
			return
		}
		if len(got) != int(n) {
			t.Fatalf("parseDataTile returned %d entries, want %d", len(got), n)
		}
		total := 0
		for i, e := range got {
			if e.Index != 7*256+uint64(first)+uint64(i) || e.LogIndex != e.Index {
				t.Fatalf("entry %d: index %d, log index %d", i, e.Index, e.LogIndex)
			}
			if len(e.Data) < 12 || e.Data[0] != 0 || e.Data[1] != 0 || len(e.Data) != cap(e.Data) || len(e.Extra) != cap(e.Extra) {
				t.Fatalf("entry %d: Data %x (cap %d), Extra cap %d", i, e.Data, cap(e.Data), cap(e.Extra))
			}
			if !bytes.Equal(e.LeafHash, rfc6962.DefaultHasher.HashLeaf(e.Data)) {
				t.Fatalf("entry %d: wrong leaf hash", i)
			}
			if _, _, err := SplitExtra(e.Data, e.Extra); err != nil {
				t.Fatalf("entry %d: SplitExtra: %v", i, err)
			}
			if !bytes.Contains(raw, append(bytes.Clone(e.Data[2:]), e.Extra...)) {
				t.Fatalf("entry %d is not a TileLeaf of the tile", i)
			}
			total += len(e.Data) + len(e.Extra)
		}
		if total > len(raw)+2*len(got) {
			t.Fatalf("entries hold %d bytes of a %d-byte tile", total, len(raw))
		}
	})
}

// FuzzSplitExtra: SplitExtra never panics, and what it returns is within
// its input.
func FuzzSplitExtra(f *testing.F) {
	ca := newTestCA(f)
	for _, e := range []testEntry{ca.makeEntry(f, 1, false, ca.inter), ca.makeEntry(f, 2, true, ca.inter, ca.root)} {
		f.Add(e.leaf[:12], e.extra)
	}
	f.Fuzz(func(t *testing.T, data, extra []byte) {
		pre, fps, err := SplitExtra(data, extra)
		if err != nil {
			return
		}
		if len(pre)+32*len(fps) > len(extra) {
			t.Fatalf("SplitExtra returned %d+%d*32 bytes of %d", len(pre), len(fps), len(extra))
		}
	})
}
