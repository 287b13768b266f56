package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

func runMonitor(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String() + errb.String()
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("state_dir: /tmp/x\nlogz: []\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "usage: monitor"},
		{"unknown command", []string{"watch"}, `unknown command "watch"`},
		{"no log", []string{"check", "--state-dir", dir}, "--config or --log-url is required"},
		{"bad kind", []string{"check", "--state-dir", dir, "--log-url", "http://127.0.0.1:1", "--log-kind", "rekor-v3", "--public-key", bad}, `logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct`},
		{"unknown config key", []string{"check", "--config", bad}, "field logz not found"},
		{"config and log flags", []string{"check", "--config", bad, "--log-url", "http://x"}, "--log-url cannot be combined with --config"},
		{"missing key file", []string{"check", "--state-dir", dir, "--log-url", "http://127.0.0.1:1", "--public-key", filepath.Join(dir, "nope.pem")}, "logs[0].public_key_file: stat"},
		{"ct log without a key", []string{"check", "--state-dir", dir, "--log-url", "http://127.0.0.1:1/ct", "--log-kind", "ct"}, "logs[0].public_key_file"},
		{"static-ct log without a key", []string{"check", "--state-dir", dir, "--log-url", "http://127.0.0.1:1", "--log-kind", "static-ct"}, "logs[0].public_key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runMonitor(t, tc.args...)
			if code != exitUsage || !strings.Contains(out, tc.want) {
				t.Errorf("monitor %q = %d, %q; want %d and output containing %q", tc.args, code, out, exitUsage, tc.want)
			}
		})
	}
}

// TestCheckExitCodes runs `monitor check` against the real logs, directly
// and through a fault proxy: 0 verified, 1 violation, 3 no verdict, with the
// state untouched by the failures.
func TestCheckExitCodes(t *testing.T) {
	for _, l := range testenv.Logs(t) {
		t.Run(l.Kind, func(t *testing.T) {
			proxy := faultproxy.Start(t, l.URL)
			dir := t.TempDir()
			args := []string{"check", "--state-dir", dir, "--log-url", proxy.URL, "--log-kind", l.Kind, "--log-name", l.Name(),
				"--public-key", l.PubKey, "--origin", l.Origin, "--log-format", "text", "--start-at-end"}

			if code, out := runMonitor(t, append(args, "--check-config")...); code != exitOK || !strings.Contains(out, "configuration OK") {
				t.Fatalf("--check-config = %d %q, want 0", code, out)
			}
			if code, out := runMonitor(t, args...); code != exitOK || !strings.Contains(out, "trusted on first use") {
				t.Fatalf("first check = %d %q, want 0 and trust on first use", code, out)
			}
			l.AddN(t, 2)
			if code, out := runMonitor(t, args...); code != exitOK || strings.Contains(out, "trusted on first use") {
				t.Fatalf("second check = %d %q, want 0 against saved state", code, out)
			}
			saved, err := os.ReadFile(filepath.Join(dir, l.Name()+".json"))
			if err != nil {
				t.Fatal(err)
			}

			signer, err := faultproxy.LoadSigner(l.PrivKey, l.Origin)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := loadRaw(saved)
			if err != nil {
				t.Fatal(err)
			}
			origin, size, _, err := faultproxy.ParseNote(raw)
			if err != nil {
				t.Fatal(err)
			}
			fork := signer.Checkpoint(origin, size, faultproxy.RandomHash())
			forkPath, forkBody := "/checkpoint", fork
			if l.Kind == "rekor-v1" {
				forkPath = "/api/v1/log"
				forkBody = v1LogInfo(t, l.URL, fork)
			}
			proxy.Set(faultproxy.OnPath(forkPath, faultproxy.Body(forkBody)))
			if code, out := runMonitor(t, args...); code != exitViolation || !strings.Contains(out, "INTEGRITY VIOLATION") || !strings.Contains(out, "fork") {
				t.Errorf("check of a forked log = %d %q, want %d and a fork", code, out, exitViolation)
			}
			proxy.Set(faultproxy.Status(http.StatusBadGateway))
			if code, out := runMonitor(t, args...); code != exitNoVerdict || !strings.Contains(out, "no verdict") {
				t.Errorf("check of a failing log = %d %q, want %d", code, out, exitNoVerdict)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, l.Name()+".json")); !bytes.Equal(now, saved) {
				t.Errorf("failed checks changed the state file")
			}
			proxy.Clear()
			if code, out := runMonitor(t, args...); code != exitOK {
				t.Errorf("check after faults cleared = %d %q, want 0", code, out)
			}

			// The fork stays firing after the clean check, until acknowledged.
			code, out := runMonitor(t, "ack", "--state-dir", dir, "--list")
			if code != exitOK || !strings.Contains(out, "integrity_violation") || !strings.Contains(out, "fork") {
				t.Fatalf("ack --list after a clean check = %d %q, want the fork still firing", code, out)
			}
			key := strings.Fields(out)[0]
			if code, out := runMonitor(t, "ack", "--state-dir", dir, "integrity_violation/nothing"); code != exitUsage || !strings.Contains(out, key) {
				t.Errorf("ack of a key that is not firing = %d %q, want %d listing %s", code, out, exitUsage, key)
			}
			if code, out := runMonitor(t, "ack", "--state-dir", dir, "--by", "oncall", "--note", "INC-1", key); code != exitOK || !strings.Contains(out, "acknowledged") {
				t.Fatalf("ack %s = %d %q, want 0", key, code, out)
			}
			if code, out := runMonitor(t, args...); code != exitOK {
				t.Errorf("check applying the acknowledgement = %d %q, want 0", code, out)
			}
			if code, out := runMonitor(t, "ack", "--state-dir", dir, "--list"); code != exitOK || !strings.Contains(out, "no alert condition is firing") {
				t.Errorf("ack --list after the acknowledgement = %d %q, want nothing firing", code, out)
			}
		})
	}
}

