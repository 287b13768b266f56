package identity

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Fulcio certificate extension OIDs, see
// https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md.
const (
	// OIDIssuerV1 is the deprecated raw-string OIDC issuer extension.
	OIDIssuerV1 = "1.3.6.1.4.1.57264.1.1"
	// OIDIssuer is the DER UTF8String OIDC issuer extension.
	OIDIssuer = "1.3.6.1.4.1.57264.1.8"
	// OIDPrefix is the arc of all Fulcio extensions, including the trailing dot.
	OIDPrefix = "1.3.6.1.4.1.57264.1."
)

// fulcioArc is 1.3.6.1.4.1.57264.1 as ints, for allocation-free comparison.
var fulcioArc = [...]int{1, 3, 6, 1, 4, 1, 57264, 1}

// fulcioOIDs caches the dotted form of 1.3.6.1.4.1.57264.1.N for small N.
var fulcioOIDs = func() [64]string {
	var s [64]string
	for i := range s {
		s[i] = OIDPrefix + strconv.Itoa(i)
	}
	return s
}()

func fulcioOID(n int) string {
	if n >= 0 && n < len(fulcioOIDs) {
		return fulcioOIDs[n]
	}
	return OIDPrefix + strconv.Itoa(n)
}

// maxChain bounds the number of certificates read from one PEM blob, as
// rekor's x509.NewPublicKey does.
const maxChain = 10

// Parser parses log entries into identities, caching parsed certificates
// and keys. The zero value and a nil *Parser are valid parsers without a
// cache. A Parser is safe for concurrent use.
type Parser struct {
	// cache maps the SHA-256 of verifier material (tagged with its format)
	// to the identity template it parses to. Nil means no caching.
	cache *lru.Cache[[sha256.Size]byte, *Identity]
}

// NewParser returns a Parser that caches up to cacheSize parsed
// certificates and keys (at most a few KiB each). cacheSize <= 0 disables
// the cache. A few thousand entries is plenty: repeated keys hit it, while
// per-signing Fulcio certificates mostly do not.
func NewParser(cacheSize int) *Parser {
	if cacheSize <= 0 {
		return &Parser{}
	}
	c, err := lru.New[[sha256.Size]byte, *Identity](cacheSize)
	if err != nil {
		// lru.New only fails for a non-positive size, excluded above.
		panic("identity: lru.New: " + err.Error())
	}
	return &Parser{cache: c}
}

// Material formats, mixed into cache keys so that equal bytes in different
// formats do not collide.
const (
	formatPEM  byte = 'p'
	formatCert byte = 'c'
	formatSPKI byte = 'k'
	// formatJSONBase64PEM is a JSON string of base64 of PEM.
	formatJSONBase64PEM byte = 'j'
)

// cached returns the identity template for material in the given format,
// parsing it with parse on a cache miss. The returned template must not be
// modified.
func (p *Parser) cached(format byte, material []byte, parse func([]byte) (*Identity, error)) (*Identity, error) {
	if p == nil || p.cache == nil {
		return parse(material)
	}
	key := sha256.Sum256(material)
	key[0] ^= format // equal bytes in different formats get different keys
	if id, ok := p.cache.Get(key); ok {
		return id, nil
	}
	id, err := parse(material)
	if err != nil {
		return nil, err
	}
	p.cache.Add(key, id)
	return id, nil
}

// fromPEM parses PEM verifier material as rekor's pki/x509 package accepts
// it: one "PUBLIC KEY" block, or one or more "CERTIFICATE" blocks (leaf
// first).
func (p *Parser) fromPEM(material []byte) (*Identity, error) {
	return p.cached(formatPEM, material, p.parsePEM)
}

// fromCertDER parses a DER certificate (Rekor v2 verifiers, and the
// intermediates of a PEM chain).
func (p *Parser) fromCertDER(der []byte) (*Identity, error) {
	return p.cached(formatCert, der, func(der []byte) (*Identity, error) {
		return certDERIdentity(der, nil)
	})
}

// certDERIdentity extracts the identity of a DER certificate, with the
// fast parser when it can and crypto/x509 otherwise. intermediates are
// the other certificates that came with it.
func certDERIdentity(der []byte, intermediates []*certRef) (*Identity, error) {
	if id, ok := fastCertIdentity(der); ok {
		id.cert = lazyCert(der, nil, intermediates)
		return id, nil
	}
	// Not a certificate the fast parser handles, or malformed:
	// crypto/x509 decides.
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	id, err := certIdentity(cert, nil)
	if err != nil {
		return nil, err
	}
	id.cert = lazyCert(der, cert, intermediates)
	return id, nil
}

