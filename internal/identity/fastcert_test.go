package identity_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// allFulcioExts sets every Fulcio extension: .1 to .6 raw, .8 onwards DER.
var allFulcioExts = func() map[string]string {
	m := make(map[string]string)
	for n := 1; n <= 24; n++ {
		if n != 7 {
			m[identity.FulcioOID(n)] = "value of " + identity.FulcioOID(n)
		}
	}
	m[identity.OIDIssuerV1] = "https://legacy.example.com"
	m[identity.OIDIssuer] = "https://token.actions.githubusercontent.com"
	return m
}()

// certCorpus returns DER certificates of the shapes the monitor sees, and
// a few the fast parser leaves to crypto/x509. fast says which ones the
// fast parser must handle itself.
func certCorpus(tb testing.TB) (ders [][]byte, fast []bool) {
	tb.Helper()
	add := func(der []byte, isFast bool) {
		ders = append(ders, der)
		fast = append(fast, isFast)
	}
	ca := identitytest.NewCA(tb, "fast")
	add(ca.Root.Raw, true)
	add(ca.Intermediate.Raw, true)
	for _, o := range []identitytest.CertOptions{
		{Emails: []string{"alice@example.com"}, Extensions: map[string]string{identity.OIDIssuer: "https://accounts.example.com"}},
		{URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"}, Extensions: allFulcioExts},
		{URIs: []string{"https://example.com/a%20b?q=1#frag", "spiffe://cluster.local/ns/default/sa/builder"}, Emails: []string{"a@example.com", "b@example.com"}},
		{DNSNames: []string{"tsa.example.com", "*.example.org"}},
		{Username: "bob", Extensions: map[string]string{identity.OIDIssuerV1: "https://legacy.example.com"}},
		{Username: "carol", Extensions: allFulcioExts},
		{Emails: []string{"dave@example.com"}, URIs: []string{"https://example.com/x"}, DNSNames: []string{"example.net"}, Extensions: allFulcioExts},
		{},
	} {
		s := ca.Issue(tb, o)
		add(s.Cert.Raw, true)
	}

	// Hand-made certificates: other key types, IP SANs, and extensions
	// crypto/x509 parses that the fast parser leaves to it.
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	otherName, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: mustMarshal(tb, struct {
		ID    asn1.ObjectIdentifier
		Value string `asn1:"utf8,explicit,tag:0"`
	}{cryptoutils.OIDOtherName, "erin"})})
	if err != nil {
		tb.Fatal(err)
	}
	sanWithIP := mustMarshal(tb, []asn1.RawValue{{FullBytes: otherName}, {Class: asn1.ClassContextSpecific, Tag: 7, Bytes: []byte{127, 0, 0, 1}}})
	rawSAN := func(tag int, v string) []pkix.Extension {
		return []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: mustMarshal(tb, []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: tag, Bytes: []byte(v)}})}}
	}
	u, _ := url.Parse("https://example.com/ci")
	now := time.Now()
	for _, tc := range []struct {
		tmpl *x509.Certificate
		pub  any
		fast bool
	}{
		{&x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rsa", Country: []string{"DE"}}, NotBefore: now, NotAfter: now.Add(time.Hour), EmailAddresses: []string{"rsa@example.com"}}, &rsaKey.PublicKey, true},
		{&x509.Certificate{SerialNumber: big.NewInt(2), NotBefore: now, NotAfter: now.Add(time.Hour), URIs: []*url.URL{u}}, edPub, true},
		{&x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: now, NotAfter: now.AddDate(100, 0, 0), IPAddresses: []net.IP{net.ParseIP("10.0.0.1"), net.ParseIP("::1")}}, &rootKey.PublicKey, true},
		{&x509.Certificate{SerialNumber: big.NewInt(4), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Critical: true, Value: sanWithIP}}}, &rootKey.PublicKey, true},
		{&x509.Certificate{SerialNumber: big.NewInt(5), NotBefore: now, NotAfter: now.Add(time.Hour), CRLDistributionPoints: []string{"http://crl.example.com/ca.crl"}, OCSPServer: []string{"http://ocsp.example.com"}}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: big.NewInt(6), NotBefore: now, NotAfter: now.Add(time.Hour), BasicConstraintsValid: true, IsCA: true, MaxPathLen: 2, PermittedDNSDomains: []string{"example.com"}}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: now, NotAfter: now.Add(time.Hour), Policies: []x509.OID{mustOID(tb, "1.2.3.4")}}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: new(big.Int).Lsh(big.NewInt(1), 150), NotBefore: now, NotAfter: now.Add(time.Hour), BasicConstraintsValid: true, MaxPathLenZero: true, IsCA: true, SubjectKeyId: []byte{1, 2, 3}}, &rootKey.PublicKey, true},
		// SANs crypto/x509 rejects: the fast parser must too.
		{&x509.Certificate{SerialNumber: big.NewInt(8), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: rawSAN(6, "https://example.com./x")}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: big.NewInt(9), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: rawSAN(6, "https://ex..ample.com/x")}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: big.NewInt(10), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: rawSAN(6, "http://[::1")}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: big.NewInt(11), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: rawSAN(1, "bj\xc3\xb6rn@example.com")}, &rootKey.PublicKey, false},
		{&x509.Certificate{SerialNumber: big.NewInt(12), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: rawSAN(7, "\x01\x02")}, &rootKey.PublicKey, false},
		// A URI that url.URL.String normalizes.
		{&x509.Certificate{SerialNumber: big.NewInt(13), NotBefore: now, NotAfter: now.Add(time.Hour), ExtraExtensions: rawSAN(6, "HTTPS://Example.com/a b")}, &rootKey.PublicKey, true},
	} {
		tmpl := tc.tmpl
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tc.pub, rootKey)
		if err != nil {
			tb.Fatalf("creating certificate %v: %v", tmpl.SerialNumber, err)
		}
		add(der, tc.fast)
	}

	// Committed CA bundles.
	for _, name := range []string{"config/ca.pem", "config/not-a-ca.pem", "entries/example-ca.pem"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
			add(block.Bytes, true)
		}
	}
	return ders, fast
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustOID(tb testing.TB, s string) x509.OID {
	tb.Helper()
	oid, err := x509.ParseOID(s)
	if err != nil {
		tb.Fatal(err)
	}
	return oid
}

