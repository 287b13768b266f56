package ctleaf

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/vigil-tlog/vigil/internal/identity"
)

// DER encodings of the CT extension OIDs (RFC 6962 section 3.1 and 3.3).
var (
	derOIDPoison  = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x03}
	derOIDSCTList = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02}
)

// DecodeLeaf decodes a TLS-encoded MerkleTreeLeaf: a v1 timestamped entry
// of type x509_entry or precert_entry, with nothing after it.
func DecodeLeaf(leaf []byte) (*ct.MerkleTreeLeaf, error) { return decodeLeaf(leaf) }

func decodeLeaf(leaf []byte) (*ct.MerkleTreeLeaf, error) {
	var l ct.MerkleTreeLeaf
	rest, err := cttls.Unmarshal(leaf, &l)
	switch {
	case err != nil:
		return nil, fmt.Errorf("decoding MerkleTreeLeaf: %w", err)
	case len(rest) != 0:
		return nil, fmt.Errorf("decoding MerkleTreeLeaf: %d bytes after it", len(rest))
	case l.Version != ct.V1:
		return nil, fmt.Errorf("MerkleTreeLeaf version %d, want v1", l.Version)
	case l.LeafType != ct.TimestampedEntryLeafType || l.TimestampedEntry == nil:
		return nil, fmt.Errorf("MerkleTreeLeaf type %d, want timestamped_entry", l.LeafType)
	}
	te := l.TimestampedEntry
	switch {
	case te.EntryType == ct.X509LogEntryType && te.X509Entry != nil:
	case te.EntryType == ct.PrecertLogEntryType && te.PrecertEntry != nil:
	default:
		return &l, fmt.Errorf("MerkleTreeLeaf entry type %d, want x509_entry or precert_entry", te.EntryType)
	}
	return &l, nil
}

// LeafTime returns the timestamp of a TLS-encoded MerkleTreeLeaf (RFC 6962
// section 3.4: version v1, leaf type timestamped_entry, then the
// TimestampedEntry's uint64 timestamp in milliseconds since the epoch), in
// UTC: when the log says it took the entry in. It reads those ten bytes
// only, so it is cheap enough for every entry of a scan; ok is false when
// leaf is shorter, of another version or leaf type, or its timestamp is
// past what a time.Time holds.
func LeafTime(leaf []byte) (t time.Time, ok bool) {
	if len(leaf) < 10 || leaf[0] != byte(ct.V1) || leaf[1] != byte(ct.TimestampedEntryLeafType) {
		return time.Time{}, false
	}
	ms := binary.BigEndian.Uint64(leaf[2:10])
	if ms > math.MaxInt64 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(ms)).UTC(), true
}

// leafKind is the identity kind of a leaf decoded as far as its entry type.
func leafKind(l *ct.MerkleTreeLeaf) string {
	if l == nil || l.TimestampedEntry == nil {
		return ""
	}
	switch l.TimestampedEntry.EntryType {
	case ct.X509LogEntryType:
		return identity.KindCTX509
	case ct.PrecertLogEntryType:
		return identity.KindCTPrecert
	}
	return ""
}

// certTBS returns the TBSCertificate (DER, with its tag) of a certificate.
func certTBS(der []byte) ([]byte, error) {
	in := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !in.Empty() || !cert.ReadASN1Element(&tbs, cbasn1.SEQUENCE) {
		return nil, errors.New("malformed certificate: no TBSCertificate")
	}
	return tbs, nil
}

