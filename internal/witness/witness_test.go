package witness_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/witness"
)

const origin = "log.example/test"

// testLog is a log: a Merkle tree and a note key.
type testLog struct {
	origin string
	tree   *testonly.Tree
	signer note.Signer
	vkey   string
}

func newTestLog(t testing.TB, name string) *testLog {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return &testLog{origin: name, tree: testonly.New(rfc6962.DefaultHasher), signer: s, vkey: vkey}
}

func (l *testLog) grow(n int) {
	for i := 0; i < n; i++ {
		l.tree.AppendData([]byte(fmt.Sprintf("leaf %d", l.tree.Size())))
	}
}

// checkpoint signs the checkpoint of the tree at size with root.
func (l *testLog) checkpointWith(size uint64, root []byte) []byte {
	text := fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, base64.StdEncoding.EncodeToString(root))
	b, err := note.Sign(&note.Note{Text: text}, l.signer)
	if err != nil {
		panic(err)
	}
	return b
}

func (l *testLog) checkpoint(size uint64) []byte { return l.checkpointWith(size, l.tree.HashAt(size)) }

func (l *testLog) request(old, size uint64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	if old > 0 && old < size {
		p, err := l.tree.ConsistencyProof(old, size)
		if err != nil {
			panic(err)
		}
		for _, h := range p {
			fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
		}
	}
	b.WriteString("\n")
	b.Write(l.checkpoint(size))
	return b.Bytes()
}

type fixture struct {
	log     *testLog
	store   *state.Store
	archive *archive.Archive
	w       *witness.Witness
	srv     *httptest.Server
	cosigV  note.Verifier
}

func newFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	lg := newTestLog(t, origin)
	return newFixtureFor(t, dir, lg, nil)
}

