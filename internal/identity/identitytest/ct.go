package identitytest

// Certificate transparency: the chains Fulcio submits to its CT log.
//
// Fulcio first signs a precertificate (the final certificate without the
// SCT list, with the critical poison extension of RFC 6962 section 3.1) and
// submits it with add-pre-chain; the SCT it gets back goes into the final
// certificate's SCT list extension. [TestCA.IssueChain] builds either kind
// from a test CA, so a test or tools/loadgen can fill a CT log with chains
// shaped like Fulcio's.

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// OIDCTPoison is the precertificate poison extension (RFC 6962 section
	// 3.1): critical, its value an ASN.1 NULL.
	OIDCTPoison = "1.3.6.1.4.1.11129.2.4.3"
	// OIDCTSCTList is the embedded SCT list extension (RFC 6962 section 3.3)
	// of a certificate whose precertificate was logged.
	OIDCTSCTList = "1.3.6.1.4.1.11129.2.4.2"
)

// asn1Null is the DER of an ASN.1 NULL, the value of the poison extension.
var asn1Null = []byte{0x05, 0x00}

// PoisonExtension returns the critical CT poison extension that makes a
// certificate a precertificate.
func PoisonExtension() pkix.Extension {
	return pkix.Extension{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}, Critical: true, Value: asn1Null}
}

// IssueChain returns a Fulcio-shaped certificate for pub, as [TestCA.Issue]
// issues it, as a DER chain ready for a CT log's add-chain: the leaf, then the
// root. With precert the leaf carries the poison extension ([OIDCTPoison]):
// the precertificate Fulcio sends to add-pre-chain. A log accepts the chain
// when its roots include ca.Root.
func (ca *TestCA) IssueChain(pub crypto.PublicKey, san, issuer string, ext Extensions, precert bool) ([][]byte, error) {
	if san == "" || issuer == "" {
		return nil, errors.New("issuing certificate: san and issuer are required")
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshaling leaf public key: %w", err)
	}
	o := CertOptions{Extensions: ext.OIDs(issuer), NotBefore: time.Now().Add(-time.Minute), Lifetime: ca.Validity + time.Minute}
	if strings.Contains(san, "://") {
		o.URIs = []string{san}
	} else {
		o.Emails = []string{san}
	}
	cert, err := ca.issuer.issue(pub, o, func(tmpl *x509.Certificate) {
		skid := sha256.Sum256(pubDER)
		tmpl.SubjectKeyId = skid[:20]
		if precert {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, PoisonExtension())
		}
	})
	if err != nil {
		return nil, err
	}
	return [][]byte{cert.Raw, ca.Root.Raw}, nil
}