// tbsParts splits a TBSCertificate into the encoding of its fields before
// the extensions and its extensions (each a DER Extension). It checks the
// structure only as far as it reads it.
func tbsParts(tbs []byte) (head []byte, exts []cryptobyte.String, err error) {
	in := cryptobyte.String(tbs)
	var t cryptobyte.String
	if !in.ReadASN1(&t, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, nil, errors.New("malformed TBSCertificate")
	}
	all := []byte(t)
	if !t.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!t.SkipASN1(cbasn1.INTEGER) || // serialNumber
		!t.SkipASN1(cbasn1.SEQUENCE) || // signature
		!t.SkipASN1(cbasn1.SEQUENCE) || // issuer
		!t.SkipASN1(cbasn1.SEQUENCE) || // validity
		!t.SkipASN1(cbasn1.SEQUENCE) || // subject
		!t.SkipASN1(cbasn1.SEQUENCE) || // subjectPublicKeyInfo
		!t.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) || // issuerUniqueID
		!t.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) { // subjectUniqueID
		return nil, nil, errors.New("malformed TBSCertificate")
	}
	head = all[:len(all)-len(t)]
	var list cryptobyte.String
	var present bool
	if !t.ReadOptionalASN1(&list, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) || !t.Empty() {
		return nil, nil, errors.New("malformed TBSCertificate extensions")
	}
	if !present {
		return head, nil, nil
	}
	if !list.ReadASN1(&list, cbasn1.SEQUENCE) {
		return nil, nil, errors.New("malformed TBSCertificate extensions")
	}
	for !list.Empty() {
		var ext cryptobyte.String
		if !list.ReadASN1Element(&ext, cbasn1.SEQUENCE) {
			return nil, nil, errors.New("malformed TBSCertificate extension")
		}
		exts = append(exts, ext)
	}
	return head, exts, nil
}

// extOID returns the OID (DER content) of an Extension element, or nil.
func extOID(ext cryptobyte.String) []byte {
	var e, oid cryptobyte.String
	if !ext.ReadASN1(&e, cbasn1.SEQUENCE) || !e.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) {
		return nil
	}
	return oid
}

// ctExtensions reports whether a TBSCertificate has the poison and the
// SCT list extensions.
func ctExtensions(tbs []byte) (poison, sctList bool, err error) {
	_, exts, err := tbsParts(tbs)
	if err != nil {
		return false, false, err
	}
	for _, ext := range exts {
		switch oid := extOID(ext); {
		case oid == nil:
			return false, false, errors.New("malformed TBSCertificate extension")
		case bytes.Equal(oid, derOIDPoison):
			poison = true
		case bytes.Equal(oid, derOIDSCTList):
			sctList = true
		}
	}
	return poison, sctList, nil
}

// isPrecertTBSOf reports whether leafTBS is preTBS without its one poison
// extension, every other field and extension byte for byte the same (what
// BuildPrecertTBS makes of a DER precertificate, compared without
// re-encoding either).
func isPrecertTBSOf(leafTBS, preTBS []byte) bool {
	lh, le, err := tbsParts(leafTBS)
	if err != nil {
		return false
	}
	ph, pe, err := tbsParts(preTBS)
	if err != nil || !bytes.Equal(lh, ph) || len(pe) != len(le)+1 {
		return false
	}
	poisoned := false
	i := 0
	for _, ext := range pe {
		if !poisoned && bytes.Equal(extOID(ext), derOIDPoison) {
			poisoned = true
			continue
		}
		if i == len(le) || !bytes.Equal(ext, le[i]) {
			return false
		}
		i++
	}
	return poisoned
}

// tbsKey is the Key of a TBSCertificate: its SHA-256 once the poison and
// SCT list extensions are removed (ct-go's BuildPrecertTBS and
// RemoveSCTList, which re-encode the TBSCertificate as a log does when it
// builds a precertificate leaf).
func tbsKey(tbs []byte) (Key, error) {
	poison, sctList, err := ctExtensions(tbs)
	if err != nil {
		return Key{}, err
	}
	if poison {
		if tbs, err = ctx509.BuildPrecertTBS(tbs, nil); err != nil {
			return Key{}, fmt.Errorf("removing the CT poison extension: %w", err)
		}
	}
	if sctList {
		if tbs, err = ctx509.RemoveSCTList(tbs); err != nil {
			return Key{}, fmt.Errorf("removing the SCT list extension: %w", err)
		}
	}
	return sha256.Sum256(tbs), nil
}