func newFixtureFor(t testing.TB, dir string, lg *testLog, key *witness.Key) *fixture {
	t.Helper()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	arch, err := archive.Open(state.ArchiveDir(dir), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arch.Close() })
	if key == nil {
		skey, vkey, err := witness.GenerateKey("witness.test")
		if err != nil {
			t.Fatal(err)
		}
		if key, err = witness.ParseKey(skey); err != nil {
			t.Fatal(err)
		}
		if key.VKey != vkey {
			t.Fatalf("ParseKey derives verifier key %s, GenerateKey made %s", key.VKey, vkey)
		}
	}
	v, err := note.NewVerifier(lg.vkey)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(raw []byte) (*checkpoint.Checkpoint, error) { return checkpoint.Parse(raw, origin, v) }
	w, err := witness.New(witness.Config{Store: store, Archive: arch, Key: key,
		Logs: []witness.Log{{Name: "tiles", Origin: origin, Witnessed: true, Verify: verify}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return &fixture{log: lg, store: store, archive: arch, w: w, srv: srv, cosigV: key.Signer.Verifier()}
}

func (f *fixture) post(t testing.TB, body []byte) (int, string, string) {
	t.Helper()
	resp, err := http.Post(f.srv.URL+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

// TestProtocol walks the C2SP tlog-witness protocol: first contact, growth,
// conflicts, bad proofs, forks, unknown logs and bad signatures.
func TestProtocol(t *testing.T) {
	f := newFixture(t, t.TempDir())
	lg := f.log
	lg.grow(10)

	// First contact: old 0, no proof.
	code, _, body := f.post(t, lg.request(0, 10))
	if code != 200 {
		t.Fatalf("first add-checkpoint: %d %s", code, body)
	}
	cosigned := append(lg.checkpoint(10), body...)
	if _, err := note.Open(cosigned, note.VerifierList(f.cosigV)); err != nil {
		t.Fatalf("the response does not verify as the witness's cosignature: %v\n%s", err, body)
	}
	if !strings.HasPrefix(body, "— witness.test ") {
		t.Fatalf("response %q is not a cosignature line", body)
	}
	// The state is the cosigned checkpoint.
	st, _ := f.store.Load("tiles")
	if st == nil || !bytes.Contains(st.Checkpoint, []byte("\n10\n")) {
		t.Fatalf("state after cosigning = %+v", st)
	}

	lg.grow(7)
	// A stale old size: 409 with the size the witness knows.
	code, ctype, body := f.post(t, lg.request(0, 17))
	if code != http.StatusConflict || ctype != "text/x.tlog.size" || body != "10\n" {
		t.Fatalf("stale old size: %d %q %q, want 409 text/x.tlog.size 10", code, ctype, body)
	}
	// The right old size and proof: cosigned.
	if code, _, body := f.post(t, lg.request(10, 17)); code != 200 {
		t.Fatalf("growth: %d %s", code, body)
	}
	// The same checkpoint again (old = size): cosigned again.
	if code, _, body := f.post(t, lg.request(17, 17)); code != 200 {
		t.Fatalf("same checkpoint: %d %s", code, body)
	}

	// A fork at the known size: a plain 409 (no size to retry from), not
	// cosigned.
	var fork bytes.Buffer
	fork.WriteString("old 17\n\n")
	fork.Write(lg.checkpointWith(17, bytes.Repeat([]byte{7}, 32)))
	if code, ctype, body := f.post(t, fork.Bytes()); code != http.StatusConflict || ctype == "text/x.tlog.size" || !strings.Contains(body, "root") {
		t.Fatalf("fork at the known size: %d %q %q, want 409 text/plain naming the roots", code, ctype, body)
	}

	// A wrong proof: 422.
	lg.grow(3)
	bad := lg.request(17, 20)
	bad = bytes.Replace(bad, []byte("old 17\n"), []byte("old 17\n"+base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))+"\n"), 1)
	if code, _, body := f.post(t, bad); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad proof: %d %s", code, body)
	}
	// A checkpoint that is not the tree's (root of a forked tree) with a
	// proof from the real tree: 422.
	forked := newTestLog(t, origin)
	forked.signer = lg.signer
	for i := 0; i < 20; i++ {
		forked.tree.AppendData([]byte(fmt.Sprintf("forked leaf %d", i)))
	}
	if code, _, body := f.post(t, forked.request(17, 20)); code != http.StatusUnprocessableEntity {
		t.Fatalf("forked tree: %d %s", code, body)
	}
	st2, _ := f.store.Load("tiles")
	if !bytes.Contains(st2.Checkpoint, []byte("\n17\n")) {
		t.Fatalf("a refused checkpoint moved the state: %s", st2.Checkpoint)
	}

	// Old size above the checkpoint's: 400.
	if code, _, _ := f.post(t, lg.request(30, 20)); code != http.StatusBadRequest {
		t.Fatalf("old > size: %d", code)
	}
	// Unknown origin: 404.
	other := newTestLog(t, "other.example/log")
	other.grow(1)
	var ob bytes.Buffer
	ob.WriteString("old 0\n\n")
	text := fmt.Sprintf("other.example/log\n1\n%s\n", base64.StdEncoding.EncodeToString(other.tree.HashAt(1)))
	signed, _ := note.Sign(&note.Note{Text: text}, other.signer)
	ob.Write(signed)
	if code, _, _ := f.post(t, ob.Bytes()); code != http.StatusNotFound {
		t.Fatalf("unknown origin: %d", code)
	}
	// Signed by another key under the log's origin: 403.
	impostor := newTestLog(t, origin)
	impostor.tree = lg.tree
	if code, _, body := f.post(t, impostor.request(17, 20)); code != http.StatusForbidden {
		t.Fatalf("impostor key: %d %s", code, body)
	}
	// Garbage: 400 naming the problem.
	for _, body := range []string{"", "old\n\n", "old 01\n\n" + string(lg.checkpoint(20)), "old 17\nnot-base64\n\n" + string(lg.checkpoint(20)), "old 17\n"} {
		if code, _, msg := f.post(t, []byte(body)); code != http.StatusBadRequest {
			t.Errorf("body %q: %d %s, want 400", body, code, msg)
		}
	}

	// The read path serves the latest checkpoint, cosigned.
	resp, err := http.Get(f.srv.URL + "/" + witness.OriginHash(origin) + "/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	latest, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(latest, []byte("\n17\n")) {
		t.Fatalf("read path: %d %s", resp.StatusCode, latest)
	}
	if !witness.HasCosignature(latest, f.cosigV) {
		t.Fatalf("read path checkpoint lacks the cosignature:\n%s", latest)
	}
	if resp, _ := http.Get(f.srv.URL + "/" + strings.Repeat("0", 64) + "/checkpoint"); resp.StatusCode != 404 {
		t.Fatalf("read path of an unknown log: %d", resp.StatusCode)
	}
	if n, _ := f.archive.Len("tiles"); n != 2 {
		t.Fatalf("archive holds %d checkpoints, want 2 (sizes 10 and 17)", n)
	}
}

// TestRestart: what was cosigned survives a restart; the witness never
// cosigns a checkpoint inconsistent with it.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, dir)
	lg := f.log
	lg.grow(5)
	if code, _, body := f.post(t, lg.request(0, 5)); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	f.srv.Close()
	f.store.Close()
	f.archive.Close()

	f2 := newFixtureFor(t, dir, lg, nil)
	// Old size 0 after the restart is a conflict: the witness remembers 5.
	code, _, body := f2.post(t, lg.request(0, 5))
	if code != http.StatusConflict || body != "5\n" {
		t.Fatalf("after restart, old 0: %d %q", code, body)
	}
	lg.grow(1)
	if code, _, body := f2.post(t, lg.request(5, 6)); code != 200 {
		t.Fatalf("after restart, growth: %d %s", code, body)
	}
}

