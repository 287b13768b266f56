package checkpoint_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
)

// This file holds the test log: an in-memory RFC 6962 tree that signs real
// checkpoints the way Rekor v1 (ECDSA P-256) or Rekor v2 (Ed25519) does and
// serves real consistency proofs.

// Fixed private keys, so that fuzz corpora and examples stay valid from one
// run to the next. They are test keys and protect nothing.
var (
	ecdsaScalar = bytes.Repeat([]byte{0x42}, 32)
	ed25519Seed = bytes.Repeat([]byte{0x17}, ed25519.SeedSize)
)

// testECDSAKey returns the fixed P-256 test key.
func testECDSAKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), ecdsaScalar)
	if err != nil {
		t.Fatalf("ecdsa.ParseRawPrivateKey: %v", err)
	}
	return k
}

// newECDSAKey returns a fresh P-256 key.
func newECDSAKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("ecdsa.GenerateKey: %v", err)
	}
	return k
}

// rekorV1Signer is a note.Signer that signs like Rekor v1
// (sigstore/rekor v1.5.4 pkg/util/signed_note.go): the signature name is the
// server hostname, the key hash is the first four bytes of the SHA-256 of
// the DER SubjectPublicKeyInfo, and the signature is ASN.1 ECDSA over the
// SHA-256 of the note text.
type rekorV1Signer struct {
	name string
	hash uint32
	key  *ecdsa.PrivateKey
}

func newRekorV1Signer(t testing.TB, hostname string, key *ecdsa.PrivateKey) *rekorV1Signer {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatalf("x509.MarshalPKIXPublicKey: %v", err)
	}
	sum := sha256.Sum256(der)
	return &rekorV1Signer{name: hostname, hash: binary.BigEndian.Uint32(sum[:4]), key: key}
}

func (s *rekorV1Signer) Name() string    { return s.name }
func (s *rekorV1Signer) KeyHash() uint32 { return s.hash }
func (s *rekorV1Signer) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.key, d[:])
}

// ed25519Signer returns a standard signed-note Ed25519 signer (what Rekor v2
// uses) for name and the seed, and its public key.
func ed25519Signer(t testing.TB, name string, seed []byte) (note.Signer, ed25519.PublicKey) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		t.Fatalf("note.NewEd25519VerifierKey: %v", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatalf("note.NewVerifier: %v", err)
	}
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, v.KeyHash(),
		base64.StdEncoding.EncodeToString(append([]byte{1}, seed...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatalf("note.NewSigner: %v", err)
	}
	return s, pub
}

// testLog is an in-memory transparency log.
type testLog struct {
	t        testing.TB
	tree     *testonly.Tree
	origin   string
	signer   note.Signer
	pub      crypto.PublicKey
	verifier note.Verifier
	// leafPrefix makes the entries of two logs differ.
	leafPrefix string
}

// newRekorV1Log returns a log signing like Rekor v1 with key: signature name
// hostname, origin "<hostname> - <treeID>".
func newRekorV1Log(t testing.TB, hostname string, treeID int64, key *ecdsa.PrivateKey) *testLog {
	t.Helper()
	l := &testLog{
		t:      t,
		tree:   testonly.New(rfc6962.DefaultHasher),
		origin: fmt.Sprintf("%s - %d", hostname, treeID),
		signer: newRekorV1Signer(t, hostname, key),
		pub:    key.Public(),
	}
	v, err := checkpoint.NewVerifier(hostname, key.Public())
	if err != nil {
		t.Fatalf("checkpoint.NewVerifier(%q, ECDSA): %v", hostname, err)
	}
	l.verifier = v
	return l
}

// newRekorV2Log returns a log signing like Rekor v2: Ed25519, signature name
// and origin both the hostname.
func newRekorV2Log(t testing.TB, origin string, seed []byte) *testLog {
	t.Helper()
	s, pub := ed25519Signer(t, origin, seed)
	l := &testLog{t: t, tree: testonly.New(rfc6962.DefaultHasher), origin: origin, signer: s, pub: pub}
	v, err := checkpoint.NewVerifier(origin, pub)
	if err != nil {
		t.Fatalf("checkpoint.NewVerifier(%q, Ed25519): %v", origin, err)
	}
	l.verifier = v
	return l
}

// fork returns a copy of l with the same first n entries and signer; later
// appends to the two logs diverge.
func (l *testLog) fork(n uint64) *testLog {
	l.t.Helper()
	f := *l
	f.tree = testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		f.tree.Append(l.tree.LeafHash(i))
	}
	f.leafPrefix = l.leafPrefix + "fork/"
	return &f
}

// grow appends entries until the log has size entries.
func (l *testLog) grow(size uint64) {
	for i := l.tree.Size(); i < size; i++ {
		l.tree.AppendData([]byte(fmt.Sprintf("%sentry %d", l.leafPrefix, i)))
	}
}

// text is the checkpoint body for the tree at size, plus extension lines.
func (l *testLog) text(size uint64, ext ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(l.tree.HashAt(size)))
	for _, e := range ext {
		b.WriteString(e + "\n")
	}
	return b.String()
}

// sign signs text with the log's key.
func (l *testLog) sign(text string) []byte {
	l.t.Helper()
	msg, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		l.t.Fatalf("note.Sign(%q): %v", text, err)
	}
	return msg
}

// note returns the signed checkpoint of the tree at size.
func (l *testLog) note(size uint64, ext ...string) []byte {
	l.t.Helper()
	return l.sign(l.text(size, ext...))
}

// checkpoint returns the parsed, verified checkpoint of the tree at size.
func (l *testLog) checkpoint(size uint64) *checkpoint.Checkpoint {
	l.t.Helper()
	c, err := checkpoint.Parse(l.note(size), l.origin, l.verifier)
	if err != nil {
		l.t.Fatalf("Parse(checkpoint of size %d) = %v", size, err)
	}
	return c
}

// proof returns the log's consistency proof from size1 to size2.
func (l *testLog) proof(size1, size2 uint64) [][]byte {
	l.t.Helper()
	p, err := l.tree.ConsistencyProof(size1, size2)
	if err != nil {
		l.t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
	}
	return p
}
