package staticct

import (
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// A static-ct log in memory, served by httptest as TesseraCT lays it out:
// checkpoint, hash tiles, data tiles and issuers. Entries are built with
// certificate-transparency-go's types, independently of the parser under
// test.

const (
	fulcioIssuerOID = "1.3.6.1.4.1.57264.1.8"
	testOIDCIssuer  = "https://accounts.example.com"
)

var (
	oidPoison       = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidFulcioIssuer = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// testCA is a root and an intermediate, and two leaves it issued: an
// X.509 certificate and a precertificate, both Fulcio-style.
type testCA struct {
	root, inter   *x509.Certificate
	interKey      *ecdsa.PrivateKey
	cert, precert *x509.Certificate
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	now := time.Now()
	rootKey, interKey := newKey(t), newKey(t)
	create := func(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, priv *ecdsa.PrivateKey) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca := func(serial int64, name string) *x509.Certificate {
		return &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name, Organization: []string{"vigil test"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
		}
	}
	root := ca(1, "test root")
	root = create(root, root, &rootKey.PublicKey, rootKey)
	inter := create(ca(2, "test intermediate"), root, &interKey.PublicKey, rootKey)
	issuerExt, err := asn1.MarshalWithParams(testOIDCIssuer, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(serial int64, email string, poison bool) *x509.Certificate {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), NotBefore: now.Add(-time.Minute), NotAfter: now.Add(10 * time.Minute),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			EmailAddresses:  []string{email},
			ExtraExtensions: []pkix.Extension{{Id: oidFulcioIssuer, Value: issuerExt}},
		}
		if poison {
			tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, pkix.Extension{Id: oidPoison, Critical: true, Value: asn1.NullBytes})
		}
		return create(tmpl, inter, &newKey(t).PublicKey, interKey)
	}
	return &testCA{root: root, inter: inter, interKey: interKey,
		cert: leaf(10, "alice@example.com", false), precert: leaf(11, "bob@example.com", true)}
}

// leafIndexExt is the static-ct-api leaf_index SCT extension.
func leafIndexExt(i uint64) []byte {
	b := []byte{0, 0, 5}
	return append(b, byte(i>>32), byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
}

// testEntry is one entry of the test log, as certificate-transparency-go
// encodes it.
type testEntry struct {
	leaf     []byte // MerkleTreeLeaf
	extra    []byte // what Entry.Extra must be
	tileLeaf []byte
}

// makeEntry builds entry i: a precert entry when precert, else an X.509
// one, submitted with chain.
func (ca *testCA) makeEntry(t testing.TB, i uint64, precert bool, chain ...*x509.Certificate) testEntry {
	t.Helper()
	te := ct.TimestampedEntry{Timestamp: 1_700_000_000_000 + i, Extensions: leafIndexExt(i)}
	var extra []byte
	if precert {
		tbs, err := ctx509.RemoveCTPoison(ca.precert.RawTBSCertificate)
		if err != nil {
			t.Fatal(err)
		}
		te.EntryType = ct.PrecertLogEntryType
		te.PrecertEntry = &ct.PreCert{IssuerKeyHash: sha256.Sum256(ca.inter.RawSubjectPublicKeyInfo), TBSCertificate: tbs}
		n := len(ca.precert.Raw)
		extra = append(extra, byte(n>>16), byte(n>>8), byte(n))
		extra = append(extra, ca.precert.Raw...)
	} else {
		te.EntryType = ct.X509LogEntryType
		te.X509Entry = &ct.ASN1Cert{Data: ca.cert.Raw}
	}
	extra = binary.BigEndian.AppendUint16(extra, uint16(32*len(chain)))
	for _, c := range chain {
		fp := sha256.Sum256(c.Raw)
		extra = append(extra, fp[:]...)
	}
	leaf, err := cttls.Marshal(ct.MerkleTreeLeaf{Version: ct.V1, LeafType: ct.TimestampedEntryLeafType, TimestampedEntry: &te})
	if err != nil {
		t.Fatal(err)
	}
	return testEntry{leaf: leaf, extra: extra, tileLeaf: append(bytes.Clone(leaf[2:]), extra...)}
}

// rfc6962Signer signs checkpoints as the static-ct-api does: an
// RFC6962NoteSignature (timestamp, then the TLS DigitallySigned
// TreeHeadSignature) under the key ID of name and the RFC 6962 log ID.
type rfc6962Signer struct {
	name string
	key  *ecdsa.PrivateKey
	ts   uint64
}

func (s *rfc6962Signer) Name() string { return s.name }

func (s *rfc6962Signer) KeyHash() uint32 {
	spki, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	if err != nil {
		panic(err)
	}
	logID := sha256.Sum256(spki)
	h := sha256.Sum256(append(append([]byte(s.name), '\n', 0x05), logID[:]...))
	return binary.BigEndian.Uint32(h[:])
}

func (s *rfc6962Signer) Sign(msg []byte) ([]byte, error) {
	lines := strings.Split(string(msg), "\n")
	if len(lines) != 4 {
		return nil, fmt.Errorf("checkpoint has %d lines", len(lines))
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return nil, err
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return nil, err
	}
	// TreeHeadSignature: version v1, signature type tree_hash, timestamp,
	// tree size, root hash.
	ths := []byte{0, 1}
	ths = binary.BigEndian.AppendUint64(ths, s.ts)
	ths = binary.BigEndian.AppendUint64(ths, size)
	ths = append(ths, root...)
	dgst := sha256.Sum256(ths)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, dgst[:])
	if err != nil {
		return nil, err
	}
	out := binary.BigEndian.AppendUint64(nil, s.ts)
	out = append(out, 4, 3) // SHA-256, ECDSA
	out = binary.BigEndian.AppendUint16(out, uint16(len(sig)))
	return append(out, sig...), nil
}

