package monitor

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// TestKeysFor: every key of the log's base URL valid now, newest first, and
// the ended ones apart; keys of other logs and keys not valid yet are in
// neither.
func TestKeysFor(t *testing.T) {
	now := time.Now()
	key := func() crypto.PublicKey {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	}
	oldest, old, current, next, other := key(), key(), key(), key(), key()
	h := func(d int) time.Time { return now.Add(time.Duration(d) * time.Hour) }
	tl := func(url string, k crypto.PublicKey, start, end time.Time) *root.TransparencyLog {
		return &root.TransparencyLog{BaseURL: url, PublicKey: k, ValidityPeriodStart: start, ValidityPeriodEnd: end}
	}
	trust := trustedLogs{
		"a": tl("https://rekor.example", oldest, h(-30), h(-20)),
		"b": tl("https://rekor.example/", old, h(-20), h(1)), // overlap: still valid
		"c": tl("https://rekor.example", current, h(-1), time.Time{}),
		"d": tl("https://rekor.example", next, h(5), time.Time{}), // not yet
		"e": tl("https://other.example", other, h(-30), time.Time{}),
	}
	keys, ended, err := trust.keysFor("https://rekor.example", "rekor.example", now)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b []crypto.PublicKey) bool {
		return slices.EqualFunc(a, b, func(x, y crypto.PublicKey) bool { return x.(ed25519.PublicKey).Equal(y) })
	}
	if !same(keys, []crypto.PublicKey{current, old}) {
		t.Errorf("keysFor() keys = %d keys, want [current old]", len(keys))
	}
	if !same(ended, []crypto.PublicKey{oldest}) {
		t.Errorf("keysFor() ended = %d keys, want [oldest]", len(ended))
	}
}
