package index

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Digest algorithms, as stored in an entry's data (one byte each).
var digestAlgs = []struct {
	code byte
	name string
	size int
}{
	{1, "sha256", 32},
	{2, "sha384", 48},
	{3, "sha512", 64},
	{4, "sha1", 20},
}

// digest is a parsed digest: code 0 means "any algorithm" (a bare hex
// query).
type digest struct {
	code byte
	raw  []byte
}

func (d digest) String() string {
	for _, a := range digestAlgs {
		if a.code == d.code {
			return a.name + ":" + hex.EncodeToString(d.raw)
		}
	}
	return hex.EncodeToString(d.raw)
}

// parseDigest parses "alg:<hex>" or bare hex (case-insensitive). Bare hex
// is taken as the algorithm of its length when strict (a record), and as
// any algorithm when not (a query).
func parseDigest(s string, strict bool) (digest, error) {
	alg, h, ok := strings.Cut(s, ":")
	if !ok {
		alg, h = "", s
	}
	raw, err := hex.DecodeString(h)
	if err != nil || len(raw) == 0 {
		return digest{}, errors.New("not a hex digest")
	}
	for _, a := range digestAlgs {
		if alg == "" && len(raw) == a.size {
			if strict {
				return digest{a.code, raw}, nil
			}
			return digest{0, raw}, nil
		}
		if strings.EqualFold(alg, a.name) {
			if len(raw) != a.size {
				return digest{}, fmt.Errorf("a %s digest has %d bytes, not %d", a.name, a.size, len(raw))
			}
			return digest{a.code, raw}, nil
		}
	}
	if alg != "" {
		return digest{}, fmt.Errorf("unknown digest algorithm %q (want sha256, sha384, sha512 or sha1)", clip(alg))
	}
	return digest{}, fmt.Errorf("a bare hex digest of %d bytes is no known algorithm's", len(raw))
}

// parseFingerprint parses a certificate or key fingerprint: hex, with or
// without "sha256:", case-insensitive, 4 to 64 bytes.
func parseFingerprint(s string) ([]byte, error) {
	if len(s) > 7 && strings.EqualFold(s[:7], "sha256:") {
		s = s[7:]
	}
	raw, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("not a hex fingerprint")
	}
	if len(raw) < 4 || len(raw) > 64 {
		return nil, fmt.Errorf("a fingerprint of %d bytes (want 4 to 64)", len(raw))
	}
	return raw, nil
}

// hashKey is the posting key of a digest or fingerprint: its first four
// bytes as a signed 32-bit integer (four bytes in SQLite's record format).
// Postings find candidates; the full value is compared before an entry is
// returned.
func hashKey(raw []byte) int64 {
	return int64(int32(binary.BigEndian.Uint32(raw)))
}

// Attribute names of terms, besides the Fulcio OIDs.
const (
	attrSubject = "subject"
	attrIssuer  = "issuer"
)

// Namespaces of the names table.
const (
	nsLog  = 1
	nsKind = 2
	nsAttr = 3
)

// term is an attribute and a value, before it has an id.
type term struct {
	attr  string
	value string
}

// volatileOIDs are the Fulcio extensions whose values change with every
// CI run or commit (a run's URI, a commit's digest). Interned with the
// rest, each would make every signer a new principal; instead each entry
// keeps their values itself, found through hash postings like a digest
// (see volKey). The list is part of the schema: changing it needs a
// rebuild.
var volatileOIDs = map[string]bool{
	"1.3.6.1.4.1.57264.1.3":  true, // GitHub workflow SHA (deprecated)
	"1.3.6.1.4.1.57264.1.10": true, // build signer digest
	"1.3.6.1.4.1.57264.1.13": true, // source repository digest
	"1.3.6.1.4.1.57264.1.19": true, // build config digest
	"1.3.6.1.4.1.57264.1.21": true, // run invocation URI
}

