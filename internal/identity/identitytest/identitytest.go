// Package identitytest builds real Rekor entries for tests: a throwaway
// certificate authority issuing Fulcio-style certificates, and Rekor v1
// entry bodies and Rekor v2 leaves signed by a key or certificate the test
// controls, and proposed Rekor v1 entries of every kind rekor-server
// accepts (kinds.go), to upload to a real log or canonicalize.
//
// The v1 bodies are produced by the rekor module's own entry types
// (types.CreateVersionedEntry, which verifies the signature, then
// types.CanonicalizeEntry), so they are byte for byte what rekor-server
// stores. The v2 hashedrekord leaf is produced by rekor-tiles'
// hashedrekord.ToLogEntry, protojson and RFC 8785 canonicalization, as in
// rekor-tiles' CreateEntry; the v2 dsse leaf is assembled the same way from
// the generated protobuf types (rekor-tiles v2.3.0 no longer accepts dsse
// uploads, but logs may still hold such entries).
package identitytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	v2hashedrekord "github.com/sigstore/rekor-tiles/v2/pkg/types/hashedrekord"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
)

// Signer is a private key, optionally with the certificate (and chain)
// that binds it to an identity. A Signer with a nil Cert signs as a bare
// public key.
type Signer struct {
	Key *ecdsa.PrivateKey
	// Cert is the leaf certificate, nil for a key-only signer.
	Cert *x509.Certificate
	// Chain holds intermediates to send along with Cert (leaf excluded).
	Chain []*x509.Certificate
}

// NewKey returns a key-only Signer with a fresh ECDSA P-256 key.
func NewKey(tb testing.TB) Signer {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generating key: %v", err)
	}
	return Signer{Key: k}
}

// VerifierPEM returns what a Rekor v1 entry stores as the verifier: the
// PEM certificate followed by the chain, or the PEM public key.
func (s Signer) VerifierPEM(tb testing.TB) []byte {
	tb.Helper()
	if s.Cert == nil {
		der, err := x509.MarshalPKIXPublicKey(s.Key.Public())
		if err != nil {
			tb.Fatalf("marshaling public key: %v", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Cert.Raw})
	for _, c := range s.Chain {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyFingerprint is the hex SHA-256 of the signer's SubjectPublicKeyInfo.
func (s Signer) KeyFingerprint(tb testing.TB) string {
	tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(s.Key.Public())
	if err != nil {
		tb.Fatalf("marshaling public key: %v", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// CertFingerprint is the hex SHA-256 of the signer's certificate ("" for a
// key-only signer).
func (s Signer) CertFingerprint() string {
	if s.Cert == nil {
		return ""
	}
	sum := sha256.Sum256(s.Cert.Raw)
	return hex.EncodeToString(sum[:])
}

// CA is a root and an intermediate certificate authority, as a private
// Fulcio deployment has.
type CA struct {
	Root, Intermediate       *x509.Certificate
	rootKey, intermediateKey *ecdsa.PrivateKey
	serial                   int64
}

// NewCA creates a CA named name, valid from one year ago for ten years.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	ca := &CA{}
	now := time.Now()
	var err error
	ca.rootKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generating key: %v", err)
	}
	ca.intermediateKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generating key: %v", err)
	}
	caTmpl := func(cn string, serial int64) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber:          big.NewInt(serial),
			Subject:               pkix.Name{CommonName: cn, Organization: []string{name}},
			NotBefore:             now.AddDate(-1, 0, 0),
			NotAfter:              now.AddDate(9, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		}
	}
	rootTmpl := caTmpl(name+" root", 1)
	ca.Root = mustCert(tb, rootTmpl, rootTmpl, &ca.rootKey.PublicKey, ca.rootKey)
	ca.Intermediate = mustCert(tb, caTmpl(name+" intermediate", 2), ca.Root, &ca.intermediateKey.PublicKey, ca.rootKey)
	ca.serial = 100
	return ca
}

// PEM returns the root and intermediate as a PEM bundle (a ca_file).
func (ca *CA) PEM() []byte {
	out := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw})
	return append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Intermediate.Raw})...)
}

// RootPEM returns the root certificate alone in PEM.
func (ca *CA) RootPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Root.Raw})
}

