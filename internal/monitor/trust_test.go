package monitor_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/monitor"
)

// tlogSpec is one transparency log instance of a generated trusted root.
type tlogSpec struct {
	baseURL    string
	key        crypto.PublicKey
	start, end time.Time // end zero: open-ended
}

// trustedRootJSON marshals a sigstore trusted_root.json listing tlogs, the
// way sigstore-go writes one.
func trustedRootJSON(t *testing.T, tlogs []tlogSpec) []byte {
	t.Helper()
	m := make(map[string]*root.TransparencyLog, len(tlogs))
	for _, s := range tlogs {
		der, err := x509.MarshalPKIXPublicKey(s.key)
		if err != nil {
			t.Fatal(err)
		}
		id := sha256.Sum256(der)
		m[hex.EncodeToString(id[:])] = &root.TransparencyLog{
			BaseURL: s.baseURL, ID: id[:], ValidityPeriodStart: s.start, ValidityPeriodEnd: s.end,
			HashFunc: crypto.SHA256, PublicKey: s.key, SignatureHashFunc: crypto.SHA256,
		}
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, nil, nil, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	// The file must read back as what it lists.
	back, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		t.Fatalf("generated trusted root does not parse: %v", err)
	}
	if got := len(back.RekorLogs()); got != len(m) {
		t.Fatalf("generated trusted root has %d tlogs, want %d", got, len(m))
	}
	return b
}