// identityTerms lists the interned terms of id in their canonical order:
// subjects as given, the issuer, extensions by OID; and, apart, its
// volatile extensions by OID.
func identityTerms(id *Identity) (ts, vols []term) {
	for _, s := range id.Subjects {
		ts = append(ts, term{attrSubject, s})
	}
	if id.Issuer != "" {
		ts = append(ts, term{attrIssuer, id.Issuer})
	}
	oids := make([]string, 0, len(id.Extensions))
	for k := range id.Extensions {
		oids = append(oids, k)
	}
	slices.Sort(oids)
	for _, k := range oids {
		if volatileOIDs[k] {
			vols = append(vols, term{k, id.Extensions[k]})
		} else {
			ts = append(ts, term{k, id.Extensions[k]})
		}
	}
	return ts, vols
}

// volKey is the hash posting key of a volatile extension value, given its
// attribute's id.
func volKey(attr int64, value []byte) int64 {
	var buf [128]byte
	b := append(binary.AppendUvarint(buf[:0], uint64(attr)), value...)
	sum := sha256.Sum256(b)
	return hashKey(sum[:])
}

// appendTermsKey appends to b a key naming a list of terms exactly
// (length-prefixed), for de-duplicating principals before they have ids.
func appendTermsKey(b []byte, ts []term) []byte {
	for _, t := range ts {
		b = binary.AppendUvarint(b, uint64(len(t.attr)))
		b = append(b, t.attr...)
		b = binary.AppendUvarint(b, uint64(len(t.value)))
		b = append(b, t.value...)
	}
	return b
}

// validOID reports whether s is a dotted OID.
func validOID(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	digit := false // the last byte was a digit
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c == '.' && digit:
			digit = false
		default:
			return false
		}
	}
	return digit
}

// The data column of an entry:
//
//	uvarint count of digests, then per digest: algorithm byte, raw digest
//	uvarint count of signers, then per signer:
//	  uvarint principal id (0: no subject, issuer or extension)
//	  uvarint length, certificate fingerprint bytes
//	  uvarint length, key fingerprint bytes
//	  uvarint count of volatile extensions, then per extension:
//	    uvarint attribute (names) id, uvarint n<<2 | form, then by form:
//	      0: n bytes, the value
//	      1: n bytes whose lower-case hex is the value (a commit digest)
//	      2: nothing: the value is that of extension n of this signer
//	         (GitHub gives the commit digest in three extensions)

// signer is a signer as an entry stores it.
type signer struct {
	principal int64
	cert, key []byte
	vols      []vol
}

// vol is a volatile extension value of a signer.
type vol struct {
	attr  int64
	value []byte
}

type entryData struct {
	digests []digest
	signers []signer
}

func encodeData(d *entryData) []byte {
	return appendData(make([]byte, 0, 8+len(d.digests)*33+len(d.signers)*70), d)
}

// appendData appends the encoding of d to b.
func appendData(b []byte, d *entryData) []byte {
	b = binary.AppendUvarint(b, uint64(len(d.digests)))
	for _, g := range d.digests {
		b = append(b, g.code)
		b = append(b, g.raw...)
	}
	b = binary.AppendUvarint(b, uint64(len(d.signers)))
	for _, s := range d.signers {
		b = binary.AppendUvarint(b, uint64(s.principal))
		b = binary.AppendUvarint(b, uint64(len(s.cert)))
		b = append(b, s.cert...)
		b = binary.AppendUvarint(b, uint64(len(s.key)))
		b = append(b, s.key...)
		b = binary.AppendUvarint(b, uint64(len(s.vols)))
	vols:
		for i, v := range s.vols {
			b = binary.AppendUvarint(b, uint64(v.attr))
			for j := range i {
				if bytes.Equal(s.vols[j].value, v.value) {
					b = binary.AppendUvarint(b, uint64(j)<<2|2)
					continue vols
				}
			}
			if isLowerHex(v.value) {
				b = binary.AppendUvarint(b, uint64(len(v.value)/2)<<2|1)
				b, _ = hex.AppendDecode(b, v.value) // cannot fail: isLowerHex
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(v.value))<<2)
			b = append(b, v.value...)
		}
	}
	return b
}

