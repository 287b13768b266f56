package identity

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Certificate transparency
//
// A CT log entry names its signer by certificate: the leaf of an X.509
// entry, or for a precertificate entry the precertificate (the final
// certificate with the critical poison extension 1.3.6.1.4.1.11129.2.4.3
// instead of the SCT list, signed by the CA). Package ctleaf decodes the
// entries and hands the certificates here.

// Entry kinds of certificate transparency log entries, as reported in
// [Identity.EntryKind] and [MalformedError.Kind].
const (
	KindCTX509    = "ct:x509"
	KindCTPrecert = "ct:precert"
)

// oidCTPoison is the CT precertificate poison extension (RFC 6962 section
// 3.1).
var oidCTPoison = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}

// ParseCT is [Parser.ParseCT] without a cache.
func ParseCT(entryKind string, chain [][]byte) ([]Identity, error) {
	return (*Parser)(nil).ParseCT(entryKind, chain)
}

// ParseCTTBS is [Parser.ParseCTTBS] without a cache.
func ParseCTTBS(entryKind string, tbs []byte) ([]Identity, error) {
	return (*Parser)(nil).ParseCTTBS(entryKind, tbs)
}

// ParseCT returns the signer of a certificate transparency entry of kind
// entryKind ([KindCTX509] or [KindCTPrecert]): chain[0] is the certificate
// (DER) that signs, the X.509 entry's certificate or the precertificate,
// and chain[1:] are its issuers as the log gives them, the identity's
// intermediates (at most the first 9 are kept). It returns one Identity,
// or a *MalformedError.
//
// crypto/x509 refuses to verify a certificate with an unhandled critical
// extension, which the poison extension of every precertificate is: when
// the precertificate is parsed with crypto/x509 (on first use by a CA
// rule, see [Identity.Certificate]), the poison extension (only it) is
// cleared from its UnhandledCriticalExtensions, so that CA rules verify it
// like the final certificate. The identity itself comes from the fast
// parser, as for any certificate (see precertIdentity).
func (p *Parser) ParseCT(entryKind string, chain [][]byte) ([]Identity, error) {
	fail := func(err error) ([]Identity, error) { return nil, &MalformedError{Kind: entryKind, Err: err} }
	if entryKind != KindCTX509 && entryKind != KindCTPrecert {
		return fail(ErrUnknownKind)
	}
	if len(chain) == 0 || len(chain[0]) == 0 {
		return fail(errors.New("no certificate"))
	}
	var intermediates []*certRef
	for i, der := range chain[1:min(len(chain), maxChain)] {
		c, err := p.fromCertDER(der)
		if err != nil {
			return fail(fmt.Errorf("certificate %d of chain: %w", i+1, err))
		}
		intermediates = append(intermediates, c.cert)
	}
	var id *Identity
	if entryKind == KindCTX509 {
		var err error
		if id, err = certDERIdentity(chain[0], intermediates); err != nil {
			return fail(err)
		}
	} else {
		var err error
		if id, err = precertIdentity(chain[0], intermediates); err != nil {
			return fail(err)
		}
	}
	id.EntryKind = entryKind
	return []Identity{*id}, nil
}

// precertIdentity extracts the identity of a DER precertificate as
// certDERIdentity does a certificate's: with the fast parser when it can,
// deferring crypto/x509 (and the clearing of the poison extension, see
// clearPoison) to the first use of the certificate by a CA rule; with
// crypto/x509 at once otherwise, whose verdict is then definitive. The
// identity is the same either way (TestPrecertFastMatchesX509): the
// poison extension is no Fulcio extension and no SAN, and certIdentity
// does not read UnhandledCriticalExtensions. As for any certificate, a
// public key that crypto/x509 refuses in a structurally valid
// SubjectPublicKeyInfo is reported by [Identity.Certificate], not here.
func precertIdentity(der []byte, intermediates []*certRef) (*Identity, error) {
	if id, ok := fastCertIdentity(der); ok {
		id.cert = lazyCert(der, nil, intermediates)
		id.cert.precert = true
		return id, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing precertificate: %w", err)
	}
	clearPoison(cert)
	id, err := certIdentity(cert, nil)
	if err != nil {
		return nil, err
	}
	id.cert = lazyCert(der, cert, intermediates)
	id.cert.precert = true
	return id, nil
}

// clearPoison removes the CT poison extension (only it) from the
// UnhandledCriticalExtensions of a parsed precertificate, which
// crypto/x509 would otherwise refuse to verify.
func clearPoison(cert *x509.Certificate) {
	cert.UnhandledCriticalExtensions = slices.DeleteFunc(slices.Clone(cert.UnhandledCriticalExtensions),
		func(oid asn1.ObjectIdentifier) bool { return oid.Equal(oidCTPoison) })
}

// ParseCTTBS returns the identity named by a bare TBSCertificate (DER), as
// the leaf of a precertificate entry holds it when the precertificate
// itself is not at hand. The TBSCertificate is read as a certificate with
// an empty signature: the identity has the names, Fulcio extensions and
// key fingerprint, but no certificate fingerprint and no certificate, so
// rules with a CA bundle never match it. It returns one Identity of kind
// entryKind, or a *MalformedError.
func (p *Parser) ParseCTTBS(entryKind string, tbs []byte) ([]Identity, error) {
	fail := func(err error) ([]Identity, error) { return nil, &MalformedError{Kind: entryKind, Err: err} }
	der, err := unsignedCert(tbs)
	if err != nil {
		return fail(err)
	}
	id, err := certDERIdentity(der, nil)
	if err != nil {
		return fail(fmt.Errorf("TBSCertificate: %w", err))
	}
	id.EntryKind = entryKind
	id.CertFingerprint = ""
	id.cert = nil
	return []Identity{*id}, nil
}

// unsignedCert wraps a TBSCertificate as a certificate with the signature
// algorithm it names and an empty signature.
func unsignedCert(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var t cryptobyte.String
	var sigAI cryptobyte.String
	if !in.ReadASN1(&t, cbasn1.SEQUENCE) || !in.Empty() ||
		!t.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!t.SkipASN1(cbasn1.INTEGER) ||
		!t.ReadASN1Element(&sigAI, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed TBSCertificate")
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		b.AddBytes(sigAI)
		b.AddASN1BitString(nil)
	})
	return b.Bytes()
}
