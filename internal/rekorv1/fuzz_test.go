package rekorv1

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
)

// FuzzParseLogInfo: a GET /api/v1/log answer decodes to a consistent head
// or to an error, never a panic.
func FuzzParseLogInfo(f *testing.F) {
	const note = "rekor.local - 1\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— rekor.local abc=\n"
	root := strings.Repeat("00", 32)
	f.Add([]byte(`{"treeID":"1","treeSize":2,"rootHash":"` + root + `","signedTreeHead":` + jsonString(note) + `}`))
	f.Add([]byte(`{"treeID":"2","treeSize":2,"rootHash":"` + root + `","signedTreeHead":` + jsonString(note) +
		`,"inactiveShards":[{"treeID":"1","treeSize":1,"rootHash":"` + root + `","signedTreeHead":` + jsonString(note) + `},null]}`))
	f.Add([]byte(`{"treeID":"x","treeSize":-1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		h, err := parseLogInfo(body)
		if err != nil {
			if h != nil {
				t.Fatalf("parseLogInfo returned a head with error %v", err)
			}
			return
		}
		if h.TreeID == "" || len(h.Note) == 0 || !h.HasClaims {
			t.Fatalf("parseLogInfo(%q) = %+v: incomplete head", body, h)
		}
		for _, s := range h.Inactive {
			if s.TreeID == "" || len(s.Note) == 0 {
				t.Fatalf("parseLogInfo(%q): incomplete shard %+v", body, s)
			}
		}
	})
}

// FuzzParseRetrieve: an entries/retrieve answer decodes to exactly the
// entries asked for, in order, with their leaf hashes, or to an error.
func FuzzParseRetrieve(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	f.Add([]byte(`[{"24296fb24b8ad77a2a1b22e8f8a1e9c8b7d1c2b3a4f5e6d7c8b9a0f1e2d3c4b5a6":{"body":"`+b64(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`)+
		`","integratedTime":1700000000,"logID":"c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d","logIndex":7,`+
		`"verification":{"inclusionProof":{"checkpoint":"x","hashes":["aa"],"logIndex":7,"rootHash":"bb","treeSize":9},"signedEntryTimestamp":"AAAA"}}}]`), uint64(7), uint8(1))
	f.Add([]byte(`[{"a":{"logIndex":3,"body":"`+b64("three")+`"},"b":{"logIndex":4,"body":"\u0041\u0041\u003d\u003d"}}]`), uint64(3), uint8(2))
	f.Add([]byte(`[{"a":{"logIndex":3,"body":"AA==AAAA"}}]`), uint64(3), uint8(1))
	f.Add([]byte(`[{"a":{"logIndex":3,"logIndex":3,"body":""}}]`), uint64(3), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, first uint64, n uint8) {
		first %= 1 << 40
		in := bytes.Clone(raw)
		es, err := parseRetrieve(in, 100, first, int(n))
		if err != nil {
			if es != nil {
				t.Fatalf("parseRetrieve returned entries with error %v", err)
			}
			return
		}
		if len(es) != int(n) {
			t.Fatalf("parseRetrieve returned %d entries, want %d", len(es), n)
		}
		for i, e := range es {
			if e.Index != first+uint64(i) || e.LogIndex != 100+first+uint64(i) {
				t.Fatalf("entry %d has index %d, log index %d", i, e.Index, e.LogIndex)
			}
			if !bytes.Equal(e.LeafHash, rfc6962.DefaultHasher.HashLeaf(e.Data)) {
				t.Fatalf("entry %d: leaf hash does not match its data", i)
			}
		}
	})
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '\n':
			b.WriteString(`\n`)
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
