package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/controlplane"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// RekorV1 is a rekor-server started for one test on the local stack's
// Trillian, so a test can restart it under another hostname, point it at a
// new tree, or give it inactive shards: what the shared stack's server must
// not do under the other tests.
type RekorV1 struct {
	URL  string
	Port int
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
}

// RekorV1Options configures [StartRekorV1].
type RekorV1Options struct {
	// Hostname is --rekor_server.hostname, the name rekor-server signs its
	// checkpoints as (its default, the machine's hostname, is a pod's
	// name in Kubernetes).
	Hostname string
	// TreeID is the active Trillian tree (default: the stack's tree).
	TreeID string
	// SignerKey is the PEM private key file that signs checkpoints
	// (default: the stack's Rekor v1 key).
	SignerKey string
	// ShardingConfig, when set, is the --trillian_log_server.sharding_config
	// file listing inactive shards.
	ShardingConfig string
	// Port, when set, is the port to listen on (to restart a server on the
	// same URL); default a free port.
	Port int
}

// StartRekorV1 starts the cached rekor-server binary on 127.0.0.1 and waits
// until it answers. It is stopped when the test ends, or by Stop.
func StartRekorV1(t testing.TB, opts RekorV1Options) *RekorV1 {
	t.Helper()
	env := Stack(t)
	bin := filepath.Join(env.Get(t, "BIN_DIR"), "rekor-server")
	if _, err := os.Stat(bin); err != nil {
		Unavailable(t, "rekor-server", "run make stack-up")
	}
	if opts.TreeID == "" {
		opts.TreeID = env.Get(t, "REKOR_TREE_ID")
	}
	if opts.SignerKey == "" {
		opts.SignerKey = env.Get(t, "REKOR_PRIVKEY")
	}
	if opts.Port == 0 {
		ports, err := controlplane.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		opts.Port = ports[0]
	}
	host, port, _ := strings.Cut(env.Get(t, "TRILLIAN_RPC"), ":")
	args := []string{"serve",
		"--rekor_server.address=127.0.0.1", fmt.Sprintf("--port=%d", opts.Port),
		"--rekor_server.hostname=" + opts.Hostname,
		"--trillian_log_server.address=" + host, "--trillian_log_server.port=" + port,
		"--trillian_log_server.tlog_id=" + opts.TreeID, "--rekor_server.signer=" + opts.SignerKey,
		"--enable_retrieve_api=false",
		"--enabled_api_endpoints=getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID,searchLogQuery",
		"--log_type=prod"}
	if opts.ShardingConfig != "" {
		args = append(args, "--trillian_log_server.sharding_config="+opts.ShardingConfig)
	}
	logFile, err := os.Create(filepath.Join(t.TempDir(), "rekor-server.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting rekor-server: %v", err)
	}
	r := &RekorV1{URL: fmt.Sprintf("http://127.0.0.1:%d", opts.Port), Port: opts.Port, t: t, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(r.done) }()
	t.Cleanup(r.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/api/v1/log", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		select {
		case <-r.done:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("rekor-server exited at start-up: %s", tail(b, 2000))
		case <-ctx.Done():
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("rekor-server did not answer within 60s: %s", tail(b, 2000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Stop stops the server and waits for it to exit.
func (r *RekorV1) Stop() {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// CreateTree creates a Trillian log tree on the stack's Trillian with the
// cached createtree tool and returns its ID.
func CreateTree(t testing.TB) string {
	t.Helper()
	env := Stack(t)
	bin := filepath.Join(env.Get(t, "BIN_DIR"), "createtree")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--admin_server="+env.Get(t, "TRILLIAN_RPC"),
		"--display_name=vigil-test", "--max_root_duration=0s").Output()
	if err != nil {
		t.Fatalf("createtree: %v", err)
	}
	id := strings.TrimSpace(string(out))
	if id == "" {
		t.Fatal("createtree printed no tree ID")
	}
	return id
}

// NewSignerKeyFile writes a new ECDSA P-256 private key (PKCS#8 PEM, as
// rekor-server's file signer reads it) and its public key into dir and
// returns both paths.
func NewSignerKeyFile(t testing.TB, dir, name string) (priv, pub string) {
	t.Helper()
	k, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	privPEM, err := identitytest.PrivateKeyPEM(k)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := identitytest.PublicKeyPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	priv, pub = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(priv, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}