// TestCheckExitCodesCT runs `monitor check` against the stack's CT logs
// (kinds ct and static-ct) through a fault proxy: 0 verified, 1 for a fork
// (a tree head of the saved size with another root, signed with the log's
// own key), 3 for a log URL that refuses connections, with the state
// untouched by the failures.
func TestCheckExitCodesCT(t *testing.T) {
	env := testenv.Stack(t)
	for _, kind := range []string{"ct", "static-ct"} {
		t.Run(kind, func(t *testing.T) {
			url, pub, priv, origin, headPath := env.Get(t, "CT_URL"), env.Get(t, "CT_PUBKEY"), env.Get(t, "CT_PRIVKEY"), "", "/ct/v1/get-sth"
			if kind == "static-ct" {
				url, pub, priv, origin, headPath = env.Get(t, "STATIC_CT_READ_URL"), env.Get(t, "STATIC_CT_PUBKEY"), env.Get(t, "STATIC_CT_PRIVKEY"), env.Get(t, "STATIC_CT_ORIGIN"), "/checkpoint"
			}
			u, err := neturl.Parse(url)
			if err != nil {
				t.Fatal(err)
			}
			// The proxy forwards to the server; the log's prefix stays in
			// the URL the monitor is given.
			proxy := faultproxy.Start(t, u.Scheme+"://"+u.Host)
			dir := t.TempDir()
			name := "test-" + kind
			args := []string{"check", "--state-dir", dir, "--log-url", proxy.URL + u.Path, "--log-kind", kind, "--log-name", name,
				"--public-key", pub, "--log-format", "text", "--start-at-end"}
			if origin != "" {
				args = append(args, "--origin", origin)
			}
			if code, out := runMonitor(t, args...); code != exitOK || !strings.Contains(out, "trusted on first use") {
				t.Fatalf("first check = %d %q, want 0 and trust on first use", code, out)
			}
			if code, out := runMonitor(t, args...); code != exitOK || strings.Contains(out, "trusted on first use") {
				t.Fatalf("second check = %d %q, want 0 against saved state", code, out)
			}
			saved, err := os.ReadFile(filepath.Join(dir, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := loadRaw(saved)
			if err != nil {
				t.Fatal(err)
			}
			noteOrigin, size, _, err := faultproxy.ParseNote(raw)
			if err != nil {
				t.Fatal(err)
			}
			k, err := identitytest.LoadSigner(priv)
			if err != nil {
				t.Fatal(err)
			}
			ek, ok := k.(*ecdsa.PrivateKey)
			if !ok {
				t.Fatalf("%s: a %T, want an ECDSA key", priv, k)
			}
			signer, err := faultproxy.NewCTSigner(ek)
			if err != nil {
				t.Fatal(err)
			}
			ts := uint64(time.Now().UnixMilli())
			fork := signer.STH(size, ts, faultproxy.RandomHash())
			if kind == "static-ct" {
				fork = signer.Checkpoint(noteOrigin, size, ts, faultproxy.RandomHash())
			}
			proxy.Set(faultproxy.OnPath(headPath, faultproxy.Body(fork)))
			if code, out := runMonitor(t, args...); code != exitViolation || !strings.Contains(out, "INTEGRITY VIOLATION") || !strings.Contains(out, "fork") {
				t.Errorf("check of a forked log = %d %q, want %d and a fork", code, out, exitViolation)
			}
			proxy.Clear()

			// A URL nothing listens on: no verdict.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			closed := "http://" + ln.Addr().String() + u.Path
			ln.Close()
			refused := slices.Clone(args)
			refused[slices.Index(refused, "--log-url")+1] = closed
			if code, out := runMonitor(t, refused...); code != exitNoVerdict || !strings.Contains(out, "no verdict") || !strings.Contains(out, "connection refused") {
				t.Errorf("check of a log refusing connections = %d %q, want %d", code, out, exitNoVerdict)
			}
			if now, _ := os.ReadFile(filepath.Join(dir, name+".json")); !bytes.Equal(now, saved) {
				t.Errorf("failed checks changed the state file")
			}
		})
	}
}

// loadRaw returns the raw checkpoint of a state file's content.
func loadRaw(b []byte) ([]byte, error) {
	var st state.State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, err
	}
	if len(st.Checkpoint) == 0 {
		return nil, errors.New("no checkpoint in state")
	}
	return st.Checkpoint, nil
}

// v1LogInfo returns the real log info of the Rekor v1 log at url with its
// signed tree head replaced by note and the claims made to agree with it.
func v1LogInfo(t *testing.T, url string, note []byte) []byte {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	_, size, root, err := faultproxy.ParseNote(note)
	if err != nil {
		t.Fatal(err)
	}
	info["signedTreeHead"], info["treeSize"], info["rootHash"] = string(note), size, hex.EncodeToString(root)
	b, _ := json.Marshal(info)
	return b
}

func readKey(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return cryptoutils.UnmarshalPEMToPublicKey(b)
}

// TestSIGKILL kills `monitor run` at random moments while the logs grow and
// checks after every kill that each state file holds a checkpoint that
// verifies: never a torn file, never an unverified checkpoint.
func TestSIGKILL(t *testing.T) {
	logs := testenv.Logs(t)
	bin := filepath.Join(t.TempDir(), "monitor")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("building monitor: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yml")
	var cfg strings.Builder
	cfg.WriteString("state_dir: " + filepath.Join(dir, "state") + "\nlisten: 127.0.0.1:0\ninterval: 1s\nlog_format: text\n")
	// Small scan chunks: progress is saved often, so kills land mid-save.
	cfg.WriteString("scan: {chunk: 25, start_index: 0}\nlogs:\n")
	for _, l := range logs {
		cfg.WriteString("  - {name: " + l.Name() + ", kind: " + l.Kind + ", url: " + l.URL + ", public_key_file: " + l.PubKey + ", origin: " + l.Origin + "}\n")
	}
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	// Keep the logs growing while the monitor runs and dies.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, l := range logs {
		for range 4 {
			wg.Go(func() {
				for i := 0; i < 200; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := l.Add(t.Context()); err != nil {
						t.Errorf("adding to %s: %v", l.Kind, err)
						return
					}
				}
			})
		}
	}
	defer func() { close(stop); wg.Wait() }()

	const kills = 8
	for i := range kills {
		cmd := exec.Command(bin, "run", "--config", cfgFile)
		var logBuf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rand.IntN(2700)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		for _, l := range logs {
			verifyStateFile(t, filepath.Join(dir, "state"), l, i)
		}
	}
	for _, l := range logs {
		if _, err := os.Stat(filepath.Join(dir, "state", l.Name()+".json")); err != nil {
			t.Errorf("after %d runs no state for %s: %v", kills, l.Kind, err)
		}
	}
}

