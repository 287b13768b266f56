package monitor_test

// The witnessed Rekor v2 of the local stack (scripts/stack/up.sh): a second
// rekor-tiles whose witness policy names the stack's Vigil witness, so every
// checkpoint it publishes should carry Vigil's cosignature. And what
// rekor-tiles v2.3.0 does when its witness refuses, hangs or is gone: a
// private rekor-tiles-posix (the stack's binary) started by the test, whose
// witness is an httptest server the test controls. What it showed is written
// up in docs/witness.md ("What the log does when Vigil refuses").

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// loadLogVerifier returns the note verifier of a log whose checkpoints are
// signed as origin with the key in the PEM file pubFile.
func loadLogVerifier(t *testing.T, origin, pubFile string) note.Verifier {
	t.Helper()
	raw, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		t.Fatalf("%s holds no PEM", pubFile)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("parsing %s: %v", pubFile, err)
	}
	v, err := checkpoint.NewVerifier(origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// openCosigned opens the checkpoint raw, whose log signature must verify with
// logV, and returns the time of the cosignature by witness, or ok false when
// it carries none. A signature line of either key that does not verify fails
// the test.
func openCosigned(t *testing.T, raw []byte, logV, witness note.Verifier) (size uint64, cosigned time.Time, ok bool) {
	t.Helper()
	n, err := note.Open(raw, note.VerifierList(logV, witness))
	if err != nil {
		t.Fatalf("opening checkpoint:\n%s\nerror: %v", raw, err)
	}
	logSigned := false
	for _, s := range n.Sigs {
		switch {
		case s.Name == logV.Name() && s.Hash == logV.KeyHash():
			logSigned = true
		case s.Name == witness.Name() && s.Hash == witness.KeyHash():
			ts, err := fnote.CoSigV1Timestamp(s)
			if err != nil {
				t.Fatalf("cosignature timestamp: %v", err)
			}
			cosigned, ok = ts, true
		}
	}
	if !logSigned {
		t.Fatalf("checkpoint carries no signature of the log %s:\n%s", logV.Name(), raw)
	}
	lines := strings.SplitN(n.Text, "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("checkpoint text %q has fewer than 3 lines", n.Text)
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size %q: %v", lines[1], err)
	}
	return size, cosigned, ok
}

// addV2 adds one key-signed hashedrekord entry to the Rekor v2 log whose
// write API is writeURL and returns its index and how long the write took
// (rekor-tiles answers once a published checkpoint covers the entry).
func addV2(t *testing.T, writeURL string, timeout time.Duration) (int64, time.Duration) {
	t.Helper()
	signer, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := identitytest.PublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	start := time.Now()
	idx, err := stack.AddV2HashedRekord(ctx, writeURL, signer, pubPEM, identitytest.Artifact())
	if err != nil {
		t.Fatalf("adding an entry to %s (after %v): %v", writeURL, time.Since(start).Round(time.Millisecond), err)
	}
	return idx, time.Since(start)
}

// TestWitnessedLogCosigned: entries added to the stack's witnessed Rekor v2
// are covered by a published checkpoint that carries the stack's Vigil
// witness's cosignature (cosignature/v1, verified with VIGIL_WITNESS_VKEY),
// and the witness serves that log's latest checkpoint, cosigned, on its
// read path.
func TestWitnessedLogCosigned(t *testing.T) {
	env := testenv.Stack(t)
	write, read := env.Get(t, "REKOR_V2_WITNESSED_WRITE_URL"), env.Get(t, "REKOR_V2_WITNESSED_READ_URL")
	origin := env.Get(t, "REKOR_V2_WITNESSED_ORIGIN")
	logV := loadLogVerifier(t, origin, env.Get(t, "REKOR_V2_WITNESSED_PUBKEY"))
	witV, err := fnote.NewVerifierForCosignatureV1(env.Get(t, "VIGIL_WITNESS_VKEY"))
	if err != nil {
		t.Fatalf("VIGIL_WITNESS_VKEY: %v", err)
	}

	before := time.Now().Add(-time.Second).Truncate(time.Second) // cosignature times are whole seconds
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		maxIdx int64 = -1
	)
	for range 3 {
		wg.Go(func() {
			idx, _ := addV2(t, write, 60*time.Second)
			mu.Lock()
			maxIdx = max(maxIdx, idx)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	raw, _, err := stack.FetchV2Checkpoint(t.Context(), read)
	if err != nil {
		t.Fatal(err)
	}
	size, at, ok := openCosigned(t, raw, logV, witV)
	if size <= uint64(maxIdx) {
		t.Fatalf("published checkpoint size %d does not cover entry %d", size, maxIdx)
	}
	if !ok {
		t.Fatalf("checkpoint of size %d carries no cosignature of %s (the log fails open: did the witness refuse? see %s/logs/vigil-monitor.log):\n%s",
			size, witV.Name(), env.Get(t, "STACK_DIR"), raw)
	}
	if at.Before(before) || at.After(time.Now().Add(time.Second)) {
		t.Errorf("cosignature time %v, want between %v and now", at, before)
	}
	t.Logf("checkpoint of size %d cosigned by %s at %v:\n%s", size, witV.Name(), at.UTC(), raw)

	t.Run("read path", func(t *testing.T) {
		// GET <witness>/<hex(sha256(origin))>/checkpoint: the latest checkpoint
		// Vigil verified or cosigned for the log, with a fresh cosignature.
		h := sha256.Sum256([]byte(origin))
		u := env.Get(t, "VIGIL_WITNESS_URL") + "/" + hex.EncodeToString(h[:]) + "/checkpoint"
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		served, err := getBody(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		servedSize, _, ok := openCosigned(t, served, logV, witV)
		if !ok {
			t.Fatalf("GET %s: no cosignature of %s:\n%s", u, witV.Name(), served)
		}
		if servedSize < size {
			t.Errorf("GET %s: size %d, want at least %d (the checkpoint it cosigned)", u, servedSize, size)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		// The stack's witness exports its request counter with the
		// cosigned requests counted (the rules' VigilWitnessNotCosigning).
		b, err := os.ReadFile(env.Get(t, "VIGIL_WITNESS_CONFIG"))
		if err != nil {
			t.Fatal(err)
		}
		var listen string
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "listen: "); ok {
				listen = strings.Trim(v, `"`)
			}
		}
		if listen == "" {
			t.Fatalf("%s has no listen:", env.Get(t, "VIGIL_WITNESS_CONFIG"))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		m, err := getBody(ctx, "http://"+listen+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		want := `vigil_witness_requests_total{log="rekor-v2-witnessed",result="cosigned"} `
		if !strings.Contains(string(m), want) {
			t.Errorf("the witness's metrics have no %s", want)
		}
	})
}

// getBody returns the body of u, an error unless it answers 200.
func getBody(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	return b, nil
}

// testWitness is the C2SP tlog-witness endpoint of the test's private log,
// a switch the test flips: in modeVigil it is a real Vigil witness
// (package witness, on its own state and archive), in modeForked a second
// real Vigil witness that the test fed a forged checkpoint of the log, and
// in the other modes a stand-in that refuses, hangs or drops the connection
// without asking Vigil. Both Vigils sign with the same key, the one the
// log's policy names. It records every request and its answer.
type testWitness struct {
	vigil, forked *witness.Witness
	vkey          string // cosignature/v1 verifier key, for the policy file
	verifier      note.Verifier
	mode          atomic.Value
	// release unblocks the "hang" mode's requests when the test ends.
	release chan struct{}

	mu       sync.Mutex // guards requests
	requests []witnessRequest
}

type witnessRequest struct {
	at       time.Time
	old      uint64
	size     uint64
	mode     string
	status   int
	answer   string // a 409's size
	canceled bool   // the log gave up (hang mode)
	took     time.Duration
}

func (r witnessRequest) String() string {
	s := fmt.Sprintf("[%s] old %d size %d -> %d %s in %v", r.mode, r.old, r.size, r.status, r.answer, r.took.Round(time.Millisecond))
	if r.canceled {
		s += " (the log gave up)"
	}
	return s
}

// Modes of [testWitness].
const (
	modeVigil    = "vigil"    // the real witness
	modeForked   = "forked"   // a real witness that cosigned a forged checkpoint of the log
	modeRefuse   = "refuse"   // 422: "the consistency proof does not verify"
	modeConflict = "conflict" // 409 without a size: "the old root differs" (not retried)
	modeHang     = "hang"     // no answer until the log gives up
	modeClose    = "close"    // the connection is closed without an answer (witness gone)
)

// newVigilWitness returns a real witness of the log origin, verified with
// logV, on a fresh state directory, signing with signer.
func newVigilWitness(t *testing.T, origin string, logV note.Verifier, signer *fnote.Signer) *witness.Witness {
	t.Helper()
	dir := t.TempDir()
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
	verify := func(raw []byte) (*checkpoint.Checkpoint, error) { return checkpoint.Parse(raw, origin, logV) }
	w, err := witness.New(witness.Config{Store: store, Archive: arch, Key: &witness.Key{Signer: signer},
		Logs: []witness.Log{{Name: "private-rekor-v2", Origin: origin, Witnessed: true, Verify: verify}}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func newTestWitness(t *testing.T, origin string, logV note.Verifier) *testWitness {
	t.Helper()
	skey, vkey, err := witness.GenerateKey("vigil-test-witness")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	w := &testWitness{
		vigil:    newVigilWitness(t, origin, logV, signer),
		forked:   newVigilWitness(t, origin, logV, signer),
		vkey:     vkey,
		verifier: signer.Verifier(),
		release:  make(chan struct{}),
	}
	w.mode.Store(modeVigil)
	t.Cleanup(func() { close(w.release) })
	return w
}

func (w *testWitness) setMode(m string) { w.mode.Store(m) }

// since returns the requests received at or after t.
func (w *testWitness) since(t time.Time) []witnessRequest {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rs []witnessRequest
	for _, r := range w.requests {
		if !r.at.Before(t) {
			rs = append(rs, r)
		}
	}
	return rs
}

func (w *testWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	mode := w.mode.Load().(string)
	body, err := io.ReadAll(io.LimitReader(r.Body, witness.MaxBody))
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.Error(rw, "bad request", http.StatusBadRequest)
		return
	}
	parsed, err := witness.ParseRequest(body)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	req := witnessRequest{at: start, old: parsed.OldSize, mode: mode}
	if lines := strings.SplitN(string(parsed.Checkpoint), "\n", 3); len(lines) == 3 {
		req.size, _ = strconv.ParseUint(lines[1], 10, 64)
	}
	defer func() {
		req.took = time.Since(start)
		w.mu.Lock()
		w.requests = append(w.requests, req)
		w.mu.Unlock()
	}()
	switch mode {
	case modeVigil, modeForked:
		h := w.vigil.Handler()
		if mode == modeForked {
			h = w.forked.Handler()
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		req.status = rec.Code
		if rec.Code == http.StatusConflict {
			req.answer = strings.TrimSpace(rec.Body.String())
		}
		maps.Copy(rw.Header(), rec.Header())
		rw.WriteHeader(rec.Code)
		rw.Write(rec.Body.Bytes())
	case modeRefuse:
		req.status = http.StatusUnprocessableEntity
		http.Error(rw, "consistency proof does not verify", req.status)
	case modeConflict:
		req.status = http.StatusConflict
		http.Error(rw, "root hash differs from the checkpoint cosigned at this size", req.status)
	case modeHang:
		select {
		case <-r.Context().Done():
			req.canceled = true
		case <-w.release:
		case <-time.After(60 * time.Second):
		}
	case modeClose:
		if hj, ok := rw.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
}

// freePorts returns n distinct free loopback ports.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// privateRekorTiles is a rekor-tiles-posix started by the test, with its
// tiles served by an http.FileServer.
type privateRekorTiles struct {
	writeURL string
	readURL  string
	storage  string
	logFile  string
}

// startRekorTiles starts the stack's rekor-tiles-posix binary on free ports
// as the log origin, signing with key, with its own storage in a temp dir
// and the witness policy policy, until the test ends. It returns once the
// log has published its first (empty) checkpoint.
func startRekorTiles(t *testing.T, env testenv.Env, origin string, key ed25519.PrivateKey, policy string) *privateRekorTiles {
	t.Helper()
	bin := filepath.Join(env.Get(t, "BIN_DIR"), "rekor-tiles-posix")
	if _, err := os.Stat(bin); err != nil {
		testenv.Unavailable(t, "rekor-tiles-posix", "run make stack-up ("+err.Error()+")")
	}
	dir := t.TempDir()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "signer.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "witness-policy.txt")
	if err := os.WriteFile(policyFile, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &privateRekorTiles{storage: filepath.Join(dir, "tiles"), logFile: filepath.Join(dir, "rekor-tiles.log")}
	if err := os.Mkdir(p.storage, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	cmd := exec.Command(bin, "serve",
		"--http-address=127.0.0.1", "--http-port="+strconv.Itoa(ports[0]),
		"--grpc-address=127.0.0.1", "--grpc-port="+strconv.Itoa(ports[1]),
		"--http-metrics-port="+strconv.Itoa(ports[2]), "--hostname="+origin,
		"--storage-dir="+p.storage, "--signer-filepath="+keyFile,
		"--checkpoint-interval=200ms", "--batch-max-age=50ms",
		"--witness-policy-path="+policyFile)
	logf, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(p.logFile)
			t.Logf("rekor-tiles log (%s):\n%s", p.logFile, b)
		}
	})
	read := httptest.NewServer(http.FileServer(http.Dir(p.storage)))
	t.Cleanup(read.Close)
	p.writeURL, p.readURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0]), read.URL

	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(p.logFile)
			t.Fatalf("rekor-tiles exited: %v\n%s", err, b)
		default:
		}
		resp, err := http.Get(p.writeURL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if _, err := os.Stat(filepath.Join(p.storage, "checkpoint")); resp.StatusCode == http.StatusOK && err == nil {
				return p
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(p.logFile)
			t.Fatalf("rekor-tiles on %s not up after 90s\n%s", p.writeURL, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ed25519NoteSigner signs notes as the log whose verifier it holds.
type ed25519NoteSigner struct {
	v   note.Verifier
	key ed25519.PrivateKey
}

func (s ed25519NoteSigner) Name() string                    { return s.v.Name() }
func (s ed25519NoteSigner) KeyHash() uint32                 { return s.v.KeyHash() }
func (s ed25519NoteSigner) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.key, msg), nil }

// forgeCheckpoint returns a checkpoint of the log logV verifies at size with a random root,
// signed with the log's key: what a log showing a split view would sign.
func forgeCheckpoint(t *testing.T, logV note.Verifier, key ed25519.PrivateKey, size uint64) []byte {
	t.Helper()
	root := make([]byte, 32)
	rand.Read(root)
	text := fmt.Sprintf("%s\n%d\n%s\n", logV.Name(), size, base64.StdEncoding.EncodeToString(root))
	raw, err := note.Sign(&note.Note{Text: text}, ed25519NoteSigner{logV, key})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestWitnessFailOpen shows what rekor-tiles v2.3.0 does when its one
// witness, the quorum of its policy, does not cosign: it publishes the
// checkpoint without the cosignature (tessera WitnessOptions{FailOpen:
// true}). A refusal (422, 409) or a dropped connection costs nothing; a
// witness that does not answer holds every checkpoint, and so every write,
// for tessera's witness timeout (DefaultWitnessTimeout, 5s) before it is
// published uncosigned. The witness is a real Vigil witness in the phases
// that cosign, and in the one where Vigil refuses because it cosigned a
// forged checkpoint of the log at the size the log reaches (a split view).
// Clients that require the cosignature reject the uncosigned checkpoints;
// a monitor configured with witness: true reports uncosigned_checkpoint.
func TestWitnessFailOpen(t *testing.T) {
	env := testenv.Stack(t)
	const origin = "rekor-tiles-fail-open.test"
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := checkpoint.NewVerifier(origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	w := newTestWitness(t, origin, logV)
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	log := startRekorTiles(t, env, origin, key, witness.Policy("vigil-test-witness", w.vkey, srv.URL))
	// Vigil cosigned the first checkpoint (size 0) at start-up.
	raw, err := os.ReadFile(filepath.Join(log.storage, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := openCosigned(t, raw, logV, w.verifier); !ok {
		t.Fatalf("first checkpoint not cosigned; witness requests %v:\n%s", w.since(time.Time{}), raw)
	}

	tests := []struct {
		mode     string
		cosigned bool
		// the write waits at least wantMin and less than wantMax
		wantMin, wantMax time.Duration
	}{
		{modeVigil, true, 0, 5 * time.Second},
		{modeRefuse, false, 0, 5 * time.Second},
		{modeConflict, false, 0, 5 * time.Second},
		{modeClose, false, 0, 5 * time.Second},
		{modeHang, false, 5 * time.Second, 12 * time.Second},
		// Vigil last cosigned size 1; the log asks from its published size
		// (5), Vigil answers 409 with 1, the log retries with a proof from 1.
		{modeVigil, true, 0, 5 * time.Second},
		// A Vigil that cosigned a forged checkpoint at the size the log is
		// about to publish refuses the real one: first 409 with the size it
		// knows (the log asks from its published size), then, asked from
		// that size, a plain 409 for the second root (a fork). The log
		// publishes uncosigned at once. (Answered with text/x.tlog.size,
		// rekor-tiles v2.3.0, built with tessera v1.0.2, re-sent the same
		// request without limit until its 5s timeout: thousands of them.)
		{modeForked, false, 0, 5 * time.Second},
		{modeVigil, true, 0, 5 * time.Second},
	}
	var size uint64 = 0 // the log's published size
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d-%s", i, tt.mode), func(t *testing.T) {
			if tt.mode == modeForked {
				// The forked Vigil trusts a forged checkpoint at the next size
				// on first use (old size 0: nothing to be consistent with).
				forged := forgeCheckpoint(t, logV, key, size+1)
				rec := httptest.NewRecorder()
				w.forked.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/add-checkpoint",
					strings.NewReader("old 0\n\n"+string(forged))))
				if rec.Code != http.StatusOK {
					t.Fatalf("feeding the forked witness a forged checkpoint: %d %s", rec.Code, rec.Body)
				}
			}
			w.setMode(tt.mode)
			start := time.Now()
			idx, took := addV2(t, log.writeURL, 60*time.Second)
			raw, _, err := stack.FetchV2Checkpoint(t.Context(), log.readURL)
			if err != nil {
				t.Fatal(err)
			}
			var cosigned bool
			size, _, cosigned = openCosigned(t, raw, logV, w.verifier)
			if size <= uint64(idx) {
				t.Fatalf("published checkpoint size %d does not cover entry %d", size, idx)
			}
			reqs := w.since(start)
			// Each distinct request and answer once, with how often.
			var asked []string
			for i := 0; i < len(reqs); {
				j := i + 1
				for j < len(reqs) && reqs[j].old == reqs[i].old && reqs[j].size == reqs[i].size &&
					reqs[j].status == reqs[i].status && reqs[j].answer == reqs[i].answer {
					j++
				}
				d := reqs[i].String()
				if j-i > 1 {
					d = fmt.Sprintf("%s (x%d)", d, j-i)
				}
				asked = append(asked, d)
				i = j
			}
			t.Logf("witness %s: write of entry %d took %v; checkpoint size %d published, cosigned %v; %d witness requests: %s",
				tt.mode, idx, took.Round(time.Millisecond), size, cosigned, len(reqs), strings.Join(asked, "; "))
			if len(reqs) == 0 {
				t.Errorf("the witness was not asked to cosign")
			}
			if tt.mode == modeForked && len(reqs) > 4 {
				t.Errorf("the log asked the forked witness %d times, want a few (a fork is answered without a size to retry from)", len(reqs))
			}
			if cosigned != tt.cosigned {
				t.Errorf("checkpoint cosigned = %v, want %v:\n%s", cosigned, tt.cosigned, raw)
			}
			if took < tt.wantMin || took >= tt.wantMax {
				t.Errorf("write took %v, want %v to %v", took, tt.wantMin, tt.wantMax)
			}
			for _, r := range reqs {
				if r.mode == modeHang && !r.canceled {
					t.Errorf("hanging witness request (size %d) was not canceled by the log", r.size)
				}
				if r.mode == modeForked && r.status != http.StatusConflict {
					t.Errorf("forked witness answered %d, want 409", r.status)
				}
			}
		})
	}

	// rekor-tiles says so in its log (tessera's klog warning, which
	// rekor-tiles logs at level INFO), once per uncosigned checkpoint.
	b, err := os.ReadFile(log.logFile)
	if err != nil {
		t.Fatal(err)
	}
	var failedOpen []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "failing-open despite error") {
			failedOpen = append(failedOpen, line)
		}
	}
	want := 0
	for _, tt := range tests {
		if !tt.cosigned {
			want++
		}
	}
	if len(failedOpen) != want {
		t.Errorf("rekor-tiles logged %d fail-open warnings, want %d:\n%s", len(failedOpen), want, strings.Join(failedOpen, "\n"))
	}
	for _, line := range failedOpen {
		t.Log(line)
	}
}
