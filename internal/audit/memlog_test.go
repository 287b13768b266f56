package audit_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/rekorv2"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// memLog is a Rekor v2 log in memory, served over HTTP as C2SP tlog-tiles
// (checkpoint and hash tiles): the real rekorv2 reader reads it. Its tiles
// come from golang.org/x/mod/sumdb/tlog, whose tiles of height 8 are the
// C2SP tiles. It is a stand-in for the log in unit tests and the
// benchmark; the real logs are in the stack tests of cmd/monitor.
type memLog struct {
	origin string
	pub    ed25519.PublicKey
	signer note.Signer
	srv    *httptest.Server

	mu     sync.Mutex // guards the fields below
	hashes []sumtlog.Hash
	bodies [][]byte
	head   []byte // the checkpoint served
	size   int64  // its size
}

func newMemLog(tb testing.TB) *memLog {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	m := &memLog{origin: "memlog.example", pub: pub}
	h := sha256.New()
	h.Write([]byte(m.origin + "\n"))
	h.Write(append([]byte{1}, pub...))
	sum := h.Sum(nil)
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%x+%s", m.origin, sum[:4], base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...)))
	if m.signer, err = note.NewSigner(skey); err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /checkpoint", func(w http.ResponseWriter, _ *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		w.Write(m.head)
	})
	mux.HandleFunc("GET /tile/{level}/{index...}", m.serveTile)
	m.srv = httptest.NewServer(mux)
	tb.Cleanup(m.srv.Close)
	return m
}

// ReadHashes implements sumtlog.HashReader.
func (m *memLog) ReadHashes(idx []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("no hash %d", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memLog) serveTile(w http.ResponseWriter, r *http.Request) {
	level, index, p, err := layout.ParseTileLevelIndexPartial(r.PathValue("level"), r.PathValue("index"))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	width := int(p)
	if width == 0 {
		width = 256
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := sumtlog.Tile{H: 8, L: int(level), N: int64(index), W: width}
	// Only tiles of the published tree exist.
	if (t.N*256+int64(t.W))<<(8*t.L) > m.size {
		http.NotFound(w, r)
		return
	}
	data, err := sumtlog.ReadTileData(t, m)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Write(data)
}

// add appends an entry body and returns its index.
func (m *memLog) add(body []byte) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := int64(len(m.bodies))
	hs, err := sumtlog.StoredHashes(n, body, m)
	if err != nil {
		panic(err)
	}
	m.hashes = append(m.hashes, hs...)
	m.bodies = append(m.bodies, body)
	return n
}

// sign signs the tree at size and returns the checkpoint.
func (m *memLog) sign(tb testing.TB, size int64) []byte {
	tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	root, err := sumtlog.TreeHash(size, m)
	if err != nil {
		tb.Fatal(err)
	}
	return m.signRoot(tb, size, root[:])
}

// signRoot signs a checkpoint of any root, as the log's key: a fork.
func (m *memLog) signRoot(tb testing.TB, size int64, root []byte) []byte {
	tb.Helper()
	text := fmt.Sprintf("%s\n%d\n%s\n", m.origin, size, base64.StdEncoding.EncodeToString(root))
	b, err := note.Sign(&note.Note{Text: text}, m.signer)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// publish makes the tree at its current size the log's checkpoint.
func (m *memLog) publish(tb testing.TB) []byte {
	tb.Helper()
	m.mu.Lock()
	size := int64(len(m.bodies))
	m.mu.Unlock()
	cp := m.sign(tb, size)
	m.mu.Lock()
	m.head, m.size = cp, size
	m.mu.Unlock()
	return cp
}

// inclusion returns the audit path of leaf i in the tree of size.
func (m *memLog) inclusion(tb testing.TB, i, size int64) [][]byte {
	tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := sumtlog.ProveRecord(size, i, m)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, len(p))
	for j := range p {
		out[j] = p[j][:]
	}
	return out
}

// keyID is the log ID bundles carry.
func (m *memLog) keyID(tb testing.TB) []byte {
	tb.Helper()
	id, err := checkpoint.NoteKeyID(m.origin, m.pub)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := hex.DecodeString(id)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// auditLog is the log as package audit takes it, read through rekorv2.
func (m *memLog) auditLog(tb testing.TB, name string) audit.Log {
	tb.Helper()
	src, err := rekorv2.New(tlog.Options{URL: m.srv.URL, Origin: m.origin, Client: m.srv.Client()})
	if err != nil {
		tb.Fatal(err)
	}
	v, err := src.Verifier(m.pub)
	if err != nil {
		tb.Fatal(err)
	}
	keys := audit.Keys{Verifiers: []note.Verifier{v}, Public: []crypto.PublicKey{m.pub}}
	return audit.Log{Name: name, Kind: config.KindRekorV2, Source: src, Keys: func() audit.Keys { return keys }}
}

// bundle returns a bundle (v0.3, hashedrekord v0.0.2) for entry i with its
// inclusion proof against cp, a checkpoint of the tree of size.
func (m *memLog) bundle(tb testing.TB, i, size int64, cp []byte) []byte {
	tb.Helper()
	m.mu.Lock()
	body := m.bodies[i]
	m.mu.Unlock()
	return makeBundle(tb, m.keyID(tb), body, i, size, m.rootAt(tb, size), m.inclusion(tb, i, size), cp)
}

func (m *memLog) rootAt(tb testing.TB, size int64) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	root, err := sumtlog.TreeHash(size, m)
	if err != nil {
		tb.Fatal(err)
	}
	return root[:]
}

func makeBundle(tb testing.TB, logID, body []byte, i, size int64, root []byte, proof [][]byte, cp []byte) []byte {
	tb.Helper()
	digest := sha256.Sum256(body)
	pb := &protobundle.Bundle{
		MediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "test"}},
			TlogEntries: []*rekorpb.TransparencyLogEntry{{
				LogIndex:          i,
				LogId:             &protocommon.LogId{KeyId: logID},
				KindVersion:       &rekorpb.KindVersion{Kind: "hashedrekord", Version: "0.0.2"},
				CanonicalizedBody: body,
				InclusionProof: &rekorpb.InclusionProof{LogIndex: i, RootHash: root, TreeSize: size, Hashes: proof,
					Checkpoint: &rekorpb.Checkpoint{Envelope: string(cp)}},
			}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: digest[:]},
			Signature:     []byte("sig"),
		}},
	}
	b, err := protojson.Marshal(pb)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fill adds n hashedrekord v0.0.2 entries signed by one key.
func (m *memLog) fill(tb testing.TB, n int) {
	tb.Helper()
	s := identitytest.NewKey(tb)
	for range n {
		m.add(identitytest.HashedRekordV2(tb, s, []byte(rand.Text())))
	}
}