// testLog is a static-ct log in memory, served over HTTP.
type testLog struct {
	t      testing.TB
	ca     *testCA
	key    *ecdsa.PrivateKey
	srv    *httptest.Server
	origin string // the default origin of srv.URL

	mu       sync.Mutex
	entries  []testEntry
	tree     *testonly.Tree
	rng      *compact.Range
	nodes    map[compact.NodeID][]byte
	issuers  map[string][]byte
	cp       []byte
	signed   []uint64                                          // the sizes checkpoints were signed for
	gzip     bool                                              // serve data tiles gzip-encoded
	override func(w http.ResponseWriter, r *http.Request) bool // handles a request when it returns true
	requests []string
}

// newTestLog serves a log of size entries: every third a precert entry,
// each submitted with the intermediate and the root. It signs a checkpoint
// for each of sizes on the way (its partial tiles stay until the full tile
// exists), then for size.
func newTestLog(t testing.TB, size int, sizes ...int) *testLog {
	t.Helper()
	l := &testLog{t: t, ca: newTestCA(t), key: newKey(t), tree: testonly.New(rfc6962.DefaultHasher),
		rng:   (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0),
		nodes: map[compact.NodeID][]byte{}, issuers: map[string][]byte{}}
	for _, c := range []*x509.Certificate{l.ca.inter, l.ca.root} {
		fp := sha256.Sum256(c.Raw)
		l.issuers[hex.EncodeToString(fp[:])] = c.Raw
	}
	l.srv = httptest.NewServer(http.HandlerFunc(l.serve))
	t.Cleanup(l.srv.Close)
	l.origin = strings.TrimPrefix(l.srv.URL, "http://")
	for _, n := range sizes {
		l.grow(n)
	}
	l.grow(size)
	return l
}