var errBadData = errors.New("index: corrupt entry data")

func decodeData(b []byte) (*entryData, error) {
	var d entryData
	n, b, err := uvarint(b)
	if err != nil || n > uint64(len(b)) {
		return nil, errBadData
	}
	d.digests = make([]digest, 0, n)
	for range n {
		if len(b) < 1 {
			return nil, errBadData
		}
		size := 0
		for _, a := range digestAlgs {
			if a.code == b[0] {
				size = a.size
			}
		}
		if size == 0 || len(b) < 1+size {
			return nil, errBadData
		}
		d.digests = append(d.digests, digest{b[0], b[1 : 1+size : 1+size]})
		b = b[1+size:]
	}
	n, b, err = uvarint(b)
	if err != nil || n > uint64(len(b)) {
		return nil, errBadData
	}
	d.signers = make([]signer, 0, n)
	for range n {
		var s signer
		var p uint64
		if p, b, err = uvarint(b); err != nil || p > math.MaxInt64 {
			return nil, errBadData
		}
		s.principal = int64(p)
		if s.cert, b, err = lenBytes(b); err != nil {
			return nil, err
		}
		if s.key, b, err = lenBytes(b); err != nil {
			return nil, err
		}
		var nv uint64
		if nv, b, err = uvarint(b); err != nil || nv > uint64(len(b)) {
			return nil, errBadData
		}
		for range nv {
			var v vol
			var a, tag uint64
			if a, b, err = uvarint(b); err != nil || a > math.MaxInt64 {
				return nil, errBadData
			}
			v.attr = int64(a)
			if tag, b, err = uvarint(b); err != nil {
				return nil, errBadData
			}
			n := tag >> 2
			switch tag & 3 {
			case 0, 1:
				if n > uint64(len(b)) {
					return nil, errBadData
				}
				v.value = b[:n:n]
				if tag&3 == 1 {
					v.value = hex.AppendEncode(nil, v.value)
				}
				b = b[n:]
			case 2:
				if n >= uint64(len(s.vols)) {
					return nil, errBadData
				}
				v.value = s.vols[n].value
			default:
				return nil, errBadData
			}
			s.vols = append(s.vols, v)
		}
		d.signers = append(d.signers, s)
	}
	if len(b) != 0 {
		return nil, errBadData
	}
	return &d, nil
}

// isLowerHex reports whether v is lower-case hex of at least 8 digits, an
// even number: stored as the bytes it encodes.
func isLowerHex(v []byte) bool {
	if len(v) < 8 || len(v)%2 != 0 {
		return false
	}
	for _, c := range v {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errBadData
	}
	return v, b[n:], nil
}

func lenBytes(b []byte) ([]byte, []byte, error) {
	n, b, err := uvarint(b)
	if err != nil || n > uint64(len(b)) {
		return nil, nil, errBadData
	}
	if n == 0 {
		return nil, b, nil
	}
	return b[:n:n], b[n:], nil
}

// hashKeys returns the distinct hash posting keys of an entry.
func (d *entryData) hashKeys() []int64 { return d.appendHashKeys(nil) }

// appendHashKeys appends the distinct hash posting keys of an entry to ks.
func (d *entryData) appendHashKeys(ks []int64) []int64 {
	n := len(ks)
	add := func(k int64) {
		if !slices.Contains(ks[n:], k) {
			ks = append(ks, k)
		}
	}
	for _, g := range d.digests {
		if len(g.raw) >= 4 {
			add(hashKey(g.raw))
		}
	}
	for _, s := range d.signers {
		if len(s.cert) >= 4 {
			add(hashKey(s.cert))
		}
		if len(s.key) >= 4 {
			add(hashKey(s.key))
		}
		for _, v := range s.vols {
			add(volKey(v.attr, v.value))
		}
	}
	return ks
}

// principals returns the distinct non-zero principals of an entry.
func (d *entryData) principals() []int64 {
	var ps []int64
	for _, s := range d.signers {
		if s.principal != 0 && !slices.Contains(ps, s.principal) {
			ps = append(ps, s.principal)
		}
	}
	return ps
}

