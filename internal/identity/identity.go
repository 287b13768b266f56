// Package identity extracts signer identities from Rekor log entries and
// matches them against user rules.
//
// # Model
//
// Every entry in a Rekor log records who signed something: a public key, an
// X.509 certificate (usually a short-lived Fulcio certificate carrying an
// OIDC identity), or a PGP, SSH, minisign or TUF key. An [Identity] is one
// such signer, reduced to the facts a monitor can match on:
//
//   - the certificate's subject alternative names (emails, URIs, DNS names
//     and the Fulcio username OtherName),
//   - the Fulcio OIDC issuer (extension 1.3.6.1.4.1.57264.1.8, falling back
//     to the deprecated raw 1.3.6.1.4.1.57264.1.1),
//   - every other Fulcio extension 1.3.6.1.4.1.57264.1.N by OID,
//   - the SHA-256 fingerprint of the certificate DER and of the public key
//     (SubjectPublicKeyInfo DER), or the native fingerprint of a PGP key.
//
// [ParseV1] takes the body of a Rekor v1 entry (the base64-decoded "body" of
// a /api/v1/log/entries response: canonical JSON with "kind", "apiVersion"
// and "spec") and [ParseV2] takes a Rekor v2 leaf (one entry of a tile's
// entry bundle: the RFC 8785 canonical protojson encoding of a
// dev.sigstore.rekor.v2.Entry, see rekor-tiles internal/server/service.go).
// [Parser.ParseCT] takes a certificate transparency entry's certificate or
// precertificate with its chain (entry kinds "ct:x509" and "ct:precert";
// package ctleaf reads them from a CT log's leaves). All return one
// Identity per signature verifier in the entry. A body that
// cannot be parsed yields a [*MalformedError]: the caller reports it as an
// entry of kind "malformed", it is never dropped.
//
// Entry kinds and where the signer is found:
//
//	hashedrekord:0.0.1  spec.signature.publicKey.content   PEM key or cert (chain)
//	rekord:0.0.1        spec.signature.publicKey.content   x509, pgp, ssh or minisign key
//	intoto:0.0.1        spec.publicKey                     PEM key or cert
//	intoto:0.0.2        spec.content.envelope.signatures[].publicKey
//	dsse:0.0.1          spec.signatures[].verifier         PEM key or cert
//	cose:0.0.1          spec.publicKey                     PEM key or cert
//	jar:0.0.1           spec.signature.publicKey.content   PEM cert
//	alpine:0.0.1        spec.publicKey.content             PEM key
//	rpm:0.0.1           spec.publicKey.content             PGP key
//	helm:0.0.1          spec.publicKey.content             PGP key
//	tuf:0.0.1           spec.root.content                  every key of the TUF root
//	rfc3161:0.0.1       spec.tsr.content                   TSA signing certificate
//	hashedrekord:0.0.2  spec.hashedRekordV002.signature.verifier (Rekor v2)
//	dsse:0.0.2          spec.dsseV002.signatures[].verifier      (Rekor v2)
//
// Entries are decoded with encoding/json into the rekor model types
// (pkg/generated/models) for intoto, cose and rfc3161, and through the rekor
// type registry (types.UnmarshalEntry, then Verifiers) for rekord, jar,
// rpm, alpine, helm and tuf. hashedrekord and dsse, the bulk of any log,
// take a faster path: only the verifier field is decoded, still
// base64-encoded, so that a [Parser] cache hit costs one JSON scan and a
// hash (the result is checked against the model types by a test and a
// fuzzer). A canonical body (keys sorted, as rekor-server stores it) is
// decoded in a single pass. Rekor v2 leaves are decoded with protojson into
// the rekor-tiles protobuf types. No signature is verified: the log did
// that on upload, and the monitor only needs to know who signed.
//
// # Artifact digests
//
// [DigestsV1] and [DigestsV2] read, beside who signed, what an entry is
// about: the digests of its artifacts ("sha256:<hex>"), from the hash
// fields of each kind's spec, for an index to find entries by artifact.
//
// # Identities and caching
//
// Certificate parsing dominates the cost. Identity extraction reads only
// what it needs from the certificate DER with cryptobyte (the SANs, the
// Fulcio extensions and the SubjectPublicKeyInfo bytes), checking its
// structure as crypto/x509 does and deferring to crypto/x509 for anything
// unusual or malformed; the *x509.Certificate that chain verification
// needs is parsed on first use ([Identity.Certificate]). A [Parser] keeps a
// bounded LRU of extracted certificates and keys, keyed by the SHA-256 of
// their encoding, so repeated signers (and the intermediates of a chain)
// cost a hash and a map lookup; per-signature Fulcio certificates miss it.
// Identities returned from the cache share their slices, maps and
// certificates: treat them as read-only.
//
// # Rules
//
// A [Config] holds two rule lists. A watch rule raises an alert when a
// matching identity signs; expect rules describe a private log's legitimate
// signers, and an entry none of whose identities matches an expect rule is
// unexpected. Within a rule every field that is set must match (AND). Regular
// expressions are anchored: `alice@example\.com` matches exactly that
// address, not "malice@example.com.evil"; write `.*@example\.com` to match a
// domain. Fingerprints compare exactly (hex, case-insensitive, optional
// "sha256:" prefix). A rule with a CA bundle only matches certificates
// chaining to it, verified at the certificate's NotBefore so that expired
// short-lived certificates still count. [Compile] validates a Config (errors
// name the field, e.g. "identities.watch[2].subject: ...") and returns a
// [Matcher]; [Matcher.Match] returns the watch hits of one entry and whether
// it is expected.
//
// Example config (the "identities" section of the monitor's YAML):
//
//	identities:
//	  watch:
//	    - name: release-signer
//	      subject: 'https://github\.com/acme/.*/\.github/workflows/release\.yml@refs/tags/.*'
//	      issuer: 'https://token\.actions\.githubusercontent\.com'
//	    - name: acme-repos
//	      extensions: {"1.3.6.1.4.1.57264.1.12": 'https://github\.com/acme/.*'}
//	  expect:
//	    - name: private-fulcio
//	      ca_file: /etc/vigil/fulcio-ca.pem
package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// KeyType names the kind of key that signed an entry.
type KeyType string