// grow appends entries up to size and signs a checkpoint for it.
func (l *testLog) grow(size int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.entries); i < size; i++ {
		e := l.ca.makeEntry(l.t, uint64(i), i%3 == 0, l.ca.inter, l.ca.root)
		l.entries = append(l.entries, e)
		h := rfc6962.DefaultHasher.HashLeaf(e.leaf)
		l.tree.Append(h)
		if err := l.rng.Append(h, func(id compact.NodeID, h []byte) { l.nodes[id] = h }); err != nil {
			l.t.Fatal(err)
		}
	}
	l.cp = l.sign(l.origin, uint64(size))
	l.signed = append(l.signed, uint64(size))
}

// sign returns a checkpoint of the log at size under origin.
func (l *testLog) sign(origin string, size uint64) []byte {
	l.t.Helper()
	body := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(l.tree.HashAt(size)))
	n, err := note.Sign(&note.Note{Text: body}, &rfc6962Signer{name: origin, key: l.key, ts: uint64(time.Now().UnixMilli())})
	if err != nil {
		l.t.Fatal(err)
	}
	return n
}

// set runs f with the log locked, to change what it serves.
func (l *testLog) set(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// setOverride sets a handler that sees every request first.
func (l *testLog) setOverride(f func(w http.ResponseWriter, r *http.Request) bool) {
	l.set(func() { l.override = f })
}

// paths returns the paths requested so far.
func (l *testLog) paths() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.requests...)
}

// tileWidth says whether tile index at level (0 for data tiles) exists
// with width w (0: full), and how wide it is: a full tile once the tree
// covers it, a partial one for each size a checkpoint was signed for, as
// long as the full tile does not exist (then it is gone, as the
// static-ct-api allows). The log is locked.
func (l *testLog) tileWidth(level, index uint64, w uint8) (int, bool) {
	full := (index+1)*layout.TileWidth <= uint64(len(l.entries))>>(8*level)
	if w == 0 {
		return layout.TileWidth, full
	}
	for _, s := range l.signed {
		n := s >> (8 * level)
		if !full && index == n/layout.TileWidth && uint64(w) == n%layout.TileWidth {
			return int(w), true
		}
	}
	return 0, false
}

func (l *testLog) serve(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	l.requests = append(l.requests, strings.TrimPrefix(r.URL.Path, "/"))
	override := l.override
	l.mu.Unlock()
	if override != nil && override(w, r) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case p == "checkpoint":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(l.cp)
	case strings.HasPrefix(p, "issuer/"):
		der, ok := l.issuers[strings.TrimPrefix(p, "issuer/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Write(der)
	case strings.HasPrefix(p, "tile/data/"):
		index, pw, err := layout.ParseTileIndexPartial(strings.TrimPrefix(p, "tile/data/"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		width, ok := l.tileWidth(0, index, pw)
		if !ok {
			http.NotFound(w, r)
			return
		}
		var b []byte
		for _, e := range l.entries[index*layout.TileWidth : index*layout.TileWidth+uint64(width)] {
			b = append(b, e.tileLeaf...)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		if l.gzip {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(b)
			zw.Close()
			return
		}
		w.Write(b)
	case strings.HasPrefix(p, "tile/"):
		level, rest, _ := strings.Cut(strings.TrimPrefix(p, "tile/"), "/")
		lv, index, pw, err := layout.ParseTileLevelIndexPartial(level, rest)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		width, ok := l.tileWidth(lv, index, pw)
		if !ok {
			http.NotFound(w, r)
			return
		}
		var b []byte
		for i := range uint64(width) {
			h, ok := l.nodes[compact.NewNodeID(uint(8*lv), index*layout.TileWidth+i)]
			if !ok {
				l.t.Errorf("tile %s: no node %d/%d", p, 8*lv, index*layout.TileWidth+i)
			}
			b = append(b, h...)
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

// newLog returns a reader of l with the default origin and a bounded
// client.
func (l *testLog) newLog(t testing.TB) *Log {
	t.Helper()
	c, err := tlog.NewHTTPClient(tlog.ClientConfig{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := New(tlog.Options{URL: l.srv.URL, Client: c})
	if err != nil {
		t.Fatal(err)
	}
	return sl
}
