package identitytest

// Keys and signatures for programs and tests: crypto.Signer values that the
// Rekor uploads (internal/stack) and the entry builders sign SHA-256 digests
// with. ECDSA P-256 signs ASN.1 signatures, RSA PKCS#1 v1.5.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// newECDSAKey returns a fresh ECDSA P-256 key, the kind cosign makes for
// keyless signing.
func newECDSAKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ECDSA key: %w", err)
	}
	return k, nil
}

// NewSigner returns a fresh ECDSA P-256 key.
func NewSigner() (crypto.Signer, error) {
	k, err := newECDSAKey()
	if err != nil {
		return nil, err
	}
	return k, nil
}

// LoadSigner reads a PEM private key file (PKCS#8, SEC 1 "EC PRIVATE KEY" or
// PKCS#1 "RSA PRIVATE KEY"), e.g. CLIENT_KEY or REKOR_PRIVKEY of the stack env.
func LoadSigner(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	return ParseSigner(raw)
}

// ParseSigner parses a PEM private key, see [LoadSigner].
func ParseSigner(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parsing private key: no PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parsing private key: %T is not a crypto.Signer", k)
	}
	return s, nil
}

// PrivateKeyPEM encodes key as a PEM "PRIVATE KEY" (PKCS#8) block, as
// rekor-server's file signer and [LoadSigner] read it.
func PrivateKeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshaling private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" (PKIX) block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshaling public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// checkSigner rejects keys the helpers cannot sign SHA-256 digests with.
func checkSigner(s crypto.Signer) error {
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return fmt.Errorf("unsupported ECDSA curve %s (want P-256)", pub.Curve.Params().Name)
		}
	case *rsa.PublicKey:
	default:
		return fmt.Errorf("unsupported signer key %T (want ECDSA P-256 or RSA)", pub)
	}
	return nil
}

// SignDigest signs a SHA-256 digest with an ECDSA P-256 (ASN.1 signature) or
// RSA (PKCS#1 v1.5) key.
func SignDigest(s crypto.Signer, digest []byte) ([]byte, error) {
	if err := checkSigner(s); err != nil {
		return nil, err
	}
	sig, err := s.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return sig, nil
}

var artifactSeq atomic.Int64

// Artifact returns bytes no other call in the process returns, to sign as a
// fresh artifact (a real Rekor v1 refuses an entry it already holds).
func Artifact() []byte {
	return fmt.Appendf(nil, "vigil test artifact %d/%d", time.Now().UnixNano(), artifactSeq.Add(1))
}