// fromSPKI parses a DER SubjectPublicKeyInfo (Rekor v2 verifiers).
func (p *Parser) fromSPKI(der []byte) (*Identity, error) {
	return p.cached(formatSPKI, der, spkiIdentity)
}

func (p *Parser) parsePEM(material []byte) (*Identity, error) {
	block, rest := pem.Decode(material)
	if block == nil {
		return nil, errors.New("decoding PEM: no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return spkiIdentity(block.Bytes)
	case "CERTIFICATE":
		leaf := block.Bytes
		var chain []*certRef
		for n := 1; ; n++ {
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if n >= maxChain {
				return nil, fmt.Errorf("decoding PEM: more than %d certificates", maxChain)
			}
			if block.Type != "CERTIFICATE" {
				return nil, fmt.Errorf("decoding PEM: unexpected block type %q in certificate chain", block.Type)
			}
			// Intermediates repeat across entries: cache them on their own.
			c, err := p.fromCertDER(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %d of chain: %w", n, err)
			}
			chain = append(chain, c.cert)
		}
		return certDERIdentity(leaf, chain)
	default:
		return nil, fmt.Errorf("decoding PEM: unsupported block type %q", block.Type)
	}
}

func spkiIdentity(der []byte) (*Identity, error) {
	if _, err := x509.ParsePKIXPublicKey(der); err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	return &Identity{KeyType: KeyPKIX, KeyFingerprint: sha256Hex(der)}, nil
}

// certIdentity extracts the matchable facts of a parsed certificate: the
// reference extraction, which fastCertIdentity must agree with.
func certIdentity(cert *x509.Certificate, intermediates []*x509.Certificate) (*Identity, error) {
	id := &Identity{
		KeyType:         KeyX509,
		Emails:          cert.EmailAddresses,
		DNSNames:        cert.DNSNames,
		CertFingerprint: sha256Hex(cert.Raw),
		KeyFingerprint:  sha256Hex(cert.RawSubjectPublicKeyInfo),
		cert:            parsedCert(cert, intermediates),
	}
	if len(cert.URIs) > 0 {
		id.URIs = make([]string, len(cert.URIs))
		for i, u := range cert.URIs {
			id.URIs[i] = u.String()
		}
	}
	if len(cert.EmailAddresses)+len(cert.URIs)+len(cert.DNSNames)+len(cert.IPAddresses) == 0 {
		// Fulcio puts usernames in an OtherName SAN, which crypto/x509
		// does not parse.
		if name, err := cryptoutils.UnmarshalOtherNameSAN(cert.Extensions); err == nil {
			id.OtherNames = []string{name}
		}
	}
	var issuerV1 string
	for _, ext := range cert.Extensions {
		n, ok := fulcioExtension(ext.Id)
		if !ok || n == 7 {
			continue // 1.7 is the OtherName type id, never an extension
		}
		var v string
		if n <= 6 {
			// SPEC: 1.3.6.1.4.1.57264.1.1 to .6 are deprecated and hold
			// the raw string value, not DER.
			v = string(ext.Value)
		} else {
			// SPEC: .8 onwards are DER-encoded UTF8Strings.
			var ok bool
			if v, ok = derString(ext.Value); !ok {
				return nil, fmt.Errorf("parsing certificate extension %s: not a DER string", fulcioOID(n))
			}
		}
		if id.Extensions == nil {
			id.Extensions = make(map[string]string, 16)
		}
		id.Extensions[fulcioOID(n)] = v
		switch n {
		case 1:
			issuerV1 = v
		case 8:
			id.Issuer = v
		}
	}
	if id.Issuer == "" {
		id.Issuer = issuerV1
	}
	return id, nil
}

// derString decodes a DER UTF8String (or another ASN.1 string type
// encoding/asn1 accepts for a Go string) filling all of b.
func derString(b []byte) (string, bool) {
	in := cryptobyte.String(b)
	var out cryptobyte.String
	var tag cbasn1.Tag
	if !in.ReadAnyASN1(&out, &tag) || !in.Empty() {
		return "", false
	}
	switch tag {
	case cbasn1.UTF8String, cbasn1.PrintableString, cbasn1.IA5String:
		if tag == cbasn1.UTF8String && !utf8.Valid(out) {
			return "", false
		}
		return string(out), true
	}
	return "", false
}

// fulcioExtension reports whether oid is 1.3.6.1.4.1.57264.1.N and returns N.
func fulcioExtension(oid asn1.ObjectIdentifier) (int, bool) {
	if len(oid) != len(fulcioArc)+1 {
		return 0, false
	}
	for i, v := range fulcioArc {
		if oid[i] != v {
			return 0, false
		}
	}
	return oid[len(fulcioArc)], true
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}
