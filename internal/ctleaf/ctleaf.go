// Package ctleaf is what the two certificate transparency log kinds share
// (ctlog: the RFC 6962 API; staticct: the C2SP static-ct-api): the
// checkpoint form of a signed tree head and its verifier, the log ID of a
// key, the Merkle tree leaves (MerkleTreeLeaf) and the identities they
// name, and the keys by which a certificate in a CT log is matched with
// the same certificate used in Rekor.
//
// A CT log signs tree heads with an RFC 6962 TreeHeadSignature. The C2SP
// static-ct-api writes the same signature into a checkpoint as a note
// signature (RFC6962NoteSignature: key ID, timestamp, signature), and an
// RFC 6962 STH converts to that form without loss. Both kinds hand the
// monitor checkpoints of that form, so evidence, consistency and alerts
// are the same as for Rekor, and the note verifies with the log's key by
// any static-ct tool.
//
// # Checkpoint form
//
//	<origin>
//	<tree size>
//	<base64 root hash>
//
//	— <origin> base64(key hash (4) || timestamp (8, Unix ms) || TLS DigitallySigned)
//
// The key hash is the first four bytes of SHA-256(origin || 0x0A || 0x05
// || log ID) (C2SP static-ct-api). The verifier ([NewVerifier]) accepts
// only this exact text, in its canonical encoding (decimal size without
// leading zeros, padded standard base64), so one signature verifies one
// text. Signatures are checked by transparency-dev/formats' RFC 6962 note
// verifier for ECDSA keys, behind a length check (it indexes the signature
// without one), and with certificate-transparency-go's signature verifier
// for RSA keys, which RFC 6962 also allows.
//
// # Leaves and identities
//
// A leaf is a TLS-encoded MerkleTreeLeaf. Its signer is the certificate of
// an x509_entry, or for a precert_entry the precertificate that came with
// it in the entry's extra data (a full signed certificate, which CA rules
// can verify); the precertificate must match the TBSCertificate in the
// leaf, which is what the log's tree commits to ([Identities]).
package ctleaf

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	ct "github.com/google/certificate-transparency-go"
	"github.com/google/certificate-transparency-go/ctutil"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/google/certificate-transparency-go/x509util"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
)

// NewVerifier returns a verifier of RFC6962NoteSignature checkpoints for
// origin signed by pub (ECDSA P-256 as Fulcio's CT log uses; RSA if the
// format allows). It never panics on a short or malformed signature.
func NewVerifier(origin string, pub crypto.PublicKey) (note.Verifier, error) {
	if err := checkName(origin); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding CT log key: %w", err)
	}
	v := &verifier{}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
	case *rsa.PublicKey:
		if v.rsa, err = ct.NewSignatureVerifier(k); err != nil {
			return nil, fmt.Errorf("CT log key: %w", err)
		}
	default:
		return nil, fmt.Errorf("unsupported CT log key type %T (want ECDSA or RSA)", pub)
	}
	hash := KeyHash(origin, sha256.Sum256(der))
	vkey := fmt.Sprintf("%s+%08x+%s", origin, hash, base64.StdEncoding.EncodeToString(append([]byte{algRFC6962STH}, der...)))
	if v.Verifier, err = fnote.NewRFC6962Verifier(vkey); err != nil {
		return nil, fmt.Errorf("building RFC 6962 note verifier for %q: %w", origin, err)
	}
	if v.KeyHash() != hash || v.Name() != origin {
		return nil, fmt.Errorf("RFC 6962 note verifier for %q has key hash %08x, want %08x", origin, v.KeyHash(), hash)
	}
	return v, nil
}

// LogID returns the RFC 6962 log ID of pub: the SHA-256 of its DER
// SubjectPublicKeyInfo.
func LogID(pub crypto.PublicKey) ([32]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [32]byte{}, fmt.Errorf("encoding CT log key: %w", err)
	}
	return sha256.Sum256(der), nil
}

// KeyID is LogID in lower-case hex, as evidence and trusted_root.json
// (base64 there) name a CT log.
func KeyID(pub crypto.PublicKey) (string, error) {
	id, err := LogID(pub)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(id[:]), nil
}

