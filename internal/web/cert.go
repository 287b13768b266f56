package web

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// fulcioArc is the arc of Fulcio's certificate extensions,
// 1.3.6.1.4.1.57264.1.N.
const fulcioArc = "1.3.6.1.4.1.57264.1."

// fulcioNames names the Fulcio extensions by N (see Fulcio's
// docs/oid-info.md). 1 to 6 are the deprecated forms, whose values are raw
// strings; from 8 on values are DER UTF8Strings.
var fulcioNames = map[int]string{
	1:  "issuer (deprecated)",
	2:  "GitHub workflow trigger (deprecated)",
	3:  "GitHub workflow SHA (deprecated)",
	4:  "GitHub workflow name (deprecated)",
	5:  "GitHub workflow repository (deprecated)",
	6:  "GitHub workflow ref (deprecated)",
	7:  "other name SAN",
	8:  "issuer",
	9:  "build signer URI",
	10: "build signer digest",
	11: "runner environment",
	12: "source repository URI",
	13: "source repository digest",
	14: "source repository ref",
	15: "source repository identifier",
	16: "source repository owner URI",
	17: "source repository owner identifier",
	18: "build config URI",
	19: "build config digest",
	20: "build trigger",
	21: "run invocation URI",
	22: "source repository visibility at signing",
	23: "deployment environment",
	24: "subject (token sub)",
}

// fulcioN is N of a Fulcio extension OID 1.3.6.1.4.1.57264.1.N; ok is
// false for any other OID.
func fulcioN(oid string) (int, bool) {
	rest, ok := strings.CutPrefix(oid, fulcioArc)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n <= 0 || strconv.Itoa(n) != rest {
		return 0, false
	}
	return n, true
}

// extensionName names a Fulcio extension OID; "" when it is not one Vigil
// knows.
func extensionName(oid string) string {
	n, ok := fulcioN(oid)
	if !ok {
		return ""
	}
	return fulcioNames[n]
}

// extRow is one extension as the pages list it.
type extRow struct {
	OID, Name, Value string
}

// extensionRows is m (dotted OID to value) in OID order, Fulcio's by N,
// with names.
func extensionRows(m map[string]string) []extRow {
	out := make([]extRow, 0, len(m))
	for oid, v := range m {
		out = append(out, extRow{OID: oid, Name: extensionName(oid), Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return oidLess(out[i].OID, out[j].OID) })
	return out
}

// oidLess orders dotted OIDs arc by arc, numerically.
func oidLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.ParseUint(as[i], 10, 64)
		y, erry := strconv.ParseUint(bs[i], 10, 64)
		if errx != nil || erry != nil {
			if as[i] != bs[i] {
				return as[i] < bs[i]
			}
			continue
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// certView is one certificate decoded for the entry view.
type certView struct {
	// Err is why the certificate did not parse; the other fields but PEM
	// and SHA256 are empty then.
	Err                string
	Subject, Issuer    string
	Serial             string
	NotBefore          time.Time
	NotAfter           time.Time
	SANs               []string
	KeyAlgorithm       string
	SignatureAlgorithm string
	IsCA               bool
	// Extensions are the Fulcio extensions, decoded.
	Extensions []extRow
	SHA256     string
	PEM        string
}

// oidSAN is the subject alternative name extension.
var oidSAN = asn1.ObjectIdentifier{2, 5, 29, 17}

// decodeCertificate decodes der for display. It never fails: a certificate
// that does not parse is shown with its error, fingerprint and PEM.
func decodeCertificate(der []byte) certView {
	sum := sha256.Sum256(der)
	v := certView{
		SHA256: hex.EncodeToString(sum[:]),
		PEM:    string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		v.Err = err.Error()
		return v
	}
	v.Subject = c.Subject.String()
	v.Issuer = c.Issuer.String()
	v.Serial = hex.EncodeToString(c.SerialNumber.Bytes())
	if c.SerialNumber.Sign() < 0 {
		v.Serial = "-" + v.Serial
	}
	v.NotBefore, v.NotAfter = c.NotBefore, c.NotAfter
	v.KeyAlgorithm = keyAlgorithm(c)
	v.SignatureAlgorithm = c.SignatureAlgorithm.String()
	v.IsCA = c.IsCA
	for _, s := range c.EmailAddresses {
		v.SANs = append(v.SANs, "email: "+s)
	}
	for _, u := range c.URIs {
		v.SANs = append(v.SANs, "URI: "+u.String())
	}
	for _, s := range c.DNSNames {
		v.SANs = append(v.SANs, "DNS: "+s)
	}
	for _, ip := range c.IPAddresses {
		v.SANs = append(v.SANs, "IP: "+ip.String())
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(oidSAN) {
			v.SANs = append(v.SANs, otherNames(e.Value)...)
			continue
		}
		oid := e.Id.String()
		n, ok := fulcioN(oid)
		if !ok {
			continue
		}
		v.Extensions = append(v.Extensions, extRow{OID: oid, Name: fulcioNames[n], Value: extensionValue(n, e.Value)})
	}
	sort.Slice(v.Extensions, func(i, j int) bool { return oidLess(v.Extensions[i].OID, v.Extensions[j].OID) })
	return v
}

// keyAlgorithm names c's public key: "ECDSA P-256", "RSA 2048", "Ed25519".
func keyAlgorithm(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// extensionValue decodes the value of Fulcio extension N: a DER
// UTF8String from 8 on, raw bytes for the deprecated 1 to 6. What does not
// decode as expected is shown as text if it is printable, else as hex.
func extensionValue(n int, raw []byte) string {
	if n >= 8 {
		var s string
		if rest, err := asn1.UnmarshalWithParams(raw, &s, "utf8"); err == nil && len(rest) == 0 {
			return s
		}
	}
	if printable(raw) {
		return string(raw)
	}
	return "hex:" + hex.EncodeToString(raw)
}

func printable(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != ' ' {
			return false
		}
	}
	return true
}

// otherNames returns the otherName entries of a subject alternative name
// extension, which crypto/x509 does not decode: Fulcio puts usernames
// there (type 1.3.6.1.4.1.57264.1.7, a UTF8String).
//
//	GeneralName ::= CHOICE { otherName [0] IMPLICIT OtherName, ... }
//	OtherName ::= SEQUENCE { type-id OBJECT IDENTIFIER, value [0] EXPLICIT ANY }
func otherNames(ext []byte) []string {
	var seq asn1.RawValue
	if rest, err := asn1.Unmarshal(ext, &seq); err != nil || len(rest) != 0 {
		return nil
	}
	var out []string
	for b := seq.Bytes; len(b) > 0; {
		var gn asn1.RawValue
		rest, err := asn1.Unmarshal(b, &gn)
		if err != nil {
			return out
		}
		b = rest
		if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
			continue
		}
		var typeID asn1.ObjectIdentifier
		rest, err = asn1.Unmarshal(gn.Bytes, &typeID)
		if err != nil {
			continue
		}
		var val asn1.RawValue
		if _, err := asn1.Unmarshal(rest, &val); err != nil || val.Tag != 0 {
			continue
		}
		var s string
		if _, err := asn1.UnmarshalWithParams(val.Bytes, &s, "utf8"); err != nil {
			s = "hex:" + hex.EncodeToString(val.Bytes)
		}
		name := "otherName " + typeID.String()
		if typeID.String() == fulcioArc+"7" {
			name = "otherName (Fulcio username)"
		}
		out = append(out, name+": "+s)
	}
	return out
}
