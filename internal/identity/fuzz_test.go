package identity_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// checkParse is the property both fuzzers check: no panic, and either
// identities or a *MalformedError.
func checkParse(t *testing.T, parse func([]byte) ([]identity.Identity, error), data []byte) {
	ids, err := parse(data)
	if err != nil {
		var me *identity.MalformedError
		if !errors.As(err, &me) {
			t.Fatalf("parse(%q) error %v (%T) is not a *MalformedError", data, err, err)
		}
		if ids != nil {
			t.Fatalf("parse(%q) returned identities with an error", data)
		}
		return
	}
	for _, id := range ids {
		if id.EntryKind == "" || id.KeyType == "" {
			t.Fatalf("parse(%q) returned an incomplete identity %+v", data, id)
		}
	}
}

func FuzzParseV1(f *testing.F) {
	ca := identitytest.NewCA(f, "fuzz")
	s := ca.Issue(f, identitytest.CertOptions{Emails: []string{"a@example.com"}, Extensions: fulcioExts})
	k := identitytest.NewKey(f)
	f.Add(identitytest.HashedRekordV1(f, s, []byte("a")))
	f.Add(identitytest.HashedRekordV1(f, k, []byte("a")))
	f.Add(identitytest.DSSEV1(f, []byte("{}"), s, k))
	f.Add(intotoV2(f, []byte("{}"), k))
	f.Add(rekordX509(f, k, []byte("a")))
	f.Add(rfc3161Entry(f, s, true))
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"rekord","spec":{}}`))
	f.Add([]byte(`{"kind":"tuf","apiVersion":"0.0.1","spec":{"root":{"content":{}}}}`))
	p := identity.NewParser(64)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, p.ParseV1, data)
	})
}

func FuzzParseV2(f *testing.F) {
	ca := identitytest.NewCA(f, "fuzz")
	s := ca.Issue(f, identitytest.CertOptions{Emails: []string{"a@example.com"}, Extensions: fulcioExts})
	k := identitytest.NewKey(f)
	f.Add(identitytest.HashedRekordV2(f, s, []byte("a")))
	f.Add(identitytest.HashedRekordV2(f, k, []byte("a")))
	f.Add(identitytest.DSSEV2(f, []byte("{}"), s, k))
	f.Add([]byte(`{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"signatures":[{}]}}}`))
	// Real leaves, as rekor-tiles stores them (testdata/entries), so that
	// mutations start from inputs that reach the certificate and key
	// parsers; testdata/fuzz/FuzzParseV2 holds them too, with variants.
	for _, name := range []string{"dsse-v2-key.json", "hashedrekord-v2-fulcio.json"} {
		leaf, err := os.ReadFile(filepath.Join("testdata", "entries", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(leaf)
	}
	p := identity.NewParser(64)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, p.ParseV2, data)
	})
}
