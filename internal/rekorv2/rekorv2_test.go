package rekorv2

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

func TestParseBundle(t *testing.T) {
	bundle := func(n int) []byte {
		var b []byte
		for i := range n {
			b = binary.BigEndian.AppendUint16(b, 1)
			b = append(b, byte(i))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		ri   layout.RangeInfo
		err  string
	}{
		{"full", bundle(256), layout.RangeInfo{Index: 1, First: 10, N: 5}, ""},
		{"partial", bundle(20), layout.RangeInfo{Index: 1, First: 10, N: 10, Partial: 20}, ""},
		{"too short", bundle(19), layout.RangeInfo{Index: 1, First: 10, N: 10, Partial: 20}, "has 19 entries"},
		{"too many", bundle(257), layout.RangeInfo{Index: 1, First: 10, N: 5}, "more than 256"},
		{"dangling", append(bundle(20), 0), layout.RangeInfo{Index: 1, First: 0, N: 5}, "dangling"},
		{"cut", append(bundle(20), 0, 9), layout.RangeInfo{Index: 1, First: 0, N: 5}, "needs 9 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, err := parseBundle(tc.raw, tc.ri)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseBundle = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range es {
				want := uint64(256 + tc.ri.First + uint(i))
				if e.Index != want || len(e.Data) != 1 || e.Data[0] != byte(want-256) || cap(e.Data) != 1 {
					t.Errorf("entry %d = {%d %x cap %d}, want {%d %x cap 1}", i, e.Index, e.Data, cap(e.Data), want, byte(want-256))
				}
			}
		})
	}
}