// TestConcurrent: concurrent requests from one old size: exactly one is
// cosigned, the others are told the new size, and the state is never
// rolled back.
func TestConcurrent(t *testing.T) {
	f := newFixture(t, t.TempDir())
	lg := f.log
	lg.grow(100)
	if code, _, body := f.post(t, lg.request(0, 10)); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	bodies := make([][]byte, 0, 40)
	for size := uint64(11); size <= 50; size++ {
		bodies = append(bodies, lg.request(10, size))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok int
	for _, b := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _, _ := f.post(t, b)
			if code == 200 {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if code != http.StatusConflict {
				t.Errorf("concurrent request: %d", code)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent requests from old size 10 were cosigned, want 1", ok)
	}
}

func TestParseRequestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("old 5\n")
	for i := 0; i < 64; i++ {
		b.WriteString(base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n")
	}
	b.WriteString("\nx\n")
	if _, err := witness.ParseRequest([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than 63") {
		t.Fatalf("64 proof lines: %v", err)
	}
}

// TestParseKeyMany: verifier keys derived from signer keys match, for
// keys whose base64 holds '+' and '/'.
func TestParseKeyMany(t *testing.T) {
	for range 50 {
		skey, vkey, err := witness.GenerateKey("vigil.example/w1")
		if err != nil {
			t.Fatal(err)
		}
		k, err := witness.ParseKey(skey)
		if err != nil || k.VKey != vkey {
			t.Fatalf("ParseKey(%s) = %v, %v; want verifier key %s", skey, k, err, vkey)
		}
	}
}

func TestKeygenPolicy(t *testing.T) {
	skey, vkey, err := witness.GenerateKey("vigil.example/w1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fnote.NewSignerForCosignatureV1(skey); err != nil {
		t.Fatal(err)
	}
	if _, err := fnote.NewVerifierForCosignatureV1(vkey); err != nil {
		t.Fatal(err)
	}
	p := witness.Policy("vigil.example/w1", vkey, "http://127.0.0.1:31390")
	if !strings.Contains(p, "\nwitness vigil.example/w1 "+vkey+" http://127.0.0.1:31390\nquorum vigil.example/w1\n") {
		t.Fatalf("policy:\n%s", p)
	}
}

// BenchmarkAddCheckpoint measures add-checkpoint over HTTP with the proof in
// the request, one log, each request extending the last: the latency a log
// waits for a cosignature (p50, p99) and cosignatures/s. Each request
// fsyncs the archive record and the state before it is answered.
func BenchmarkAddCheckpoint(b *testing.B) {
	f := newFixture(b, b.TempDir())
	lg := f.log
	lg.grow(1)
	if code, _, body := f.post(b, lg.request(0, 1)); code != 200 {
		b.Fatalf("%d %s", code, body)
	}
	lg.grow(b.N + 1)
	bodies := make([][]byte, b.N)
	for i := range bodies {
		bodies[i] = lg.request(uint64(i+1), uint64(i+2))
	}
	client := f.srv.Client()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		post(b, client, f.srv.URL, bodies[i])
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "cosignatures/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkAddCheckpointLogs measures cosignatures/s of a witness of 16
// logs, each log's requests one after another (as a log sends them) and
// the logs in parallel.
func BenchmarkAddCheckpointLogs(b *testing.B) {
	const nlogs = 16
	dir := b.TempDir()
	store, err := state.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	arch, _ := archive.Open(state.ArchiveDir(dir), 0)
	defer arch.Close()
	skey, _, _ := witness.GenerateKey("witness.test")
	key, _ := witness.ParseKey(skey)
	logs := make([]*testLog, nlogs)
	var wl []witness.Log
	for i := range logs {
		lg := newTestLog(b, fmt.Sprintf("log%d.example/test", i))
		v, _ := note.NewVerifier(lg.vkey)
		wl = append(wl, witness.Log{Name: fmt.Sprintf("log%d", i), Origin: lg.origin, Witnessed: true,
			Verify: func(raw []byte) (*checkpoint.Checkpoint, error) { return checkpoint.Parse(raw, lg.origin, v) }})
		logs[i] = lg
	}
	w, err := witness.New(witness.Config{Store: store, Archive: arch, Key: key, Logs: wl})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	defer srv.Close()
	per := b.N/nlogs + 1
	bodies := make([][][]byte, nlogs)
	for i, lg := range logs {
		lg.grow(per + 1)
		bodies[i] = append(bodies[i], lg.request(0, 1))
		for j := 1; j <= per; j++ {
			bodies[i] = append(bodies[i], lg.request(uint64(j), uint64(j+1)))
		}
	}
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = nlogs
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range logs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, body := range bodies[i] {
				post(b, client, srv.URL, body)
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(nlogs*(per+1))/b.Elapsed().Seconds(), "cosignatures/s")
}

func post(b *testing.B, client *http.Client, url string, body []byte) {
	resp, err := client.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("add-checkpoint: %d", resp.StatusCode)
	}
}
