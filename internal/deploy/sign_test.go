package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/vigil-tlog/vigil/internal/controlplane"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// signingStack is the local Sigstore the signing tests run against: the
// Rekor v1 and Fulcio processes and the test OIDC issuer of
// scripts/stack/up.sh, and an OCI registry on loopback.
type signingStack struct {
	rekorURL, fulcioURL, issuer string
	registry                    string // host:port
	trustedRoot                 string // trusted_root.json for the stack
}

func newSigningStack(t *testing.T) *signingStack {
	t.Helper()
	env := testenv.Stack(t)
	s := &signingStack{
		rekorURL:  env.Get(t, "REKOR_URL"),
		fulcioURL: env.Get(t, "FULCIO_URL"),
		issuer:    env.Get(t, "OIDC_ISSUER"),
	}
	reg := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	s.registry = strings.TrimPrefix(reg.URL, "http://")

	// The trust material a client of this stack needs, from its APIs; the
	// Rekor key must be the one the stack was started with.
	tr, err := fetchTrust(t.Context(), nil, s.fulcioURL, s.rekorURL)
	if err != nil {
		t.Fatalf("FetchTrust: %v", err)
	}
	rekorKey, err := os.ReadFile(env.Get(t, "REKOR_PUBKEY"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(rekorKey), bytes.TrimSpace(tr.RekorKeyPEM)) {
		t.Fatalf("Rekor serves key\n%s\nwant %s", tr.RekorKeyPEM, rekorKey)
	}
	b, err := tr.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	s.trustedRoot = filepath.Join(t.TempDir(), fileTrustedRoot)
	if err := os.WriteFile(s.trustedRoot, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// token gets an ID token for email from the test issuer.
func (s *signingStack) token(t *testing.T, email string) string {
	t.Helper()
	resp, err := http.Get(s.issuer + "/token?email=" + url.QueryEscape(email))
	if err != nil {
		t.Fatalf("getting ID token: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("getting ID token: %s %s %v", resp.Status, b, err)
	}
	return strings.TrimSpace(string(b))
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomEmail(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "signer-" + hex.EncodeToString(b) + "@example.com"
}

// TestSignVerify signs a test image keyless against the local Fulcio and
// Rekor, then verifies it with verifyImage and with a real cosign.
func TestSignVerify(t *testing.T) {
	s := newSigningStack(t)
	ctx := t.Context()
	email := randomEmail(t)
	img, err := testImage("sign-verify " + email)
	if err != nil {
		t.Fatal(err)
	}
	res, err := signImage(ctx, signConfig{
		Repository: s.registry + "/vigil/test", AllowHTTP: true,
		FulcioURL: s.fulcioURL, RekorURL: s.rekorURL, IDToken: s.token(t, email),
	}, img)
	if err != nil {
		t.Fatalf("SignImage: %v", err)
	}
	if res.Identity != email || res.Issuer != s.issuer {
		t.Errorf("signed as %q from %q, want %q from %q", res.Identity, res.Issuer, email, s.issuer)
	}
	t.Logf("signed %s, Rekor entry %d", res.Image, res.LogIndex)
	if res.Change != created {
		t.Errorf("first sign: %s, want created", res.Change)
	}
	// Signing again with the same identity changes nothing; --force and a
	// dry run behave as they say.
	signCfg := signConfig{
		Repository: s.registry + "/vigil/test", AllowHTTP: true,
		FulcioURL: s.fulcioURL, RekorURL: s.rekorURL, IDToken: s.token(t, email),
	}
	again, err := signImage(ctx, signCfg, img)
	if err != nil {
		t.Fatalf("second SignImage: %v", err)
	}
	if again.Change != unchanged || again.Referrer != res.Referrer || again.LogIndex != res.LogIndex || again.Identity != email {
		t.Errorf("second sign: %s %s entry %d as %s, want unchanged %s entry %d", again.Change, again.Referrer, again.LogIndex, again.Identity, res.Referrer, res.LogIndex)
	}
	dry := signCfg
	dry.DryRun, dry.Repository = true, s.registry+"/vigil/dry"
	if d, err := signImage(ctx, dry, img); err != nil || d.Change != wouldCreate || d.Identity != email || d.Issuer != s.issuer {
		t.Errorf("dry-run sign = %+v, %v; want would create as %s", d, err, email)
	}
	if _, err := remote.Head(mustDigest(t, s.registry+"/vigil/dry@"+res.Image.DigestStr())); err == nil {
		t.Errorf("dry-run sign pushed the image")
	}
	forced := signCfg
	forced.Force = true
	f, err := signImage(ctx, forced, img)
	if err != nil {
		t.Fatalf("forced SignImage: %v", err)
	}
	if f.Change != created || f.LogIndex == res.LogIndex {
		t.Errorf("forced sign: %s entry %d, want a new signature (first was entry %d)", f.Change, f.LogIndex, res.LogIndex)
	}

	base := verifyConfig{Image: res.Image.String(), AllowHTTP: true, TrustedRoot: s.trustedRoot, Identity: email, Issuer: s.issuer}
	v, err := verifyImage(ctx, base)
	if err != nil {
		t.Fatalf("VerifyImage: %v", err)
	}
	// The image carries two signatures now (the first and the forced one);
	// either may be the one that verifies first.
	if v.Identity != email || (v.LogIndex != res.LogIndex && v.LogIndex != f.LogIndex) || v.Predicate != cosignSignPredicateType {
		t.Errorf("verified %+v, want identity %s at log index %d or %d", v, email, res.LogIndex, f.LogIndex)
	}
	for _, c := range v.Checks() {
		t.Log(c)
	}
	// By tag, too.
	byTag := base
	byTag.Image = s.registry + "/vigil/test:latest"
	if _, err := verifyImage(ctx, byTag); err != nil {
		t.Errorf("VerifyImage by tag: %v", err)
	}

	failures := []struct {
		name string
		edit func(*verifyConfig)
		want error
	}{
		{"other identity", func(c *verifyConfig) { c.Identity = "someone@example.com" }, errNoSignature},
		{"other issuer", func(c *verifyConfig) { c.Issuer = "https://issuer.example" }, errNoSignature},
		{"plain HTTP not allowed", func(c *verifyConfig) { c.AllowHTTP = false }, errPlainHTTP},
		{"SCT required, Fulcio has no CT log", func(c *verifyConfig) { c.RequireSCT = true }, errNoSignature},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			c := base
			f.edit(&c)
			if _, err := verifyImage(ctx, c); !errors.Is(err, f.want) {
				t.Errorf("VerifyImage = %v, want %v", err, f.want)
			}
		})
	}
	t.Run("sign over plain HTTP not allowed", func(t *testing.T) {
		other, err := testImage("unsigned " + email)
		if err != nil {
			t.Fatal(err)
		}
		_, err = signImage(ctx, signConfig{Repository: s.registry + "/vigil/unsigned", AllowHTTP: false, IDToken: s.token(t, email)}, other)
		if !errors.Is(err, errPlainHTTP) {
			t.Fatalf("SignImage over plain HTTP without permission = %v, want ErrPlainHTTP", err)
		}
	})

	t.Run("cosign", func(t *testing.T) {
		cosign := testenv.Tool(t, "cosign")
		cmd := exec.CommandContext(ctx, cosign, "verify",
			"--trusted-root", s.trustedRoot,
			"--certificate-identity", email,
			"--certificate-oidc-issuer", s.issuer,
			"--allow-http-registry",
			// The local Fulcio has no CT log, so its certificates carry no SCT.
			"--insecure-ignore-sct",
			res.Image.String())
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TUF_ROOT="+t.TempDir())
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		t.Logf("cosign verify:\n%s", out)
		if err != nil {
			t.Fatalf("cosign verify: %v", err)
		}
	})
}

// TestMonitorReportsSigner signs an image while the Vigil monitor (the real
// binary, built from cmd/monitor) watches the local Rekor for the signer's
// identity: the monitor's next check reports the entry through its webhook
// sink.
func TestMonitorReportsSigner(t *testing.T) {
	s := newSigningStack(t)
	env := testenv.Stack(t)
	ctx := t.Context()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	monitor := filepath.Join(dir, "monitor")
	build := exec.CommandContext(ctx, "go", "build", "-o", monitor, "./cmd/monitor")
	build.Dir = root
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the monitor: %v\n%s", err, out)
	}

	events := make(chan []byte, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case events <- b:
		default:
		}
	}))
	t.Cleanup(hook.Close)

	email := randomEmail(t)
	cfg := `state_dir: ` + filepath.Join(dir, "state") + `
log_format: text
logs:
  - name: rekor
    kind: rekor-v1
    url: ` + s.rekorURL + `
    public_key_file: ` + env.Get(t, "REKOR_PUBKEY") + `
    origin: ` + env.Get(t, "REKOR_HOSTNAME") + `
scan:
  start_at_end: true
identities:
  watch:
    - name: test-signer
      subject: ` + email + `
      issuer: ` + s.issuer + `
alerts:
  sinks:
    - name: hook
      type: webhook
      url: ` + hook.URL + `
`
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func() string {
		t.Helper()
		cmd := exec.CommandContext(ctx, monitor, "check", "--config", cfgFile)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("monitor check: %v\n%s", err, out)
		}
		return string(out)
	}
	t.Logf("first check (trust on first use, scanning from the end):\n%s", check())

	img, err := testImage("monitored " + email)
	if err != nil {
		t.Fatal(err)
	}
	res, err := signImage(ctx, signConfig{
		Repository: s.registry + "/vigil/monitored", AllowHTTP: true,
		FulcioURL: s.fulcioURL, RekorURL: s.rekorURL, IDToken: s.token(t, email),
	}, img)
	if err != nil {
		t.Fatalf("SignImage: %v", err)
	}
	t.Logf("signed %s as %s, Rekor entry %d", res.Image, email, res.LogIndex)
	// Rekor integrates entries asynchronously: the checkpoint the next check
	// fetches may not cover the new entry yet, so check until it does
	// (a bounded number of times).
	for attempt := 1; attempt <= 10; attempt++ {
		t.Logf("check %d after signing:\n%s", attempt, check())
		for {
			var b []byte
			select {
			case b = <-events:
			default:
			}
			if b == nil {
				break
			}
			var ev map[string]any
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatalf("webhook body: %v\n%s", err, b)
			}
			if ev["kind"] == "identity_match" && strings.Contains(string(b), email) {
				t.Logf("monitor alert: %s", b)
				return
			}
			t.Logf("other event: %s", b)
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("the monitor sent no identity_match event for %s (entry %d)", email, res.LogIndex)
}

// TestSignRekorCA signs through a Rekor reached over TLS with a certificate
// only the transport's CA pool trusts (as `bootstrap sign --ca-file` sets
// up): the Rekor client must use that pool, not just the system roots.
func TestSignRekorCA(t *testing.T) {
	s := newSigningStack(t)
	target, err := url.Parse(s.rekorURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(proxy.Close)
	rt, ok := proxy.Client().Transport.(*http.Transport)
	if !ok {
		t.Fatalf("test server transport is a %T", proxy.Client().Transport)
	}
	email := randomEmail(t)
	img, err := testImage("rekor-ca " + email)
	if err != nil {
		t.Fatal(err)
	}
	res, err := signImage(t.Context(), signConfig{
		Repository: s.registry + "/vigil/rekor-ca", AllowHTTP: true,
		FulcioURL: s.fulcioURL, RekorURL: proxy.URL, IDToken: s.token(t, email),
		Transport: rt,
	}, img)
	if err != nil {
		t.Fatalf("SignImage through Rekor over TLS: %v", err)
	}
	if res.Change != created || res.Identity != email {
		t.Errorf("signed: %s as %s, want created as %s", res.Change, res.Identity, email)
	}
}