// Parse verifies raw, a checkpoint with an RFC6962NoteSignature, for
// origin with one of vs, as checkpoint.Parse does (same error types), and
// sets the checkpoint's Timestamp from the signature.
func Parse(raw []byte, origin string, vs ...note.Verifier) (*checkpoint.Checkpoint, error) {
	// Record the timestamp of the first signature one of our verifiers
	// accepts (note.Open verifies signatures one by one, in this
	// goroutine).
	var ts uint64
	var seen bool
	wrapped := make([]note.Verifier, len(vs))
	for i, v := range vs {
		if _, ok := v.(*verifier); !ok {
			wrapped[i] = v
			continue
		}
		wrapped[i] = recorder{Verifier: v, ts: &ts, seen: &seen}
	}
	cp, err := checkpoint.Parse(raw, origin, wrapped...)
	if err != nil {
		return nil, err
	}
	if seen {
		cp.Timestamp = ct.TimestampToTime(ts)
	}
	return cp, nil
}

// FromSTH converts an RFC 6962 get-sth JSON answer to its checkpoint form
// under origin, without verifying it (Parse does), keeping the exact
// timestamp and signature bytes. keyHash is the note key hash of the
// log's verifier (NewVerifier(origin, pub).KeyHash()).
//
// An answer that is not a get-sth JSON object with a 32-byte root hash and
// a TLS DigitallySigned signature is a *checkpoint.FormatError.
func FromSTH(sthJSON []byte, origin string, keyHash uint32) ([]byte, error) {
	if err := checkName(origin); err != nil {
		return nil, err
	}
	if len(sthJSON) > checkpoint.MaxSize {
		return nil, &checkpoint.FormatError{Err: fmt.Errorf("get-sth answer of %d bytes exceeds the %d byte limit", len(sthJSON), checkpoint.MaxSize)}
	}
	var sth ct.GetSTHResponse
	if err := json.Unmarshal(sthJSON, &sth); err != nil {
		return nil, &checkpoint.FormatError{Err: fmt.Errorf("decoding get-sth answer: %w", err)}
	}
	if len(sth.SHA256RootHash) != sha256.Size {
		return nil, &checkpoint.FormatError{Err: fmt.Errorf("get-sth answer: sha256_root_hash has %d bytes, want %d", len(sth.SHA256RootHash), sha256.Size)}
	}
	var ds cttls.DigitallySigned
	if rest, err := cttls.Unmarshal(sth.TreeHeadSignature, &ds); err != nil {
		return nil, &checkpoint.FormatError{Err: fmt.Errorf("get-sth answer: tree_head_signature is not a TLS DigitallySigned: %w", err)}
	} else if len(rest) != 0 {
		return nil, &checkpoint.FormatError{Err: fmt.Errorf("get-sth answer: %d bytes after tree_head_signature's DigitallySigned", len(rest))}
	}
	return checkpointForm(origin, sth.TreeSize, sth.SHA256RootHash, keyHash, sth.Timestamp, sth.TreeHeadSignature), nil
}

// checkpointForm writes the checkpoint form of a tree head.
func checkpointForm(origin string, size uint64, root []byte, keyHash uint32, ts uint64, sig []byte) []byte {
	b := make([]byte, 0, 16+len(origin)*2+20+44+4+(12+len(sig))*4/3+8)
	b = fmt.Appendf(b, "%s\n%d\n%s\n\n", origin, size, base64.StdEncoding.EncodeToString(root))
	s := binary.BigEndian.AppendUint32(make([]byte, 0, 12+len(sig)), keyHash)
	s = binary.BigEndian.AppendUint64(s, ts)
	s = append(s, sig...)
	return fmt.Appendf(b, "— %s %s\n", origin, base64.StdEncoding.EncodeToString(s))
}

