package monitor

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// peerFixture is a monitor of a memLog of 10 leaves whose readers are
// shown size 4, checked once: its saved checkpoint is the log's at 4.
type peerFixture struct {
	ml    *memLog
	v     note.Verifier
	src   *witnessedLog
	mon   *Monitor
	store *state.Store
	arch  *archive.Archive
	rec   *recorder
	saved []byte
}

func newPeerFixture(t *testing.T, withArchive bool) *peerFixture {
	t.Helper()
	ml, v := newMemLog(t)
	for i := range 10 {
		ml.add(fmt.Appendf(nil, "leaf %d", i))
	}
	dir := t.TempDir()
	f := &peerFixture{ml: ml, v: v, src: &witnessedLog{memLog: ml, size: 4}, rec: &recorder{}}
	if withArchive {
		arch, err := archive.Open(state.ArchiveDir(dir), 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { arch.Close() })
		f.arch = arch
	}
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: f.src, Staleness: time.Hour, Schedule: everySecond{}}
	f.mon, f.store = startMonitor(t, dir, l, Config{Events: f.rec, Archive: f.arch})
	f.check(t)
	return f
}

// check runs one check of the log, which must verify, and keeps the saved
// checkpoint.
func (f *peerFixture) check(t *testing.T) {
	t.Helper()
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	st, err := f.store.Load("mem")
	if err != nil || st == nil {
		t.Fatalf("state: %v, %v", st, err)
	}
	f.saved = st.Checkpoint
	f.rec.events = nil
}

// forked is the log's tree with leaves 2 and on replaced, to size n.
func forked(n int) *testonly.Tree {
	fork := testonly.New(rfc6962.DefaultHasher)
	for i := range n {
		leaf := fmt.Sprintf("leaf %d", i)
		if i >= 2 {
			leaf = "forked " + leaf
		}
		fork.AppendData([]byte(leaf))
	}
	return fork
}

