package identity_test

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/identity"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ctIssued issues a precertificate and final certificate for
// bob@example.com through an in-memory CT log.
func ctIssued(t *testing.T) (*ctleaftest.CA, *ctleaftest.Issued) {
	t.Helper()
	l, err := ctleaftest.NewLog("ct.example.com")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ctleaftest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ctleaftest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(l, k.Public(), "bob@example.com", "https://issuer.example.com", 1_700_000_000_000)
	if err != nil {
		t.Fatal(err)
	}
	return ca, is
}

func TestParseCT(t *testing.T) {
	ca, is := ctIssued(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := identity.Compile(identity.Config{Expect: []identity.Rule{{Name: "ca", CAFile: caFile}}})
	if err != nil {
		t.Fatal(err)
	}
	final, err := x509.ParseCertificate(is.Final)
	if err != nil {
		t.Fatal(err)
	}
	// crypto/x509 alone refuses the precertificate.
	pre, err := x509.ParseCertificate(is.Precert)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Root)
	if _, err := pre.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: pre.NotBefore, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
		t.Fatal("crypto/x509 verifies a precertificate with its poison extension: the test is moot")
	}

	for _, tc := range []struct {
		kind string
		der  []byte
	}{
		{identity.KindCTX509, is.Final},
		{identity.KindCTPrecert, is.Precert},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			p := identity.NewParser(16)
			ids, err := p.ParseCT(tc.kind, [][]byte{tc.der, is.Issuer})
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 {
				t.Fatalf("got %d identities", len(ids))
			}
			id := ids[0]
			if id.EntryKind != tc.kind || id.KeyType != identity.KeyX509 || !slices.Equal(id.Emails, []string{"bob@example.com"}) ||
				id.Issuer != "https://issuer.example.com" || id.Extensions[identity.OIDIssuer] != "https://issuer.example.com" ||
				id.CertFingerprint != sha256Hex(tc.der) || id.KeyFingerprint != sha256Hex(final.RawSubjectPublicKeyInfo) {
				t.Errorf("identity = %+v", id)
			}
			cert, err := id.Certificate()
			if err != nil || cert == nil || len(cert.UnhandledCriticalExtensions) != 0 || !bytes.Equal(cert.Raw, tc.der) {
				t.Fatalf("Certificate() = %v, %v", cert, err)
			}
			inter, err := id.Intermediates()
			if err != nil || len(inter) != 1 || !inter[0].Equal(ca.Root) {
				t.Errorf("Intermediates() = %v, %v; want the root", inter, err)
			}
			if !m.Match(ids).Expected {
				t.Error("the CA rule does not match")
			}
		})
	}
}

func TestParseCTTBS(t *testing.T) {
	_, is := ctIssued(t)
	final, err := x509.ParseCertificate(is.Final)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.NewParser(0).ParseCTTBS(identity.KindCTPrecert, final.RawTBSCertificate)
	if err != nil {
		t.Fatal(err)
	}
	id := ids[0]
	if len(ids) != 1 || id.EntryKind != identity.KindCTPrecert || !slices.Equal(id.Emails, []string{"bob@example.com"}) ||
		id.Issuer != "https://issuer.example.com" || id.CertFingerprint != "" || id.KeyFingerprint != sha256Hex(final.RawSubjectPublicKeyInfo) {
		t.Errorf("identity = %+v", id)
	}
	if c, err := id.Certificate(); c != nil || err != nil {
		t.Errorf("Certificate() = %v, %v; want none", c, err)
	}
	for name, tbs := range map[string][]byte{
		"empty":        nil,
		"not DER":      []byte("tbs"),
		"trailing":     append(slices.Clone(final.RawTBSCertificate), 0),
		"no algorithm": {0x30, 0x03, 0x02, 0x01, 0x01},
	} {
		_, err := identity.ParseCTTBS(identity.KindCTPrecert, tbs)
		var me *identity.MalformedError
		if !errors.As(err, &me) || me.Kind != identity.KindCTPrecert {
			t.Errorf("%s: ParseCTTBS = %v, want a MalformedError", name, err)
		}
	}
}

func TestParseCTMalformed(t *testing.T) {
	_, is := ctIssued(t)
	for _, tc := range []struct {
		name  string
		kind  string
		chain [][]byte
		err   error
	}{
		{"unknown kind", "ct:json", [][]byte{is.Final}, identity.ErrUnknownKind},
		{"no chain", identity.KindCTX509, nil, nil},
		{"empty certificate", identity.KindCTX509, [][]byte{{}}, nil},
		{"garbage certificate", identity.KindCTX509, [][]byte{[]byte("garbage")}, nil},
		{"garbage precertificate", identity.KindCTPrecert, [][]byte{[]byte("garbage")}, nil},
		{"garbage issuer", identity.KindCTX509, [][]byte{is.Final, []byte("garbage")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := identity.NewParser(4).ParseCT(tc.kind, tc.chain)
			var me *identity.MalformedError
			if !errors.As(err, &me) || me.Kind != tc.kind || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("ParseCT = %v, %v; want a MalformedError of kind %s", ids, err, tc.kind)
			}
		})
	}
	// A long chain keeps the first intermediates.
	chain := [][]byte{is.Final}
	for range 20 {
		chain = append(chain, is.Issuer)
	}
	ids, err := identity.NewParser(4).ParseCT(identity.KindCTX509, chain)
	if err != nil {
		t.Fatal(err)
	}
	if inter, err := ids[0].Intermediates(); err != nil || len(inter) != 9 {
		t.Errorf("Intermediates of a chain of 21 = %d, %v; want 9", len(inter), err)
	}
}