// Key types reported in [Identity.KeyType].
const (
	KeyX509     KeyType = "x509"     // X.509 certificate
	KeyPKIX     KeyType = "pkix"     // bare public key (PEM "PUBLIC KEY" / DER SPKI)
	KeyPGP      KeyType = "pgp"      // OpenPGP key (primary key or subkey)
	KeySSH      KeyType = "ssh"      // SSH public key or certificate
	KeyMinisign KeyType = "minisign" // minisign Ed25519 key
	KeyTUF      KeyType = "tuf"      // one key of a TUF root
)

// Identity is one signer of a log entry. All fields except EntryKind and
// KeyType may be empty. Slices, maps and certificates may be shared with a
// [Parser]'s cache and with other identities: do not modify them. Copies of
// an Identity share its lazily parsed certificate.
type Identity struct {
	// EntryKind is "kind:apiVersion" of the entry, e.g. "hashedrekord:0.0.1".
	EntryKind string
	// KeyType says what kind of key or certificate signed.
	KeyType KeyType

	// Subject alternative names of the certificate. For PGP keys Emails
	// holds the e-mail addresses of the key's user IDs. (SSH key comments
	// are not in the canonical entry body.)
	Emails   []string
	URIs     []string
	DNSNames []string
	// OtherNames holds Fulcio username SANs (OtherName 1.3.6.1.4.1.57264.1.7).
	OtherNames []string

	// Issuer is the Fulcio OIDC issuer (1.3.6.1.4.1.57264.1.8, or .1.1).
	Issuer string
	// Extensions maps the dotted OID of each Fulcio extension
	// 1.3.6.1.4.1.57264.1.N present in the certificate to its string value
	// (DER-decoded for N >= 8, raw bytes for the deprecated N <= 6). Nil when
	// there are none.
	Extensions map[string]string

	// CertFingerprint is the lower-case hex SHA-256 of the certificate DER,
	// "" for bare keys.
	CertFingerprint string
	// KeyFingerprint is the lower-case hex SHA-256 of the DER
	// SubjectPublicKeyInfo for x509, pkix, minisign and tuf keys; the
	// OpenPGP fingerprint (hex) for pgp keys; and the SHA-256 of the SSH wire
	// encoding for ssh keys (the hex form of OpenSSH's "SHA256:" fingerprint).
	KeyFingerprint string

	// cert is the signing certificate and any further certificates that
	// came with it, parsed on first use; nil for bare keys.
	cert *certRef
}

