package monitor_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// The CT logs of the local stack behind a fault-injecting proxy: what a
// misbehaving CT log (or the network in front of it) can serve, and what
// the monitor makes of it. The RFC 6962 API (kind ct) and the static-ct-api
// (kind static-ct) carry the same tree heads in different forms, so the
// faults are the same where the protocols allow: forged tree heads signed
// with the log's real private key, tree heads signed by another key, bad
// consistency proofs, entries hidden or swapped, and answers that are no
// answers (garbage, oversized, hanging).

// ctTarget is one of the stack's CT logs seen through a fault proxy, with
// what it takes to forge its answers.
type ctTarget struct {
	kind    config.Kind
	realURL string // the real log's read URL
	proxy   *faultproxy.Proxy
	logURL  string               // the log's read URL through the proxy
	signer  *faultproxy.CTSigner // the log's own private key
	keyID   string               // the log's key ID, as evidence names it
	origin  string               // static-ct: the checkpoint origin
	// old is a tree head the real log served at size oldSize, before it
	// grew by at least three entries: the monitor's saved state starts
	// there, so that every case has a consistency proof and entries to
	// scan without waiting for the log.
	old     []byte
	oldSize uint64
}

// headPath is the path suffix of the log's tree head.
func (c *ctTarget) headPath() string {
	if c.kind == config.KindCT {
		return "/ct/v1/get-sth"
	}
	return "/checkpoint"
}

// proofPath matches the requests of a consistency proof: get-sth-consistency,
// or the Merkle (hash) tiles it is built from.
func (c *ctTarget) proofPath(p string) bool {
	if c.kind == config.KindCT {
		return strings.HasSuffix(p, "/ct/v1/get-sth-consistency")
	}
	return strings.Contains(p, "/tile/") && !strings.Contains(p, "/tile/data/")
}

// entriesPath matches the requests for entries: get-entries, or data tiles.
func (c *ctTarget) entriesPath(p string) bool {
	if c.kind == config.KindCT {
		return strings.HasSuffix(p, "/ct/v1/get-entries")
	}
	return strings.Contains(p, "/tile/data/")
}

// parseHead reads the size and root of a tree head as the log serves it.
func (c *ctTarget) parseHead(raw []byte) (uint64, []byte, error) {
	if c.kind == config.KindCT {
		size, _, root, err := faultproxy.ParseSTH(raw)
		return size, root, err
	}
	_, size, root, err := faultproxy.ParseNote(raw)
	return size, root, err
}

// sign makes a tree head for size and root signed by s, in the form the
// log serves.
func (c *ctTarget) sign(s *faultproxy.CTSigner, size uint64, root []byte) []byte {
	ts := uint64(time.Now().UnixMilli())
	if c.kind == config.KindCT {
		return s.STH(size, ts, root)
	}
	return s.Checkpoint(c.origin, size, ts, root)
}

// serveHead replaces the log's tree head with what head makes of the real
// one's size and root.
func (c *ctTarget) serveHead(head func(size uint64, root []byte) []byte) faultproxy.Fault {
	return faultproxy.OnPath(c.headPath(), func(_ *http.Request, real []byte) (int, []byte, bool) {
		size, root, err := c.parseHead(real)
		if err != nil {
			return 0, nil, false
		}
		return http.StatusOK, head(size, root), true
	})
}

// realHead fetches the real log's tree head, not through the proxy.
func (c *ctTarget) realHead(t *testing.T) (raw []byte, size uint64) {
	t.Helper()
	resp, err := http.Get(c.realURL + c.headPath())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("real %s tree head: HTTP %d %q: %v", c.kind, resp.StatusCode, raw, err)
	}
	size, _, err = c.parseHead(raw)
	if err != nil {
		t.Fatalf("real %s tree head %q: %v", c.kind, raw, err)
	}
	return raw, size
}