// encodeIDs and decodeIDs are a principal's terms column: its term ids as
// uvarints, in canonical order.
func encodeIDs(ids []int64) []byte {
	var b []byte
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return b
}

func decodeIDs(b []byte) ([]int64, error) {
	var ids []int64
	for len(b) > 0 {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > math.MaxInt64 {
			return nil, errors.New("index: corrupt principal terms")
		}
		ids = append(ids, int64(v))
		b = b[n:]
	}
	return ids, nil
}

// pos is a place in the result order: (log id, index), descending.
type pos struct {
	log, idx int64
}

// startPos is before every entry: log ids are 32-bit, indexes below
// MaxInt64 ([Store.Add] refuses larger).
var startPos = pos{math.MaxInt32, math.MaxInt64}

// A cursor is base64url (no padding) of: version byte 1, uvarint log id,
// uvarint index, and the first four bytes of the SHA-256 of the query's
// canonical form, so that a cursor is only taken by the query it came
// from.
const cursorVersion = 1

func encodeCursor(p pos, tag [4]byte) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(p.log))
	b = binary.AppendUvarint(b, uint64(p.idx))
	b = append(b, tag[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, tag [4]byte) (pos, error) {
	bad := func(reason string) (pos, error) {
		return pos{}, &QueryError{Field: "cursor", Value: s, Reason: reason}
	}
	if len(s) > 64 {
		return bad("not a cursor")
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1+2+4 || b[0] != cursorVersion {
		return bad("not a cursor")
	}
	rest := b[1:]
	l, n := binary.Uvarint(rest)
	if n <= 0 || l > math.MaxInt32 {
		return bad("not a cursor")
	}
	rest = rest[n:]
	i, n := binary.Uvarint(rest)
	if n <= 0 || i > math.MaxInt64 {
		return bad("not a cursor")
	}
	rest = rest[n:]
	if len(rest) != 4 {
		return bad("not a cursor")
	}
	if !bytes.Equal(rest, tag[:]) {
		return bad("not a cursor of this query")
	}
	return pos{int64(l), int64(i)}, nil
}

// nq is a validated, normalised query.
type nq struct {
	subject, issuer string
	hasSubject      bool
	hasIssuer       bool
	digest          *digest
	fingerprint     []byte
	exts            []term // sorted by OID, volatile ones too
	vols            []term // the volatile ones of exts
	log             string
	since, until    *int64 // unix milliseconds
	limit           int
	tag             [4]byte
}

// identityTerms lists the interned terms one signer must all have.
func (q *nq) identityTerms() []term {
	var ts []term
	if q.hasSubject {
		ts = append(ts, term{attrSubject, q.subject})
	}
	if q.hasIssuer {
		ts = append(ts, term{attrIssuer, q.issuer})
	}
	for _, t := range q.exts {
		if !volatileOIDs[t.attr] {
			ts = append(ts, t)
		}
	}
	return ts
}

func normalizeQuery(q *Query) (*nq, error) {
	n := &nq{
		subject: q.Subject, hasSubject: q.Subject != "",
		issuer: q.Issuer, hasIssuer: q.Issuer != "",
		log: q.Log, limit: q.Limit,
	}
	switch {
	case q.Limit == 0:
		n.limit = DefaultLimit
	case q.Limit < 0 || q.Limit > MaxLimit:
		return nil, &QueryError{Field: "limit", Value: fmt.Sprint(q.Limit), Reason: fmt.Sprintf("want 1 to %d", MaxLimit)}
	}
	if q.Digest != "" {
		d, err := parseDigest(q.Digest, false)
		if err != nil {
			return nil, &QueryError{Field: "digest", Value: q.Digest, Reason: err.Error()}
		}
		n.digest = &d
	}
	if q.Fingerprint != "" {
		f, err := parseFingerprint(q.Fingerprint)
		if err != nil {
			return nil, &QueryError{Field: "fingerprint", Value: q.Fingerprint, Reason: err.Error()}
		}
		n.fingerprint = f
	}
	for k, v := range q.Extensions {
		if !validOID(k) {
			return nil, &QueryError{Field: "extension." + k, Value: v, Reason: "not a dotted OID"}
		}
		n.exts = append(n.exts, term{k, v})
	}
	slices.SortFunc(n.exts, func(a, b term) int { return strings.Compare(a.attr, b.attr) })
	for _, t := range n.exts {
		if volatileOIDs[t.attr] {
			n.vols = append(n.vols, t)
		}
	}
	if !q.Since.IsZero() {
		ms := q.Since.UnixMilli()
		n.since = &ms
	}
	if !q.Until.IsZero() {
		ms := q.Until.UnixMilli()
		n.until = &ms
	}
	if n.since != nil && n.until != nil && *n.until <= *n.since {
		return nil, &QueryError{Field: "until", Value: q.Until.Format(time.RFC3339Nano), Reason: "not after since"}
	}

	// The cursor's tag: the canonical form of everything but limit and
	// cursor.
	var b []byte
	str := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	opt := func(p *int64) {
		if p == nil {
			b = append(b, 0)
			return
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(*p))
	}
	str(n.subject)
	str(n.issuer)
	if n.digest != nil {
		str(n.digest.String())
	} else {
		str("")
	}
	str(string(n.fingerprint))
	b = binary.AppendUvarint(b, uint64(len(n.exts)))
	for _, t := range n.exts {
		str(t.attr)
		str(t.value)
	}
	str(n.log)
	opt(n.since)
	opt(n.until)
	sum := sha256.Sum256(b)
	copy(n.tag[:], sum[:4])
	return n, nil
}

// prepared is a record ready to store, less its ids.
type prepared struct {
	rec     *Record
	digests []digest
	certs   [][]byte // per identity
	keys    [][]byte // per identity
	terms   [][]term // per identity: interned
	vols    [][]term // per identity: volatile extensions
	ts      *int64
}

func prepareRecord(r *Record) (*prepared, error) {
	p := &prepared{rec: r}
	if r.Log == "" || len(r.Log) > 256 {
		return nil, errors.New("log name empty or longer than 256 bytes")
	}
	if len(r.Kind) > 256 {
		return nil, errors.New("kind longer than 256 bytes")
	}
	if r.Index >= math.MaxInt64 {
		return nil, fmt.Errorf("index %d too large", r.Index)
	}
	if len(r.LeafHash) != 32 {
		return nil, fmt.Errorf("leaf hash of %d bytes, not 32", len(r.LeafHash))
	}
	for _, s := range r.Digests {
		d, err := parseDigest(s, true)
		if err != nil {
			return nil, fmt.Errorf("digest %q: %w", clip(s), err)
		}
		p.digests = append(p.digests, d)
	}
	if !r.Time.IsZero() {
		ms := r.Time.UnixMilli()
		p.ts = &ms
	}
	for i := range r.Identities {
		id := &r.Identities[i]
		var cert, key []byte
		var err error
		if id.CertFingerprint != "" {
			if cert, err = parseFingerprint(id.CertFingerprint); err != nil {
				return nil, fmt.Errorf("identity %d: certificate fingerprint %q: %w", i, clip(id.CertFingerprint), err)
			}
		}
		if id.KeyFingerprint != "" {
			if key, err = parseFingerprint(id.KeyFingerprint); err != nil {
				return nil, fmt.Errorf("identity %d: key fingerprint %q: %w", i, clip(id.KeyFingerprint), err)
			}
		}
		for k := range id.Extensions {
			if !validOID(k) {
				return nil, fmt.Errorf("identity %d: extension %q is not a dotted OID", i, clip(k))
			}
		}
		p.certs = append(p.certs, cert)
		p.keys = append(p.keys, key)
		ts, vols := identityTerms(id)
		p.terms = append(p.terms, ts)
		p.vols = append(p.vols, vols)
	}
	return p, nil
}