// matchPrecert checks that chain[0], the precertificate that came with a
// precert_entry, is the one whose TBSCertificate the leaf holds (leafTBS):
// its TBSCertificate without the poison extension, with the issuance
// details of the final issuer when chain[1] is a precertificate signing
// certificate (RFC 6962 section 3.1).
func matchPrecert(leafTBS []byte, chain [][]byte) error {
	tbs, err := certTBS(chain[0])
	if err != nil {
		return fmt.Errorf("precertificate: %w", err)
	}
	if isPrecertTBSOf(leafTBS, tbs) {
		return nil
	}
	poison, _, err := ctExtensions(tbs)
	if err != nil {
		return fmt.Errorf("precertificate: %w", err)
	}
	if !poison {
		return errors.New("the precertificate that came with the entry has no CT poison extension")
	}
	// Not the same bytes: the log may have re-encoded the TBSCertificate
	// (BER in the precertificate), or the precertificate was signed by a
	// precertificate signing certificate.
	got, err := ctx509.BuildPrecertTBS(tbs, nil)
	if err != nil {
		return fmt.Errorf("precertificate: removing the CT poison extension: %w", err)
	}
	if bytes.Equal(got, leafTBS) {
		return nil
	}
	if len(chain) > 1 {
		if pre, err := parseCTCert(chain[1]); err == nil && ct.IsPreIssuer(pre) {
			if got, err := ctx509.BuildPrecertTBS(tbs, pre); err == nil && bytes.Equal(got, leafTBS) {
				return nil
			}
		}
	}
	return errors.New("the precertificate that came with the entry is not the one in the leaf (its TBSCertificate differs)")
}

// ExtraChain decodes the extra data that comes with a CT entry (RFC 6962
// get-entries' extra_data) into the chain Identities takes: for a
// precert_entry leaf a PrecertChainEntry, returned as the precertificate
// followed by its issuers; for an x509_entry a CertificateChain, its
// issuers. Empty extra data gives a nil chain (for a precertificate:
// the leaf's TBSCertificate names the signer, see Identities). The entry
// type is read from the leaf's header, which Identities checks in full.
func ExtraChain(leaf, extra []byte) ([][]byte, error) {
	if len(extra) == 0 {
		return nil, nil
	}
	// MerkleTreeLeaf: version (1), leaf_type (1), timestamp (8), entry_type (2).
	if len(leaf) < 12 {
		return nil, errors.New("MerkleTreeLeaf too short for its entry type")
	}
	switch ct.LogEntryType(binary.BigEndian.Uint16(leaf[10:12])) {
	case ct.X509LogEntryType:
		var cc ct.CertificateChain
		if rest, err := cttls.Unmarshal(extra, &cc); err != nil {
			return nil, fmt.Errorf("decoding extra data as a CertificateChain: %w", err)
		} else if len(rest) != 0 {
			return nil, fmt.Errorf("decoding extra data as a CertificateChain: %d bytes after it", len(rest))
		}
		out := make([][]byte, len(cc.Entries))
		for i, c := range cc.Entries {
			out[i] = c.Data
		}
		return out, nil
	case ct.PrecertLogEntryType:
		var pce ct.PrecertChainEntry
		if rest, err := cttls.Unmarshal(extra, &pce); err != nil {
			return nil, fmt.Errorf("decoding extra data as a PrecertChainEntry: %w", err)
		} else if len(rest) != 0 {
			return nil, fmt.Errorf("decoding extra data as a PrecertChainEntry: %d bytes after it", len(rest))
		}
		out := make([][]byte, 0, 1+len(pce.CertificateChain))
		out = append(out, pce.PreCertificate.Data)
		for _, c := range pce.CertificateChain {
			out = append(out, c.Data)
		}
		return out, nil
	}
	return nil, fmt.Errorf("MerkleTreeLeaf entry type %d, want x509_entry or precert_entry", binary.BigEndian.Uint16(leaf[10:12]))
}

// EntryIdentities is Identities for an entry as a log serves it: the
// MerkleTreeLeaf and its extra data (see ExtraChain). Extra data that does
// not decode makes the entry malformed.
func EntryIdentities(p *identity.Parser, leaf, extra []byte) ([]identity.Identity, error) {
	chain, err := ExtraChain(leaf, extra)
	if err != nil {
		return nil, &identity.MalformedError{Kind: leafKindOf(leaf), Err: err}
	}
	return Identities(p, leaf, chain)
}

// leafKindOf is the identity kind named by a leaf's header, or "".
func leafKindOf(leaf []byte) string {
	if len(leaf) < 12 {
		return ""
	}
	switch ct.LogEntryType(binary.BigEndian.Uint16(leaf[10:12])) {
	case ct.X509LogEntryType:
		return identity.KindCTX509
	case ct.PrecertLogEntryType:
		return identity.KindCTPrecert
	}
	return ""
}
