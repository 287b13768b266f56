package identity

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Fast certificate extraction
//
// crypto/x509.ParseCertificate builds a full *x509.Certificate: every
// name, OID, extension and the public key, at a few dozen allocations per
// certificate. Identity extraction needs only the SANs, the Fulcio
// extensions and the SubjectPublicKeyInfo bytes, and Fulcio certificates
// are unique per signature, so caching does not help. fastCertIdentity
// walks the DER with cryptobyte, checks the structure exactly as
// crypto/x509 (go1.26 parser.go) does, and extracts only those facts; the
// *x509.Certificate is parsed lazily, for CA rules (see
// [Identity.Certificate]).
//
// fastCertIdentity gives up (ok=false) on anything it does not check as
// crypto/x509 would: the name constraints, CRL distribution points,
// certificate policies, policy mappings, policy constraints, inhibit
// anyPolicy and authority information access extensions, negative serial
// numbers, more than maxFastExtensions extensions, and every error. The
// caller then parses with crypto/x509, whose verdict is definitive. The one
// check it skips is the decoding of the public key itself (a structurally
// valid SubjectPublicKeyInfo whose key bytes crypto/x509 rejects, e.g. an
// EC point not on the curve): [Identity.Certificate] reports that error.
// TestFastCertMatchesX509 and FuzzFastCertMatchesX509 check all of this.

// maxFastExtensions bounds the extensions of a certificate the fast path
// handles (duplicates are found by pairwise comparison).
const maxFastExtensions = 32

// DER encodings of OIDs the fast path recognizes.
var (
	// derFulcioArc is 1.3.6.1.4.1.57264.1.
	derFulcioArc = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xbf, 0x30, 0x01}
	// derIDCE is 2.5.29 (id-ce).
	derIDCE = []byte{0x55, 0x1d}
	// derAIA is 1.3.6.1.5.5.7.1.1 (authority information access).
	derAIA = []byte{0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x01}
)

// X.509 GeneralName tags as crypto/x509 reads them (tag ^ 0x80).
const (
	nameTypeEmail = 1
	nameTypeDNS   = 2
	nameTypeURI   = 6
	nameTypeIP    = 7
)

// fastCertIdentity extracts the identity of a DER certificate without
// crypto/x509. ok is false when the certificate is not one it handles or
// is malformed; the caller then decides with crypto/x509.
func fastCertIdentity(der []byte) (id *Identity, ok bool) {
	input := cryptobyte.String(der)
	var certSeq cryptobyte.String
	if !input.ReadASN1Element(&certSeq, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, false // x509: malformed certificate / trailing data
	}
	var cert cryptobyte.String
	if !certSeq.ReadASN1(&cert, cbasn1.SEQUENCE) {
		return nil, false
	}
	var tbs cryptobyte.String
	if !cert.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, false
	}
	var version int
	if !tbs.ReadOptionalASN1Integer(&version, cbasn1.Tag(0).Constructed().ContextSpecific(), 0) ||
		version < 0 || version > 2 {
		return nil, false
	}
	var serial cryptobyte.String
	if !tbs.ReadASN1(&serial, cbasn1.INTEGER) || !validASN1Integer(serial) || serial[0]&0x80 != 0 {
		return nil, false // malformed or negative serial number
	}
	var sigAI, outerSigAI cryptobyte.String
	if !tbs.ReadASN1(&sigAI, cbasn1.SEQUENCE) ||
		!cert.ReadASN1(&outerSigAI, cbasn1.SEQUENCE) ||
		!bytes.Equal(sigAI, outerSigAI) || !validAI(sigAI) {
		return nil, false
	}
	var issuer cryptobyte.String
	if !tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) || !validName(issuer) {
		return nil, false
	}
	var validity cryptobyte.String
	if !tbs.ReadASN1(&validity, cbasn1.SEQUENCE) || !validTime(&validity) || !validTime(&validity) {
		return nil, false
	}
	var subject cryptobyte.String
	if !tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) || !validName(subject) {
		return nil, false
	}
	var spkiElem, spki, pkAI cryptobyte.String
	if !tbs.ReadASN1Element(&spkiElem, cbasn1.SEQUENCE) {
		return nil, false
	}
	spki = spkiElem
	if !spki.ReadASN1(&spki, cbasn1.SEQUENCE) || !spki.ReadASN1(&pkAI, cbasn1.SEQUENCE) || !validAI(pkAI) {
		return nil, false
	}
	var spk []byte
	if !readBitString(&spki, &spk) {
		return nil, false
	}
	// The public key itself is not decoded (see above).

	id = &Identity{
		KeyType:         KeyX509,
		CertFingerprint: sha256Hex(der),
		KeyFingerprint:  sha256Hex(spkiElem),
	}
	var exts cryptobyte.String
	var present bool
	if version >= 1 { // v2 or v3
		if !tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) ||
			!tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) {
			return nil, false
		}
		if version == 2 {
			if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
				return nil, false
			}
		}
	}
	if present && !id.readExtensions(exts) {
		return nil, false
	}
	var sig []byte
	if !readBitString(&cert, &sig) {
		return nil, false
	}
	return id, true
}