// servePeer starts a real witness whose state of log mem holds raw (none
// when nil), verified with verify (the log's key when nil), and returns its
// URL and cosignature/v1 verifier key.
func (f *peerFixture) servePeer(t *testing.T, raw []byte, verify func([]byte) (*checkpoint.Checkpoint, error)) peerAt {
	t.Helper()
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if raw != nil {
		err := store.Update("mem", func(*state.State) (*state.State, error) {
			return &state.State{Log: "mem", Origin: f.ml.origin, Checkpoint: raw, VerifiedAt: time.Now()}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	skey, vkey, err := witness.GenerateKey("peer.test/witness")
	if err != nil {
		t.Fatal(err)
	}
	key, err := witness.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	if verify == nil {
		verify = func(raw []byte) (*checkpoint.Checkpoint, error) {
			return f.ml.Checkpoint(raw, "", []note.Verifier{f.v})
		}
	}
	w, err := witness.New(witness.Config{Store: store, Key: key, Logs: []witness.Log{{Name: "mem", Origin: f.ml.origin, Verify: verify}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return peerAt{srv.URL, vkey}
}

// peerAt is where a peer is and its cosignature/v1 verifier key.
type peerAt struct{ url, vkey string }

// watch sets up the check of one peer.
func (f *peerFixture) watch(t *testing.T, p peerAt) *peerWatch {
	t.Helper()
	ws, err := f.mon.peerWatches([]config.Peer{{Name: "other", URL: p.url, Key: p.vkey, Timeout: config.Duration(5 * time.Second)}},
		map[string]string{"mem": f.ml.origin})
	if err != nil || len(ws) != 1 {
		t.Fatalf("peerWatches = %v, %v", ws, err)
	}
	return ws[0]
}

func peerCount(w *peerWatch, result string) float64 {
	return testutil.ToFloat64(w.m.checks.WithLabelValues(w.peer.Name, "mem", result))
}

// TestPeerConsistent: a real witness holding the log's checkpoint ahead
// of, at, or behind this monitor's is consistent.
func TestPeerConsistent(t *testing.T) {
	for _, size := range []uint64{8, 4, 2, 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newPeerFixture(t, false)
			w := f.watch(t, f.servePeer(t, signAt(f.ml, f.ml.active().tree, size), nil))
			for range 2 {
				if o := w.checkLog(t.Context(), w.logs[0]); o.result != peerConsistent || o.size != size {
					t.Fatalf("peer at %d: %+v, want consistent", size, o)
				}
			}
			if n := peerCount(w, peerConsistent); n != 2 {
				t.Errorf("vigil_peer_checks_total{result=consistent} = %v, want 2", n)
			}
			if len(f.rec.events) != 0 {
				t.Errorf("events %v, want none", f.rec.events)
			}
		})
	}
}

// TestPeerSplitView: a peer holding a fork the log signed, at this
// monitor's size, ahead of it (the log's proof does not verify against the
// fork) or behind it, is a split_view with both checkpoints, paged once
// over several rounds.
func TestPeerSplitView(t *testing.T) {
	for _, size := range []uint64{4, 8, 3} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			f := newPeerFixture(t, false)
			fork := signAt(f.ml, forked(int(size)), size)
			w := f.watch(t, f.servePeer(t, fork, nil))
			for range 3 {
				if o := w.checkLog(t.Context(), w.logs[0]); o.result != peerSplitView || o.ie.Reason != checkpoint.ReasonSplitView {
					t.Fatalf("fork at %d: %+v, want split_view", size, o)
				}
			}
			if n := peerCount(w, peerSplitView); n != 3 {
				t.Errorf("vigil_peer_checks_total{result=split_view} = %v, want 3", n)
			}
			if len(f.rec.events) != 1 {
				t.Fatalf("%d events %v, want exactly one", len(f.rec.events), f.rec.events)
			}
			ev := f.rec.events[0]
			if ev.Kind != alert.KindIntegrityViolation || ev.Reason != "split_view" || ev.Severity != alert.SeverityCritical {
				t.Fatalf("event %+v, want a critical integrity violation (split_view)", ev)
			}
			if ev.Evidence.OldCheckpoint != string(f.saved) {
				t.Errorf("old checkpoint %q, want this monitor's %q", ev.Evidence.OldCheckpoint, f.saved)
			}
			if !strings.HasPrefix(ev.Evidence.NewCheckpoint, string(fork[:len(fork)-1])) || !strings.Contains(ev.Evidence.NewCheckpoint, "peer.test/witness") {
				t.Errorf("new checkpoint %q, want the fork %q cosigned by the peer", ev.Evidence.NewCheckpoint, fork)
			}
			if !strings.Contains(ev.Summary, "peer other") {
				t.Errorf("summary %q does not name the peer", ev.Summary)
			}
			if got := f.mon.Firing(); len(got) != 1 || got[0].DedupeKey != peerSplitKey("mem", "other") {
				t.Errorf("firing %v, want the peer's split view", got)
			}
		})
	}
}

// TestPeerSplitViewArchive: a fork at a size this monitor verified earlier
// is proven from the archive, without asking the log.
func TestPeerSplitViewArchive(t *testing.T) {
	f := newPeerFixture(t, true)
	at4 := f.saved
	f.src.size = 6
	f.check(t)
	f.mon.cfg.Logs[0].Source = &noProofs{f.src}
	w := f.watch(t, f.servePeer(t, signAt(f.ml, forked(4), 4), nil))
	o := w.checkLog(t.Context(), w.logs[0])
	if o.result != peerSplitView {
		t.Fatalf("fork at an archived size: %+v, want split_view", o)
	}
	if len(f.rec.events) != 1 || f.rec.events[0].Evidence.OldCheckpoint != string(at4) {
		t.Fatalf("events %+v, want one with the archived checkpoint at 4", f.rec.events)
	}
	// The real checkpoint at 4 matches the archive: consistent, no proof.
	w = f.watch(t, f.servePeer(t, signAt(f.ml, f.ml.active().tree, 4), nil))
	if o := w.checkLog(t.Context(), w.logs[0]); o.result != peerConsistent {
		t.Fatalf("archived checkpoint at a peer: %+v, want consistent", o)
	}
}

// noProofs is a log that cannot serve consistency proofs.
type noProofs struct{ *witnessedLog }

func (noProofs) ConsistencyProof(context.Context, string, uint64, uint64) ([][]byte, error) {
	return nil, errors.New("connection refused")
}

// TestPeerNoVerdict: a peer that is down, answers garbage or an error, does
// not know the log, is not cosigned by the configured key, or serves what
// the log did not sign, and a log that cannot prove, are no verdict: no
// event.
func TestPeerNoVerdict(t *testing.T) {
	other, otherV, err := note.GenerateKey(rand.Reader, "mem.log.example")
	if err != nil {
		t.Fatal(err)
	}
	_, otherPeer, err := witness.GenerateKey("peer.test/witness")
	if err != nil {
		t.Fatal(err)
	}
	serve := func(t *testing.T, status int, body string) string {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
			rw.WriteHeader(status)
			rw.Write([]byte(body))
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, f *peerFixture) peerAt
		fetch bool
		msg   string // in the outcome's message
	}{
		{"down", func(t *testing.T, f *peerFixture) peerAt {
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close()
			return peerAt{srv.URL, otherPeer}
		}, true, "fetching"},
		{"garbage", func(t *testing.T, f *peerFixture) peerAt {
			return peerAt{serve(t, 200, "<html>hello</html>"), otherPeer}
		}, true, "not a signed note"},
		{"server error", func(t *testing.T, f *peerFixture) peerAt { return peerAt{serve(t, 503, "try later"), otherPeer} }, true, "answered an error"},
		{"too large", func(t *testing.T, f *peerFixture) peerAt {
			return peerAt{serve(t, 200, strings.Repeat("x", maxPeerBody+1)), otherPeer}
		}, true, "fetching"},
		{"unknown log", func(t *testing.T, f *peerFixture) peerAt { return f.servePeer(t, nil, nil) }, false, "does not serve"},
		{"wrong peer key", func(t *testing.T, f *peerFixture) peerAt {
			p := f.servePeer(t, signAt(f.ml, forked(8), 8), nil)
			return peerAt{p.url, otherPeer}
		}, false, "no cosignature"},
		{"not signed by the log", func(t *testing.T, f *peerFixture) peerAt {
			s, err := note.NewSigner(other)
			if err != nil {
				t.Fatal(err)
			}
			fork := forked(8)
			raw := must(note.Sign(&note.Note{Text: fmt.Sprintf("%s\n8\n%s\n", f.ml.origin, b64(fork.Hash()))}, s))
			v, err := note.NewVerifier(otherV)
			if err != nil {
				t.Fatal(err)
			}
			return f.servePeer(t, raw, func(raw []byte) (*checkpoint.Checkpoint, error) { return checkpoint.Parse(raw, f.ml.origin, v) })
		}, false, "log's keys do not verify"},
		{"log cannot prove", func(t *testing.T, f *peerFixture) peerAt {
			f.mon.cfg.Logs[0].Source = &noProofs{f.src}
			return f.servePeer(t, signAt(f.ml, forked(8), 8), nil)
		}, false, "consistency proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newPeerFixture(t, false)
			w := f.watch(t, tc.setup(t, f))
			for range 2 {
				if o := w.checkLog(t.Context(), w.logs[0]); o.result != peerNoVerdict || !strings.Contains(o.msg, tc.msg) {
					t.Fatalf("%s: %+v, want no verdict (%s)", tc.name, o, tc.msg)
				}
			}
			want := 0.0
			if tc.fetch {
				want = 2
			}
			if n := testutil.ToFloat64(w.m.fetchErrors.WithLabelValues("other", "mem")); n != want {
				t.Errorf("vigil_peer_fetch_errors_total = %v, want %v", n, want)
			}
			if n := peerCount(w, peerNoVerdict); n != 2 {
				t.Errorf("vigil_peer_checks_total{result=no_verdict} = %v, want 2", n)
			}
			if len(f.rec.events) != 0 || len(f.mon.Firing()) != 0 {
				t.Errorf("events %v, firing %v, want none", f.rec.events, f.mon.Firing())
			}
		})
	}
}

