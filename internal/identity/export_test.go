package identity

import "crypto/x509"

// Internals for the tests in package identity_test. Tests that build their
// certificates and entries with identitytest must live there: identitytest
// imports this package.

// FulcioOID is the dotted OID of Fulcio extension 1.3.6.1.4.1.57264.1.n.
var FulcioOID = fulcioOID

// FastCertIdentity is the fast certificate parser alone.
var FastCertIdentity = fastCertIdentity

// CertIdentity extracts the identity of cert through crypto/x509.
func CertIdentity(cert *x509.Certificate) (*Identity, error) { return certIdentity(cert, nil) }

// CertDERIdentity is the fast certificate parser with its crypto/x509 fallback.
func CertDERIdentity(der []byte) (*Identity, error) { return certDERIdentity(der, nil) }

// ParseV2Fast is the JSON fast path of the Rekor v2 decoder.
func (p *Parser) ParseV2Fast(leaf []byte) ([]Identity, bool) { return p.parseV2Fast(leaf) }

// ParseV2Proto is the protojson path of the Rekor v2 decoder.
func (p *Parser) ParseV2Proto(leaf []byte) ([]Identity, error) { return p.parseV2Proto(leaf) }

// DigestsV2Fast is the JSON fast path of DigestsV2.
var DigestsV2Fast = digestsV2Fast

// DigestsV2Proto is the protojson path of DigestsV2.
var DigestsV2Proto = digestsV2Proto

// DigestsV1General is DigestsV1 without its canonical fast path.
var DigestsV1General = digestsV1General

// DigestsV2Canonical is the canonical-prefix fast path of DigestsV2.
var DigestsV2Canonical = digestsV2Canonical

// DigestsV1Canonical is the canonical-prefix fast path of DigestsV1.
var DigestsV1Canonical = digestsV1Canonical
