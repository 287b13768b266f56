// Package identitytest holds the test fixtures of the module: keys and
// signers, throwaway certificate authorities issuing Fulcio-style
// certificates (ca.go), DSSE envelopes and in-toto statements (dsse.go),
// Rekor v1 entry bodies and Rekor v2 leaves signed by a key or certificate
// the caller controls, and proposed Rekor v1 entries of every kind
// rekor-server accepts (kinds.go), to upload to a real log (internal/stack)
// or canonicalize.
//
// The v1 bodies are produced by the rekor module's own entry types
// (types.CreateVersionedEntry, which verifies the signature, then
// types.CanonicalizeEntry), so they are byte for byte what rekor-server
// stores. The v2 hashedrekord leaf is produced by rekor-tiles'
// hashedrekord.ToLogEntry, protojson and RFC 8785 canonicalization, as in
// rekor-tiles' CreateEntry; the v2 dsse leaf is assembled the same way from
// the generated protobuf types (rekor-tiles v2.3.0 no longer accepts dsse
// uploads, but logs may still hold such entries).
//
// The package does not import testing, so that programs (tools/loadgen,
// tools/alertlatency) can link it: builders that take a [TB] stop the test
// on failure, the others return an error. Production code must not import
// it.
package identitytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

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

// TB is the part of testing.TB the builders use: pass a *testing.T,
// *testing.B or *testing.F.
type TB interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Context() context.Context
}

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
func NewKey(tb TB) Signer {
	tb.Helper()
	k, err := newECDSAKey()
	if err != nil {
		tb.Fatal(err)
	}
	return Signer{Key: k}
}

// VerifierPEM returns what a Rekor v1 entry stores as the verifier: the
// PEM certificate followed by the chain, or the PEM public key.
func (s Signer) VerifierPEM(tb TB) []byte {
	tb.Helper()
	if s.Cert == nil {
		p, err := PublicKeyPEM(s.Key.Public())
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	out := certPEM(s.Cert)
	for _, c := range s.Chain {
		out = append(out, certPEM(c)...)
	}
	return out
}

// KeyFingerprint is the hex SHA-256 of the signer's SubjectPublicKeyInfo.
func (s Signer) KeyFingerprint(tb TB) string {
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

func (s Signer) sign(tb TB, digest []byte) []byte {
	tb.Helper()
	sig, err := SignDigest(s.Key, digest)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func canonicalize(tb TB, pe models.ProposedEntry) []byte {
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
func HashedRekordV1(tb TB, s Signer, artifact []byte) []byte {
	tb.Helper()
	return canonicalize(tb, HashedRekord(tb, s, artifact))
}

// DSSEV1 returns the canonical body of a dsse v0.0.1 entry for an in-toto
// statement signed by every signer.
func DSSEV1(tb TB, payload []byte, signers ...Signer) []byte {
	tb.Helper()
	return canonicalize(tb, DSSE(tb, payload, signers...))
}

// leafBlock returns the first PEM block of verification material: the leaf
// of a certificate chain, or a public key.
func leafBlock(material []byte) (*pem.Block, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, errors.New("verification material holds no PEM block")
	}
	if block.Type != "CERTIFICATE" && block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("verification material is a PEM %q, want CERTIFICATE or PUBLIC KEY", block.Type)
	}
	return block, nil
}

// LeafPEM returns the first PEM block of verification material (the leaf
// of a certificate chain, or a public key) alone: what cosign uploads to
// Rekor v1 as the verifier.
func LeafPEM(material []byte) ([]byte, error) {
	block, err := leafBlock(material)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

// V2Verifier returns the Rekor v2 verifier for verification material (its
// first PEM block): the DER certificate or DER public key, with the key
// details of its key (ECDSA P-256, or RSA 2048, 3072 or 4096, all SHA-256).
func V2Verifier(material []byte) (*pb.Verifier, error) {
	block, err := leafBlock(material)
	if err != nil {
		return nil, err
	}
	var pub any
	if block.Type == "CERTIFICATE" {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing verifier certificate: %w", err)
		}
		pub = c.PublicKey
	} else if pub, err = x509.ParsePKIXPublicKey(block.Bytes); err != nil {
		return nil, fmt.Errorf("parsing verifier public key: %w", err)
	}
	var details v1.PublicKeyDetails
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if pub.Curve.Params().Name != "P-256" {
			return nil, fmt.Errorf("unsupported ECDSA curve %s (want P-256)", pub.Curve.Params().Name)
		}
		details = v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 2048:
			details = v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256
		case 3072:
			details = v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256
		case 4096:
			details = v1.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256
		default:
			return nil, fmt.Errorf("unsupported RSA key size %d", pub.N.BitLen())
		}
	default:
		return nil, fmt.Errorf("unsupported verifier key %T (want ECDSA P-256 or RSA)", pub)
	}
	v := &pb.Verifier{KeyDetails: details}
	if block.Type == "CERTIFICATE" {
		v.Verifier = &pb.Verifier_X509Certificate{X509Certificate: &v1.X509Certificate{RawBytes: block.Bytes}}
	} else {
		v.Verifier = &pb.Verifier_PublicKey{PublicKey: &pb.PublicKey{RawBytes: block.Bytes}}
	}
	return v, nil
}