// readExtensions checks the extensions as crypto/x509 does and fills in
// the SANs and Fulcio extensions of id.
func (id *Identity) readExtensions(exts cryptobyte.String) bool {
	if !exts.ReadASN1(&exts, cbasn1.SEQUENCE) {
		return false
	}
	var seen [maxFastExtensions]cryptobyte.String
	var san cryptobyte.String
	var hasSAN, hasIP, ok bool
	var issuerV1 string
	// The Fulcio extensions, collected to size the map.
	type fulcioValue struct {
		n int
		v string
	}
	var fulcio [maxFastExtensions]fulcioValue
	nFulcio := 0
	for n := 0; !exts.Empty(); n++ {
		if n == maxFastExtensions {
			return false
		}
		var ext, oid, value cryptobyte.String
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) ||
			!ext.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !validOID(oid) {
			return false
		}
		critical := false
		if ext.PeekASN1Tag(cbasn1.BOOLEAN) && !ext.ReadASN1Boolean(&critical) {
			return false
		}
		if !ext.ReadASN1(&value, cbasn1.OCTET_STRING) {
			return false
		}
		for _, s := range seen[:n] {
			if bytes.Equal(s, oid) {
				return false // duplicate extension
			}
		}
		seen[n] = oid

		switch {
		case len(oid) == 3 && bytes.HasPrefix(oid, derIDCE):
			switch oid[2] {
			case 14: // subject key identifier
				var skid cryptobyte.String
				if critical || !value.ReadASN1(&skid, cbasn1.OCTET_STRING) {
					return false
				}
			case 15: // key usage
				var ku []byte
				if !readBitString(&value, &ku) {
					return false
				}
			case 17: // subject alternative name
				san, hasSAN = value, true
				if hasIP, ok = id.readSANs(value); !ok {
					return false
				}
			case 19: // basic constraints
				if !validBasicConstraints(value) {
					return false
				}
			case 35: // authority key identifier
				var akid cryptobyte.String
				if critical || !value.ReadASN1(&akid, cbasn1.SEQUENCE) {
					return false
				}
				if akid.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()) && !akid.ReadASN1(&akid, cbasn1.Tag(0).ContextSpecific()) {
					return false
				}
			case 37: // extended key usage
				if !value.ReadASN1(&value, cbasn1.SEQUENCE) {
					return false
				}
				for !value.Empty() {
					var eku cryptobyte.String
					if !value.ReadASN1(&eku, cbasn1.OBJECT_IDENTIFIER) || !validOID(eku) {
						return false
					}
				}
			case 30, 31, 32, 33, 36, 54:
				return false // parsed by crypto/x509, not checked here
			}
		case bytes.Equal(oid, derAIA):
			return false // parsed by crypto/x509, not checked here
		case len(oid) > len(derFulcioArc) && bytes.HasPrefix(oid, derFulcioArc):
			rest := cryptobyte.String(oid[len(derFulcioArc):])
			var n int
			if !readBase128Int(&rest, &n) || !rest.Empty() || n == 7 {
				continue // not 1.3.6.1.4.1.57264.1.N, or the OtherName type id
			}
			var v string
			if n <= 6 {
				v = string(value)
			} else {
				var ok bool
				if v, ok = derString(value); !ok {
					return false // certIdentity reports the error
				}
			}
			fulcio[nFulcio] = fulcioValue{n, v}
			nFulcio++
			switch n {
			case 1:
				issuerV1 = v
			case 8:
				id.Issuer = v
			}
		}
	}
	if nFulcio > 0 {
		id.Extensions = make(map[string]string, nFulcio)
		for _, e := range fulcio[:nFulcio] {
			id.Extensions[fulcioOID(e.n)] = e.v
		}
	}
	if id.Issuer == "" {
		id.Issuer = issuerV1
	}
	if hasSAN && len(id.Emails)+len(id.URIs)+len(id.DNSNames) == 0 && !hasIP {
		exts := []pkix.Extension{{Id: cryptoutils.SANOID, Value: san}}
		if name, err := cryptoutils.UnmarshalOtherNameSAN(exts); err == nil {
			id.OtherNames = []string{name}
		}
	}
	return true
}