// grow adds n chains to the real log and waits until its tree head counts
// at least size+n entries.
func (c *ctTarget) grow(t *testing.T, env testenv.Env, size uint64, n int) {
	t.Helper()
	for i := range n {
		addCTChain(t, ctWriteURL(t, env, c.kind), fmt.Sprintf("ctfault-%s-%d-%d@example.com", c.kind, time.Now().UnixNano(), i), i%2 == 0)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, got := c.realHead(t); got >= size+uint64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the real %s log did not reach size %d", c.kind, size+uint64(n))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// newCTTarget puts a fault proxy in front of the stack's CT log of kind,
// records a tree head of it, and grows it past that head.
func newCTTarget(t *testing.T, env testenv.Env, kind config.Kind) *ctTarget {
	t.Helper()
	lc := ctLogConfig(t, env, kind)
	keyFile := env.Get(t, "CT_PRIVKEY")
	if kind == config.KindStaticCT {
		keyFile = env.Get(t, "STATIC_CT_PRIVKEY")
	}
	k, err := identitytest.LoadSigner(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		t.Fatalf("%s: a %T, want an ECDSA key", keyFile, k)
	}
	signer, err := faultproxy.NewCTSigner(ek)
	if err != nil {
		t.Fatal(err)
	}
	keyID, err := ctleaf.KeyID(ek.Public())
	if err != nil {
		t.Fatal(err)
	}
	u := mustURL(t, lc.URL)
	// The proxy forwards to the server; the log's prefix (ct_server's
	// /vigil-ct) stays in the log's URL.
	proxy := faultproxy.Start(t, u.Scheme+"://"+u.Host)
	c := &ctTarget{kind: kind, realURL: strings.TrimSuffix(lc.URL, "/"), proxy: proxy, logURL: proxy.URL + u.Path,
		signer: signer, keyID: keyID, origin: lc.Origin}
	if _, size := c.realHead(t); size < 2 {
		c.grow(t, env, size, 2) // a rollback needs a tree of two
	}
	c.old, c.oldSize = c.realHead(t)
	c.grow(t, env, c.oldSize, 3)
	return c
}

// ctFaultConfig watches the CT log through the proxy, scanning from the
// end of the first tree head it verifies, in one chunk, with a watch rule
// that every entry matches (so events for entries that were not proven
// would show), and alerts to rcv.
func ctFaultConfig(t *testing.T, env testenv.Env, c *ctTarget, rcv *receiver, timeout time.Duration) *config.Config {
	t.Helper()
	lc := ctLogConfig(t, env, c.kind)
	lc.URL = c.logURL
	lc.Timeout = config.Duration(timeout)
	cfg := &config.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Interval: config.Duration(time.Second),
		Logs:       []config.Log{lc},
		Scan:       config.Scan{StartAtEnd: true, Chunk: 1000},
		Identities: identity.Config{Watch: []identity.Rule{{Name: "everyone", Subject: `.*`}}},
		Alerts: alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: rcv.srv.URL}},
			Outbox: alert.OutboxConfig{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}},
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// flush delivers the queued alerts without checking the logs again.
func flush(t *testing.T, app *monitor.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.Deliver(ctx)
	}()
	for app.Queued() > 0 && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if n := app.Queued(); n > 0 {
		t.Fatalf("%d alerts still queued", n)
	}
}

// savedCheckpoint returns the checkpoint of a state file's content.
func savedCheckpoint(t *testing.T, b []byte) []byte {
	t.Helper()
	var st state.State
	if err := json.Unmarshal(b, &st); err != nil || len(st.Checkpoint) == 0 {
		t.Fatalf("state file %q: %v", b, err)
	}
	return st.Checkpoint
}