// referenceCertIdentity is the extraction through crypto/x509.
func referenceCertIdentity(der []byte) (*identity.Identity, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return identity.CertIdentity(cert)
}

var cmpFields = cmp.Options{cmpopts.IgnoreUnexported(identity.Identity{})}

// checkFastCert checks the fast extraction of der against
// referenceCertIdentity and returns whether the fast parser handled der.
//
//   - When both succeed, every Identity field agrees.
//   - When the fast parser succeeds and crypto/x509 fails, the failure is
//     the public key's (the one check the fast parser leaves out), and
//     Identity.Certificate reports it.
//   - certDERIdentity, the fast parser with its crypto/x509 fallback,
//     succeeds exactly when crypto/x509 does (up to that same exception)
//     and then agrees with it.
func checkFastCert(t *testing.T, der []byte) bool {
	t.Helper()
	want, wantErr := referenceCertIdentity(der)
	fast, fastOK := identity.FastCertIdentity(der)
	if fastOK {
		if wantErr != nil {
			keyErr := publicKeyError(der)
			if keyErr == nil || keyErr.Error() != wantErr.Error() {
				t.Fatalf("fast parser accepts %x, crypto/x509 rejects it: %v (public key: %v)", der, wantErr, keyErr)
			}
		} else if diff := cmp.Diff(want, fast, cmpFields); diff != "" {
			t.Fatalf("fast parser disagrees with crypto/x509 on %x (-x509 +fast):\n%s", der, diff)
		}
	}
	got, err := identity.CertDERIdentity(der)
	switch {
	case wantErr == nil && err != nil:
		t.Fatalf("certDERIdentity(%x) error %v, crypto/x509 accepts it", der, err)
	case wantErr == nil:
		if diff := cmp.Diff(want, got, cmpFields); diff != "" {
			t.Fatalf("certDERIdentity disagrees with crypto/x509 on %x (-x509 +got):\n%s", der, diff)
		}
		c, cerr := got.Certificate()
		if cerr != nil || c == nil || !bytes.Equal(c.Raw, der) {
			t.Fatalf("Certificate() of %x = %v, %v", der, c, cerr)
		}
	case err == nil && !fastOK:
		t.Fatalf("certDERIdentity(%x) succeeds without the fast parser, crypto/x509 rejects it: %v", der, wantErr)
	case err == nil:
		if c, cerr := got.Certificate(); c != nil || cerr == nil {
			t.Fatalf("Certificate() of %x = %v, %v; want the crypto/x509 error %v", der, c, cerr, wantErr)
		}
	}
	return fastOK
}

// publicKeyError returns what crypto/x509 says about the public key of a
// structurally valid certificate (nil if it accepts it or der has no
// SubjectPublicKeyInfo where expected).
func publicKeyError(der []byte) error {
	s := cryptobyte.String(der)
	var tbs, spki cryptobyte.String
	if !s.ReadASN1(&s, cbasn1.SEQUENCE) || !s.ReadASN1(&tbs, cbasn1.SEQUENCE) ||
		!tbs.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!tbs.SkipASN1(cbasn1.INTEGER) || !tbs.SkipASN1(cbasn1.SEQUENCE) || !tbs.SkipASN1(cbasn1.SEQUENCE) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) || !tbs.SkipASN1(cbasn1.SEQUENCE) || !tbs.ReadASN1Element(&spki, cbasn1.SEQUENCE) {
		return nil
	}
	_, err := x509.ParsePKIXPublicKey(spki)
	return err
}

