package identity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
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

// precertCorpus returns DER precertificates: those tools/loadgen and
// ctleaftest issue (Fulcio-shaped, which the fast parser must handle), and
// a precertificate of every certificate of certCorpus with extensions
// (withPoison), including those crypto/x509 rejects. fast says which ones
// the fast parser must handle itself.
func precertCorpus(t *testing.T) (ders [][]byte, fast []bool) {
	t.Helper()
	_, is := ctIssued(t)
	ders, fast = append(ders, is.Precert), append(fast, true)
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	key, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []struct {
		san, issuer string
		ext         identitytest.Extensions
	}{
		{"alice@example.com", "http://127.0.0.1:31556", identitytest.Extensions{}},
		{"https://github.com/vigil-tlog/vigil/.github/workflows/release.yml@refs/tags/v1.2.3", identitytest.GitHubActionsIssuer,
			identitytest.GitHubActionsExtensions("vigil-tlog/vigil", "refs/tags/v1.2.3", ".github/workflows/release.yml", "4f1c0b6f0a7f2d6c3e9b8a1d2c3e4f5a6b7c8d9e")},
	} {
		chain, err := ca.IssueChain(key.Public(), id.san, id.issuer, id.ext, true)
		if err != nil {
			t.Fatal(err)
		}
		ders, fast = append(ders, chain[0]), append(fast, true)
	}

	certs, certFast := certCorpus(t)
	for i, der := range certs {
		pre, ok := withPoison(der)
		if !ok {
			continue // no extensions (a v1 certificate)
		}
		ders, fast = append(ders, pre), append(fast, certFast[i])
	}
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// An unhandled critical extension besides the poison: it stays.
	now := time.Now()
	other := pkix.Extension{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{0x05, 0x00}}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(99), NotBefore: now, NotAfter: now.Add(time.Hour), EmailAddresses: []string{"x@example.com"},
		ExtraExtensions: []pkix.Extension{identitytest.PoisonExtension(), other}}
	pre, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	ders, fast = append(ders, pre), append(fast, true)
	return ders, fast
}

// withPoison returns der with the critical CT poison extension appended to
// its extensions, its signature unchanged (no longer valid: parsing does
// not check it), or false if der has no extensions.
func withPoison(der []byte) ([]byte, bool) {
	poison := []byte{0x30, 0x13, 0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03, 0x01, 0x01, 0xff, 0x04, 0x02, 0x05, 0x00}
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, false
	}
	found := false
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			for !tbs.Empty() {
				var el cryptobyte.String
				var tag cbasn1.Tag
				if !tbs.ReadAnyASN1Element(&el, &tag) {
					b.SetError(errors.New("malformed TBSCertificate"))
					return
				}
				var exts cryptobyte.String
				if tag != cbasn1.Tag(3).Constructed().ContextSpecific() ||
					!el.ReadASN1(&exts, tag) || !exts.ReadASN1(&exts, cbasn1.SEQUENCE) {
					b.AddBytes(el)
					continue
				}
				found = true
				b.AddASN1(tag, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddBytes(exts)
						b.AddBytes(poison)
					})
				})
			}
		})
		b.AddBytes(cert) // signatureAlgorithm, signatureValue
	})
	out, err := b.Bytes()
	return out, err == nil && found
}

// referencePrecert is the precertificate through crypto/x509, as ParseCT
// read every precertificate before the fast path: parsed, the poison
// extension cleared from its unhandled critical extensions, its identity
// extracted.
func referencePrecert(der []byte) (*x509.Certificate, *identity.Identity, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	cert.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(cert.UnhandledCriticalExtensions),
		func(oid asn1.ObjectIdentifier) bool { return oid.String() == identitytest.OIDCTPoison })
	id, err := identity.CertIdentity(cert)
	if err != nil {
		return nil, nil, err
	}
	id.EntryKind = identity.KindCTPrecert
	return cert, id, nil
}