// ctFaultCase is one way a CT log (or the network in front of it) can
// misbehave.
type ctFaultCase struct {
	name string
	kind config.Kind // "": both kinds
	// firstContact: the fault meets the monitor's first check, before
	// anything of the log was verified.
	firstContact bool
	// timeout is logs[].timeout (default 5s).
	timeout time.Duration
	// install sets the fault; the function it returns, if any, checks the
	// outcome further.
	install func(t *testing.T, c *ctTarget) func(t *testing.T, o monitor.Outcome)
	want    monitor.Result
	reason  checkpoint.Reason // for a violation
	// stuck: the check right after the fault clears still reaches no
	// verdict (the monitor remembers the failure for a while, by design).
	stuck bool
}

// hashOf returns the size and root of a checkpoint in evidence.
func hashOf(t *testing.T, raw []byte) (uint64, []byte) {
	t.Helper()
	_, size, root, err := faultproxy.ParseNote(raw)
	if err != nil {
		t.Fatalf("evidence %q is no checkpoint: %v", raw, err)
	}
	return size, root
}

// newKeySignerCT returns a CT tree head signer with a fresh key, which
// no one configured.
func newKeySignerCT(t *testing.T) *faultproxy.CTSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := faultproxy.NewCTSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// garbage returns n random bytes.
func garbage(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// onPaths applies f to the requests whose path match selects.
func onPaths(match func(string) bool, f faultproxy.Fault) faultproxy.Fault {
	return func(r *http.Request, real []byte) (int, []byte, bool) {
		if !match(r.URL.Path) {
			return 0, nil, false
		}
		return f(r, real)
	}
}

// rewriteEntries rewrites the entries of get-entries answers and data
// tiles with edit, which gets them in order (leaf_input and extra_data
// objects; TileLeafs) and returns the ones to serve, or nil to leave the
// answer alone.
func rewriteEntries(c *ctTarget, edit func(entries [][]byte) [][]byte) faultproxy.Fault {
	return onPaths(c.entriesPath, func(_ *http.Request, real []byte) (int, []byte, bool) {
		if c.kind == config.KindCT {
			var resp struct {
				Entries []json.RawMessage `json:"entries"`
			}
			if err := json.Unmarshal(real, &resp); err != nil {
				return 0, nil, false
			}
			es := make([][]byte, len(resp.Entries))
			for i, e := range resp.Entries {
				es[i] = e
			}
			out := edit(es)
			if out == nil {
				return 0, nil, false
			}
			resp.Entries = resp.Entries[:0]
			for _, e := range out {
				resp.Entries = append(resp.Entries, e)
			}
			b, _ := json.Marshal(resp)
			return http.StatusOK, b, true
		}
		leaves, ok := tileLeaves(real)
		if !ok {
			return 0, nil, false
		}
		out := edit(leaves)
		if out == nil {
			return 0, nil, false
		}
		return http.StatusOK, bytes.Join(out, nil), true
	})
}

// tileLeaves splits a static-ct-api data tile into its TileLeafs.
func tileLeaves(raw []byte) ([][]byte, bool) {
	var out [][]byte
	for at := 0; at < len(raw); {
		p := at
		field := func(size int) bool {
			if len(raw)-p < size {
				return false
			}
			n := 0
			for _, b := range raw[p : p+size] {
				n = n<<8 | int(b)
			}
			p += size
			if len(raw)-p < n {
				return false
			}
			p += n
			return true
		}
		if len(raw)-p < 10 {
			return nil, false
		}
		typ := binary.BigEndian.Uint16(raw[p+8:])
		p += 10
		switch typ {
		case 0: // x509_entry: the certificate
			if !field(3) {
				return nil, false
			}
		case 1: // precert_entry: issuer_key_hash, TBSCertificate
			if len(raw)-p < 32 {
				return nil, false
			}
			p += 32
			if !field(3) {
				return nil, false
			}
		default:
			return nil, false
		}
		if !field(2) || (typ == 1 && !field(3)) || !field(2) { // extensions, pre_certificate, chain
			return nil, false
		}
		out = append(out, raw[at:p])
		at = p
	}
	return out, true
}

func ctFaultCases() []ctFaultCase {
	const hang = 500 * time.Millisecond
	// oversized streams 64 MiB for the requests match selects. tiles: the
	// requests are static-ct proof tiles, whose errors tessera's client
	// (which builds the proof) keeps only as text.
	oversized := func(match func(*ctTarget) func(string) bool, tiles bool) func(t *testing.T, c *ctTarget) func(t *testing.T, o monitor.Outcome) {
		return func(t *testing.T, c *ctTarget) func(t *testing.T, o monitor.Outcome) {
			completed := c.proxy.Stream(match(c), 64<<20)
			return func(t *testing.T, o monitor.Outcome) {
				textOnly := tiles && c.kind == config.KindStaticCT
				if !errors.Is(o.Err, tlog.ErrBodyTooLarge) && (!textOnly || !strings.Contains(o.Err.Error(), "over its limit")) {
					t.Errorf("error %v does not wrap tlog.ErrBodyTooLarge", o.Err)
				}
				if n := completed(); n != 0 {
					t.Errorf("the monitor read %d oversized answers to the end, want it to hang up at its limit", n)
				}
			}
		}
	}
	hangOn := func(match func(*ctTarget) func(string) bool) func(t *testing.T, c *ctTarget) func(t *testing.T, o monitor.Outcome) {
		return func(t *testing.T, c *ctTarget) func(t *testing.T, o monitor.Outcome) {
			c.proxy.Hang(match(c))
			return nil
		}
	}
	head := func(c *ctTarget) func(string) bool { return faultproxy.Path(c.headPath()) }
	proof := func(c *ctTarget) func(string) bool { return c.proofPath }
	entries := func(c *ctTarget) func(string) bool { return c.entriesPath }

	return []ctFaultCase{
		// Tree heads signed with the log's own key.
		{name: "fork", want: monitor.ResultViolation, reason: checkpoint.ReasonFork,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				root := faultproxy.RandomHash()
				c.proxy.Set(c.serveHead(func(uint64, []byte) []byte { return c.sign(c.signer, c.oldSize, root) }))
				return func(t *testing.T, o monitor.Outcome) {
					ie := o.Violation()
					if size, got := hashOf(t, ie.New); size != c.oldSize || !bytes.Equal(got, root) {
						t.Errorf("evidence New is size %d root %x, want the forged %d %x", size, got, c.oldSize, root)
					}
					if size, got := hashOf(t, ie.Old); size != c.oldSize || bytes.Equal(got, root) {
						t.Errorf("evidence Old is size %d root %x, want the saved tree head", size, got)
					}
				}
			}},
		{name: "rollback", want: monitor.ResultViolation, reason: checkpoint.ReasonRollback,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(c.serveHead(func(uint64, []byte) []byte { return c.sign(c.signer, c.oldSize-1, faultproxy.RandomHash()) }))
				return func(t *testing.T, o monitor.Outcome) {
					if size, _ := hashOf(t, o.Violation().New); size != c.oldSize-1 {
						t.Errorf("evidence New is size %d, want the forged %d", size, c.oldSize-1)
					}
				}
			}},
		{name: "bad-proof-forged-root", want: monitor.ResultViolation, reason: checkpoint.ReasonConsistency,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(c.serveHead(func(size uint64, _ []byte) []byte { return c.sign(c.signer, size, faultproxy.RandomHash()) }))
				return nil
			}},

		// Tree heads the log's key did not sign.
		{name: "other-key", want: monitor.ResultViolation, reason: checkpoint.ReasonSignature,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				other := newKeySignerCT(t)
				c.proxy.Set(c.serveHead(func(size uint64, root []byte) []byte { return c.sign(other, size, root) }))
				return nil
			}},
		{name: "other-key-first-contact", firstContact: true, want: monitor.ResultMisconfigured,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				other := newKeySignerCT(t)
				c.proxy.Set(c.serveHead(func(size uint64, root []byte) []byte { return c.sign(other, size, root) }))
				return func(t *testing.T, o monitor.Outcome) {
					var ce *monitor.ConfigError
					if !errors.As(o.Err, &ce) {
						t.Errorf("error %v is no *monitor.ConfigError", o.Err)
					}
					if msg := o.Err.Error(); strings.Contains(strings.ToLower(msg), "integrity violation") || !strings.Contains(msg, "configured key") {
						t.Errorf("error %q: want a configuration error naming the configured key, not an integrity violation", msg)
					}
				}
			}},
		{name: "bad-signature", want: monitor.ResultViolation, reason: checkpoint.ReasonSignature,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(faultproxy.OnPath(c.headPath(), func(_ *http.Request, real []byte) (int, []byte, bool) {
					if c.kind == config.KindStaticCT {
						return http.StatusOK, faultproxy.FlipSignature(real), true
					}
					var sth ct.GetSTHResponse
					if err := json.Unmarshal(real, &sth); err != nil || len(sth.TreeHeadSignature) == 0 {
						return 0, nil, false
					}
					sth.TreeHeadSignature[len(sth.TreeHeadSignature)-1] ^= 0x01
					b, _ := json.Marshal(sth)
					return http.StatusOK, b, true
				}))
				return nil
			}},

		// Proofs that do not prove.
		{name: "bad-proof-hashes", kind: config.KindCT, want: monitor.ResultViolation, reason: checkpoint.ReasonConsistency,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				bad := faultproxy.RandomHash()
				c.proxy.Set(onPaths(c.proofPath, func(_ *http.Request, real []byte) (int, []byte, bool) {
					var p ct.GetSTHConsistencyResponse
					if err := json.Unmarshal(real, &p); err != nil || len(p.Consistency) == 0 {
						return 0, nil, false
					}
					p.Consistency[0] = bad
					b, _ := json.Marshal(p)
					return http.StatusOK, b, true
				}))
				return func(t *testing.T, o monitor.Outcome) {
					if p := o.Violation().Proof; len(p) == 0 || !bytes.Equal(p[0], bad) {
						t.Errorf("evidence proof %x, want the corrupted proof starting with %x", p, bad)
					}
				}
			}},
		{name: "bad-proof-tiles", kind: config.KindStaticCT, want: monitor.ResultViolation, reason: checkpoint.ReasonConsistency,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(onPaths(c.proofPath, func(_ *http.Request, real []byte) (int, []byte, bool) {
					if len(real) < 32 {
						return 0, nil, false
					}
					b := bytes.Clone(real)
					for i := range b {
						b[i] ^= 0xff
					}
					return http.StatusOK, b, true
				}))
				return nil
			}},

		// Entries that are not the tree's.
		{name: "swap-entry", want: monitor.ResultViolation, reason: checkpoint.ReasonInclusion,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				// The last entry served is another real entry: the first.
				c.proxy.Set(rewriteEntries(c, func(es [][]byte) [][]byte {
					if len(es) < 2 {
						return nil
					}
					es[len(es)-1] = es[0]
					return es
				}))
				return nil
			}},
		{name: "hide-entry", want: monitor.ResultViolation, reason: checkpoint.ReasonInclusion,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				// The first entry is left out; each after it moves up one
				// place (get-entries answers fewer than asked, and the
				// monitor asks again for the rest; a data tile keeps its
				// width with the last entry twice).
				c.proxy.Set(rewriteEntries(c, func(es [][]byte) [][]byte {
					if len(es) < 2 {
						return nil
					}
					if c.kind == config.KindCT {
						return es[1:]
					}
					return append(es[1:], es[len(es)-1])
				}))
				return nil
			}},
		{name: "short-data-tile", kind: config.KindStaticCT, want: monitor.ResultError,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				// A tile with fewer entries than its path says is no tile
				// of the tree: nothing is scanned, nothing is proven.
				c.proxy.Set(rewriteEntries(c, func(es [][]byte) [][]byte { return es[:len(es)-1] }))
				return nil
			}},

		// No answers.
		{name: "server-error", want: monitor.ResultError,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(faultproxy.Status(http.StatusServiceUnavailable))
				return nil
			}},
		{name: "garbage-head", want: monitor.ResultError,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				body := garbage(1001)
				if c.kind == config.KindCT {
					body = []byte("<html><body>Welcome to nginx!</body></html>")
				}
				c.proxy.Set(faultproxy.OnPath(c.headPath(), faultproxy.Body(body)))
				return nil
			}},
		{name: "garbage-proof", want: monitor.ResultError,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(onPaths(c.proofPath, faultproxy.Body(garbage(1001))))
				return nil
			}},
		{name: "garbage-entries", want: monitor.ResultError,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Set(onPaths(c.entriesPath, faultproxy.Body(garbage(1001))))
				return nil
			}},
		{name: "truncated", want: monitor.ResultError,
			install: func(t *testing.T, c *ctTarget) func(*testing.T, monitor.Outcome) {
				c.proxy.Truncate(func(string) bool { return true })
				return nil
			}},
		{name: "oversized-head", want: monitor.ResultError, install: oversized(head, false)},
		{name: "oversized-proof", want: monitor.ResultError, install: oversized(proof, true)},
		{name: "oversized-entries", want: monitor.ResultError, install: oversized(entries, false)},
		{name: "hang-head", timeout: hang, want: monitor.ResultError, install: hangOn(head)},
		{name: "hang-proof", timeout: hang, want: monitor.ResultError, install: hangOn(proof)},
		{name: "hang-entries", timeout: hang, want: monitor.ResultError, install: hangOn(entries)},
		// An issuer the log does not serve is remembered for 30s
		// (staticct.issuerRetry), so that the entries naming it fail fast.
		{name: "hang-issuer", kind: config.KindStaticCT, timeout: hang, want: monitor.ResultError, stuck: true,
			install: hangOn(func(*ctTarget) func(string) bool {
				return func(p string) bool { return strings.Contains(p, "/issuer/") }
			})},
	}
}