// Certificate returns the parsed signing certificate, or nil for bare
// keys. Identity extraction does not need a parsed certificate, so it is
// parsed with crypto/x509 on the first call (once per certificate, shared
// by the copies of an Identity). The error is non-nil only for a
// certificate whose structure, names and extensions are well-formed but
// whose public key crypto/x509 cannot decode.
func (id *Identity) Certificate() (*x509.Certificate, error) {
	if id.cert == nil {
		return nil, nil
	}
	pc, err := id.cert.load()
	return pc.leaf, err
}

// Intermediates returns any further certificates that came with the
// signing certificate (a PEM chain, or the certificates of a timestamp
// response), for chain verification. Like [Identity.Certificate] it parses
// them on first use.
func (id *Identity) Intermediates() ([]*x509.Certificate, error) {
	if id.cert == nil {
		return nil, nil
	}
	pc, err := id.cert.load()
	return pc.intermediates, err
}

// Subjects calls f for each subject name of the identity (emails, URIs,
// DNS names, other names) until f returns false.
func (id *Identity) Subjects(f func(string) bool) {
	for _, l := range [...][]string{id.Emails, id.URIs, id.DNSNames, id.OtherNames} {
		for _, s := range l {
			if !f(s) {
				return
			}
		}
	}
}

// String describes the identity on one line for logs and alerts, e.g.
//
//	hashedrekord:0.0.1 x509 subject=alice@example.com issuer=https://accounts.example.com cert=sha256:2c26... key=sha256:fcde...
//
// Empty fields are left out; PGP fingerprints have no "sha256:" prefix.
func (id *Identity) String() string {
	var b strings.Builder
	b.WriteString(id.EntryKind)
	b.WriteByte(' ')
	b.WriteString(string(id.KeyType))
	id.Subjects(func(s string) bool {
		b.WriteString(" subject=")
		b.WriteString(s)
		return true
	})
	if id.Issuer != "" {
		b.WriteString(" issuer=")
		b.WriteString(id.Issuer)
	}
	if id.CertFingerprint != "" {
		b.WriteString(" cert=sha256:")
		b.WriteString(id.CertFingerprint)
	}
	if id.KeyFingerprint != "" {
		b.WriteString(" key=")
		if id.KeyType != KeyPGP {
			b.WriteString("sha256:")
		}
		b.WriteString(id.KeyFingerprint)
	}
	return b.String()
}

// ErrUnknownKind is wrapped by a [MalformedError] for an entry whose kind or
// apiVersion this package does not know.
var ErrUnknownKind = errors.New("unknown entry kind")

// MalformedError reports a log entry that could not be parsed. The monitor
// turns it into an event of kind "malformed" (and the
// vigil_log_malformed_entries_total metric) rather than dropping the entry.
type MalformedError struct {
	// Kind is "kind:apiVersion" as far as it could be read, or "".
	Kind string
	// Err says what was wrong.
	Err error
}

func (e *MalformedError) Error() string {
	if e.Kind == "" {
		return fmt.Sprintf("malformed entry: %v", e.Err)
	}
	return fmt.Sprintf("malformed %s entry: %v", e.Kind, e.Err)
}

func (e *MalformedError) Unwrap() error { return e.Err }
