package monitor_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// The CT logs of the local stack: certificate-transparency-go's ct_server
// on the stack's Trillian (Fulcio writes to it) and tesseract's static-ct
// log.

// ctLogConfig is the configuration of the stack's CT log of kind.
func ctLogConfig(t *testing.T, env testenv.Env, kind config.Kind) config.Log {
	t.Helper()
	l := config.Log{Kind: kind, Timeout: config.Duration(5 * time.Second)}
	switch kind {
	case config.KindCT:
		l.Name, l.URL, l.PublicKeyFile = "test-ct", env.Get(t, "CT_URL"), env.Get(t, "CT_PUBKEY")
	case config.KindStaticCT:
		l.Name, l.URL, l.PublicKeyFile = "test-static-ct", env.Get(t, "STATIC_CT_READ_URL"), env.Get(t, "STATIC_CT_PUBKEY")
		l.Origin = env.Get(t, "STATIC_CT_ORIGIN")
	}
	return l
}

// ctWriteURL is where chains are added to the stack's CT log of kind.
func ctWriteURL(t *testing.T, env testenv.Env, kind config.Kind) string {
	if kind == config.KindCT {
		return env.Get(t, "CT_URL")
	}
	return env.Get(t, "STATIC_CT_WRITE_URL")
}

// addCTChain adds a Fulcio-shaped certificate (or precertificate) for san
// from the stack's test CA to a CT log.
func addCTChain(t *testing.T, url, san string, precert bool) {
	t.Helper()
	env := testenv.Stack(t)
	ca, err := identitytest.LoadTestCA(env.Get(t, "FULCIO_ROOT"), env.Get(t, "FULCIO_CA_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.IssueChain(k.Public(), san, "https://issuer.example.com", identitytest.Extensions{}, precert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stack.AddCTChain(t.Context(), url, chain, precert); err != nil {
		t.Fatalf("adding a chain to %s: %v", url, err)
	}
}

// TestCTLogsFollowed: the monitor verifies the real CT logs' tree heads,
// proves consistency as they grow, scans every entry into the compact
// range, matches the certificates' identities, and resumes after a
// restart.
func TestCTLogsFollowed(t *testing.T) {
	env := testenv.Stack(t)
	for _, kind := range []config.Kind{config.KindCT, config.KindStaticCT} {
		t.Run(string(kind), func(t *testing.T) {
			rcv := newReceiver(t)
			lc := ctLogConfig(t, env, kind)
			san := fmt.Sprintf("ct-%s-%d@watched.example", kind, time.Now().UnixNano())
			cfg := &config.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Interval: config.Duration(time.Second),
				Logs:       []config.Log{lc},
				Scan:       config.Scan{StartAtEnd: true, Chunk: 3},
				Identities: identity.Config{Watch: []identity.Rule{{Name: "watched", Subject: strings.ReplaceAll(san, ".", `\.`)}}},
				Alerts: alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: rcv.srv.URL}},
					Outbox: alert.OutboxConfig{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}},
			}
			if err := cfg.Complete(); err != nil {
				t.Fatal(err)
			}
			app := newApp(t, cfg)
			first := checkOne(t, app)
			if first.Err != nil || !first.TOFU {
				t.Fatalf("first check = %v (TOFU %v)", first.Err, first.TOFU)
			}
			for i := range 4 {
				addCTChain(t, ctWriteURL(t, env, kind), san, i%2 == 0)
			}
			addCTChain(t, ctWriteURL(t, env, kind), "someone-else@example.com", true)
			o := waitGrown(t, app, first.Checkpoint.Size+5)
			if o.Err != nil || o.TOFU {
				t.Fatalf("check after growth = %v (TOFU %v)", o.Err, o.TOFU)
			}
			if got := gauge(t, app.Gatherer(), "vigil_log_entries_scanned_total", "log", lc.Name); got < 5 {
				t.Errorf("entries scanned = %v, want >= 5", got)
			}
			if ts := gauge(t, app.Gatherer(), "vigil_log_checkpoint_timestamp_seconds", "log", lc.Name); time.Since(time.Unix(int64(ts), 0)) > time.Hour {
				t.Errorf("checkpoint timestamp %v is not the tree head's", ts)
			}
			app.Check(t.Context(), 5*time.Second)
			matches := 0
			for _, e := range rcv.all() {
				if e.Kind == alert.KindIdentityMatch && e.Evidence.Identity["subject"] == san {
					matches++
					if k := e.Evidence.Identity["entry_kind"]; k != "ct:precert" && k != "ct:x509" {
						t.Errorf("entry kind %q", k)
					}
				}
			}
			if matches != 4 {
				t.Errorf("identity matches for %s = %d, want 4 (2 precertificates, 2 certificates)", san, matches)
			}
			app.Close()

			addCTChain(t, ctWriteURL(t, env, kind), "after-restart@example.com", false)
			app = newApp(t, cfg)
			defer app.Close()
			o = waitGrown(t, app, o.Checkpoint.Size+1)
			if o.Err != nil || o.TOFU {
				t.Fatalf("after restart: %v (TOFU %v), want verified against saved state", o.Err, o.TOFU)
			}
		})
	}
}