// Identities returns the signer of a CT entry: leaf is the MerkleTreeLeaf,
// chain the certificates that came with it (for a precertificate entry:
// the precertificate itself first, then its issuers; for an X.509 entry:
// its issuers), as get-entries' extra_data or static-ct's data tile and
// issuer bundles give them. The identities are of kind "ct:x509" or
// "ct:precert".
//
// A precertificate entry without a chain (nil) yields the identity read
// from the leaf's TBSCertificate, which has no signature: CA rules cannot
// match it, and it has no certificate fingerprint. A precertificate that
// does not match the leaf's TBSCertificate (the extra data is not covered
// by the tree) makes the entry malformed, as does a leaf that does not
// decode: errors wrap an *identity.MalformedError.
func Identities(p *identity.Parser, leaf []byte, chain [][]byte) ([]identity.Identity, error) {
	l, err := decodeLeaf(leaf)
	if err != nil {
		return nil, &identity.MalformedError{Kind: leafKind(l), Err: err}
	}
	te := l.TimestampedEntry
	switch te.EntryType {
	case ct.X509LogEntryType:
		full := make([][]byte, 0, 1+len(chain))
		full = append(append(full, te.X509Entry.Data), chain...)
		return p.ParseCT(identity.KindCTX509, full)
	default: // ct.PrecertLogEntryType, checked by decodeLeaf
		if chain == nil {
			return p.ParseCTTBS(identity.KindCTPrecert, te.PrecertEntry.TBSCertificate)
		}
		if len(chain) == 0 {
			return nil, &identity.MalformedError{Kind: identity.KindCTPrecert, Err: errors.New("precertificate entry: the chain is empty, want the precertificate first")}
		}
		if err := matchPrecert(te.PrecertEntry.TBSCertificate, chain); err != nil {
			return nil, &identity.MalformedError{Kind: identity.KindCTPrecert, Err: err}
		}
		return p.ParseCT(identity.KindCTPrecert, chain)
	}
}

// Key identifies a certificate across logs: the SHA-256 of its
// TBSCertificate with the CT poison and SCT list extensions removed, so a
// precertificate in a CT log and the final certificate in a Rekor entry
// have the same Key.
type Key [32]byte

// String returns the Key in lower-case hex.
func (k Key) String() string { return hex.EncodeToString(k[:]) }

// LeafKey returns the Key of the certificate in a CT MerkleTreeLeaf and
// the leaf's timestamp.
func LeafKey(leaf []byte) (Key, time.Time, error) {
	l, err := decodeLeaf(leaf)
	if err != nil {
		return Key{}, time.Time{}, err
	}
	te := l.TimestampedEntry
	var tbs []byte
	if te.EntryType == ct.X509LogEntryType {
		if tbs, err = certTBS(te.X509Entry.Data); err != nil {
			return Key{}, time.Time{}, fmt.Errorf("x509_entry: %w", err)
		}
	} else {
		tbs = te.PrecertEntry.TBSCertificate
	}
	k, err := tbsKey(tbs)
	if err != nil {
		return Key{}, time.Time{}, err
	}
	return k, ct.TimestampToTime(te.Timestamp), nil
}

// CertKey returns the Key of a certificate (DER).
func CertKey(der []byte) (Key, error) {
	tbs, err := certTBS(der)
	if err != nil {
		return Key{}, err
	}
	return tbsKey(tbs)
}

// EmbeddedSCTs returns the SCTs embedded in a certificate (DER); none when
// it has no SCT list extension.
func EmbeddedSCTs(der []byte) ([]*ct.SignedCertificateTimestamp, error) {
	cert, err := parseCTCert(der)
	if err != nil {
		return nil, err
	}
	scts, err := x509util.ParseSCTsFromSCTList(&cert.SCTList)
	if err != nil {
		return nil, fmt.Errorf("parsing embedded SCT list: %w", err)
	}
	return scts, nil
}

// PrecertLeafHash returns the RFC 6962 leaf hash that the precertificate
// behind a certificate (DER) with embedded SCT sct has in the log that
// issued sct; issuer is the issuing CA certificate (DER).
func PrecertLeafHash(der, issuer []byte, sct *ct.SignedCertificateTimestamp) ([]byte, error) {
	chain, err := embeddedChain(der, issuer, sct)
	if err != nil {
		return nil, err
	}
	leaf, err := ct.MerkleTreeLeafForEmbeddedSCT(chain, sct.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("building the precertificate's MerkleTreeLeaf: %w", err)
	}
	h, err := ct.LeafHashForLeaf(leaf)
	if err != nil {
		return nil, fmt.Errorf("hashing the precertificate's MerkleTreeLeaf: %w", err)
	}
	return h[:], nil
}