// readSANs reads a SubjectAltName extension value as crypto/x509's
// parseSANExtension does, and reports whether it has an IP address.
func (id *Identity) readSANs(der cryptobyte.String) (hasIP, ok bool) {
	if !der.ReadASN1(&der, cbasn1.SEQUENCE) {
		return false, false
	}
	for !der.Empty() {
		var data cryptobyte.String
		var tag cbasn1.Tag
		if !der.ReadAnyASN1(&data, &tag) {
			return false, false
		}
		switch int(tag ^ 0x80) {
		case nameTypeEmail:
			if !isIA5(data) {
				return false, false
			}
			id.Emails = append(id.Emails, string(data))
		case nameTypeDNS:
			if !isIA5(data) {
				return false, false
			}
			id.DNSNames = append(id.DNSNames, string(data))
		case nameTypeURI:
			if !isIA5(data) {
				return false, false
			}
			u, err := url.Parse(string(data))
			if err != nil || len(u.Host) > 0 && !domainNameValid(u.Host) {
				return false, false
			}
			id.URIs = append(id.URIs, u.String())
		case nameTypeIP:
			if len(data) != 4 && len(data) != 16 {
				return false, false
			}
			hasIP = true
		}
	}
	return hasIP, true
}

func validBasicConstraints(der cryptobyte.String) bool {
	if !der.ReadASN1(&der, cbasn1.SEQUENCE) {
		return false
	}
	if der.PeekASN1Tag(cbasn1.BOOLEAN) {
		var isCA bool
		if !der.ReadASN1Boolean(&isCA) {
			return false
		}
	}
	if der.PeekASN1Tag(cbasn1.INTEGER) {
		var mpl uint64
		if !der.ReadASN1Integer(&mpl) || mpl > uint64(^uint(0)>>1) {
			return false
		}
	}
	return true
}

// validAI checks an AlgorithmIdentifier's contents as crypto/x509's
// parseAI does.
func validAI(der cryptobyte.String) bool {
	var oid cryptobyte.String
	if !der.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !validOID(oid) {
		return false
	}
	if der.Empty() {
		return true
	}
	var params cryptobyte.String
	var tag cbasn1.Tag
	return der.ReadAnyASN1Element(&params, &tag)
}

// validName checks a Name (an RDNSequence, with its SEQUENCE header) as
// crypto/x509's parseName does.
func validName(raw cryptobyte.String) bool {
	if !raw.ReadASN1(&raw, cbasn1.SEQUENCE) {
		return false
	}
	for !raw.Empty() {
		var set cryptobyte.String
		if !raw.ReadASN1(&set, cbasn1.SET) {
			return false
		}
		for !set.Empty() {
			var atv, oid, value cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadASN1(&atv, cbasn1.SEQUENCE) ||
				!atv.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !validOID(oid) ||
				!atv.ReadAnyASN1(&value, &tag) || !validASN1String(tag, value) {
				return false
			}
		}
	}
	return true
}

// validASN1String reports whether crypto/x509's parseASN1String accepts
// value.
func validASN1String(tag cbasn1.Tag, value []byte) bool {
	switch tag {
	case cbasn1.T61String:
		return true
	case cbasn1.PrintableString:
		for _, b := range value {
			if !isPrintable(b) {
				return false
			}
		}
		return true
	case cbasn1.UTF8String:
		return utf8.Valid(value)
	case cbasn1.Tag(30): // BMPString
		if len(value)%2 != 0 {
			return false
		}
		if l := len(value); l >= 2 && value[l-1] == 0 && value[l-2] == 0 {
			value = value[:l-2]
		}
		for ; len(value) > 0; value = value[2:] {
			p := uint16(value[0])<<8 | uint16(value[1])
			if p == 0xfffe || p == 0xffff || p >= 0xfdd0 && p <= 0xfdef || p >= 0xd800 && p <= 0xdfff {
				return false
			}
		}
		return true
	case cbasn1.IA5String:
		return isIA5(value)
	case cbasn1.Tag(18): // NumericString
		for _, b := range value {
			if !('0' <= b && b <= '9' || b == ' ') {
				return false
			}
		}
		return true
	}
	return false
}

// isPrintable is crypto/x509's PrintableString alphabet (with '*' and '&').
func isPrintable(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		'\'' <= b && b <= ')' || '+' <= b && b <= '/' ||
		b == ' ' || b == ':' || b == '=' || b == '?' || b == '*' || b == '&'
}