// waitGrown checks until the log's verified size reaches size (a CT log
// integrates within a second or so).
func waitGrown(t *testing.T, app *monitor.App, size uint64) monitor.Outcome {
	t.Helper()
	var o monitor.Outcome
	for range 50 {
		outs := app.CheckOnce(t.Context())
		o = outs[0]
		if o.Err != nil || o.Checkpoint.Size >= size {
			return o
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("log did not reach size %d: last check %v", size, o.Checkpoint)
	return o
}

// pairConfig watches the stack's Rekor v1 and CT log, paired, with short
// windows, scanning from the logs' ends.
func pairConfig(t *testing.T, env testenv.Env, rcv *receiver, watch []identity.Rule) *config.Config {
	t.Helper()
	var rekor config.Log
	for _, l := range stackLogs(t) {
		if l.Kind == string(config.KindRekorV1) {
			rekor = config.Log{Name: l.Name(), Kind: config.KindRekorV1, URL: l.URL, PublicKeyFile: l.PubKey, Origin: l.Origin}
		}
	}
	ctl := ctLogConfig(t, env, config.KindCT)
	cfg := &config.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Interval: config.Duration(time.Second),
		Logs:       []config.Log{rekor, ctl},
		Scan:       config.Scan{StartAtEnd: true},
		Identities: identity.Config{Watch: watch},
		Alerts: alert.Config{Sinks: []alert.SinkConfig{{Name: "hook", Type: alert.TypeWebhook, URL: rcv.srv.URL}},
			Outbox: alert.OutboxConfig{RetryInitial: 100 * time.Millisecond, RetryMax: time.Second}},
		// The stack's logs and the monitor share one clock.
		Reconcile: config.Reconcile{ClockSkew: config.Duration(time.Millisecond), Pairs: []config.Pair{{Rekor: rekor.Name, CT: ctl.Name,
			CAFiles: []string{env.Get(t, "FULCIO_ROOT")}, MaxMergeDelay: config.Duration(time.Second),
			UnusedWindow: config.Duration(2 * time.Second)}}},
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// firstPEM returns the first PEM block of a chain, re-encoded.
func firstPEM(t *testing.T, chain []byte) []byte {
	t.Helper()
	b, _ := pem.Decode(chain)
	if b == nil {
		t.Fatalf("no PEM in %q", chain)
	}
	return pem.EncodeToMemory(b)
}

// TestReconcileKeyless: keyless signing through the stack (a Fulcio
// certificate, whose precertificate Fulcio logs in the CT log, used in a
// Rekor entry) is seen in both logs and reconciled: no finding. A Fulcio
// certificate of a watched identity that nobody uses in Rekor is
// certificate_unused, once, with the CT entry as evidence; and the pair's
// books survive a restart.
func TestReconcileKeyless(t *testing.T) {
	env := testenv.Stack(t)
	rcv := newReceiver(t)
	stamp := time.Now().UnixNano()
	used := fmt.Sprintf("keyless-%d@release.example", stamp)
	unused := fmt.Sprintf("stolen-%d@release.example", stamp)
	cfg := pairConfig(t, env, rcv, []identity.Rule{{Name: "release", Subject: `.*@release\.example`}})
	app := newApp(t, cfg)
	for _, o := range app.CheckOnce(t.Context()) {
		if o.Err != nil {
			t.Fatalf("first check of %s: %v", o.Log, o.Err)
		}
	}

	k, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	chain, err := stack.FulcioCert(t.Context(), env.Get(t, "FULCIO_URL"), env.Get(t, "OIDC_ISSUER"), used, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stack.AddV1HashedRekord(t.Context(), env.Get(t, "REKOR_URL"), k, firstPEM(t, chain), identitytest.Artifact()); err != nil {
		t.Fatal(err)
	}
	k2, _ := identitytest.NewSigner()
	if _, err := stack.FulcioCert(t.Context(), env.Get(t, "FULCIO_URL"), env.Get(t, "OIDC_ISSUER"), unused, k2); err != nil {
		t.Fatal(err)
	}

	pair := cfg.Logs[0].Name + "+" + cfg.Logs[1].Name
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		app.Check(t.Context(), 2*time.Second)
		if len(rcv.ofKind(alert.KindCertificateUnused)) > 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	got := rcv.ofKind(alert.KindCertificateUnused)
	if len(got) != 1 {
		mfs, _ := app.Gatherer().Gather()
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "vigil_alert") {
				for _, m := range mf.GetMetric() {
					t.Logf("%s %v %v %v", mf.GetName(), m.GetLabel(), m.GetCounter().GetValue(), m.GetGauge().GetValue())
				}
			}
		}
		t.Fatalf("certificate_unused events = %d (%v), want 1 for %s; received %v", len(got), got, unused, rcv.kinds())
	}
	ev := got[0]
	if ev.Evidence.Identity["subject"] != unused || ev.Evidence.Rule != "release" || ev.Evidence.Entry == nil || ev.Log != cfg.Logs[1].Name {
		t.Errorf("certificate_unused = %+v, want %s's certificate in the CT log", ev, unused)
	}
	if n := len(rcv.ofKind(alert.KindSCTUnhonored)); n != 0 {
		t.Errorf("sct_unhonored events = %d, want none: the CT log holds every certificate Fulcio issued", n)
	}
	if v := gauge(t, app.Gatherer(), "vigil_reconcile_resolved_total", "pair", pair, "list", "unused"); v < 1 {
		t.Errorf("resolved unused = %v, want the used certificate reconciled", v)
	}
	app.Close()

	// A restart neither forgets nor repeats.
	app = newApp(t, cfg)
	defer app.Close()
	for range 3 {
		app.Check(t.Context(), time.Second)
	}
	if n := len(rcv.ofKind(alert.KindCertificateUnused)); n != 1 {
		t.Errorf("after a restart: certificate_unused events = %d, want still 1", n)
	}
	if _, err := os.Stat(cfg.StateDir + "/reconcile/" + pair + ".json"); err != nil {
		t.Errorf("the pair's books are not in the state directory: %v", err)
	}
}

// TestSCTUnhonored: a certificate of the deployment's Fulcio CA, with an
// SCT signed by the real CT log's key, that the CT log never received (the
// promise a misbehaving log breaks), used in Rekor: once the CT log's
// verified tree head is past the SCT's time plus the maximum merge delay,
// and the log, asked by leaf hash, does not hold it: sct_unhonored with the
// certificate, the SCT and the tree head. An SCT that the log's key does
// not verify is no finding.
func TestSCTUnhonored(t *testing.T) {
	env := testenv.Stack(t)
	rcv := newReceiver(t)
	cfg := pairConfig(t, env, rcv, nil)
	app := newApp(t, cfg)
	defer app.Close()
	for _, o := range app.CheckOnce(t.Context()) {
		if o.Err != nil {
			t.Fatalf("first check of %s: %v", o.Log, o.Err)
		}
	}
	root, key := fulcioCA(t, env)
	ca := ctleaftest.NewCAFrom(root, key)
	ctKey, err := identitytest.LoadSigner(env.Get(t, "CT_PRIVKEY"))
	if err != nil {
		t.Fatal(err)
	}
	realKey, err := ctleaftest.NewLogFromKey("ct.local", ctKey.(*ecdsa.PrivateKey)) // the real log's key, an in-memory log
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := ctleaftest.NewLog("other.local")
	if err != nil {
		t.Fatal(err)
	}
	var want string
	for i, l := range []*ctleaftest.Log{realKey, otherKey} {
		k, _ := identitytest.NewSigner()
		san := fmt.Sprintf("forged-%d-%d@example.com", i, time.Now().UnixNano())
		iss, err := ca.Issue(l, k.Public(), san, "https://issuer.example.com", uint64(time.Now().UnixMilli()))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			want = san
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: iss.Final})
		if _, err := stack.AddV1HashedRekord(t.Context(), env.Get(t, "REKOR_URL"), k, certPEM, identitytest.Artifact()); err != nil {
			t.Fatal(err)
		}
	}
	// The real CT log signs a tree head past the merge delay.
	time.Sleep(1200 * time.Millisecond)
	addCTChain(t, env.Get(t, "CT_URL"), "tick@example.com", false)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && len(rcv.ofKind(alert.KindSCTUnhonored)) == 0 {
		app.Check(t.Context(), 2*time.Second)
		time.Sleep(300 * time.Millisecond)
	}
	got := rcv.ofKind(alert.KindSCTUnhonored)
	if len(got) != 1 {
		t.Fatalf("sct_unhonored events = %d, want 1 (for the SCT of the real key only)", len(got))
	}
	ev := got[0]
	id := ev.Evidence.Identity
	if id["subject"] != want || !strings.Contains(id["certificate"], "BEGIN CERTIFICATE") || id["sct"] == "" ||
		!strings.Contains(ev.Evidence.NewCheckpoint, "\n") || ev.Severity != alert.SeverityCritical {
		t.Errorf("sct_unhonored = %+v, want %s with certificate, SCT and tree head", ev, want)
	}
	if ev.Evidence.Identity["rekor_log"] != cfg.Logs[0].Name {
		t.Errorf("rekor_log = %q", ev.Evidence.Identity["rekor_log"])
	}
}

// fulcioCA loads the stack's Fulcio CA.
func fulcioCA(t *testing.T, env testenv.Env) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	b, err := os.ReadFile(env.Get(t, "FULCIO_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	root, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := identitytest.LoadSigner(env.Get(t, "FULCIO_CA_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	return root, k.(*ecdsa.PrivateKey)
}

// ofKind returns the received events of kind.
func (r *receiver) ofKind(k alert.Kind) []alert.Event {
	return slices.DeleteFunc(r.all(), func(e alert.Event) bool { return e.Kind != k })
}

// all returns the received events.
func (r *receiver) all() []alert.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}