// TestFastCertMatchesX509 checks the fast certificate parser against
// crypto/x509 on generated Fulcio-style certificates, CA certificates and
// every single-byte mutation and truncation of them.
func TestFastCertMatchesX509(t *testing.T) {
	ders, fast := certCorpus(t)
	for i, der := range ders {
		if got := checkFastCert(t, der); got != fast[i] {
			t.Errorf("certificate %d: fast parser handled it: %v, want %v", i, got, fast[i])
		}
	}
	if testing.Short() {
		return
	}
	mutated := 0
	for _, der := range ders[:4] {
		m := bytes.Clone(der)
		for i := range m {
			for _, d := range []byte{0x01, 0x80, 0xff} {
				m[i] ^= d
				if checkFastCert(t, m) {
					mutated++
				}
				m[i] ^= d
			}
		}
		for n := range len(der) {
			checkFastCert(t, der[:n])
		}
	}
	if mutated == 0 {
		t.Error("no mutated certificate took the fast path")
	}
}

// TestFastCertIdentityFields spells out the fields of one Fulcio-style
// certificate with every extension, independently of crypto/x509.
func TestFastCertIdentityFields(t *testing.T) {
	ca := identitytest.NewCA(t, "fields")
	s := ca.Issue(t, identitytest.CertOptions{Username: "carol", Extensions: allFulcioExts})
	id, ok := identity.FastCertIdentity(s.Cert.Raw)
	if !ok {
		t.Fatal("fast parser rejects a Fulcio certificate")
	}
	want := &identity.Identity{
		KeyType:         identity.KeyX509,
		OtherNames:      []string{"carol"},
		Issuer:          "https://token.actions.githubusercontent.com",
		Extensions:      allFulcioExts,
		CertFingerprint: s.CertFingerprint(),
		KeyFingerprint:  s.KeyFingerprint(t),
	}
	if diff := cmp.Diff(want, id, cmpFields); diff != "" {
		t.Errorf("fastCertIdentity mismatch (-want +got):\n%s", diff)
	}
}

func FuzzFastCertMatchesX509(f *testing.F) {
	ders, _ := certCorpus(f)
	for _, der := range ders {
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		checkFastCert(t, der)
	})
}

// BenchmarkCertIdentity compares the extraction of one Fulcio-style
// certificate through crypto/x509 and through the fast parser.
func BenchmarkCertIdentity(b *testing.B) {
	ca := identitytest.NewCA(b, "bench")
	der := ca.Issue(b, identitytest.CertOptions{
		URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"},
		Extensions: map[string]string{
			identity.OIDIssuer:       "https://token.actions.githubusercontent.com",
			"1.3.6.1.4.1.57264.1.9":  "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
			"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app",
			"1.3.6.1.4.1.57264.1.13": "0123456789abcdef0123456789abcdef01234567",
		},
	}).Cert.Raw
	b.Run("x509", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := referenceCertIdentity(der); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := identity.CertDERIdentity(der); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestFastCertPublicKeyDeferred pins down the one check the fast parser
// leaves to crypto/x509: a certificate whose EC point is not on the curve
// yields an identity, Certificate reports the error, and a CA rule does
// not match it.
func TestFastCertPublicKeyDeferred(t *testing.T) {
	ca := identitytest.NewCA(t, "key")
	der := bytes.Clone(ca.Issue(t, identitytest.CertOptions{Emails: []string{"a@example.com"}}).Cert.Raw)
	// The leaf's SubjectPublicKeyInfo ends with the 65-byte uncompressed
	// point; corrupt its last byte (the low byte of y).
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(der, cert.RawSubjectPublicKeyInfo) + len(cert.RawSubjectPublicKeyInfo) - 1
	der[i] ^= 0x01
	if _, err := x509.ParseCertificate(der); err == nil {
		t.Fatal("crypto/x509 accepts a point off the curve")
	}
	checkFastCert(t, der)
	id, err := identity.CertDERIdentity(der)
	if err != nil {
		t.Fatalf("certDERIdentity: %v", err)
	}
	if c, err := id.Certificate(); c != nil || err == nil {
		t.Errorf("Certificate() = %v, %v; want an error", c, err)
	}
	m, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "ca", CAFile: writeTestFile(t, ca.PEM())}}})
	if err != nil {
		t.Fatal(err)
	}
	if res := m.Match([]identity.Identity{*id}); len(res.Watched) != 0 {
		t.Errorf("CA rule matches a certificate crypto/x509 rejects: %+v", res.Watched)
	}
}

func writeTestFile(t *testing.T, data []byte) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}
