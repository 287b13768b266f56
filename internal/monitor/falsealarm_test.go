package monitor_test

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// These tests run what a new user meets on a real deployment against real
// rekor-servers: the monitor must not page for a restart, a rollout, or a
// key rotation done the way rekor-server supports it, and a misconfiguration
// met on first contact must read as one, never as an integrity violation.

// v1Entries appends n key-signed hashedrekord entries to the rekor-server
// at rekorURL.
func v1Entries(t *testing.T, rekorURL string, n int) {
	t.Helper()
	signer, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := identitytest.PublicKeyPEM(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := stack.AddV1HashedRekord(t.Context(), rekorURL, signer, pub, identitytest.Artifact()); err != nil {
			t.Fatalf("adding an entry to %s: %v", rekorURL, err)
		}
	}
}

// v1Config watches one Rekor v1 log as `bootstrap up` configures it: no
// origin, so the default (the URL's host) applies.
func v1Config(t *testing.T, url, stateDir string, set func(*config.Log), more ...func(*config.Config)) *config.Config {
	t.Helper()
	cfg := &config.Config{
		StateDir: stateDir,
		Listen:   "127.0.0.1:0",
		Interval: config.Duration(time.Second),
		Logs:     []config.Log{{Name: "rekor", Kind: config.KindRekorV1, URL: url, Timeout: config.Duration(5 * time.Second)}},
	}
	set(&cfg.Logs[0])
	for _, f := range more {
		f(cfg)
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// checkWith opens an App on cfg, checks once and closes it (a restart of
// the monitor between calls).
func checkWith(t *testing.T, cfg *config.Config) (monitor.Outcome, float64) {
	t.Helper()
	app := newApp(t, cfg)
	defer app.Close()
	o := checkOne(t, app)
	var failures float64
	for _, r := range []string{"signature", "origin", "malformed", "rollback", "fork", "consistency", "inclusion"} {
		v, _ := testenv.MetricValue(t, app.Gatherer(), "vigil_log_integrity_failures_total", "log", o.Log, "reason", r)
		failures += v
	}
	return o, failures
}

// TestV1HostnameChange: rekor-server signs as its hostname, by default the
// pod's name, new at every restart. A restart under another hostname, same
// key and tree, verifies; a signature by another key is still a violation.
func TestV1HostnameChange(t *testing.T) {
	dir := t.TempDir()
	tree := testenv.CreateTree(t)
	priv, pub := testenv.NewSignerKeyFile(t, dir, "rekor")
	srv := testenv.StartRekorV1(t, testenv.RekorV1Options{Hostname: "rekor.local", TreeID: tree, SignerKey: priv})
	v1Entries(t, srv.URL, 2)
	cfg := v1Config(t, srv.URL, filepath.Join(dir, "state"), func(l *config.Log) { l.PublicKeyFile = pub })
	if cfg.Logs[0].Origin == "rekor.local" {
		t.Fatal("the configured origin should be the URL's host, as bootstrap up configures it")
	}

	if o, n := checkWith(t, cfg); o.Err != nil || n != 0 {
		t.Fatalf("first contact with a server signing as rekor.local: %v (%v integrity failures)", o.Err, n)
	}
	srv.Stop()
	srv = testenv.StartRekorV1(t, testenv.RekorV1Options{Hostname: "rekor-server-7d9f4c-x2kq1", TreeID: tree, SignerKey: priv, Port: srv.Port})
	v1Entries(t, srv.URL, 1)
	o, n := checkWith(t, cfg)
	if o.Err != nil || n != 0 {
		t.Fatalf("after a restart under a pod's hostname: %v (%v integrity failures), want verified", o.Err, n)
	}
	if want := "rekor-server-7d9f4c-x2kq1 - " + tree; o.Checkpoint.Origin != want {
		t.Errorf("verified origin %q, want %q", o.Checkpoint.Origin, want)
	}

	// The same tree, a key nobody configured: a violation, since the log
	// verified before.
	srv.Stop()
	strangerKey, _ := testenv.NewSignerKeyFile(t, dir, "stranger")
	testenv.StartRekorV1(t, testenv.RekorV1Options{Hostname: "rekor.local", TreeID: tree, SignerKey: strangerKey, Port: srv.Port})
	o, _ = checkWith(t, cfg)
	if o.Result() != "violation" || !strings.Contains(o.Err.Error(), "signature") {
		t.Fatalf("a checkpoint signed by another key = %s (%v), want a signature violation", o.Result(), o.Err)
	}
}

// TestV1KeyRotationShards rotates a real Rekor v1 the way rekor-server
// supports it: a new tree with a new key becomes active, the old tree is an
// inactive shard with its own signingConfig, and the trusted root lists both
// keys, the old one's validity ending at the rotation. The monitor follows
// without an alarm; a checkpoint of the active tree signed by the retired
// key is still a violation.
func TestV1KeyRotationShards(t *testing.T) {
	dir := t.TempDir()
	treeA := testenv.CreateTree(t)
	privA, pubA := testenv.NewSignerKeyFile(t, dir, "key-a")
	srv := testenv.StartRekorV1(t, testenv.RekorV1Options{Hostname: "rekor.local", TreeID: treeA, SignerKey: privA})
	v1Entries(t, srv.URL, 3)

	rootFile := filepath.Join(dir, "trusted_root.json")
	keyA := publicKey(t, pubA)
	epoch := time.Now().Add(-time.Hour)
	writeRoot := func(specs ...tlogSpec) {
		t.Helper()
		if err := os.WriteFile(rootFile, trustedRootJSON(t, specs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeRoot(tlogSpec{baseURL: srv.URL, key: keyA, start: epoch})
	cfg := v1Config(t, srv.URL, filepath.Join(dir, "state"), func(*config.Log) {},
		func(c *config.Config) { c.Trust.TrustedRootFile = rootFile })
	if o, n := checkWith(t, cfg); o.Err != nil || n != 0 {
		t.Fatalf("before the rotation: %v (%v integrity failures)", o.Err, n)
	}
	// One more entry in tree A that the monitor has not scanned yet.
	v1Entries(t, srv.URL, 1)

	// The rotation.
	srv.Stop()
	treeB := testenv.CreateTree(t)
	privB, pubB := testenv.NewSignerKeyFile(t, dir, "key-b")
	shards := filepath.Join(dir, "sharding.yaml")
	if err := os.WriteFile(shards, fmt.Appendf(nil, "- treeID: %s\n  signingConfig:\n    signingSchemeOrKeyPath: %s\n", treeA, privA), 0o644); err != nil {
		t.Fatal(err)
	}
	rotated := time.Now().Add(-time.Second)
	srv = testenv.StartRekorV1(t, testenv.RekorV1Options{Hostname: "rekor.local", TreeID: treeB, SignerKey: privB, ShardingConfig: shards, Port: srv.Port})
	v1Entries(t, srv.URL, 2)
	writeRoot(tlogSpec{baseURL: srv.URL, key: keyA, start: epoch, end: rotated},
		tlogSpec{baseURL: srv.URL, key: publicKey(t, pubB), start: rotated})

	o, n := checkWith(t, cfg)
	if o.Err != nil || n != 0 {
		t.Fatalf("after the rotation: %v (%v integrity failures), want verified", o.Err, n)
	}
	if want := "rekor.local - " + treeB; o.Checkpoint.Origin != want || o.Checkpoint.Size != 2 {
		t.Errorf("verified %s, want origin %q at size 2", o.Checkpoint, want)
	}
	store, err := state.Open(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Load("rekor")
	store.Close()
	if err != nil || st == nil || st.TreeID != treeB || st.Scan == nil || st.Scan.TreeID != treeB || st.Scan.Next != 2 {
		t.Fatalf("saved state %+v (%v), want tree %s scanned to 2", st, err, treeB)
	}

	// The active tree signed with the retired key: a violation.
	srv.Stop()
	testenv.StartRekorV1(t, testenv.RekorV1Options{Hostname: "rekor.local", TreeID: treeB, SignerKey: privA, ShardingConfig: shards, Port: srv.Port})
	o, _ = checkWith(t, cfg)
	if o.Result() != "violation" || !strings.Contains(o.Err.Error(), "signature") {
		t.Fatalf("the active tree signed by the retired key = %s (%v), want a signature violation", o.Result(), o.Err)
	}
}

// TestFirstContactMisconfigurations: each mistake a new user can make on
// first contact is a configuration error or no verdict that names what to
// change, never an integrity violation; and a correct run afterwards opens
// and closes no incident.
func TestFirstContactMisconfigurations(t *testing.T) {
	env := testenv.Stack(t)
	logs := stackLogs(t)
	v1, v2 := logs[0], logs[1]
	if v1.Kind != string(config.KindRekorV1) || v2.Kind != string(config.KindRekorV2) {
		t.Fatalf("stack logs %s, %s", v1.Kind, v2.Kind)
	}
	dir := t.TempDir()
	_, strangerPub := testenv.NewSignerKeyFile(t, dir, "stranger")
	tlsFront := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(mustURL(t, v1.URL)))
	t.Cleanup(tlsFront.Close)

	for _, tt := range []struct {
		name string
		log  config.Log
		// want is what the error must say; config says whether it is a
		// *ConfigError (exit 2) rather than no verdict (exit 3).
		want   string
		config bool
	}{
		{"v1 log configured as rekor-v2", config.Log{Kind: config.KindRekorV2, URL: v1.URL, PublicKeyFile: v2.PubKey, Origin: v2.Origin},
			"set kind: rekor-v1", false},
		{"v2 log configured as rekor-v1", config.Log{Kind: config.KindRekorV1, URL: v2.URL, PublicKeyFile: v1.PubKey},
			"set kind: rekor-v2", false},
		{"v2 origin typo", config.Log{Kind: config.KindRekorV2, URL: v2.URL, PublicKeyFile: v2.PubKey, Origin: "rekor-tiles.lcoal"},
			fmt.Sprintf("set origin (--origin) to %q", v2.Origin), true},
		{"v1 with the key of another log", config.Log{Kind: config.KindRekorV1, URL: v1.URL, PublicKeyFile: strangerPub},
			"is public_key_file (or the trust material's entry", true},
		{"v2 with the key of another log", config.Log{Kind: config.KindRekorV2, URL: v2.URL, PublicKeyFile: v1.PubKey, Origin: v2.Origin},
			"is public_key_file (or the trust material's entry", true},
		{"v2 write API instead of the read side", config.Log{Kind: config.KindRekorV2, URL: env.Get(t, "REKOR_V2_WRITE_URL"), PublicKeyFile: v2.PubKey, Origin: v2.Origin},
			"write API", false},
		{"TLS CA missing", config.Log{Kind: config.KindRekorV1, URL: tlsFront.URL, PublicKeyFile: v1.PubKey},
			"set ca_file (--ca-file)", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stateDir := t.TempDir()
			cfg := v1Config(t, tt.log.URL, stateDir, func(l *config.Log) {
				name := l.Name
				*l = tt.log
				l.Name, l.Timeout = name, config.Duration(5*time.Second)
			})
			app := newApp(t, cfg)
			o := checkOne(t, app)
			var ce *monitor.ConfigError
			switch {
			case o.Result() != monitor.ResultError && o.Result() != monitor.ResultMisconfigured:
				t.Errorf("outcome %s (%v), want no violation and no verdict", o.Result(), o.Err)
			case (o.Result() == monitor.ResultMisconfigured) != tt.config:
				t.Errorf("outcome %s (%v), want misconfigured = %v", o.Result(), o.Err, tt.config)
			case !strings.Contains(o.Err.Error(), tt.want):
				t.Errorf("error %q does not say %q", o.Err, tt.want)
			case errors.As(o.Err, &ce) != tt.config:
				t.Errorf("error %q: ConfigError = %v, want %v", o.Err, !tt.config, tt.config)
			}
			if strings.Contains(strings.ToLower(o.Err.Error()), "integrity violation") {
				t.Errorf("error %q reads as an integrity violation", o.Err)
			}
			queued := app.Queued()
			app.Close()
			if queued != 0 {
				t.Errorf("%d alert events queued for a misconfiguration, want none", queued)
			}

			// The corrected configuration: verified, and no incident is
			// opened or closed.
			l := v1
			if tt.log.Kind == config.KindRekorV2 && tt.log.URL != v1.URL || tt.log.URL == v2.URL {
				l = v2
			}
			good := logConfig(t, l, l.URL, stateDir)
			good.Logs[0].Name = cfg.Logs[0].Name
			app = newApp(t, good)
			defer app.Close()
			if o := checkOne(t, app); o.Err != nil {
				t.Fatalf("corrected configuration: %v", o.Err)
			}
			if n := app.Queued(); n != 0 {
				t.Errorf("%d alert events queued by the corrected run (a recovery for an incident that never was?), want none", n)
			}
		})
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
