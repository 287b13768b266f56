package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigil-tlog/vigil/internal/controlplane"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// standIns are what the scaffold's containers would write at run time,
// which never happens here (KWOK runs no containers): the TUF server's root
// Secret and the public keys the copy-secrets Job gathers into tuf-system.
type standIns struct {
	tufRoot   []byte
	fulcioPEM []byte
}

func newStandIns(t *testing.T) standIns {
	t.Helper()
	fulcio, err := newCA("sigstore", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return standIns{
		tufRoot:   []byte(`{"signed":{"_type":"root","spec_version":"1.0","version":1},"signatures":[]}`),
		fulcioPEM: fulcio.CertPEM,
	}
}

// provide plays the TUF server and the copy job: once the bootstrap has made
// tuf-system, it creates the Secrets they would.
func (s standIns) provide(ctx context.Context, t *testing.T, cl *cluster) <-chan error {
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		var rekorKey []byte
		for {
			if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, tufNamespace, metav1.GetOptions{}); err == nil {
				// The copy job fetches the key Rekor serves: the one of
				// the bootstrap's signing key.
				if rekorKey, err = cl.SecretData(ctx, rekorSignerNamespace, rekorSignerSecret, rekorSignerPublicKey); err == nil && rekorKey != nil {
					break
				}
			}
			select {
			case <-ctx.Done():
				done <- ctx.Err()
				return
			case <-tick.C:
			}
		}
		for name, data := range map[string]map[string][]byte{
			tufRootSecret:          {tufRootKey: s.tufRoot},
			"rekor-public-key":     {"key": rekorKey},
			"tsa-cert-chain":       {"cert-chain": s.fulcioPEM},
			"fulcio-server-secret": {"cert": s.fulcioPEM},
		} {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tufNamespace}, Data: data}
			if _, err := cl.Client.CoreV1().Secrets(tufNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// TestUpStatusDown runs the bootstrap against a real API server with the real
// scaffold chart: up installs everything, a second up changes nothing, a dry
// run changes nothing, status is healthy, down uninstalls keeping the
// secrets, and down --purge removes the rest.
func TestUpStatusDown(t *testing.T) {
	scaffoldChart(t) // present and loadable, or Unavailable
	kubeconfig := testenv.Cluster(t)
	ctx := t.Context()
	cl, err := connect(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	si := newStandIns(t)
	provided := si.provide(ctx, t, cl)

	var out bytes.Buffer
	cfg := Config{
		Kubeconfig: kubeconfig,
		Dir:        filepath.Join(t.TempDir(), "state"),
		Chart:      ChartSource{Path: scaffoldPath(t)},
		HostsFile:  filepath.Join(t.TempDir(), "hosts"),
		Timeout:    3 * time.Minute,
		TUFTimeout: time.Minute,
		Monitor: MonitorConfig{Watch: []identity.Rule{
			{Name: "ci", Subject: "ci@example.com", Issuer: "https://issuer.example"},
		}},
		Out: &out,
	}
	res, err := up(ctx, cfg)
	t.Logf("first up:\n%s", out.String())
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	if err := <-provided; err != nil {
		t.Fatalf("providing stand-in secrets: %v", err)
	}
	for _, want := range []string{
		"release sigstore/scaffold", "release vigil-system/vigil-monitor", "hosts " + cfg.HostsFile,
		"secret rekor-system/rekor-tls", "secret fulcio-system/fulcio-tls", "secret tuf-system/tuf-tls",
		"namespace " + monitorNamespace, "secret " + rekorSignerNamespace + "/" + rekorSignerSecret,
		"secret " + trillianNamespace + "/" + trillianMySQLSecret,
	} {
		if res.Changes[want] != created {
			t.Errorf("first up: %s = %q, want created", want, res.Changes[want])
		}
	}

	// The TLS Secrets verify against the CA written for the user's trust store.
	ca, err := loadCA(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range components(false) {
		if !c.Exposed {
			continue
		}
		crt, err := cl.SecretData(ctx, c.Namespace, c.TLSSecret(), corev1.TLSCertKey)
		if err != nil {
			t.Fatal(err)
		}
		if err := ca.CheckServing(crt, []string{c.Host("sigstore.local")}, time.Now()); err != nil {
			t.Errorf("%s/%s: %v", c.Namespace, c.TLSSecret(), err)
		}
	}
	// Trust material: root.json as in the cluster, the mirror, a trusted
	// root sigstore-go accepts with the cluster's Rekor key.
	td := trustDir(cfg.Dir)
	if b, _ := os.ReadFile(filepath.Join(td, fileTUFRoot)); !bytes.Equal(b, si.tufRoot) {
		t.Errorf("root.json = %q, want the tuf-root secret", b)
	}
	if b, _ := os.ReadFile(filepath.Join(td, fileMirror)); strings.TrimSpace(string(b)) != "https://tuf.sigstore.local" {
		t.Errorf("tuf-mirror = %q", b)
	}
	tr, err := root.NewTrustedRootFromPath(filepath.Join(td, fileTrustedRoot))
	if err != nil {
		t.Fatalf("trusted_root.json: %v", err)
	}
	if len(tr.RekorLogs()) != 1 || len(tr.FulcioCertificateAuthorities()) != 1 {
		t.Errorf("trusted root has %d Rekor logs and %d CAs, want 1 and 1", len(tr.RekorLogs()), len(tr.FulcioCertificateAuthorities()))
	}
	if len(res.Hosts) != 3 || res.Hosts[0] != "127.0.0.1 fulcio.sigstore.local" {
		t.Errorf("hosts = %q", res.Hosts)
	}
	if b, _ := os.ReadFile(cfg.HostsFile); !strings.Contains(string(b), "127.0.0.1 rekor.sigstore.local\n") {
		t.Errorf("hosts file = %q, want the ingress names", b)
	}
	// Rekor signs with the bootstrap's key from a Secret (not a key made in
	// memory at every start), and the monitor and the trusted root hold its
	// public half.
	signer, err := cl.Client.CoreV1().Secrets(rekorSignerNamespace).Get(ctx, rekorSignerSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("rekor signing key: %v", err)
	}
	if err := checkRekorSigner(signer.Data); err != nil {
		t.Errorf("rekor signing key: %v", err)
	}
	rekorKey := signer.Data[rekorSignerPublicKey]
	assertRekorFileSigner(t, cl)
	cm, err := cl.Client.CoreV1().ConfigMaps(monitorNamespace).Get(ctx, monitorRelease+"-keys", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(cm.Data["rekor.pub"]) != strings.TrimSpace(string(rekorKey)) {
		t.Errorf("monitor rekor.pub = %q, want the signing key's %q", cm.Data["rekor.pub"], rekorKey)
	}
	// and the TUF root and the CA certificate its trust watch reads.
	if strings.TrimSpace(cm.Data[monitorTUFRoot]) != strings.TrimSpace(string(si.tufRoot)) {
		t.Errorf("monitor root.json = %q, want the TUF root %q", cm.Data[monitorTUFRoot], si.tufRoot)
	}
	if caPEM, _ := os.ReadFile(filepath.Join(cfg.Dir, "ca.crt")); len(caPEM) == 0 || strings.TrimSpace(cm.Data[monitorCACert]) != strings.TrimSpace(string(caPEM)) {
		t.Errorf("monitor ca.crt = %q, want the bootstrap CA's %q", cm.Data[monitorCACert], caPEM)
	}
	if b, _ := os.ReadFile(filepath.Join(td, fileRekorKey)); !samePublicKeyPEM(b, rekorKey) {
		t.Errorf("trust rekor.pub = %q, want the signing key's", b)
	}
	// Trillian's MySQL gets the bootstrap's passwords, not ones the chart
	// makes up at each render.
	mysql, err := cl.Client.CoreV1().Secrets(trillianNamespace).Get(ctx, trillianMySQLSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("trillian mysql passwords: %v", err)
	}
	rendered, err := cl.Client.CoreV1().Secrets(trillianNamespace).Get(ctx, trillianChartMySQLSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{trillianMySQLPassword, trillianMySQLRootPassword} {
		if len(mysql.Data[k]) == 0 || !bytes.Equal(rendered.Data[k], mysql.Data[k]) {
			t.Errorf("%s/%s %s = %q, want %q from %s", trillianNamespace, trillianChartMySQLSecret, k, rendered.Data[k], mysql.Data[k], trillianMySQLSecret)
		}
	}
	cfgMap, err := cl.Client.CoreV1().ConfigMaps(monitorNamespace).Get(ctx, monitorRelease, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"http://rekor-server.rekor-system.svc", "ci@example.com", monitorTUFMirror, "/etc/vigil/keys/root.json", "/etc/vigil/keys/ca.crt"} {
		if !strings.Contains(cfgMap.Data["config.yaml"], want) {
			t.Errorf("monitor config.yaml lacks %q:\n%s", want, cfgMap.Data["config.yaml"])
		}
	}

	// `bootstrap sign --service-account` signs with a token like this one:
	// from the issuer up configured Fulcio to trust, for audience sigstore.
	iss, err := cl.ServiceAccountIssuer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cl.ServiceAccountToken(ctx, monitorNamespace, "default", "sigstore")
	if err != nil {
		t.Fatalf("service-account token: %v", err)
	}
	if claims := jwtClaims(t, tok); claims["iss"] != iss || !audienceHas(claims["aud"], "sigstore") {
		t.Errorf("token claims iss=%v aud=%v, want iss=%s aud=[sigstore]", claims["iss"], claims["aud"], iss)
	}

	// A second up changes nothing.
	rv := secretVersions(t, cl)
	out.Reset()
	res, err = up(ctx, cfg)
	t.Logf("second up:\n%s", out.String())
	if err != nil {
		t.Fatalf("second up: %v", err)
	}
	for k, c := range res.Changes {
		if c != unchanged {
			t.Errorf("second up: %s %s, want unchanged", k, c)
		}
	}
	if got := secretVersions(t, cl); !equalMaps(got, rv) {
		t.Errorf("second up touched secrets: before %v, after %v", rv, got)
	}
	for _, r := range [][2]string{{scaffoldNamespace, scaffoldRelease}, {monitorNamespace, monitorRelease}} {
		st, err := cl.ReleaseStatus(r[0], r[1])
		if err != nil {
			t.Fatal(err)
		}
		if st.Revision != 1 || st.Status != "deployed" {
			t.Errorf("after second up %s", st)
		}
	}

	// Another CA, or half of one, is refused before anything changes.
	other := cfg
	other.Dir = filepath.Join(t.TempDir(), "other")
	out.Reset()
	if _, err := up(ctx, other); !errors.Is(err, errForeignCA) {
		t.Errorf("up with another CA = %v, want ErrForeignCA\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(other.Dir, "ca.key")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused up wrote a CA: %v", err)
	}
	if err := os.MkdirAll(other.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other.Dir, "ca.crt"), ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if _, err := up(ctx, other); !errors.Is(err, errPartialCA) {
		t.Errorf("up with ca.crt but no ca.key = %v, want ErrPartialCA\n%s", err, out.String())
	}
	if err := os.Remove(filepath.Join(other.Dir, "ca.crt")); err != nil {
		t.Fatal(err)
	}
	other.RotateCA, other.DryRun = true, true
	out.Reset()
	if res, err := up(ctx, other); err != nil {
		t.Errorf("dry-run up --rotate-ca: %v\n%s", err, out.String())
	} else if res.Changes["secret rekor-system/rekor-tls"] != wouldUpdate {
		t.Errorf("dry-run up --rotate-ca: rekor-tls %s, want would update", res.Changes["secret rekor-system/rekor-tls"])
	}
	if got := secretVersions(t, cl); !equalMaps(got, rv) {
		t.Errorf("refused or dry-run ups touched secrets")
	}

	// A dry run after a changed domain would change things but does not.
	out.Reset()
	dry := cfg
	dry.Domain, dry.DryRun = "example.test", true
	res, err = up(ctx, dry)
	t.Logf("dry run:\n%s", out.String())
	if err != nil {
		t.Fatalf("dry-run up: %v", err)
	}
	if res.Changes["release sigstore/scaffold"] != wouldUpdate || res.Changes["secret rekor-system/rekor-tls"] != wouldUpdate {
		t.Errorf("dry run changes = %v, want would update for the scaffold and rekor-tls", res.Changes)
	}
	if got := secretVersions(t, cl); !equalMaps(got, rv) {
		t.Errorf("dry run touched secrets")
	}
	if st, _ := cl.ReleaseStatus(scaffoldNamespace, scaffoldRelease); st.Revision != 1 {
		t.Errorf("dry run upgraded the scaffold: %s", st)
	}

	out.Reset()
	if err := Status(ctx, cfg); err != nil {
		t.Errorf("status: %v\n%s", err, out.String())
	}

	// down keeps secrets and state; down --purge removes them.
	out.Reset()
	if err := Down(ctx, cfg); err != nil {
		t.Fatalf("down: %v\n%s", err, out.String())
	}
	t.Logf("down:\n%s", out.String())
	for _, r := range [][2]string{{scaffoldNamespace, scaffoldRelease}, {monitorNamespace, monitorRelease}} {
		if st, _ := cl.ReleaseStatus(r[0], r[1]); st.Found {
			t.Errorf("after down: %s", st)
		}
	}
	if d, _ := cl.SecretData(ctx, "rekor-system", "rekor-tls", corev1.TLSCertKey); d == nil {
		t.Errorf("down without --purge removed rekor-tls")
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "ca.crt")); err != nil {
		t.Errorf("down without --purge removed the CA: %v", err)
	}
	// The copies the copy-secrets job makes with `kubectl create` are gone
	// (it would fail on them at the next up); the signing key stays.
	for _, name := range []string{"rekor-public-key", "tsa-cert-chain", "fulcio-server-secret"} {
		if d, _ := cl.SecretData(ctx, tufNamespace, name, "key"); d != nil {
			t.Errorf("after down %s/%s is still there", tufNamespace, name)
		}
		if _, err := cl.Client.CoreV1().Secrets(tufNamespace).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("after down %s/%s: %v, want not found", tufNamespace, name, err)
		}
	}
	if d, _ := cl.SecretData(ctx, rekorSignerNamespace, rekorSignerSecret, rekorSignerPrivateKey); !bytes.Equal(d, signer.Data[rekorSignerPrivateKey]) {
		t.Errorf("down without --purge changed or removed the Rekor signing key")
	}
	out.Reset()
	if err := Status(ctx, cfg); !errors.Is(err, errUnhealthy) {
		t.Errorf("status after down = %v, want ErrUnhealthy", err)
	}

	// Files of the user's in the state directory outlive --purge.
	mine := filepath.Join(cfg.Dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	purge := cfg
	purge.Purge = true
	if err := Down(ctx, purge); err != nil {
		t.Fatalf("down --purge: %v\n%s", err, out.String())
	}
	t.Logf("down --purge:\n%s", out.String())
	for _, ns := range append(cfg.sigstoreNamespaces(), monitorNamespace) {
		if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("namespace %s after purge: %v, want not found", ns, err)
		}
	}
	for _, f := range []string{filepath.Join(cfg.Dir, "ca.key"), filepath.Join(cfg.Dir, "ca.crt"), trustDir(cfg.Dir)} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s after purge: %v, want gone", f, err)
		}
	}
	if b, err := os.ReadFile(mine); err != nil || string(b) != "mine\n" {
		t.Errorf("purge removed a file the bootstrap did not write: %q, %v", b, err)
	}
	if err := os.Remove(mine); err != nil {
		t.Fatal(err)
	}
	// Once only the bootstrap's files are left, purge removes the directory.
	if err := os.MkdirAll(trustDir(cfg.Dir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trustDir(cfg.Dir), fileTUFRoot), si.tufRoot, 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := Down(ctx, purge); err != nil {
		t.Fatalf("second down --purge: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(cfg.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state dir after purge: %v, want gone", err)
	}
}

// assertRekorFileSigner checks that the deployed rekor-server signs with the
// key file mounted from the bootstrap's Secret.
func assertRekorFileSigner(t *testing.T, cl *cluster) {
	t.Helper()
	dep, err := cl.Client.AppsV1().Deployments(rekorSignerNamespace).Get(t.Context(), "rekor-server", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkRekorPodSpec(t, dep.Spec.Template.Spec)
}

// checkRekorPodSpec checks rekor-server's pod: a file signer reading the
// private key of rekorSignerSecret, not the in-memory signer.
func checkRekorPodSpec(t *testing.T, spec corev1.PodSpec) {
	t.Helper()
	want := "--rekor_server.signer=" + rekorSignerMount + "/" + rekorSignerFile
	var args []string
	mounted := false
	for _, c := range spec.Containers {
		args = append(args, c.Args...)
		for _, m := range c.VolumeMounts {
			mounted = mounted || m.MountPath == rekorSignerMount
		}
	}
	if !slices.Contains(args, want) {
		t.Errorf("rekor-server args %q lack %q", args, want)
	}
	found := false
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == rekorSignerSecret {
			for _, it := range v.Secret.Items {
				found = found || (it.Key == rekorSignerPrivateKey && it.Path == rekorSignerFile)
			}
		}
	}
	if !found || !mounted {
		t.Errorf("rekor-server does not mount %s/%s at %s (volume %v, mounted %v)", rekorSignerSecret, rekorSignerPrivateKey, rekorSignerMount, found, mounted)
	}
}

func scaffoldPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VIGIL_SCAFFOLD_CHART"); p != "" {
		return p
	}
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "..", "shared", "charts", "scaffold-"+ScaffoldVersion+".tgz")
}

// secretVersions maps every Secret in the bootstrap's namespaces to its
// resourceVersion.
func secretVersions(t *testing.T, cl *cluster) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ns := range []string{"fulcio-system", "rekor-system", tufNamespace, trillianNamespace} {
		l, err := cl.Client.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range l.Items {
			out[ns+"/"+s.Name] = s.ResourceVersion
		}
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// jwtClaims decodes (without verifying) the claims of a compact JWS.
func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if v == want {
				return true
			}
		}
	}
	return false
}
