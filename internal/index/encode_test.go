package index

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestDataRoundTrip(t *testing.T) {
	commit := []byte(strings.Repeat("0123456789abcdef", 2) + "01234567")
	for _, d := range []*entryData{
		{},
		{digests: []digest{{1, bytes.Repeat([]byte{1}, 32)}, {3, bytes.Repeat([]byte{3}, 64)}}},
		{signers: []signer{{principal: 7, key: []byte{1, 2, 3, 4}}}},
		{
			digests: []digest{{4, bytes.Repeat([]byte{4}, 20)}},
			signers: []signer{
				{principal: 1 << 40, cert: bytes.Repeat([]byte{9}, 32), key: bytes.Repeat([]byte{8}, 32), vols: []vol{
					{10, commit},                     // hex: packed
					{11, commit},                     // repeated: a reference
					{12, []byte("https://x/runs/1")}, // raw
					{13, []byte("ABCDEF0123")},       // upper-case hex: raw
					{14, []byte("abc")},              // too short to pack
					{15, []byte("abcde")},            // odd
					{16, nil},                        // empty
				}},
				{},
			},
		},
	} {
		b := encodeData(d)
		got, err := decodeData(b)
		if err != nil {
			t.Fatalf("decodeData(encodeData(%+v)): %v", d, err)
		}
		if diff := cmp.Diff(d, got, cmp.AllowUnexported(entryData{}, digest{}, signer{}, vol{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		if !bytes.Equal(encodeData(got), b) {
			t.Errorf("encoding is not canonical for %+v", d)
		}
	}
}

func TestDataPacked(t *testing.T) {
	commit := []byte(strings.Repeat("0123456789", 4))
	d := &entryData{signers: []signer{{vols: []vol{{1, commit}, {2, commit}, {3, commit}}}}}
	// 1 (no digests) + 1 (one signer) + 3 (principal, cert, key lengths) + 1
	// (count) + 2+20 (packed) + 2 + 2 (references).
	if got, want := len(encodeData(d)), 32; got != want {
		t.Errorf("three copies of a commit digest take %d bytes, want %d", got, want)
	}
}

func FuzzDecodeData(f *testing.F) {
	f.Add(encodeData(&entryData{}))
	f.Add(encodeData(&entryData{
		digests: []digest{{1, bytes.Repeat([]byte{1}, 32)}},
		signers: []signer{{principal: 3, cert: []byte("cert"), key: []byte("key!"), vols: []vol{{5, []byte("0011223344")}, {6, []byte("0011223344")}}}},
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeData(b)
		if err != nil {
			return
		}
		// What decodes, re-encodes to something that decodes the same.
		d2, err := decodeData(encodeData(d))
		if err != nil {
			t.Fatalf("re-encoding %x: %v", b, err)
		}
		if diff := cmp.Diff(d, d2, cmp.AllowUnexported(entryData{}, digest{}, signer{}, vol{}), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("re-encoding %x (-first +second):\n%s", b, diff)
		}
	})
}

func TestCursor(t *testing.T) {
	tag := [4]byte{1, 2, 3, 4}
	for _, p := range []pos{{1, 0}, {7, 123456789}, startPos} {
		c := encodeCursor(p, tag)
		got, err := decodeCursor(c, tag)
		if err != nil || got != p {
			t.Errorf("decodeCursor(encodeCursor(%v)) = %v, %v", p, got, err)
		}
		if _, err := decodeCursor(c, [4]byte{}); err == nil {
			t.Errorf("cursor %q taken by another query", c)
		}
	}
}

func TestParseDigest(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tt := range []struct {
		in     string
		strict bool
		code   byte
		bad    bool
	}{
		{"sha256:" + h, true, 1, false},
		{"SHA256:" + strings.ToUpper(h), true, 1, false},
		{h, true, 1, false},
		{h, false, 0, false},
		{strings.Repeat("ab", 48), true, 2, false},
		{"sha512:" + h, true, 0, true},
		{"md5:" + strings.Repeat("ab", 16), true, 0, true},
		{strings.Repeat("ab", 16), true, 0, true},
		{"sha256:", true, 0, true},
		{"sha256:zz", true, 0, true},
	} {
		d, err := parseDigest(tt.in, tt.strict)
		if (err != nil) != tt.bad || (err == nil && d.code != tt.code) {
			t.Errorf("parseDigest(%q, %v) = %v, %v", tt.in, tt.strict, d, err)
		}
	}
}
