package staticct

import (
	"encoding/binary"
	"fmt"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Entry types of an RFC 6962 TimestampedEntry (LogEntryType).
const (
	x509Entry    = 0
	precertEntry = 1
)

// fingerprintSize is the size of a static-ct-api Fingerprint: the SHA-256
// of an issuer's DER.
const fingerprintSize = 32

// Data tiles
//
// A data tile (C2SP static-ct-api) is a sequence of TileLeaf structures:
//
//	struct {
//	    TimestampedEntry timestamped_entry;          // RFC 6962 §3.4
//	    select (entry_type) {
//	        case x509_entry: Empty;
//	        case precert_entry: ASN.1Cert pre_certificate;  // uint24 length
//	    };
//	    Fingerprint certificate_chain<0..2^16-1>;    // 32-byte SHA-256s
//	} TileLeaf;
//
//	struct {
//	    uint64 timestamp;
//	    LogEntryType entry_type;                     // uint16
//	    select (entry_type) {
//	        case x509_entry: ASN.1Cert;              // uint24 length
//	        case precert_entry: PreCert;             // issuer_key_hash[32], TBSCertificate<uint24>
//	    } signed_entry;
//	    CtExtensions extensions;                     // uint16 length
//	} TimestampedEntry;
//
// The Merkle leaf of an entry is the RFC 6962 leaf hash of its
// MerkleTreeLeaf: version v1 (0), leaf type timestamped_entry (0), then the
// TimestampedEntry. An Entry's Data is that MerkleTreeLeaf, rebuilt from
// the tile, and its Extra is the rest of the TileLeaf (see SplitExtra).

// SplitExtra decodes the chain of an entry this package returns: data is
// the entry's Data (an RFC 6962 MerkleTreeLeaf, whose TimestampedEntry
// gives the entry type), extra its Extra, which is the TileLeaf's bytes
// after its timestamped_entry, verbatim:
//
//	x509_entry:    certificate_chain     (uint16 length, then 32-byte fingerprints)
//	precert_entry: pre_certificate       (uint24 length, then the precertificate's DER)
//	               precertificate_chain  (uint16 length, then 32-byte fingerprints)
//
// It returns the precertificate's DER (nil for an x509_entry) and the
// SHA-256 fingerprints of the submitted issuers, first the one that issued
// the entry's certificate; the slices alias extra.
func SplitExtra(data, extra []byte) (precert []byte, issuers [][fingerprintSize]byte, err error) {
	typ, err := entryType(data)
	if err != nil {
		return nil, nil, err
	}
	at := 0
	if typ == precertEntry {
		n, err := readLength(extra, at, 3, "pre_certificate")
		if err != nil {
			return nil, nil, err
		}
		precert = extra[at+3 : at+3+n : at+3+n]
		at += 3 + n
	}
	n, err := readLength(extra, at, 2, "certificate_chain")
	if err != nil {
		return nil, nil, err
	}
	if n%fingerprintSize != 0 {
		return nil, nil, fmt.Errorf("certificate_chain of %d bytes is not a list of %d-byte fingerprints", n, fingerprintSize)
	}
	fps := extra[at+2 : at+2+n]
	if rest := len(extra) - (at + 2 + n); rest != 0 {
		return nil, nil, fmt.Errorf("%d bytes after certificate_chain", rest)
	}
	issuers = make([][fingerprintSize]byte, n/fingerprintSize)
	for i := range issuers {
		issuers[i] = [fingerprintSize]byte(fps[i*fingerprintSize:])
	}
	return precert, issuers, nil
}

// entryType returns the entry_type of a MerkleTreeLeaf of version v1 and
// leaf type timestamped_entry.
func entryType(leaf []byte) (uint16, error) {
	if len(leaf) < 12 {
		return 0, fmt.Errorf("MerkleTreeLeaf of %d bytes is too short for a TimestampedEntry", len(leaf))
	}
	if leaf[0] != 0 || leaf[1] != 0 {
		return 0, fmt.Errorf("MerkleTreeLeaf version %d, leaf type %d: want v1 (0) timestamped_entry (0)", leaf[0], leaf[1])
	}
	typ := binary.BigEndian.Uint16(leaf[10:])
	if typ != x509Entry && typ != precertEntry {
		return 0, fmt.Errorf("unknown entry_type %d (want 0, x509_entry, or 1, precert_entry)", typ)
	}
	return typ, nil
}

// readLength reads a big-endian length of size bytes at b[at:] and checks
// that the field it announces fits in b.
func readLength(b []byte, at, size int, field string) (int, error) {
	if len(b)-at < size {
		return 0, fmt.Errorf("%s: its %d-byte length at offset %d runs past the end (%d bytes)", field, size, at, len(b))
	}
	n := 0
	for _, c := range b[at : at+size] {
		n = n<<8 | int(c)
	}
	if len(b)-at-size < n {
		return 0, fmt.Errorf("%s: %d bytes at offset %d run past the end (%d bytes)", field, n, at+size, len(b))
	}
	return n, nil
}

// scanLeaf checks the TileLeaf at raw[at:] and returns where its
// timestamped_entry ends and where the leaf ends. Offsets in errors are
// from the start of the tile.
func scanLeaf(raw []byte, at int) (teEnd, end int, err error) {
	p := at
	field := func(size int, name string) error {
		n, err := readLength(raw, p, size, name)
		if err != nil {
			return err
		}
		p += size + n
		return nil
	}
	if len(raw)-p < 10 {
		return 0, 0, fmt.Errorf("timestamp and entry_type need 10 bytes, %d left", len(raw)-p)
	}
	typ := binary.BigEndian.Uint16(raw[p+8:])
	p += 10
	switch typ {
	case x509Entry:
		if err := field(3, "certificate"); err != nil {
			return 0, 0, err
		}
	case precertEntry:
		if len(raw)-p < 32 {
			return 0, 0, fmt.Errorf("issuer_key_hash needs 32 bytes at offset %d, %d left", p, len(raw)-p)
		}
		p += 32
		if err := field(3, "tbs_certificate"); err != nil {
			return 0, 0, err
		}
	default:
		return 0, 0, fmt.Errorf("unknown entry_type %d at offset %d (want 0, x509_entry, or 1, precert_entry)", typ, p-2)
	}
	if err := field(2, "extensions"); err != nil {
		return 0, 0, err
	}
	teEnd = p
	if typ == precertEntry {
		if err := field(3, "pre_certificate"); err != nil {
			return 0, 0, err
		}
	}
	chainAt := p
	if err := field(2, "certificate_chain"); err != nil {
		return 0, 0, err
	}
	if n := p - chainAt - 2; n%fingerprintSize != 0 {
		return 0, 0, fmt.Errorf("certificate_chain at offset %d: %d bytes is not a list of %d-byte fingerprints", chainAt, n, fingerprintSize)
	}
	return teEnd, p, nil
}

// parseDataTile returns the entries ri covers of a data tile. Each entry's
// Data (the MerkleTreeLeaf: two bytes more than the tile's
// TimestampedEntry) and Extra are carved from one new buffer, so raw is not
// kept: the entries of a tile hold its size plus two bytes an entry. Each
// entry's Time is its TimestampedEntry's timestamp. A tile is checked to
// the end, and may hold no more than 256 entries.
func parseDataTile(raw []byte, ri layout.RangeInfo) ([]tlog.Entry, error) {
	first, n := uint64(ri.First), uint64(ri.N)
	if n == 0 || first+n > layout.EntryBundleWidth {
		return nil, fmt.Errorf("data tile %d: asked for %d entries from %d", ri.Index, n, first)
	}
	type span struct{ start, teEnd, end int }
	spans := make([]span, 0, n)
	size := 0
	var count uint64
	for at := 0; at < len(raw); count++ {
		if count == layout.EntryBundleWidth {
			return nil, fmt.Errorf("data tile %d holds more than %d entries (offset %d of %d bytes)", ri.Index, layout.EntryBundleWidth, at, len(raw))
		}
		teEnd, end, err := scanLeaf(raw, at)
		if err != nil {
			return nil, fmt.Errorf("data tile %d: entry %d at offset %d: %w", ri.Index, count, at, err)
		}
		if count >= first && count < first+n {
			spans = append(spans, span{at, teEnd, end})
			size += 2 + end - at
		}
		at = end
	}
	if count < first+n {
		return nil, fmt.Errorf("data tile %d has %d entries (%d bytes), want at least %d", ri.Index, count, len(raw), first+n)
	}
	buf := make([]byte, size)
	out := make([]tlog.Entry, len(spans))
	base := ri.Index*layout.EntryBundleWidth + first
	at := 0
	for i, s := range spans {
		// buf[at], buf[at+1] are zero: version v1, leaf type timestamped_entry.
		dEnd := at + 2 + s.teEnd - s.start
		copy(buf[at+2:dEnd], raw[s.start:s.teEnd])
		xEnd := dEnd + s.end - s.teEnd
		copy(buf[dEnd:xEnd], raw[s.teEnd:s.end])
		data := buf[at:dEnd:dEnd]
		idx := base + uint64(i)
		ts, _ := ctleaf.LeafTime(data)
		out[i] = tlog.Entry{Index: idx, LogIndex: idx, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data), Extra: buf[dEnd:xEnd:xEnd], Time: ts}
		at = xEnd
	}
	return out, nil
}