// CertOptions describe a Fulcio-style leaf certificate.
type CertOptions struct {
	Emails, URIs, DNSNames []string
	// Username, if set, becomes a Fulcio OtherName SAN. Unlike Fulcio,
	// the SAN extension is not marked critical: crypto/x509 does not
	// parse OtherName, so rekor's chain check would reject the entry.
	Username string
	// Extensions maps 1.3.6.1.4.1.57264.1.N to a value: encoded raw for
	// N <= 6 and as a DER UTF8String otherwise, as Fulcio does.
	Extensions map[string]string
	// NotBefore defaults to ten minutes ago; the certificate lives ten
	// minutes, like a Fulcio certificate, unless Lifetime is set.
	NotBefore time.Time
	Lifetime  time.Duration
}

// Issue returns a Signer with a fresh key and a leaf certificate issued by
// the intermediate, with the intermediate as its chain.
func (ca *CA) Issue(tb testing.TB, o CertOptions) Signer {
	tb.Helper()
	s := NewKey(tb)
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-10 * time.Minute)
	}
	if o.Lifetime == 0 {
		o.Lifetime = 10 * time.Minute
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(ca.serial),
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotBefore.Add(o.Lifetime),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: o.Emails,
		DNSNames:       o.DNSNames,
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			tb.Fatalf("parsing URI SAN %q: %v", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if o.Username != "" {
		ext, err := otherNameSAN(o.Username)
		if err != nil {
			tb.Fatalf("encoding OtherName SAN: %v", err)
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	for oid, v := range o.Extensions {
		ext, err := fulcioExtension(oid, v)
		if err != nil {
			tb.Fatalf("encoding extension %s: %v", oid, err)
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, ext)
	}
	s.Cert = mustCert(tb, tmpl, ca.Intermediate, &s.Key.PublicKey, ca.intermediateKey)
	s.Chain = []*x509.Certificate{ca.Intermediate}
	return s
}

func mustCert(tb testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) *x509.Certificate {
	tb.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		tb.Fatalf("creating certificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parsing certificate: %v", err)
	}
	return c
}

func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, part := range strings.Split(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("parsing OID %q: %w", s, err)
		}
		oid = append(oid, n)
	}
	return oid, nil
}

func fulcioExtension(oid, value string) (pkix.Extension, error) {
	id, err := parseOID(oid)
	if err != nil {
		return pkix.Extension{}, err
	}
	if len(id) == 9 && id[8] <= 6 {
		return pkix.Extension{Id: id, Value: []byte(value)}, nil
	}
	der, err := asn1.MarshalWithParams(value, "utf8")
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: id, Value: der}, nil
}

// otherNameSAN encodes a Fulcio username SAN the way Fulcio does
// (sigstore cryptoutils.MarshalOtherNameSAN).
func otherNameSAN(name string) (pkix.Extension, error) {
	type otherName struct {
		ID    asn1.ObjectIdentifier
		Value string `asn1:"utf8,explicit,tag:0"`
	}
	on, err := asn1.MarshalWithParams(otherName{ID: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 7}, Value: name}, "tag:0")
	if err != nil {
		return pkix.Extension{}, err
	}
	san, err := asn1.Marshal([]asn1.RawValue{{FullBytes: on}})
	if err != nil {
		return pkix.Extension{}, err
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}, nil
}

func (s Signer) sign(tb testing.TB, digest []byte) []byte {
	tb.Helper()
	sig, err := ecdsa.SignASN1(rand.Reader, s.Key, digest)
	if err != nil {
		tb.Fatalf("signing: %v", err)
	}
	return sig
}

func canonicalize(tb testing.TB, pe models.ProposedEntry) []byte {
	tb.Helper()
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		tb.Fatalf("creating %s entry: %v", pe.Kind(), err)
	}
	body, err := types.CanonicalizeEntry(tb.Context(), entry)
	if err != nil {
		tb.Fatalf("canonicalizing %s entry: %v", pe.Kind(), err)
	}
	return body
}

// HashedRekordV1 returns the canonical body of a hashedrekord v0.0.1 entry
// for artifact signed by s.
func HashedRekordV1(tb testing.TB, s Signer, artifact []byte) []byte {
	tb.Helper()
	return canonicalize(tb, HashedRekord(tb, s, artifact))
}

// PAE is the DSSE v1 pre-authentication encoding of payloadType and payload.
func PAE(payloadType string, payload []byte) []byte {
	return fmt.Appendf(nil, "DSSEv1 %d %s %d %s", len(payloadType), payloadType, len(payload), payload)
}