// publicKey reads the PEM public key file of a stack log.
func publicKey(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// otherKey returns a fresh key of the same type as k: a plausible key that
// did not sign anything the log serves.
func otherKey(t *testing.T, k crypto.PublicKey) crypto.PublicKey {
	t.Helper()
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		priv, err := ecdsa.GenerateKey(k.Curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return priv.Public()
	case ed25519.PublicKey:
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return pub
	default:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return priv.Public()
	}
}

// trustConfig returns a configuration watching every stack log with no
// public_key_file: the keys come from trust.
func trustConfig(t *testing.T, logs []stackLog, trust config.Trust) *config.Config {
	t.Helper()
	cfg := &config.Config{
		StateDir: t.TempDir(),
		Listen:   "127.0.0.1:0",
		Interval: config.Duration(time.Second),
		Trust:    trust,
		Scan:     config.Scan{StartAtEnd: true},
	}
	for _, l := range logs {
		cfg.Logs = append(cfg.Logs, config.Log{Name: l.Name(), Kind: config.Kind(l.Kind), URL: l.URL, Origin: l.Origin, Timeout: config.Duration(5 * time.Second)})
	}
	if err := cfg.Complete(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tryApp is NewApp without failing the test.
func tryApp(t *testing.T, cfg *config.Config) (*monitor.App, error) {
	t.Helper()
	app, err := monitor.NewApp(t.Context(), cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err == nil {
		t.Cleanup(func() { app.Close() })
	}
	return app, err
}

// verdicts checks every log of app once and returns each log's result:
// "verified", "violation:<reason>" or "error".
func verdicts(t *testing.T, app *monitor.App) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, o := range app.CheckOnce(t.Context()) {
		r := string(o.Result())
		var ie *checkpoint.IntegrityError
		var ce *monitor.ConfigError
		switch {
		case errors.As(o.Err, &ce):
			r = "config"
		case errors.As(o.Err, &ie):
			r += ":" + string(ie.Reason)
		}
		if o.Err != nil {
			t.Logf("%s: %v", o.Log, o.Err)
		}
		got[o.Log] = r
	}
	return got
}

func wantAll(logs []stackLog, result string) map[string]string {
	m := map[string]string{}
	for _, l := range logs {
		m[l.Name()] = result
	}
	return m
}

func checkVerdicts(t *testing.T, got, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if got[name] != w {
			t.Errorf("log %s: result %q, want %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("results for %d logs (%v), want %d", len(got), got, len(want))
	}
}

// TestTrustedRootFile: with trust.trusted_root_file and no public_key_file,
// each real log's key comes from the trusted root's tlog matching its URL,
// else its origin, else its host, valid now.
func TestTrustedRootFile(t *testing.T) {
	logs := stackLogs(t)
	now := time.Now()
	past, future := now.Add(-365*24*time.Hour), now.Add(365*24*time.Hour)
	ended := now.Add(-time.Hour)
	type tlogsFunc func(t *testing.T, l stackLog, key crypto.PublicKey) []tlogSpec
	cases := []struct {
		name  string
		tlogs tlogsFunc
		// Exactly one of newAppErr (NewApp fails, naming this) and
		// result (every log's check result).
		newAppErr string
		result    string
	}{
		{
			name: "by base URL",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: l.URL, key: k, start: past}}
			},
			result: "verified",
		},
		{
			name: "by base URL with trailing slash and validity end ahead",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: l.URL + "/", key: k, start: past, end: future}}
			},
			result: "verified",
		},
		{
			name: "by origin host",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: "https://" + l.Origin, key: k, start: past}}
			},
			result: "verified",
		},
		{
			// The v1 tlog is listed by its URL (host 127.0.0.1), the v2
			// one by origin: the v2 log's URL shares the v1 tlog's host,
			// and its origin must win over that, every time.
			name: "origin beats a tlog on the same host",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				if l.Kind == string(config.KindRekorV1) {
					return []tlogSpec{{baseURL: l.URL, key: k, start: past}}
				}
				return []tlogSpec{{baseURL: "https://" + l.Origin, key: k, start: past}}
			},
			result: "verified",
		},
		{
			name: "rotated: ended key not used",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{
					{baseURL: l.URL, key: otherKey(t, k), start: past, end: ended},
					{baseURL: l.URL, key: k, start: ended},
				}
			},
			result: "verified",
		},
		{
			name: "rotation overlap: new key signing",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{
					{baseURL: l.URL, key: otherKey(t, k), start: past, end: future},
					{baseURL: l.URL, key: k, start: ended},
				}
			},
			result: "verified",
		},
		{
			// The trust root already lists the next key; the log has not
			// switched yet. Both keys verify until the old one ends.
			name: "rotation overlap: old key still signing",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{
					{baseURL: l.URL, key: k, start: past, end: future},
					{baseURL: l.URL, key: otherKey(t, k), start: ended},
				}
			},
			result: "verified",
		},
		{
			name: "same key listed twice",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{
					{baseURL: l.URL, key: k, start: past, end: future},
					{baseURL: l.URL, key: k, start: ended},
				}
			},
			result: "verified",
		},
		{
			name: "expired",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: l.URL, key: k, start: past, end: ended}}
			},
			newAppErr: "outside their validity period",
		},
		{
			name: "not yet valid",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: l.URL, key: k, start: future}}
			},
			newAppErr: "outside their validity period",
		},
		{
			name: "other log only",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: "https://elsewhere.invalid", key: k, start: past}}
			},
			newAppErr: "no transparency log valid now",
		},
		{
			name: "ambiguous host match",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				// Two logs on the log's host, neither its URL nor origin.
				return []tlogSpec{
					{baseURL: strings.Replace(l.URL, "http://", "https://", 1), key: k, start: past},
					{baseURL: strings.Replace(l.URL, "http://", "https://", 1) + "/other", key: otherKey(t, k), start: past},
				}
			},
			newAppErr: "both match",
		},
		{
			// First contact: nothing verified yet, so a wrong key reads
			// as the configuration mistake it most likely is.
			name: "wrong key",
			tlogs: func(t *testing.T, l stackLog, k crypto.PublicKey) []tlogSpec {
				return []tlogSpec{{baseURL: l.URL, key: otherKey(t, k), start: past}}
			},
			result: "config",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tlogs []tlogSpec
			for _, l := range logs {
				tlogs = append(tlogs, tc.tlogs(t, l, publicKey(t, l.PubKey))...)
			}
			path := filepath.Join(t.TempDir(), "trusted_root.json")
			if err := os.WriteFile(path, trustedRootJSON(t, tlogs), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := trustConfig(t, logs, config.Trust{TrustedRootFile: path})
			app, err := tryApp(t, cfg)
			if tc.newAppErr != "" {
				t.Logf("NewApp: %v", err)
				if err == nil {
					t.Fatalf("NewApp succeeded, want an error naming %q", tc.newAppErr)
				}
				if !strings.Contains(err.Error(), tc.newAppErr) || !strings.Contains(err.Error(), logs[0].Name()) {
					t.Fatalf("NewApp error %q, want one naming log %s and %q", err, logs[0].Name(), tc.newAppErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewApp: %v", err)
			}
			checkVerdicts(t, verdicts(t, app), wantAll(logs, tc.result))
		})
	}
}

