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
)

// Validity periods and the renewal margin of the bootstrap PKI.
const (
	CAValidity      = 10 * 365 * 24 * time.Hour
	ServingValidity = 397 * 24 * time.Hour // the longest a browser accepts
	RenewBefore     = 30 * 24 * time.Hour
)

// CA is the private certificate authority that signs the serving
// certificates of the Sigstore ingresses. Its certificate is what users add to
// their trust store (and pass to cosign as --ca-roots when they do not).
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	Key     crypto.Signer
}

// ErrBadCA reports a CA certificate or key file that cannot be used.
var ErrBadCA = errors.New("unusable CA")

// NewCA creates a CA with an ECDSA P-256 key whose certificate is valid from
// now (minus a minute of clock skew) for [CAValidity].
func NewCA(commonName string, now time.Time) (*CA, error) {
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
		NotAfter:              now.Add(CAValidity),
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
	return &CA{Cert: cert, CertPEM: pemEncode("CERTIFICATE", der), Key: key}, nil
}

// LoadCA reads a CA written by [CA.Write] from dir (ca.crt, ca.key). It
// returns an error wrapping [os.ErrNotExist] when either file is missing.
func LoadCA(dir string) (*CA, error) {
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
		return nil, fmt.Errorf("%w: %s: %w", ErrBadCA, filepath.Join(dir, "ca.crt"), err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, fmt.Errorf("%w: %s: no PEM block", ErrBadCA, filepath.Join(dir, "ca.key"))
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parsing %s: %w", ErrBadCA, filepath.Join(dir, "ca.key"), err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s holds a %T, not a signing key", ErrBadCA, filepath.Join(dir, "ca.key"), k)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCA, err)
	}
	if !bytes.Equal(pub, cert.RawSubjectPublicKeyInfo) {
		return nil, fmt.Errorf("%w: ca.key does not belong to ca.crt in %s", ErrBadCA, dir)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%w: %s is not a CA certificate", ErrBadCA, filepath.Join(dir, "ca.crt"))
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: signer}, nil
}

// Write stores the CA in dir as ca.crt (0644, for trust stores) and ca.key
// (0600), each written atomically.
func (ca *CA) Write(dir string) error {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return fmt.Errorf("encoding CA key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, "ca.key"), pemEncode("PRIVATE KEY", der), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, "ca.crt"), ca.CertPEM, 0o644)
}

// ServingCert is a TLS key pair for one or more host names, in the PEM form a
// kubernetes.io/tls Secret holds.
type ServingCert struct {
	CertPEM []byte // leaf, then the CA
	KeyPEM  []byte
}

// Issue creates a serving certificate for hosts valid for [ServingValidity].
func (ca *CA) Issue(hosts []string, now time.Time) (*ServingCert, error) {
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
		NotAfter:       now.Add(ServingValidity),
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
	return &ServingCert{CertPEM: chain, KeyPEM: pemEncode("PRIVATE KEY", kder)}, nil
}

// CheckServing reports why certPEM (a leaf first) is not a usable serving
// certificate from ca for hosts at now: not parseable, not signed by ca, a host
// missing, or expiring within [RenewBefore]. A nil result means keep it.
func (ca *CA) CheckServing(certPEM []byte, hosts []string, now time.Time) error {
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
	if leaf.NotAfter.Before(now.Add(RenewBefore)) {
		return fmt.Errorf("expires %s, within %v", leaf.NotAfter.Format(time.DateOnly), RenewBefore)
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

// writeFileAtomic writes data to path through a temporary file in the same
// directory: write, fsync, rename, fsync the directory. On error the
// temporary file is removed and path is untouched.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
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
	return true, writeFileAtomic(path, data, perm)
}