// isIA5 reports whether b is ASCII (crypto/x509's isIA5String).
func isIA5(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// domainNameValid is crypto/x509's check of a URI SAN's host
// (domainNameValid(s, false) in go1.26).
func domainNameValid(s string) bool {
	if len(s) == 0 {
		return true
	}
	if s[len(s)-1] == '.' {
		return false
	}
	lastDot := -1
	for i := 0; i <= len(s); i++ {
		if i < len(s) && (s[i] < 33 || s[i] > 126) {
			return false
		}
		if i == len(s) || s[i] == '.' {
			labelLen := i
			if lastDot >= 0 {
				labelLen -= lastDot + 1
			}
			if labelLen == 0 {
				return false
			}
			lastDot = i
		}
	}
	return true
}

// validTime reads a UTCTime or GeneralizedTime as crypto/x509's parseTime.
func validTime(der *cryptobyte.String) bool {
	var t time.Time
	switch {
	case der.PeekASN1Tag(cbasn1.UTCTime):
		return der.ReadASN1UTCTime(&t)
	case der.PeekASN1Tag(cbasn1.GeneralizedTime):
		return der.ReadASN1GeneralizedTime(&t)
	}
	return false
}

// readBitString reads a BIT STRING with the checks of cryptobyte's
// ReadASN1BitString, without allocating.
func readBitString(s *cryptobyte.String, out *[]byte) bool {
	var b cryptobyte.String
	if !s.ReadASN1(&b, cbasn1.BIT_STRING) || len(b) == 0 || len(b)*8/8 != len(b) {
		return false
	}
	padding := b[0]
	if padding > 7 || len(b) == 1 && padding > 0 || b[len(b)-1]&(1<<padding-1) != 0 {
		return false
	}
	*out = b[1:]
	return true
}

// validASN1Integer reports whether b is a minimally encoded INTEGER.
func validASN1Integer(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if len(b) == 1 {
		return true
	}
	return !(b[0] == 0 && b[1]&0x80 == 0 || b[0] == 0xff && b[1]&0x80 == 0x80)
}

// validOID reports whether cryptobyte's ReadASN1ObjectIdentifier accepts
// the contents of an OBJECT IDENTIFIER.
func validOID(b cryptobyte.String) bool {
	if len(b) == 0 {
		return false
	}
	var v int
	for !b.Empty() {
		if !readBase128Int(&b, &v) {
			return false
		}
	}
	return true
}

// readBase128Int is cryptobyte's OID component decoder.
func readBase128Int(s *cryptobyte.String, out *int) bool {
	ret := 0
	for i := 0; len(*s) > 0; i++ {
		if i == 5 || ret >= 1<<(31-7) {
			return false
		}
		ret <<= 7
		b := (*s)[0]
		*s = (*s)[1:]
		if i == 0 && b == 0x80 {
			return false
		}
		ret |= int(b & 0x7f)
		if b&0x80 == 0 {
			*out = ret
			return true
		}
	}
	return false // truncated
}

// certRef is a signing certificate and the certificates that came with it,
// parsed with crypto/x509 on first use and shared by every copy of an
// Identity.
type certRef struct {
	der           []byte
	intermediates []*certRef
	// precert marks a CT precertificate: load clears its poison
	// extension (clearPoison).
	precert bool

	once sync.Once
	pc   parsedCerts
	err  error
}

type parsedCerts struct {
	leaf          *x509.Certificate
	intermediates []*x509.Certificate
}

// lazyCert returns a certRef for der and its intermediates; leaf, if not
// nil, is der already parsed.
func lazyCert(der []byte, leaf *x509.Certificate, intermediates []*certRef) *certRef {
	return &certRef{der: der, pc: parsedCerts{leaf: leaf}, intermediates: intermediates}
}

// parsedCert returns a certRef holding already parsed certificates.
func parsedCert(leaf *x509.Certificate, intermediates []*x509.Certificate) *certRef {
	r := &certRef{pc: parsedCerts{leaf: leaf, intermediates: intermediates}}
	r.once.Do(func() {})
	return r
}

// load parses the certificates on first use.
func (r *certRef) load() (parsedCerts, error) {
	r.once.Do(func() {
		if r.pc.leaf == nil {
			leaf, err := x509.ParseCertificate(r.der)
			if err != nil {
				r.err = fmt.Errorf("parsing certificate: %w", err)
				return
			}
			if r.precert {
				clearPoison(leaf)
			}
			r.pc.leaf = leaf
		}
		for i, c := range r.intermediates {
			ipc, err := c.load()
			if err != nil {
				r.pc, r.err = parsedCerts{}, fmt.Errorf("certificate %d of chain: %w", i+1, err)
				return
			}
			r.pc.intermediates = append(r.pc.intermediates, ipc.leaf)
		}
	})
	return r.pc, r.err
}
