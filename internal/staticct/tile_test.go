package staticct

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

// tileOf concatenates the TileLeafs of es.
func tileOf(es []testEntry) []byte {
	var b []byte
	for _, e := range es {
		b = append(b, e.tileLeaf...)
	}
	return b
}

func TestParseDataTile(t *testing.T) {
	ca := newTestCA(t)
	var es []testEntry
	for i := range 257 {
		es = append(es, ca.makeEntry(t, uint64(i), i%2 == 1, ca.inter))
	}
	noChain := ca.makeEntry(t, 0, false)
	for _, tc := range []struct {
		name string
		raw  []byte
		ri   layout.RangeInfo
		err  string
	}{
		{"full", tileOf(es[:256]), layout.RangeInfo{Index: 1, First: 10, N: 5}, ""},
		{"all", tileOf(es[:256]), layout.RangeInfo{Index: 1, First: 0, N: 256}, ""},
		{"partial", tileOf(es[:20]), layout.RangeInfo{Index: 1, First: 10, N: 10, Partial: 20}, ""},
		{"empty chain", noChain.tileLeaf, layout.RangeInfo{Index: 1, N: 1, Partial: 1}, ""},
		{"too short", tileOf(es[:19]), layout.RangeInfo{Index: 1, First: 10, N: 10, Partial: 20}, "has 19 entries"},
		{"too many", tileOf(es), layout.RangeInfo{Index: 1, First: 10, N: 5}, "more than 256"},
		{"dangling", append(tileOf(es[:20]), 0), layout.RangeInfo{Index: 1, N: 5}, "entry 20 at offset"},
		{"bad range", tileOf(es[:20]), layout.RangeInfo{Index: 1, First: 250, N: 10}, "asked for 10 entries from 250"},
		{"odd chain", append(es[0].tileLeaf[:len(es[0].tileLeaf)-34:len(es[0].tileLeaf)-34], 0, 1, 0), layout.RangeInfo{Index: 1, N: 1}, "not a list of 32-byte fingerprints"},
		{"cut precert", es[1].tileLeaf[:len(es[1].tileLeaf)-40], layout.RangeInfo{Index: 1, N: 1}, "pre_certificate"},
		{"cut hash", es[1].tileLeaf[:20], layout.RangeInfo{Index: 1, N: 1}, "issuer_key_hash"},
		{"cut cert", es[0].tileLeaf[:20], layout.RangeInfo{Index: 1, N: 1}, "certificate:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDataTile(tc.raw, tc.ri)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseDataTile = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != int(tc.ri.N) {
				t.Fatalf("got %d entries, want %d", len(got), tc.ri.N)
			}
			for i, e := range got {
				idx := 256 + uint64(tc.ri.First) + uint64(i)
				want := noChain
				if tc.name != "empty chain" {
					want = es[idx-256]
				}
				if e.Index != idx || !bytes.Equal(e.Data, want.leaf) || !bytes.Equal(e.Extra, want.extra) ||
					cap(e.Data) != len(e.Data) || cap(e.Extra) != len(e.Extra) {
					t.Fatalf("entry %d: index %d, Data %x (cap %d), Extra %x (cap %d)", i, e.Index, e.Data, cap(e.Data), e.Extra, cap(e.Extra))
				}
			}
		})
	}
}

func TestSplitExtra(t *testing.T) {
	ca := newTestCA(t)
	x := ca.makeEntry(t, 1, false, ca.inter, ca.root)
	p := ca.makeEntry(t, 2, true, ca.inter)
	pre, fps, err := SplitExtra(x.leaf, x.extra)
	if err != nil || pre != nil || len(fps) != 2 || !bytes.Equal(fps[0][:], sha(ca.inter.Raw)) || !bytes.Equal(fps[1][:], sha(ca.root.Raw)) {
		t.Errorf("SplitExtra(x509) = %x, %x, %v", pre, fps, err)
	}
	pre, fps, err = SplitExtra(p.leaf, p.extra)
	if err != nil || !bytes.Equal(pre, ca.precert.Raw) || len(fps) != 1 || !bytes.Equal(fps[0][:], sha(ca.inter.Raw)) {
		t.Errorf("SplitExtra(precert) = %x, %x, %v", pre, fps, err)
	}
	bad := bytes.Clone(x.leaf)
	binary.BigEndian.PutUint16(bad[10:], 2)
	for name, c := range map[string][2][]byte{
		"empty":        {x.leaf, nil},
		"x509 as pre":  {p.leaf, x.extra},
		"pre as x509":  {x.leaf, p.extra},
		"entry type":   {bad, x.extra},
		"leaf version": {append([]byte{1}, x.leaf[1:]...), x.extra},
		"short leaf":   {x.leaf[:11], x.extra},
	} {
		if _, _, err := SplitExtra(c[0], c[1]); err == nil {
			t.Errorf("%s: SplitExtra succeeded", name)
		}
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