// TestRekeyAfterRotation: the trust material changes under a running
// monitor (a trusted_root.json ConfigMap updated in place, a key file
// replaced) to the key the log now signs with. The first check that meets
// the new signature resolves the keys again and verifies: no false alarm.
// While the material names only a key the log does not use, the check stays
// a signature violation.
func TestRekeyAfterRotation(t *testing.T) {
	logs := stackLogs(t)
	past := time.Now().Add(-24 * time.Hour)

	t.Run("trusted_root_file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "trusted_root.json")
		write := func(real bool) {
			var tlogs []tlogSpec
			for _, l := range logs {
				k := publicKey(t, l.PubKey)
				if !real {
					k = otherKey(t, k)
				}
				tlogs = append(tlogs, tlogSpec{baseURL: l.URL, key: k, start: past})
			}
			if err := os.WriteFile(path, trustedRootJSON(t, tlogs), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write(false)
		stale, err := tryApp(t, trustConfig(t, logs, config.Trust{TrustedRootFile: path}))
		if err != nil {
			t.Fatal(err)
		}
		checkVerdicts(t, verdicts(t, stale), wantAll(logs, "config"))

		app, err := tryApp(t, trustConfig(t, logs, config.Trust{TrustedRootFile: path}))
		if err != nil {
			t.Fatal(err)
		}
		write(true)
		checkVerdicts(t, verdicts(t, app), wantAll(logs, "verified"))
	})

	t.Run("public_key_file", func(t *testing.T) {
		cfg := &config.Config{StateDir: t.TempDir(), Listen: "127.0.0.1:0", Interval: config.Duration(time.Second),
			Scan: config.Scan{StartAtEnd: true}}
		for _, l := range logs {
			path := filepath.Join(t.TempDir(), "key.pem")
			pem, err := cryptoutils.MarshalPublicKeyToPEM(otherKey(t, publicKey(t, l.PubKey)))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, pem, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg.Logs = append(cfg.Logs, config.Log{Name: l.Name(), Kind: config.Kind(l.Kind), URL: l.URL, Origin: l.Origin,
				PublicKeyFile: path, Timeout: config.Duration(5 * time.Second)})
		}
		if err := cfg.Complete(); err != nil {
			t.Fatal(err)
		}
		app, err := tryApp(t, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range logs {
			real, err := os.ReadFile(l.PubKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg.Logs[i].PublicKeyFile, real, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		checkVerdicts(t, verdicts(t, app), wantAll(logs, "verified"))
	})
}

// TestTrustedRootFileInvalid: a trusted root that is not one fails NewApp
// naming the setting.
func TestTrustedRootFileInvalid(t *testing.T) {
	logs := stackLogs(t)
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, []byte(`{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": [{"baseUrl": "x"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := tryApp(t, trustConfig(t, logs, config.Trust{TrustedRootFile: path}))
	if err == nil || !strings.Contains(err.Error(), "trust.trusted_root_file") {
		t.Fatalf("NewApp error %v, want one naming trust.trusted_root_file", err)
	}
}

// TestTrustPublicKeyFileWins: a log's public_key_file is used even when the
// trusted root lists another key for it.
func TestTrustPublicKeyFileWins(t *testing.T) {
	logs := stackLogs(t)
	var tlogs []tlogSpec
	for _, l := range logs {
		tlogs = append(tlogs, tlogSpec{baseURL: l.URL, key: otherKey(t, publicKey(t, l.PubKey)), start: time.Now().Add(-time.Hour)})
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(path, trustedRootJSON(t, tlogs), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := trustConfig(t, logs, config.Trust{TrustedRootFile: path})
	for i, l := range logs {
		cfg.Logs[i].PublicKeyFile = l.PubKey
	}
	app, err := tryApp(t, cfg)
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	checkVerdicts(t, verdicts(t, app), wantAll(logs, "verified"))
}

// tufRepo is a TUF repository with one target, trusted_root.json, laid out
// the way sigstore-go's TUF client reads a mirror: versioned root, snapshot
// and targets metadata (<version>.<role>.json), an unversioned
// timestamp.json, and consistent-snapshot targets
// (targets/<sha256>.<name>).
type tufRepo struct {
	files      map[string][]byte // URL path without leading slash -> body
	root       []byte            // 1.root.json: the initial root a client trusts
	targetPath string            // where the trusted_root.json target is
}

// newTUFRepo signs a repository holding target as trusted_root.json with
// fresh ed25519 keys, one per top-level role. The timestamp expires at
// tsExpires. With rotateRoot the repository also has 2.root.json, moving
// the root role to a new key and signed by the old and the new one.
func newTUFRepo(t *testing.T, target []byte, tsExpires time.Time, rotateRoot bool) *tufRepo {
	t.Helper()
	year := time.Now().UTC().Add(365 * 24 * time.Hour)
	rootMD := metadata.Root(year)
	targetsMD := metadata.Targets(year)
	snapshotMD := metadata.Snapshot(year)
	timestampMD := metadata.Timestamp(tsExpires.UTC())
	tf, err := metadata.TargetFile().FromBytes("trusted_root.json", target, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targetsMD.Signed.Targets["trusted_root.json"] = tf

	signers := map[string]signature.Signer{}
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := rootMD.Signed.AddKey(k, role); err != nil {
			t.Fatal(err)
		}
		if signers[role], err = signature.LoadED25519Signer(priv); err != nil {
			t.Fatal(err)
		}
	}
	r := &tufRepo{files: map[string][]byte{}}
	sign := func(name string, role string, md interface {
		Sign(signature.Signer) (*metadata.Signature, error)
		ToBytes(bool) ([]byte, error)
	}) {
		if _, err := md.Sign(signers[role]); err != nil {
			t.Fatalf("signing %s: %v", name, err)
		}
		b, err := md.ToBytes(true)
		if err != nil {
			t.Fatal(err)
		}
		r.files[name] = b
	}
	sign("1.root.json", metadata.ROOT, rootMD)
	sign("1.targets.json", metadata.TARGETS, targetsMD)
	sign("1.snapshot.json", metadata.SNAPSHOT, snapshotMD)
	sign("timestamp.json", metadata.TIMESTAMP, timestampMD)
	r.root = r.files["1.root.json"]
	if rotateRoot {
		oldKeyID := rootMD.Signed.Roles[metadata.ROOT].KeyIDs[0]
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := metadata.KeyFromPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		if err := rootMD.Signed.AddKey(k, metadata.ROOT); err != nil {
			t.Fatal(err)
		}
		if err := rootMD.Signed.RevokeKey(oldKeyID, metadata.ROOT); err != nil {
			t.Fatal(err)
		}
		rootMD.Signed.Version = 2
		rootMD.ClearSignatures()
		if _, err := rootMD.Sign(signers[metadata.ROOT]); err != nil {
			t.Fatal(err)
		}
		if signers[metadata.ROOT], err = signature.LoadED25519Signer(priv); err != nil {
			t.Fatal(err)
		}
		sign("2.root.json", metadata.ROOT, rootMD)
	}
	r.targetPath = "targets/" + hex.EncodeToString(tf.Hashes["sha256"]) + ".trusted_root.json"
	r.files[r.targetPath] = target
	return r
}

// handler returns a handler serving the repository under prefix, recording
// the paths asked for.
func (r *tufRepo) handler(prefix string, asked *syncList) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		p, ok := strings.CutPrefix(req.URL.Path, prefix+"/")
		asked.add(p)
		b, found := r.files[p]
		if !ok || !found || req.Method != http.MethodGet {
			http.NotFound(w, req)
			return
		}
		w.Write(b)
	})
}

// syncList is a list safe for concurrent appends.
type syncList struct {
	mu    sync.Mutex
	items []string
}

func (l *syncList) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.items = append(l.items, s)
}

func (l *syncList) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.items)
}

// TestTUF: with trust.tuf (a mirror and the initial root.json, what
// `cosign initialize --mirror --root` takes), the monitor fetches and
// verifies the repository's trusted_root.json with sigstore-go's TUF client
// and verifies the real logs with the keys it lists; anything the TUF
// client must reject fails NewApp naming TUF.
func TestTUF(t *testing.T) {
	logs := stackLogs(t)
	var tlogs []tlogSpec
	for _, l := range logs {
		tlogs = append(tlogs, tlogSpec{baseURL: l.URL, key: publicKey(t, l.PubKey), start: time.Now().Add(-time.Hour)})
	}
	trustedRoot := trustedRootJSON(t, tlogs)
	const prefix = "/tuf-repo"
	cases := []struct {
		name       string
		tls        bool
		noCAFile   bool // with tls: leave trust.tuf.ca_file empty
		noCache    bool // leave trust.tuf.cache_dir empty: <state_dir>/tuf
		tsExpires  time.Duration
		tamper     func(t *testing.T, r *tufRepo)
		otherRoot  bool // trust another repository's root.json
		rotateRoot bool // the mirror has 2.root.json, a new root key
		wantErr    []string
	}{
		{name: "http"},
		{name: "http default cache dir", noCache: true},
		{name: "root rotated since the initial root", rotateRoot: true},
		{name: "https with ca_file", tls: true},
		{name: "https without ca_file", tls: true, noCAFile: true, wantErr: []string{"TUF", "certificate"}},
		{
			name: "tampered target",
			tamper: func(t *testing.T, r *tufRepo) {
				// Same length, still a trusted root: only the hash tells.
				b := bytes.Replace(r.files[r.targetPath], []byte("127.0.0.1"), []byte("127.0.0.2"), 1)
				if bytes.Equal(b, r.files[r.targetPath]) {
					t.Fatal("tampering changed nothing")
				}
				r.files[r.targetPath] = b
			},
			wantErr: []string{"TUF", "trusted_root.json"},
		},
		{
			name: "tampered targets metadata",
			tamper: func(t *testing.T, r *tufRepo) {
				// Claim another length for the target: the signature breaks.
				n := len(r.files[r.targetPath])
				b := bytes.Replace(r.files["1.targets.json"], fmt.Appendf(nil, `"length": %d`, n), fmt.Appendf(nil, `"length": %d`, n+1), 1)
				if bytes.Equal(b, r.files["1.targets.json"]) {
					t.Fatal("tampering changed nothing")
				}
				r.files["1.targets.json"] = b
			},
			wantErr: []string{"TUF"},
		},
		{name: "untrusted root", otherRoot: true, wantErr: []string{"TUF"}},
		{name: "expired timestamp", tsExpires: -time.Hour, wantErr: []string{"TUF"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := tc.tsExpires
			if ts == 0 {
				ts = 24 * time.Hour
			}
			repo := newTUFRepo(t, trustedRoot, time.Now().Add(ts), tc.rotateRoot)
			if tc.tamper != nil {
				tc.tamper(t, repo)
			}
			rootJSON := repo.root
			if tc.otherRoot {
				rootJSON = newTUFRepo(t, trustedRoot, time.Now().Add(ts), false).root
			}
			asked := &syncList{}
			var srv *httptest.Server
			if tc.tls {
				srv = httptest.NewTLSServer(repo.handler(prefix, asked))
			} else {
				srv = httptest.NewServer(repo.handler(prefix, asked))
			}
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			tuf := config.TUF{Mirror: srv.URL + prefix, RootFile: filepath.Join(dir, "root.json")}
			if err := os.WriteFile(tuf.RootFile, rootJSON, 0o600); err != nil {
				t.Fatal(err)
			}
			if !tc.noCache {
				tuf.CacheDir = filepath.Join(dir, "cache")
			}
			if tc.tls && !tc.noCAFile {
				tuf.CAFile = filepath.Join(dir, "ca.pem")
				writeCertPEM(t, tuf.CAFile, srv.Certificate())
			}
			cfg := trustConfig(t, logs, config.Trust{TUF: tuf})
			app, err := tryApp(t, cfg)
			if len(tc.wantErr) > 0 {
				t.Logf("NewApp: %v", err)
				if err == nil {
					t.Fatalf("NewApp succeeded, want an error naming %q", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("NewApp error %q, want one naming %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("NewApp: %v", err)
			}
			checkVerdicts(t, verdicts(t, app), wantAll(logs, "verified"))
			// The client read the mirror in the layout cosign's mirrors
			// use, and looked for a newer root first.
			got := asked.list()
			nextRoot := "2.root.json"
			if tc.rotateRoot {
				nextRoot = "3.root.json"
			}
			for _, p := range []string{nextRoot, "timestamp.json", "1.snapshot.json", "1.targets.json", repo.targetPath} {
				if !slices.Contains(got, p) {
					t.Errorf("mirror was not asked for %s (asked %q)", p, got)
				}
			}
			cache := tuf.CacheDir
			if cache == "" {
				cache = filepath.Join(cfg.StateDir, "tuf")
			}
			if m, _ := filepath.Glob(filepath.Join(cache, "*", "timestamp.json")); len(m) != 1 {
				t.Errorf("TUF cache %s: timestamp.json files %q, want one", cache, m)
			}
		})
	}
}

// TestTUFMirrorDown: once the monitor has verified TUF metadata in its
// cache, a mirror that is down at the next start does not stop it: the
// cached trusted root is used (with a warning). A first start with no cache
// still fails.
func TestTUFMirrorDown(t *testing.T) {
	logs := stackLogs(t)
	var tlogs []tlogSpec
	for _, l := range logs {
		tlogs = append(tlogs, tlogSpec{baseURL: l.URL, key: publicKey(t, l.PubKey), start: time.Now().Add(-time.Hour)})
	}
	repo := newTUFRepo(t, trustedRootJSON(t, tlogs), time.Now().Add(24*time.Hour), false)
	srv := httptest.NewServer(repo.handler("/tuf", &syncList{}))
	dir := t.TempDir()
	tuf := config.TUF{Mirror: srv.URL + "/tuf", RootFile: filepath.Join(dir, "root.json"), CacheDir: filepath.Join(dir, "cache")}
	if err := os.WriteFile(tuf.RootFile, repo.root, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := trustConfig(t, logs, config.Trust{TUF: tuf})
	app, err := tryApp(t, cfg)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	app.Close()
	srv.Close()

	app, err = tryApp(t, cfg)
	if err != nil {
		t.Fatalf("start with the mirror down and a cache: %v", err)
	}
	checkVerdicts(t, verdicts(t, app), wantAll(logs, "verified"))

	cfg.Trust.TUF.CacheDir = filepath.Join(dir, "empty-cache")
	if _, err := tryApp(t, cfg); err == nil || !strings.Contains(err.Error(), "TUF") {
		t.Errorf("first start with the mirror down = %v, want a TUF error", err)
	}
}

// TestFollowShardsApp: with trust.follow_shards the monitor watches the
// Rekor v2 shards the trusted root lists besides the configured logs.
func TestFollowShardsApp(t *testing.T) {
	logs := stackLogs(t)
	var v1 stackLog
	for _, l := range logs {
		if l.Kind == string(config.KindRekorV1) {
			v1 = l
		}
	}
	shardKey := otherKey(t, publicKey(t, v1.PubKey))
	trustedRoot := trustedRootJSON(t, []tlogSpec{
		{baseURL: v1.URL, key: publicKey(t, v1.PubKey), start: time.Now().Add(-time.Hour)},
		{baseURL: "https://log2026-1.rekor.example.test", key: shardKey, start: time.Now().Add(-time.Hour)},
	})
	file := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(file, trustedRoot, 0o600); err != nil {
		t.Fatal(err)
	}
	signingConfig := fmt.Sprintf(`{"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
  "rekorTlogUrls": [
    {"url": %q, "majorApiVersion": 1, "validFor": {"start": "2021-01-01T00:00:00Z"}},
    {"url": "https://log2026-1.rekor.example.test", "majorApiVersion": 2, "validFor": {"start": "2021-01-01T00:00:00Z"}}
  ],
  "rekorTlogConfig": {"selector": "ANY"}}`, v1.URL)
	scFile := filepath.Join(t.TempDir(), "signing_config.json")
	if err := os.WriteFile(scFile, []byte(signingConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := trustConfig(t, []stackLog{v1}, config.Trust{TrustedRootFile: file, SigningConfigFile: scFile, FollowShards: true})
	app, err := tryApp(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, notReady := app.Ready()
	got := strings.Join(notReady, "; ")
	for _, want := range []string{v1.Name() + ": not verified yet", "rekor-v2-log2026-1-rekor-example-test: not verified yet"} {
		if !strings.Contains(got, want) {
			t.Errorf("monitor watches %q, want %q among them", got, want)
		}
	}
}