// DSSEEnvelope returns a DSSE envelope (JSON) over payload signed by each
// signer in turn.
func DSSEEnvelope(tb testing.TB, payloadType string, payload []byte, signers ...Signer) []byte {
	tb.Helper()
	type sig struct {
		KeyID string `json:"keyid"`
		Sig   string `json:"sig"`
	}
	env := struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []sig  `json:"signatures"`
	}{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	digest := sha256.Sum256(PAE(payloadType, payload))
	for _, s := range signers {
		env.Signatures = append(env.Signatures, sig{Sig: base64.StdEncoding.EncodeToString(s.sign(tb, digest[:]))})
	}
	out, err := json.Marshal(env)
	if err != nil {
		tb.Fatalf("marshaling envelope: %v", err)
	}
	return out
}

// InTotoStatement is a minimal in-toto v1 statement about one artifact.
func InTotoStatement(name string, artifact []byte) []byte {
	sum := sha256.Sum256(artifact)
	return fmt.Appendf(nil, `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":%q,"digest":{"sha256":%q}}],"predicateType":"https://example.com/test/v1","predicate":{}}`, name, hex.EncodeToString(sum[:]))
}

// DSSEV1 returns the canonical body of a dsse v0.0.1 entry for an in-toto
// statement signed by every signer.
func DSSEV1(tb testing.TB, payload []byte, signers ...Signer) []byte {
	tb.Helper()
	return canonicalize(tb, DSSE(tb, payload, signers...))
}

// v2Verifier returns the Rekor v2 verifier for s: DER certificate or DER
// public key.
func (s Signer) v2Verifier(tb testing.TB) *pb.Verifier {
	tb.Helper()
	v := &pb.Verifier{KeyDetails: v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256}
	if s.Cert != nil {
		v.Verifier = &pb.Verifier_X509Certificate{X509Certificate: &v1.X509Certificate{RawBytes: s.Cert.Raw}}
		return v
	}
	der, err := x509.MarshalPKIXPublicKey(s.Key.Public())
	if err != nil {
		tb.Fatalf("marshaling public key: %v", err)
	}
	v.Verifier = &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: der}}
	return v
}

func v2Leaf(tb testing.TB, e *pb.Entry) []byte {
	tb.Helper()
	serialized, err := protojson.Marshal(e)
	if err != nil {
		tb.Fatalf("marshaling entry: %v", err)
	}
	leaf, err := jsoncanonicalizer.Transform(serialized)
	if err != nil {
		tb.Fatalf("canonicalizing entry: %v", err)
	}
	return leaf
}

// HashedRekordV2 returns the Rekor v2 leaf of a hashedrekord v0.0.2 entry
// for artifact signed by s, built as rekor-tiles' CreateEntry builds it
// (which verifies the signature).
func HashedRekordV2(tb testing.TB, s Signer, artifact []byte) []byte {
	tb.Helper()
	digest := sha256.Sum256(artifact)
	reg, err := signature.NewAlgorithmRegistryConfig([]v1.PublicKeyDetails{v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256})
	if err != nil {
		tb.Fatalf("creating algorithm registry: %v", err)
	}
	entry, err := v2hashedrekord.ToLogEntry(&pb.HashedRekordRequestV002{
		Digest:    digest[:],
		Signature: &pb.Signature{Content: s.sign(tb, digest[:]), Verifier: s.v2Verifier(tb)},
	}, reg)
	if err != nil {
		tb.Fatalf("building hashedrekord v0.0.2 entry: %v", err)
	}
	return v2Leaf(tb, entry)
}

// DSSEV2 returns the Rekor v2 leaf of a dsse v0.0.2 entry for payload
// signed by every signer.
func DSSEV2(tb testing.TB, payload []byte, signers ...Signer) []byte {
	tb.Helper()
	const payloadType = "application/vnd.in-toto+json"
	payloadHash := sha256.Sum256(payload)
	digest := sha256.Sum256(PAE(payloadType, payload))
	d := &pb.DSSELogEntryV002{PayloadHash: &v1.HashOutput{Algorithm: v1.HashAlgorithm_SHA2_256, Digest: payloadHash[:]}}
	for _, s := range signers {
		d.Signatures = append(d.Signatures, &pb.Signature{Content: s.sign(tb, digest[:]), Verifier: s.v2Verifier(tb)})
	}
	return v2Leaf(tb, &pb.Entry{Kind: "dsse", ApiVersion: "0.0.2", Spec: &pb.Spec{Spec: &pb.Spec_DsseV002{DsseV002: d}}})
}
