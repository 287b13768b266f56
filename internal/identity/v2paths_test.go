package identity_test

import (
	"fmt"
	"testing"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// v2Summary is what the two Rekor v2 decoders must agree on.
func v2Summary(ids []identity.Identity) string {
	var s string
	for _, id := range ids {
		s += fmt.Sprintf("%s|%s|%v|%v|%s|%s|%s;", id.EntryKind, id.KeyType, id.Emails, id.URIs, id.Issuer, id.CertFingerprint, id.KeyFingerprint)
	}
	return s
}

func v2Fixtures(tb testing.TB) map[string][]byte {
	ca := identitytest.NewCA(tb, "v2")
	cert := ca.Issue(tb, identitytest.CertOptions{Emails: []string{"a@example.com"}})
	key := identitytest.NewKey(tb)
	return map[string][]byte{
		"hashedrekord/key":  identitytest.HashedRekordV2(tb, key, []byte("a")),
		"hashedrekord/cert": identitytest.HashedRekordV2(tb, cert, []byte("a")),
		"dsse/key":          identitytest.DSSEV2(tb, []byte("{}"), key),
		"dsse/two":          identitytest.DSSEV2(tb, []byte("{}"), cert, key),
	}
}

// TestParseV2FastMatchesProtojson: the JSON fast path takes every
// well-formed leaf and finds what the protojson path finds.
func TestParseV2FastMatchesProtojson(t *testing.T) {
	p := identity.NewParser(16)
	for name, leaf := range v2Fixtures(t) {
		fast, ok := p.ParseV2Fast(leaf)
		slow, err := p.ParseV2Proto(leaf)
		if !ok || err != nil {
			t.Fatalf("%s: fast path ok=%v, protojson err=%v; want both to parse", name, ok, err)
		}
		if a, b := v2Summary(fast), v2Summary(slow); a != b {
			t.Errorf("%s: fast path %s, protojson %s", name, a, b)
		}
	}
	for _, bad := range []string{
		`{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"signatures":[{}]}}}`,
		`{"apiVersion":"0.0.3","kind":"hashedrekord","spec":{}}`,
		`{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"signature":{"verifier":{"publicKey":{"rawBytes":"AAAA"}}}}}}`,
		`not json`,
	} {
		if _, ok := p.ParseV2Fast([]byte(bad)); ok {
			t.Errorf("fast path accepted %s; it must leave it to protojson", bad)
		}
	}
}

// FuzzParseV2Paths: whenever both decoders accept a leaf they agree.
func FuzzParseV2Paths(f *testing.F) {
	for _, leaf := range v2Fixtures(f) {
		f.Add(leaf)
	}
	p := identity.NewParser(64)
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := p.ParseV2Fast(data)
		if !ok {
			return
		}
		slow, err := p.ParseV2Proto(data)
		if err == nil && v2Summary(fast) != v2Summary(slow) {
			t.Errorf("fast path %s, protojson %s", v2Summary(fast), v2Summary(slow))
		}
	})
}