// checkPrecert checks ParseCT of a precertificate against referencePrecert
// and returns whether the fast parser handled it:
//
//   - when both succeed, every Identity field agrees, and Certificate is
//     the reference's certificate: the same bytes and the same unhandled
//     critical extensions (the poison cleared, any other kept);
//   - ParseCT fails exactly when crypto/x509 does, but for a public key
//     that crypto/x509 refuses in a structurally valid certificate, which
//     Certificate reports (as for any certificate, see checkFastCert).
func checkPrecert(t *testing.T, der []byte) bool {
	t.Helper()
	wantCert, want, wantErr := referencePrecert(der)
	_, fastOK := identity.FastCertIdentity(der)
	ids, err := identity.ParseCT(identity.KindCTPrecert, [][]byte{der})
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("ParseCT(%x) error %v, crypto/x509 accepts it", der, err)
	case wantErr == nil:
		if diff := cmp.Diff(want, &ids[0], cmpFields); diff != "" {
			t.Fatalf("ParseCT disagrees with crypto/x509 on %x (-x509 +got):\n%s", der, diff)
		}
		c, cerr := ids[0].Certificate()
		if cerr != nil || c == nil || !bytes.Equal(c.Raw, der) {
			t.Fatalf("Certificate() of %x = %v, %v", der, c, cerr)
		}
		if diff := cmp.Diff(wantCert.UnhandledCriticalExtensions, c.UnhandledCriticalExtensions, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("Certificate() of %x: unhandled critical extensions (-want +got):\n%s", der, diff)
		}
	case err == nil && !fastOK:
		t.Fatalf("ParseCT(%x) succeeds without the fast parser, crypto/x509 rejects it: %v", der, wantErr)
	case err == nil:
		if keyErr := publicKeyError(der); keyErr == nil || keyErr.Error() != wantErr.Error() {
			t.Fatalf("ParseCT accepts %x, crypto/x509 rejects it: %v (public key: %v)", der, wantErr, keyErr)
		}
		if c, cerr := ids[0].Certificate(); c != nil || cerr == nil {
			t.Fatalf("Certificate() of %x = %v, %v; want the crypto/x509 error %v", der, c, cerr, wantErr)
		}
	default:
		var me *identity.MalformedError
		if !errors.As(err, &me) || me.Kind != identity.KindCTPrecert {
			t.Fatalf("ParseCT(%x) = %v, want a MalformedError", der, err)
		}
	}
	return fastOK
}

// TestPrecertFastMatchesX509 checks that a precertificate read by the fast
// parser (crypto/x509 deferred to the first CA rule) gives what the eager
// crypto/x509 reading gave, on precertificates of every shape of
// certCorpus and every single-byte mutation and truncation of a
// Fulcio-shaped one.
func TestPrecertFastMatchesX509(t *testing.T) {
	ders, fast := precertCorpus(t)
	nfast := 0
	for i, der := range ders {
		if fast[i] {
			nfast++
		}
		if got := checkPrecert(t, der); got != fast[i] {
			t.Errorf("precertificate %d: fast parser handled it: %v, want %v", i, got, fast[i])
		}
	}
	t.Logf("%d precertificates, %d for the fast parser", len(ders), nfast)
	if testing.Short() {
		return
	}
	mutated := 0
	for _, der := range ders[:2] {
		m := bytes.Clone(der)
		for i := range m {
			for _, d := range []byte{0x01, 0x80, 0xff} {
				m[i] ^= d
				if checkPrecert(t, m) {
					mutated++
				}
				m[i] ^= d
			}
		}
		for n := range len(der) {
			checkPrecert(t, der[:n])
		}
	}
	if mutated == 0 {
		t.Error("no mutated precertificate took the fast path")
	}
}

// TestPrecertCARuleLazy checks that the CA rule verifies a precertificate
// read by the fast parser, with its issuer from the chain, and that the
// identity rules alone never parse it with crypto/x509: Certificate is
// still to be parsed after a match without a CA rule (the parse is what
// it costs), and its result is the same either way.
func TestPrecertCARuleLazy(t *testing.T) {
	ca, is := ctIssued(t)
	caFile := writeTestFile(t, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw}))
	withCA, err := identity.Compile(identity.Config{Expect: []identity.Rule{{Name: "ca", CAFile: caFile, Subject: `bob@example\.com`}}})
	if err != nil {
		t.Fatal(err)
	}
	wrongSubject, err := identity.Compile(identity.Config{Expect: []identity.Rule{{Name: "ca", CAFile: caFile, Subject: `alice@example\.com`}}})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.ParseCT(identity.KindCTPrecert, [][]byte{is.Precert, is.Issuer})
	if err != nil {
		t.Fatal(err)
	}
	if wrongSubject.Match(ids).Expected {
		t.Error("a CA rule for another subject matches")
	}
	if !withCA.Match(ids).Expected {
		t.Error("the CA rule does not match the precertificate")
	}
	// A copy of the identity shares the parsed certificate.
	again := ids[0]
	c1, err1 := ids[0].Certificate()
	c2, err2 := again.Certificate()
	if err1 != nil || err2 != nil || c1 != c2 {
		t.Errorf("Certificate() of a copy = %p, %v; want the same %p, %v", c2, err2, c1, err1)
	}
}
