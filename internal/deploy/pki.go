package deploy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/vigil-tlog/vigil/internal/state"
)

// Validity periods and the renewal margin of the bootstrap PKI.
const (
	caValidity      = 10 * 365 * 24 * time.Hour
	servingValidity = 397 * 24 * time.Hour // the longest a browser accepts
	renewBefore     = 30 * 24 * time.Hour
)

// certAuthority is the private certificate authority that signs the serving
// certificates of the Sigstore ingresses. Its certificate is what users add to
// their trust store (and pass to cosign as --ca-roots when they do not).
type certAuthority struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer
}

// errBadCA reports a CA certificate or key file that cannot be used.
var errBadCA = errors.New("unusable CA")

// newCA creates a CA with an ECDSA P-256 key whose certificate is valid from
// now (minus a minute of clock skew) for [caValidity].
func newCA(commonName string, now time.Time) (*certAuthority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Vigil bootstrap"}},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(caValidity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	return &certAuthority{Cert: cert, CertPEM: pemEncode("CERTIFICATE", der), Key: key}, nil
}

// loadCA reads a CA written by [certAuthority.Write] from dir (ca.crt, ca.key). It
// returns an error wrapping [os.ErrNotExist] when either file is missing.
func loadCA(dir string) (*certAuthority, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("reading CA key: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errBadCA, filepath.Join(dir, "ca.crt"), err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%w: %s: no PEM block", errBadCA, filepath.Join(dir, "ca.key"))
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %w", errBadCA, filepath.Join(dir, "ca.key"), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, not a signing key", errBadCA, filepath.Join(dir, "ca.key"), k)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadCA, err)
	}
	if !bytes.Equal(pub, cert.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("%w: ca.key does not belong to ca.crt in %s", errBadCA, dir)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", errBadCA, filepath.Join(dir, "ca.crt"))
	}
	return &certAuthority{Cert: cert, CertPEM: certPEM, Key: signer}, nil
}

// Write stores the CA in dir as ca.crt (0644, for trust stores) and ca.key
// (0600), each written atomically.
func (ca *certAuthority) Write(dir string) error {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return fmt.Errorf("encoding CA key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := state.WriteFileAtomic(filepath.Join(dir, "ca.key"), pemEncode("PRIVATE KEY", der), 0o600); err != nil {
		return err
	}
	return state.WriteFileAtomic(filepath.Join(dir, "ca.crt"), ca.CertPEM, 0o644)
}

// servingCert is a TLS key pair for one or more host names, in the PEM form a
// kubernetes.io/tls Secret holds.
type servingCert struct {
	CertPEM []byte // leaf, then the CA
	KeyPEM  []byte
}

// Issue creates a serving certificate for hosts valid for [servingValidity].
func (ca *certAuthority) Issue(hosts []string, now time.Time) (*servingCert, error) {
	if len(hosts) == 0 {
		return nil, errors.New("issuing serving certificate: no host names")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: hosts[0]},
		DNSNames:       slices.Clone(hosts),
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       now.Add(servingValidity),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		AuthorityKeyId: ca.Cert.SubjectKeyId,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing serving certificate for %v: %w", hosts, err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding serving key: %w", err)
	}
	chain := append(pemEncode("CERTIFICATE", der), ca.CertPEM...)
	return &servingCert{CertPEM: chain, KeyPEM: pemEncode("PRIVATE KEY", kder)}, nil
}

// CheckServing reports why certPEM (a leaf first) is not a usable serving
// certificate from ca for hosts at now: not parseable, not signed by ca, a host
// missing, or expiring within [renewBefore]. A nil result means keep it.
func (ca *certAuthority) CheckServing(certPEM []byte, hosts []string, now time.Time) error {
	leaf, err := parseCertPEM(certPEM)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, h := range hosts {
		if _, err := leaf.Verify(x509.VerifyOptions{
			DNSName: h, Roots: pool, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}); err != nil {
			return fmt.Errorf("verifying for %s: %w", h, err)
		}
	}
	if leaf.NotAfter.Before(now.Add(renewBefore)) {
		return fmt.Errorf("expires %s, within %v", leaf.NotAfter.Format(time.DateOnly), renewBefore)
	}
	return nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// parseCertsPEM returns every certificate in a PEM bundle.
func parseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return certs, nil
}

func pemEncode(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return s.Add(s, big.NewInt(1)), nil
}

func keyID(pub *ecdsa.PublicKey) []byte {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	sum := sha256.Sum256(der)
	return sum[:20]
}

// writeFileIfChanged writes data atomically unless path already holds
// exactly data with mode perm; it reports whether it wrote.
func writeFileIfChanged(path string, data []byte, perm os.FileMode) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() == perm {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	return true, state.WriteFileAtomic(path, data, perm)
}