// TestPeerNothingSaved: before this monitor verified anything, a peer's
// checkpoint is no verdict.
func TestPeerNothingSaved(t *testing.T) {
	f := newPeerFixture(t, false)
	if err := os.Remove(filepath.Join(f.store.Dir(), "mem.json")); err != nil {
		t.Fatal(err)
	}
	w := f.watch(t, f.servePeer(t, signAt(f.ml, forked(8), 8), nil))
	if o := w.checkLog(t.Context(), w.logs[0]); o.result != peerNoVerdict {
		t.Fatalf("nothing saved: %+v, want no verdict", o)
	}
}

// TestRunPeers: RunPeers checks every interval until its context ends, and
// a peer serving the same fork all along pages once.
func TestRunPeers(t *testing.T) {
	f := newPeerFixture(t, false)
	p := f.servePeer(t, signAt(f.ml, forked(8), 8), nil)
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	m, err := newPeerMetrics(f.mon.cfg.Registerer)
	if err != nil {
		t.Fatal(err)
	}
	peers := []config.Peer{
		{Name: "other", URL: p.url, Key: p.vkey, Interval: config.Duration(10 * time.Millisecond)},
		{Name: "down", URL: down.URL, Key: p.vkey, Interval: config.Duration(10 * time.Millisecond)},
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.mon.RunPeers(ctx, peers, map[string]string{"mem": f.ml.origin, "unknown": "x"}) }()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(m.checks.WithLabelValues("other", "mem", peerSplitView)) < 4 ||
		testutil.ToFloat64(m.checks.WithLabelValues("down", "mem", peerNoVerdict)) < 4 {
		if time.Now().After(deadline) {
			t.Fatal("RunPeers did not check four times")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunPeers = %v, want nil on cancellation", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunPeers did not return after cancellation")
	}
	if len(f.rec.events) != 1 || f.rec.events[0].Reason != "split_view" {
		t.Fatalf("events %v, want one split_view", f.rec.events)
	}
	if !bytes.Equal([]byte(f.rec.events[0].Evidence.OldCheckpoint), f.saved) {
		t.Errorf("old checkpoint %q, want %q", f.rec.events[0].Evidence.OldCheckpoint, f.saved)
	}
}

// TestRunPeersBadKey: a peer key that does not parse is a configuration
// error before anything is checked.
func TestRunPeersBadKey(t *testing.T) {
	f := newPeerFixture(t, false)
	err := f.mon.RunPeers(t.Context(), []config.Peer{{Name: "bad", URL: "http://127.0.0.1:1", Key: "not a key"}}, map[string]string{"mem": f.ml.origin})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("RunPeers with a bad key = %v, want a ConfigError", err)
	}
}