// TestCTFaults puts a fault proxy in front of the real CT logs (ct_server
// and TesseraCT) and checks, for each fault: the verdict (violation with
// its reason and evidence, configuration error, or no verdict), the
// metric, the alert (one, with both checkpoints, the proof and the key ID,
// for a violation; none otherwise, and never an identity alert for
// entries that were not proven), that the saved state is unchanged, and
// that the next check after the fault clears verifies.
func TestCTFaults(t *testing.T) {
	env := testenv.Stack(t)
	for _, kind := range []config.Kind{config.KindCT, config.KindStaticCT} {
		t.Run(string(kind), func(t *testing.T) {
			c := newCTTarget(t, env, kind)
			for _, fc := range ctFaultCases() {
				if fc.kind != "" && fc.kind != kind {
					continue
				}
				t.Run(fc.name, func(t *testing.T) {
					c.proxy.Clear()
					rcv := newReceiver(t)
					timeout := fc.timeout
					if timeout == 0 {
						timeout = 5 * time.Second
					}
					cfg := ctFaultConfig(t, env, c, rcv, timeout)
					name := cfg.Logs[0].Name
					app := newApp(t, cfg)
					defer app.Close()
					statePath := filepath.Join(cfg.StateDir, name+".json")

					var before []byte
					if !fc.firstContact {
						// The monitor verified the log at the older tree
						// head (trusted on first use).
						c.proxy.Set(faultproxy.OnPath(c.headPath(), faultproxy.Body(c.old)))
						o := checkOne(t, app)
						c.proxy.Clear()
						if o.Err != nil || o.Checkpoint.Size != c.oldSize {
							t.Fatalf("first check = %v (size %v), want verified at size %d", o.Err, o.Checkpoint, c.oldSize)
						}
						before = stateBytes(t, cfg.StateDir, name)
					}
					fetchErrs, _ := metricValue(t, app.Gatherer(), "vigil_log_fetch_errors_total", "log", name)
					failures, _ := metricValue(t, app.Gatherer(), "vigil_log_integrity_failures_total", "log", name, "reason", string(fc.reason))

					verify := fc.install(t, c)
					o := checkOne(t, app)
					c.proxy.Clear()

					if o.Result() != fc.want {
						t.Fatalf("check = %s (%v), want %s", o.Result(), o.Err, fc.want)
					}
					if o.Checkpoint != nil {
						t.Errorf("a failed check returned checkpoint %v", o.Checkpoint)
					}
					if fc.want == monitor.ResultViolation {
						ie := o.Violation()
						if ie.Reason != fc.reason {
							t.Fatalf("violation %v, want reason %q", o.Err, fc.reason)
						}
						if len(ie.New) == 0 {
							t.Errorf("the violation carries no offending tree head as evidence")
						}
						switch fc.reason {
						case checkpoint.ReasonFork, checkpoint.ReasonRollback, checkpoint.ReasonConsistency:
							if saved := savedCheckpoint(t, before); !bytes.Equal(ie.Old, saved) {
								t.Errorf("evidence Old = %q, want the saved checkpoint %q", ie.Old, saved)
							}
						case checkpoint.ReasonInclusion:
							if size, _ := hashOf(t, ie.New); size < c.oldSize+3 {
								t.Errorf("evidence New is of size %d, want the grown tree head the entries do not build", size)
							}
						}
						if fc.reason == checkpoint.ReasonConsistency && len(ie.Proof) == 0 {
							t.Errorf("a consistency violation without the proof as evidence")
						}
						if got := gauge(t, app.Gatherer(), "vigil_log_integrity_failures_total", "log", name, "reason", string(fc.reason)); got != failures+1 {
							t.Errorf("vigil_log_integrity_failures_total{reason=%q} = %v, want %v", fc.reason, got, failures+1)
						}
					} else {
						if ie := o.Violation(); ie != nil {
							t.Errorf("violation %v, want none", o.Err)
						}
						if got, _ := metricValue(t, app.Gatherer(), "vigil_log_fetch_errors_total", "log", name); got != fetchErrs+1 {
							t.Errorf("vigil_log_fetch_errors_total = %v, want %v", got, fetchErrs+1)
						}
					}
					if verify != nil {
						verify(t, o)
					}

					// The state is what it was.
					if fc.firstContact {
						if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
							t.Errorf("a failed first check wrote state (%v)", err)
						}
					} else if after := stateBytes(t, cfg.StateDir, name); !bytes.Equal(before, after) {
						t.Errorf("state changed by a failed check:\nbefore %s\nafter  %s", before, after)
					}

					// The alerts: one integrity violation with its
					// evidence, or none at all.
					flush(t, app)
					evs := rcv.all()
					if fc.want != monitor.ResultViolation {
						if len(evs) != 0 {
							t.Errorf("alerts %v, want none for a check without a verdict", rcv.kinds())
						}
					} else {
						ie := o.Violation()
						if len(evs) != 1 || evs[0].Kind != alert.KindIntegrityViolation {
							t.Fatalf("alerts %v, want one integrity violation", rcv.kinds())
						}
						ev := evs[0]
						if ev.Reason != string(fc.reason) || ev.Severity != alert.SeverityCritical || ev.Log != name {
							t.Errorf("alert %s/%s severity %s log %s, want %s, critical, %s", ev.Kind, ev.Reason, ev.Severity, ev.Log, fc.reason, name)
						}
						e := ev.Evidence
						if e.KeyID != c.keyID || e.NewCheckpoint != string(ie.New) || e.OldCheckpoint != string(ie.Old) || !slices.Equal(e.Proof, ie.ProofHex()) {
							t.Errorf("alert evidence = %+v, want key ID %s, the checkpoints and the proof of %v", e, c.keyID, o.Err)
						}
					}

					// The fault cleared, the log verifies again (at first
					// contact: is trusted on first use).
					o = checkOne(t, app)
					switch {
					case fc.stuck:
						if o.Result() != monitor.ResultError {
							t.Errorf("check right after the fault cleared = %s (%v), want still no verdict", o.Result(), o.Err)
						}
					case o.Err != nil || o.TOFU != fc.firstContact:
						t.Errorf("check after the fault cleared = %v (TOFU %v), want verified", o.Err, o.TOFU)
					}
				})
			}
		})
	}
}

