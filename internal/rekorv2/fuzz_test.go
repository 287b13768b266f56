package rekorv2

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/transparency-dev/tessera/api/layout"
)

// FuzzParseBundle: an entry bundle yields exactly the entries a range asks
// for, or an error.
func FuzzParseBundle(f *testing.F) {
	var full []byte
	for i := range 256 {
		full = binary.BigEndian.AppendUint16(full, uint16(i%7))
		full = append(full, bytes.Repeat([]byte{byte(i)}, i%7)...)
	}
	f.Add(full, uint8(0), uint8(255))
	f.Add(full[:40], uint8(3), uint8(4))
	f.Add([]byte{0xff, 0xff, 1}, uint8(0), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, first, n uint8) {
		ri := layout.RangeInfo{Index: 3, First: uint(first), N: uint(n)}
		es, err := parseBundle(raw, ri)
		if err != nil {
			return
		}
		if len(es) != int(n) {
			t.Fatalf("parseBundle returned %d entries, want %d", len(es), n)
		}
		for i, e := range es {
			if e.Index != 3*256+uint64(first)+uint64(i) || len(e.Data) != cap(e.Data) {
				t.Fatalf("entry %d: index %d, len %d cap %d", i, e.Index, len(e.Data), cap(e.Data))
			}
		}
	})
}