// VerifySCT verifies sct, embedded in the certificate der issued by
// issuer, with the log's public key.
func VerifySCT(pub crypto.PublicKey, der, issuer []byte, sct *ct.SignedCertificateTimestamp) error {
	chain, err := embeddedChain(der, issuer, sct)
	if err != nil {
		return err
	}
	if err := ctutil.VerifySCT(pub, chain, sct, true); err != nil {
		return fmt.Errorf("verifying SCT of %s: %w", sctLogID(sct), err)
	}
	return nil
}

// ExplainSignature says which setting to change when raw, a checkpoint
// that does not verify for origin, is signed by one of keys under another
// name (the key hash covers the name, so the origin is wrong, not the
// key), or returns "". It is for a kind's tlog.Explainer.
func ExplainSignature(raw []byte, origin string, keys []crypto.PublicKey) string {
	noteOrigin, sigs := checkpoint.Signatures(raw)
	for _, s := range sigs {
		if s.Name == origin {
			continue
		}
		for _, pub := range keys {
			v, err := NewVerifier(s.Name, pub)
			if err == nil && v.KeyHash() == s.KeyHash {
				return fmt.Sprintf("the checkpoint is signed by the configured key under the name %q (origin %q), but the configured origin is %q: set origin (--origin) to %q",
					s.Name, noteOrigin, origin, s.Name)
			}
		}
	}
	return ""
}

// KeyHash returns the note key hash of a CT log's RFC6962NoteSignature
// under origin (C2SP static-ct-api): the first four bytes of
// SHA-256(origin || 0x0A || 0x05 || logID), big-endian.
func KeyHash(origin string, logID [32]byte) uint32 {
	h := sha256.New()
	h.Write([]byte(origin))
	h.Write([]byte{'\n', algRFC6962STH})
	h.Write(logID[:])
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// OriginFromURL returns the checkpoint origin a CT log at logURL has by
// the C2SP convention (Sunlight, static-ct-api): the URL without its
// scheme and trailing slash, in lower case. It is the default origin of
// both CT kinds.
func OriginFromURL(logURL string) string {
	s := strings.ToLower(logURL)
	s = strings.TrimPrefix(s, "http://")
	s = strings.TrimPrefix(s, "https://")
	return strings.TrimSuffix(s, "/")
}

// parseCTCert parses a certificate with certificate-transparency-go's
// x509 fork, which ct-go's leaf and SCT helpers take; non-fatal errors
// (which the fork reports for what crypto/x509 would refuse) are ignored
// unless they concern the SCT list.
func parseCTCert(der []byte) (*ctx509.Certificate, error) {
	cert, err := ctx509.ParseCertificate(der)
	if ctx509.IsFatal(err) {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	if err != nil && len(cert.SCTList.SCTList) == 0 {
		for _, e := range cert.Extensions {
			if e.Id.Equal(ctx509.OIDExtensionCTSCT) {
				return nil, fmt.Errorf("parsing certificate's SCT list: %w", err)
			}
		}
	}
	return cert, nil
}

// embeddedChain parses a certificate with an embedded SCT and its issuer
// for ct-go's helpers.
func embeddedChain(der, issuer []byte, sct *ct.SignedCertificateTimestamp) ([]*ctx509.Certificate, error) {
	if sct == nil {
		return nil, errors.New("no SCT")
	}
	cert, err := parseCTCert(der)
	if err != nil {
		return nil, err
	}
	iss, err := parseCTCert(issuer)
	if err != nil {
		return nil, fmt.Errorf("issuer: %w", err)
	}
	return []*ctx509.Certificate{cert, iss}, nil
}

func sctLogID(sct *ct.SignedCertificateTimestamp) string {
	return "log " + hex.EncodeToString(sct.LogID.KeyID[:])
}