// TestCTHealthyThroughProxy: the real CT logs through the fault proxy with
// no fault, growing with certificates and precertificates: every check
// verifies, every entry is scanned, nothing alerts, and a restart resumes
// from the saved state (the false-alarm guard of TestCTFaults).
func TestCTHealthyThroughProxy(t *testing.T) {
	env := testenv.Stack(t)
	for _, kind := range []config.Kind{config.KindCT, config.KindStaticCT} {
		t.Run(string(kind), func(t *testing.T) {
			c := newCTTarget(t, env, kind)
			rcv := newReceiver(t)
			cfg := ctFaultConfig(t, env, c, rcv, 5*time.Second)
			cfg.Identities = identity.Config{} // no rules: a healthy log raises nothing
			name := cfg.Logs[0].Name
			app := newApp(t, cfg)

			// The older tree head first, so that the check after it proves
			// consistency and scans real entries.
			c.proxy.Set(faultproxy.OnPath(c.headPath(), faultproxy.Body(c.old)))
			if o := checkOne(t, app); o.Err != nil || !o.TOFU {
				t.Fatalf("first check = %v (TOFU %v)", o.Err, o.TOFU)
			}
			c.proxy.Clear()
			o := checkOne(t, app)
			if o.Err != nil || o.TOFU || o.Checkpoint.Size < c.oldSize+3 {
				t.Fatalf("check of the grown log = %v (TOFU %v, %v), want verified past size %d", o.Err, o.TOFU, o.Checkpoint, c.oldSize+3)
			}
			c.grow(t, env, o.Checkpoint.Size, 2)
			o = waitGrown(t, app, o.Checkpoint.Size+2)
			if o.Err != nil {
				t.Fatalf("check after growth: %v", o.Err)
			}
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("check of an unchanged log: %v", o.Err)
			}
			if got := gauge(t, app.Gatherer(), "vigil_log_entries_scanned_total", "log", name); got < 5 {
				t.Errorf("entries scanned = %v, want >= 5", got)
			}
			quiet := func(app *monitor.App) {
				t.Helper()
				flush(t, app)
				if evs := rcv.all(); len(evs) != 0 {
					t.Errorf("alerts %v from a healthy log, want none", rcv.kinds())
				}
				for _, r := range []string{"signature", "origin", "malformed", "rollback", "fork", "consistency", "inclusion"} {
					if v, _ := metricValue(t, app.Gatherer(), "vigil_log_integrity_failures_total", "log", name, "reason", r); v != 0 {
						t.Errorf("vigil_log_integrity_failures_total{reason=%q} = %v, want 0", r, v)
					}
				}
				if v, _ := metricValue(t, app.Gatherer(), "vigil_log_fetch_errors_total", "log", name); v != 0 {
					t.Errorf("vigil_log_fetch_errors_total = %v, want 0", v)
				}
			}
			quiet(app)
			app.Close()

			app = newApp(t, cfg)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil || o.TOFU {
				t.Fatalf("check after a restart = %v (TOFU %v), want verified against saved state", o.Err, o.TOFU)
			}
			quiet(app)
		})
	}
}
