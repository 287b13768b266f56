package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/faultproxy"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// testMonitor serves the API (behind a token) of a real Vigil monitor
// watching the stack's Rekor v1, with state in dir.
func testMonitor(t *testing.T, env testenv.Env, dir string) (app *monitor.App, url, tokenFile string) {
	t.Helper()
	tokenFile = filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "config.yml")
	yml := "state_dir: " + filepath.Join(dir, "state") + "\nscan: {disabled: true}\nindex: {disabled: true}\napi: {token_file: " + tokenFile + "}\nlogs:\n" +
		"  - {name: rekor, kind: rekor-v1, url: '" + env.Get(t, "REKOR_URL") + "', public_key_file: " + env.Get(t, "REKOR_PUBKEY") + "}\n"
	if err := os.WriteFile(cfgFile, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	app, err = monitor.NewApp(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	srv := httptest.NewServer(app.APIHandler())
	t.Cleanup(srv.Close)
	return app, srv.URL, tokenFile
}

// TestVerifyWithMonitor: bootstrap verify --monitor checks the verified
// bundle's checkpoint against what a real monitor verified: consistent
// after the monitor checked the log; a split view (the monitor archived
// another root, signed with the log's key, at the bundle's tree size)
// fails with ErrSplitView and both checkpoints; a wrong token is a clear
// error.
func TestVerifyWithMonitor(t *testing.T) {
	s := newSigningStack(t)
	env := testenv.Stack(t)
	ctx := t.Context()
	email := randomEmail(t)
	img, err := testImage("verify-monitor " + email)
	if err != nil {
		t.Fatal(err)
	}
	res, err := signImage(ctx, signConfig{Repository: s.registry + "/vigil/audited", AllowHTTP: true,
		FulcioURL: s.fulcioURL, RekorURL: s.rekorURL, IDToken: s.token(t, email)}, img)
	if err != nil {
		t.Fatalf("SignImage: %v", err)
	}
	opts := VerifyOptions{Image: res.Image.String(), AllowHTTP: true, TrustedRoot: s.trustedRoot, Identity: email, Issuer: s.issuer,
		Dir: t.TempDir()}

	t.Run("consistent", func(t *testing.T) {
		dir := t.TempDir()
		app, url, tokenFile := testMonitor(t, env, dir)
		var out bytes.Buffer
		o := opts
		o.MonitorURL, o.MonitorTokenFile, o.Out = url, tokenFile, &out
		// Nothing verified yet: no verdict, an error that says so.
		if err := Verify(ctx, o); err == nil || !strings.Contains(err.Error(), "no verdict") {
			t.Fatalf("Verify before the monitor verified anything = %v, want no verdict\n%s", err, out.String())
		}
		for _, oc := range app.CheckOnce(ctx) {
			if oc.Err != nil {
				t.Fatal(oc.Err)
			}
		}
		out.Reset()
		if err := Verify(ctx, o); err != nil {
			t.Fatalf("Verify --monitor: %v\n%s", err, out.String())
		}
		if !strings.Contains(out.String(), "ok  split view: the bundle's checkpoint (log rekor, tree size ") {
			t.Errorf("output does not report the split-view check:\n%s", out.String())
		}
		t.Logf("%s", out.String())

		o.MonitorTokenFile = filepath.Join(dir, "wrong-token")
		os.WriteFile(o.MonitorTokenFile, []byte("wrong"), 0o600)
		if err := Verify(ctx, o); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
			t.Errorf("Verify with a wrong token = %v, want an error naming HTTP 401", err)
		}
	})

	t.Run("split view", func(t *testing.T) {
		v, err := verifyImage(ctx, verifyConfig{Image: opts.Image, AllowHTTP: true, TrustedRoot: s.trustedRoot, Identity: email, Issuer: s.issuer})
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			VerificationMaterial struct {
				TlogEntries []struct {
					InclusionProof struct {
						TreeSize string `json:"treeSize"`
					} `json:"inclusionProof"`
				} `json:"tlogEntries"`
			} `json:"verificationMaterial"`
		}
		if err := json.Unmarshal(v.Bundle, &b); err != nil || len(b.VerificationMaterial.TlogEntries) == 0 {
			t.Fatalf("bundle: %v", err)
		}
		var size uint64
		for _, c := range b.VerificationMaterial.TlogEntries[0].InclusionProof.TreeSize {
			size = size*10 + uint64(c-'0')
		}
		// The monitor's archive holds another root at the bundle's size,
		// signed with the log's key: what a log showing the monitor another
		// tree leaves there.
		dir := t.TempDir()
		signer, err := faultproxy.LoadSigner(env.Get(t, "REKOR_PRIVKEY"), env.Get(t, "REKOR_HOSTNAME"))
		if err != nil {
			t.Fatal(err)
		}
		root := bytes.Repeat([]byte{0x5a}, 32)
		treeID := env.Get(t, "REKOR_TREE_ID")
		arch, err := archive.Open(state.ArchiveDir(filepath.Join(dir, "state")), 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := arch.Add("rekor", archive.Entry{TreeID: treeID, Size: size, Root: root,
			Note: signer.Checkpoint(env.Get(t, "REKOR_HOSTNAME")+" - "+treeID, size, root)}); err != nil {
			t.Fatal(err)
		}
		arch.Close()
		_, url, tokenFile := testMonitor(t, env, dir)
		var out bytes.Buffer
		o := opts
		o.MonitorURL, o.MonitorTokenFile, o.Out = url, tokenFile, &out
		err = Verify(ctx, o)
		if !errors.Is(err, ErrSplitView) || !strings.Contains(err.Error(), "checkpoint the monitor verified:") ||
			!strings.Contains(err.Error(), "checkpoint in the bundle:") {
			t.Fatalf("Verify against a monitor that verified another root = %v, want ErrSplitView with both checkpoints\n%s", err, out.String())
		}
		t.Logf("%v", err)
	})
}