// HashedRekordRequestV2 returns the Rekor v2 hashedrekord 0.0.2 request for
// a SHA-256 digest, its signature and the verification material.
func HashedRekordRequestV2(digest, sig, material []byte) (*pb.HashedRekordRequestV002, error) {
	v, err := V2Verifier(material)
	if err != nil {
		return nil, err
	}
	return &pb.HashedRekordRequestV002{Digest: digest, Signature: &pb.Signature{Content: sig, Verifier: v}}, nil
}

// v2Verifier returns the Rekor v2 verifier for s: DER certificate or DER
// public key.
func (s Signer) v2Verifier(tb TB) *pb.Verifier {
	tb.Helper()
	v, err := V2Verifier(s.VerifierPEM(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func v2Leaf(tb TB, e *pb.Entry) []byte {
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
func HashedRekordV2(tb TB, s Signer, artifact []byte) []byte {
	tb.Helper()
	digest := sha256.Sum256(artifact)
	reg, err := signature.NewAlgorithmRegistryConfig([]v1.PublicKeyDetails{v1.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256})
	if err != nil {
		tb.Fatalf("creating algorithm registry: %v", err)
	}
	req, err := HashedRekordRequestV2(digest[:], s.sign(tb, digest[:]), s.VerifierPEM(tb))
	if err != nil {
		tb.Fatal(err)
	}
	entry, err := v2hashedrekord.ToLogEntry(req, reg)
	if err != nil {
		tb.Fatalf("building hashedrekord v0.0.2 entry: %v", err)
	}
	return v2Leaf(tb, entry)
}

// DSSEV2 returns the Rekor v2 leaf of a dsse v0.0.2 entry for payload
// signed by every signer.
func DSSEV2(tb TB, payload []byte, signers ...Signer) []byte {
	tb.Helper()
	payloadHash := sha256.Sum256(payload)
	digest := sha256.Sum256(PAE(InTotoPayloadType, payload))
	d := &pb.DSSELogEntryV002{PayloadHash: &v1.HashOutput{Algorithm: v1.HashAlgorithm_SHA2_256, Digest: payloadHash[:]}}
	for _, s := range signers {
		d.Signatures = append(d.Signatures, &pb.Signature{Content: s.sign(tb, digest[:]), Verifier: s.v2Verifier(tb)})
	}
	return v2Leaf(tb, &pb.Entry{Kind: "dsse", ApiVersion: "0.0.2", Spec: &pb.Spec{Spec: &pb.Spec_DsseV002{DsseV002: d}}})
}
