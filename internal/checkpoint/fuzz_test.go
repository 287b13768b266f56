package checkpoint_test

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
)

// FuzzParse checks that Parse never panics, classifies every failure as a
// FormatError or an IntegrityError, and accepts only notes that verify under
// the log's key for the expected origin. The seeds are valid checkpoints of
// both kinds (fixed keys, so the corpus stays valid between runs) and the
// malformed notes of TestParse.
func FuzzParse(f *testing.F) {
	v1 := newRekorV1Log(f, v1Host, v1TreeID, testECDSAKey(f))
	v1.grow(5)
	v2 := newRekorV2Log(f, v2Origin, ed25519Seed)
	v2.grow(5)
	for _, l := range []*testLog{v1, v2} {
		f.Add(l.note(0), l == v1)
		f.Add(l.note(5), l == v1)
		f.Add(l.note(5, "Timestamp: 1700000000123456789"), l == v1)
		f.Add(l.sign(fmt.Sprintf("%s\n5\nAAAA\n", l.origin)), l == v1)
		f.Add(l.sign(fmt.Sprintf("%s\n-1\n%s", l.origin, "x\n")), l == v1)
		f.Add([]byte(l.text(5)), l == v1)
	}
	f.Add([]byte("not a note"), true)
	f.Add([]byte{}, false)

	f.Fuzz(func(t *testing.T, raw []byte, useV1 bool) {
		l := v2
		if useV1 {
			l = v1
		}
		in := slices.Clone(raw)
		c, err := checkpoint.Parse(raw, l.origin, l.verifier)
		if !bytes.Equal(in, raw) {
			t.Fatalf("Parse modified its input")
		}
		if err != nil {
			var ie *checkpoint.IntegrityError
			var fe *checkpoint.FormatError
			switch {
			case errors.As(err, &ie):
				if !bytes.Equal(ie.New, raw) || ie.Old != nil || ie.Proof != nil {
					t.Fatalf("Parse(%q) evidence = %+v, want New = input only", raw, ie)
				}
				if !slices.Contains(checkpoint.Reasons, ie.Reason) {
					t.Fatalf("Parse(%q) reason %q not in Reasons", raw, ie.Reason)
				}
			case errors.As(err, &fe):
			default:
				t.Fatalf("Parse(%q) = %v (%T), want *IntegrityError or *FormatError", raw, err, err)
			}
			if c != nil {
				t.Fatalf("Parse(%q) = %v and error %v", raw, c, err)
			}
			return
		}
		// Accepted: it must verify under the key, for the expected origin,
		// and parse again to the same checkpoint.
		n, err := note.Open(raw, note.VerifierList(l.verifier))
		if err != nil {
			t.Fatalf("Parse accepted %q, which note.Open rejects: %v", raw, err)
		}
		if !bytes.HasPrefix([]byte(n.Text), fmt.Appendf(nil, "%s\n%d\n", l.origin, c.Size)) {
			t.Fatalf("Parse(%q) = %v, which the signed text %q does not say", raw, c, n.Text)
		}
		if c.Origin != l.origin || len(c.Hash) != 32 || !bytes.Equal(c.Raw, raw) {
			t.Fatalf("Parse(%q) = %+v", raw, c)
		}
		again, err := checkpoint.Parse(c.Raw, l.origin, l.verifier)
		if err != nil || again.Size != c.Size || !bytes.Equal(again.Hash, c.Hash) || !again.Timestamp.Equal(c.Timestamp) {
			t.Fatalf("Parse(Parse(%q).Raw) = %v, %v, want %v", raw, again, err, c)
		}
	})
}

// FuzzCheckConsistency feeds CheckConsistency arbitrary proofs between
// checkpoints of a real 70-entry tree. It must never panic, must report
// failures as an IntegrityError with the evidence, and may accept only the
// log's own proof (byte for byte, however the fuzzer splits it into hashes)
// between the log's true roots.
func FuzzCheckConsistency(f *testing.F) {
	const n = 70
	l := newRekorV2Log(f, v2Origin, ed25519Seed)
	l.grow(n)
	for _, s := range [][2]uint16{{0, 5}, {1, 2}, {3, 7}, {4, 8}, {13, 37}, {32, 70}, {69, 70}, {10, 10}, {20, 10}} {
		var p [][]byte
		if s[0] <= s[1] {
			p = l.proof(uint64(s[0]), uint64(s[1]))
		}
		f.Add(s[0], s[1], bytes.Join(p, nil), []byte{}, uint8(0))
		f.Add(s[0], s[1], bytes.Join(p, nil), []byte{31, 33}, uint8(0))
		f.Add(s[0], s[1], bytes.Join(p, nil), []byte{}, uint8(1))
	}

	f.Fuzz(func(t *testing.T, s1, s2 uint16, proofBytes, lens []byte, mutate uint8) {
		size1, size2 := uint64(s1)%(n+1), uint64(s2)%(n+1)
		older := &checkpoint.Checkpoint{Origin: v2Origin, Size: size1, Hash: slices.Clone(l.tree.HashAt(size1)), Raw: []byte("older")}
		newer := &checkpoint.Checkpoint{Origin: v2Origin, Size: size2, Hash: slices.Clone(l.tree.HashAt(size2)), Raw: []byte("newer")}
		if mutate&1 != 0 {
			older.Hash[0] ^= 1
		}
		if mutate&2 != 0 {
			newer.Hash[31] ^= 1
		}
		// Split the proof bytes into hashes: 32 bytes each, unless lens
		// says otherwise.
		var p [][]byte
		for i := 0; len(proofBytes) > 0 && i < 64; i++ {
			k := 32
			if i < len(lens) {
				k = int(lens[i]) % 40
			}
			k = min(k, len(proofBytes))
			p = append(p, proofBytes[:k])
			proofBytes = proofBytes[k:]
		}

		err := checkpoint.CheckConsistency(older, newer, p)
		if err != nil {
			var ie *checkpoint.IntegrityError
			if !errors.As(err, &ie) {
				t.Fatalf("CheckConsistency(%d, %d) = %v (%T), want *IntegrityError", size1, size2, err, err)
			}
			want := checkpoint.ReasonConsistency
			switch {
			case size2 < size1:
				want = checkpoint.ReasonRollback
			case size2 == size1:
				want = checkpoint.ReasonFork
			}
			if ie.Reason != want || string(ie.Old) != "older" || string(ie.New) != "newer" || len(ie.Proof) != len(p) {
				t.Fatalf("CheckConsistency(%d, %d) = %+v, want reason %s and the evidence", size1, size2, ie, want)
			}
			return
		}
		switch {
		case size2 < size1:
			t.Fatalf("CheckConsistency accepted a rollback from %d to %d", size1, size2)
		case size1 == size2:
			if !bytes.Equal(older.Hash, newer.Hash) {
				t.Fatalf("CheckConsistency accepted two roots for size %d", size1)
			}
		case size1 == 0:
			if len(p) != 0 {
				t.Fatalf("CheckConsistency accepted a non-empty proof from size 0: %x", p)
			}
		default:
			if mutate&3 != 0 {
				t.Fatalf("CheckConsistency(%d, %d) accepted a wrong root (mutate=%d)", size1, size2, mutate)
			}
			honest, perr := l.tree.ConsistencyProof(size1, size2)
			if perr != nil {
				t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, perr)
			}
			if len(p) != len(honest) || !bytes.Equal(bytes.Join(p, nil), bytes.Join(honest, nil)) {
				t.Fatalf("CheckConsistency(%d, %d) accepted %x, the log's proof is %x", size1, size2, p, honest)
			}
		}
	})
}