// verifyStateFile checks that the state of l, if any, verifies.
func verifyStateFile(t *testing.T, dir string, l testenv.Log, round int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, l.Name()+".json"))
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	raw, err := loadRaw(b)
	if err != nil {
		t.Fatalf("kill %d: state of %s is torn: %v\n%s", round, l.Kind, err, b)
	}
	pub, err := readKey(l.PubKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := checkpoint.NewVerifier(l.Origin, pub)
	if err != nil {
		t.Fatal(err)
	}
	origin, _, _, _ := faultproxy.ParseNote(raw)
	if _, err := checkpoint.Parse(raw, origin, v); err != nil {
		t.Fatalf("kill %d: saved checkpoint of %s does not verify: %v", round, l.Kind, err)
	}
}

// TestTestAlert: `monitor test-alert` sends the sample event through every
// sink and says which failed.
func TestTestAlert(t *testing.T) {
	var got []string
	var mu sync.Mutex
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct{ Kind string }
		json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got = append(got, ev.Kind)
		mu.Unlock()
	}))
	defer ok.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	defer broken.Close()
	dir := t.TempDir()
	key := filepath.Join(dir, "log.pub")
	os.WriteFile(key, []byte("-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==\n-----END PUBLIC KEY-----\n"), 0o600)
	write := func(sinks string) string {
		p := filepath.Join(dir, "config.yml")
		os.WriteFile(p, []byte("state_dir: "+filepath.Join(dir, "state")+"\nlogs:\n  - {name: r, kind: rekor-v1, url: 'http://127.0.0.1:1', public_key_file: "+key+"}\nalerts:\n  sinks:\n"+sinks), 0o600)
		return p
	}
	cfg := write("    - {name: good, type: webhook, url: '" + ok.URL + "'}\n")
	if code, out := runMonitor(t, "test-alert", "--config", cfg); code != exitOK || !strings.Contains(out, "sink good: sent") {
		t.Errorf("test-alert = %d %q, want 0 and the sink reported sent", code, out)
	}
	cfg = write("    - {name: good, type: webhook, url: '" + ok.URL + "'}\n    - {name: bad, type: webhook, url: '" + broken.URL + "'}\n")
	if code, out := runMonitor(t, "test-alert", "--config", cfg); code != exitNoVerdict || !strings.Contains(out, "sink bad: FAILED") || !strings.Contains(out, "sink good: sent") {
		t.Errorf("test-alert with a broken sink = %d %q, want %d, good sent and bad failed", code, out, exitNoVerdict)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] != "test" {
		t.Errorf("receiver got %v, want two test events", got)
	}
}

// TestCheckConfigWarnsPlainHTTP: a plain http:// log or sink outside the
// machine is accepted with a warning that says what it does not protect.
func TestCheckConfigWarnsPlainHTTP(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "rekor.pub")
	pub, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := identitytest.PublicKeyPEM(pub.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "vigil.yml")
	body := "state_dir: " + dir + "\nlogs:\n  - name: rekor\n    kind: rekor-v1\n    url: http://rekor.example.com\n    public_key_file: " + key +
		"\nalerts:\n  sinks:\n    - {name: hook, type: webhook, url: http://hooks.example.com/vigil}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out := runMonitor(t, "check", "--config", cfg, "--check-config")
	if code != exitOK || !strings.Contains(out, "configuration OK") {
		t.Fatalf("--check-config = %d %q, want 0", code, out)
	}
	for _, want := range []string{"warning: logs[0].url", "warning: alerts.sinks[0].url"} {
		if !strings.Contains(out, want) {
			t.Errorf("--check-config output %q lacks %q", out, want)
		}
	}
}
