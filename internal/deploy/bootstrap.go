package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	monitorchart "github.com/vigil-tlog/vigil/manifests/chart"
)

// Config is what `bootstrap up`, `status` and `down` act on. The zero values
// of the optional fields mean the defaults noted.
type Config struct {
	Kubeconfig string // default: $KUBECONFIG or ~/.kube/config
	Context    string // default: the current context
	// Domain is the DNS suffix of the ingress hosts: rekor.<domain>, ...
	Domain string // default sigstore.local
	// Dir keeps the CA (ca.crt, ca.key) and the client trust material.
	Dir          string
	Chart        ChartSource // default: the pinned scaffold from its repository
	IngressClass string      // default nginx
	ExposeCTLog  bool
	// OIDCIssuers Fulcio trusts; default: the cluster's own service-account
	// issuer (type kubernetes), so pods can sign with their tokens.
	OIDCIssuers []OIDCIssuer
	// IngressIP is the address the hosts lines point at when the ingresses
	// report none; default 127.0.0.1.
	IngressIP string
	// HostsFile, when set, gets the hosts lines in a marked block.
	HostsFile string

	Monitor MonitorConfig

	Timeout    time.Duration // for rollouts; default 10m
	TUFTimeout time.Duration // for the TUF root Secret; default 2m
	DryRun     bool
	Purge      bool // down: also delete namespaces, TLS Secrets, state
	// RotateCA lets up re-issue TLS Secrets another CA issued from the
	// local CA; without it up refuses ([errForeignCA]).
	RotateCA bool

	Out io.Writer // progress; default os.Stdout
	TTY bool      // spinner
}

// MonitorConfig configures the monitor's release.
type MonitorConfig struct {
	Disabled bool
	// Image is repository[:tag] or repository@digest of the monitor image.
	Image string // default vigil-monitor:<chart appVersion>
	// Watch are the identity rules the monitor watches the log for
	// (identities.watch of its configuration).
	Watch []identity.Rule
	// Values are extra chart values merged over the generated ones
	// (config: merges into the monitor's configuration).
	Values map[string]any
}

func (c *Config) defaults() {
	if c.Domain == "" {
		c.Domain = defaultDomain
	}
	if c.Dir == "" {
		c.Dir = defaultDir(c.Domain)
	}
	if c.Chart == (ChartSource{}) {
		c.Chart = ChartSource{RepoURL: ScaffoldRepoURL, Name: ScaffoldChart, Version: ScaffoldVersion}
	}
	if c.IngressClass == "" {
		c.IngressClass = "nginx"
	}
	if c.IngressIP == "" {
		c.IngressIP = "127.0.0.1"
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	if c.TUFTimeout == 0 {
		c.TUFTimeout = 2 * time.Minute
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
}

// defaultDomain is the DNS suffix of the ingress hosts when none is given.
const defaultDomain = "sigstore.local"

// defaultDir is where the bootstrap keeps the CA and trust material for
// domain: $XDG_CONFIG_HOME/vigil/bootstrap/<domain> (~/.config/...).
func defaultDir(domain string) string {
	base, err := os.UserConfigDir()
	if err != nil {
		base = "."
	}
	return filepath.Join(base, "vigil", "bootstrap", domain)
}

// trustDir is the directory of the client trust material inside dir.
func trustDir(dir string) string { return filepath.Join(dir, "trust") }

// allNamespaces are the namespaces the scaffold's workloads run in.
func (c *Config) sigstoreNamespaces() []string {
	ns := []string{scaffoldNamespace}
	for _, comp := range components(c.ExposeCTLog) {
		ns = append(ns, comp.Namespace)
	}
	return ns
}

// upResult is what [up] produced, for tests.
type upResult struct {
	Changes map[string]outcome // "secret fulcio-system/fulcio-tls", "release sigstore/scaffold", ...
	Trust   trustMaterial
	Hosts   []string
	// CACertPEM is the bootstrap CA's certificate (also when a dry run has
	// not written it yet).
	CACertPEM []byte
}

// Changed reports whether anything was created or updated.
func (r *upResult) Changed() bool {
	for _, c := range r.Changes {
		if c != unchanged {
			return true
		}
	}
	return false
}

// Up installs or upgrades private Sigstore and the monitor; see the package
// documentation for the steps. Every step is idempotent: on a second run with
// the same Config every change is [unchanged].
func Up(ctx context.Context, cfg Config) error {
	_, err := up(ctx, cfg)
	return err
}

// up is [Up], returning what it changed.
func up(ctx context.Context, cfg Config) (*upResult, error) {
	cfg.defaults()
	total := 7
	if cfg.Monitor.Disabled {
		total = 6
	}
	p := newProgress(cfg.Out, cfg.TTY, total)
	if cfg.DryRun {
		p.Println("dry run: nothing is changed")
	}
	res := &upResult{Changes: map[string]outcome{}}

	// 1. The cluster.
	cl, err := connectStep(ctx, p, cfg.Kubeconfig, cfg.Context, true)
	if err != nil {
		return nil, err
	}
	if len(cfg.OIDCIssuers) == 0 {
		iss, err := cl.ServiceAccountIssuer(ctx)
		if err != nil {
			return nil, err
		}
		cfg.OIDCIssuers = []OIDCIssuer{{URL: iss, ClientID: "sigstore", Type: "kubernetes"}}
	}

	// 2. PKI and TLS Secrets.
	s := p.Start("certificates")
	msg, err := ensurePKI(ctx, cl, &cfg, res)
	if err != nil {
		return nil, s.Fail(err)
	}
	ss, err := ensureServiceSecrets(ctx, cl, cfg.DryRun, res)
	if err != nil {
		return nil, s.Fail(err)
	}
	s.Done("%s; %s", msg, describeServiceSecrets(res))

	// 3. The scaffold chart.
	s = p.Start("sigstore chart")
	s.Update("loading %s", cfg.Chart)
	ch, err := loadChart(cfg.Chart)
	if err != nil {
		return nil, s.Fail(err)
	}
	s.Update("applying %s %s", ch.Metadata.Name, ch.Metadata.Version)
	change, err := cl.ApplyRelease(ctx, helmRelease{
		Name: scaffoldRelease, Namespace: scaffoldNamespace, Chart: ch,
		Values:   mergeValues(scaffoldValues(cfg.Domain, cfg.IngressClass, cfg.ExposeCTLog, cfg.OIDCIssuers), scaffoldSecretValues(ss)),
		Progress: p.Println,
	}, cfg.DryRun)
	if err != nil {
		return nil, s.Fail(err)
	}
	res.Changes["release "+scaffoldNamespace+"/"+scaffoldRelease] = change
	s.Done("%s/%s (%s %s): %s", scaffoldNamespace, scaffoldRelease, ch.Metadata.Name, ch.Metadata.Version, change)

	// 4. Rollouts and Jobs.
	s = p.Start("rollouts")
	if cfg.DryRun {
		s.Skip("dry run")
	} else {
		err := cl.WaitReady(ctx, cfg.sigstoreNamespaces(), cfg.Timeout, func(nr []workload) {
			if len(nr) > 0 {
				s.Update("%d not ready; %s", len(nr), nr[0])
			}
		})
		if err != nil {
			return nil, s.Fail(err)
		}
		ws, err := cl.Workloads(ctx, cfg.sigstoreNamespaces())
		if err != nil {
			return nil, s.Fail(err)
		}
		s.Done("%s", countKinds(ws))
	}

	// 5. Trust material.
	s = p.Start("trust material")
	trust, msg, err := collectTrust(ctx, cl, &cfg, ss, s)
	if err != nil {
		return nil, s.Fail(err)
	}
	res.Trust = *trust
	if cfg.DryRun {
		s.Done("%s; would write to %s", msg, trustDir(cfg.Dir))
	} else {
		written, err := trust.Write(trustDir(cfg.Dir))
		if err != nil {
			return nil, s.Fail(err)
		}
		ch := unchanged
		if len(written) > 0 {
			ch = updated
		}
		res.Changes["trust "+trustDir(cfg.Dir)] = ch
		s.Done("%s; %s", msg, describeWritten(written))
	}

	// 6. Hosts lines.
	s = p.Start("hosts")
	hosts, err := hostsLines(ctx, cl, &cfg)
	if err != nil {
		return nil, s.Fail(err)
	}
	res.Hosts = hosts
	if cfg.HostsFile != "" {
		change, err := writeHostsBlock(cfg.HostsFile, cfg.Domain, hosts, cfg.DryRun)
		if err != nil {
			return nil, s.Fail(err)
		}
		res.Changes["hosts "+cfg.HostsFile] = change
		s.Done("%s: %s", cfg.HostsFile, change)
	} else {
		s.Done("add to /etc/hosts (or use --write-hosts):")
	}
	p.Println("%s", strings.Join(hosts, "\n"))

	// 7. The monitor.
	if !cfg.Monitor.Disabled {
		s = p.Start("monitor")
		change, err := applyMonitor(ctx, cl, &cfg, trust, res, s)
		if err != nil {
			return nil, s.Fail(err)
		}
		res.Changes["release "+monitorNamespace+"/"+monitorRelease] = change
		s.Done("%s/%s: %s", monitorNamespace, monitorRelease, change)
	}

	p.Println("")
	p.Println("CA certificate (add it to your trust store): %s", filepath.Join(cfg.Dir, "ca.crt"))
	td := trustDir(cfg.Dir)
	p.Println("cosign initialize --mirror %s --root %s", trust.MirrorURL, filepath.Join(td, fileTUFRoot))
	p.Println("cosign verify --trusted-root %s ...   (sigstore-go: the same file)", filepath.Join(td, fileTrustedRoot))
	return res, nil
}

// ensurePKI loads or creates the CA and makes each exposed component's TLS
// Secret hold a valid serving certificate from it.
func ensurePKI(ctx context.Context, cl *cluster, cfg *Config, res *upResult) (string, error) {
	now := time.Now()
	if err := checkCAFiles(cfg.Dir); err != nil {
		return "", err
	}
	ca, err := loadCA(cfg.Dir)
	caState := "reused"
	switch {
	case errors.Is(err, os.ErrNotExist):
		caState = "created"
		if cfg.DryRun {
			caState = "would create"
		}
		ca, err = newCA("Vigil bootstrap CA for "+cfg.Domain, now)
		if err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	}
	if !cfg.RotateCA {
		if err := checkIssuer(ctx, cl, cfg, ca); err != nil {
			return "", err
		}
	}
	if caState == "created" {
		if err := ca.Write(cfg.Dir); err != nil {
			return "", err
		}
	}
	res.CACertPEM = ca.CertPEM
	var parts []string
	for _, comp := range components(cfg.ExposeCTLog) {
		ns := comp.Namespace
		change, err := cl.EnsureNamespace(ctx, ns, cfg.DryRun)
		if err != nil {
			return "", err
		}
		res.Changes["namespace "+ns] = change
		if !comp.Exposed {
			continue
		}
		name := comp.TLSSecret()
		hosts := []string{comp.Host(cfg.Domain)}
		cur, err := cl.Client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("reading secret %s/%s: %w", ns, name, err)
		}
		var data map[string][]byte
		if err == nil && ca.CheckServing(cur.Data[corev1.TLSCertKey], hosts, now) == nil && len(cur.Data[corev1.TLSPrivateKeyKey]) > 0 {
			data = cur.Data // keep the valid certificate
		} else {
			sc, err := ca.Issue(hosts, now)
			if err != nil {
				return "", err
			}
			data = map[string][]byte{corev1.TLSCertKey: sc.CertPEM, corev1.TLSPrivateKeyKey: sc.KeyPEM, "ca.crt": ca.CertPEM}
		}
		change, err = cl.ApplySecret(ctx, ns, name, corev1.SecretTypeTLS, data, cfg.DryRun)
		if err != nil {
			return "", err
		}
		res.Changes["secret "+ns+"/"+name] = change
		parts = append(parts, name+" "+string(change))
	}
	for _, ns := range []string{scaffoldNamespace} {
		change, err := cl.EnsureNamespace(ctx, ns, cfg.DryRun)
		if err != nil {
			return "", err
		}
		res.Changes["namespace "+ns] = change
	}
	return fmt.Sprintf("CA %s (%s); %s", filepath.Join(cfg.Dir, "ca.crt"), caState, strings.Join(parts, ", ")), nil
}

// errPartialCA reports a CA directory with only one of ca.crt and ca.key.
var errPartialCA = errors.New("incomplete CA")

// errForeignCA reports TLS Secrets in the cluster issued by another CA
// than the local one.
var errForeignCA = errors.New("TLS secrets issued by a different CA")

// checkCAFiles fails when exactly one of ca.crt and ca.key exists in dir:
// generating a new CA then would orphan the half that is left.
func checkCAFiles(dir string) error {
	var have, missing []string
	for _, f := range []string{"ca.crt", "ca.key"} {
		_, err := os.Stat(filepath.Join(dir, f))
		switch {
		case err == nil:
			have = append(have, f)
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, f)
		default:
			return fmt.Errorf("reading CA: %w", err)
		}
	}
	if len(have) == 1 {
		return fmt.Errorf("%w: %s has %s but not %s: restore %s, or remove %s to create a new CA", errPartialCA, dir, have[0], missing[0], missing[0], have[0])
	}
	return nil
}

// checkIssuer fails when an existing TLS Secret of an exposed component
// holds a certificate that ca did not sign: the cluster was set up with
// another CA (another --dir, or a lost one), and re-issuing would break
// clients that trust it. Unparseable certificates are left to re-issuing.
func checkIssuer(ctx context.Context, cl *cluster, cfg *Config, ca *certAuthority) error {
	var foreign []string
	var issuer string
	for _, comp := range components(cfg.ExposeCTLog) {
		if !comp.Exposed {
			continue
		}
		crt, err := cl.SecretData(ctx, comp.Namespace, comp.TLSSecret(), corev1.TLSCertKey)
		if err != nil {
			return err
		}
		if crt == nil {
			continue
		}
		leaf, err := parseCertPEM(crt)
		if err != nil {
			continue
		}
		if leaf.CheckSignatureFrom(ca.Cert) != nil {
			foreign = append(foreign, comp.Namespace+"/"+comp.TLSSecret())
			issuer = leaf.Issuer.String()
		}
	}
	if len(foreign) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s issued by %q, not by the CA in %s (%q): use the --dir holding the CA this cluster was set up with, or re-run with --rotate-ca to re-issue them from this CA (clients must then trust its ca.crt)",
		errForeignCA, strings.Join(foreign, ", "), issuer, cfg.Dir, ca.Cert.Subject.String())
}

// collectTrust reads the TUF root and the public keys the scaffold's copy job
// gathers into tuf-system.
//
// Rekor's public key is the one of the bootstrap-owned signing key (see
// [rekorSignerSecret]), not the copy in tuf-system: that copy is what the
// TUF repository publishes, and a differing one is reported.
func collectTrust(ctx context.Context, cl *cluster, cfg *Config, ss *serviceSecrets, s *step) (*trustMaterial, string, error) {
	t := &trustMaterial{
		MirrorURL: "https://tuf." + cfg.Domain,
		RekorURL:  "https://rekor." + cfg.Domain,
		FulcioURL: "https://fulcio." + cfg.Domain,
	}
	if cfg.ExposeCTLog {
		t.CTLogURL = "https://ctlog." + cfg.Domain
	}
	wait := cfg.TUFTimeout
	if cfg.DryRun {
		wait = time.Second
	}
	s.Update("waiting for secret %s/%s (written by the TUF server once it runs)", tufNamespace, tufRootSecret)
	root, err := cl.WaitSecret(ctx, tufNamespace, tufRootSecret, tufRootKey, wait)
	if err != nil {
		return nil, "", err
	}
	if root == nil && !cfg.DryRun {
		return nil, "", fmt.Errorf("secret %s/%s did not appear within %v: is the TUF server (deployment tuf in %s) running?", tufNamespace, tufRootSecret, wait, tufNamespace)
	}
	t.TUFRoot = root
	// The scaffold's copy job puts each public key into tuf-system; read the
	// originals when it has not run yet.
	type src struct {
		dst            *[]byte
		ns, name, key  string
		altNS, altName string
	}
	for _, k := range []src{
		{&t.FulcioPEM, tufNamespace, "fulcio-server-secret", "cert", "fulcio-system", "fulcio-server-secret"},
		{&t.CTLogKeyPEM, tufNamespace, "ctlog-public-key", "public", "ctlog-system", "ctlog-public-key"},
		{&t.TSAChainPEM, tufNamespace, "tsa-cert-chain", "cert-chain", "", ""},
	} {
		b, err := cl.SecretData(ctx, k.ns, k.name, k.key)
		if err != nil {
			return nil, "", err
		}
		if b == nil && k.altNS != "" {
			if b, err = cl.SecretData(ctx, k.altNS, k.altName, k.key); err != nil {
				return nil, "", err
			}
		}
		*k.dst = b
	}
	t.RekorKeyPEM = ss.RekorPublicKeyPEM
	published, err := cl.SecretData(ctx, tufNamespace, "rekor-public-key", "key")
	if err != nil {
		return nil, "", err
	}
	var warn string
	if published != nil && !samePublicKeyPEM(published, t.RekorKeyPEM) {
		warn = fmt.Sprintf("; WARNING: %s/rekor-public-key (published by the TUF server) is not the key of %s/%s: delete it and re-run the scaffold's copy job (bootstrap down, then up)", tufNamespace, rekorSignerNamespace, rekorSignerSecret)
	}
	var have, missing []string
	for _, f := range []struct {
		name string
		b    []byte
	}{{"TUF root", t.TUFRoot}, {"Rekor key", t.RekorKeyPEM}, {"Fulcio CA", t.FulcioPEM}, {"CT log key", t.CTLogKeyPEM}, {"TSA chain", t.TSAChainPEM}} {
		if len(f.b) > 0 {
			have = append(have, f.name)
		} else {
			missing = append(missing, f.name)
		}
	}
	msg := "read " + strings.Join(have, ", ")
	if len(have) == 0 {
		msg = "nothing to read yet"
	}
	if len(missing) > 0 {
		msg += " (not yet: " + strings.Join(missing, ", ") + ")"
	}
	return t, msg + warn, nil
}

func describeServiceSecrets(res *upResult) string {
	var parts []string
	for _, k := range []string{rekorSignerNamespace + "/" + rekorSignerSecret, trillianNamespace + "/" + trillianMySQLSecret} {
		parts = append(parts, k[strings.Index(k, "/")+1:]+" "+string(res.Changes["secret "+k]))
	}
	return strings.Join(parts, ", ")
}

// samePublicKeyPEM reports whether a and b are the same PEM public key.
func samePublicKeyPEM(a, b []byte) bool {
	pa, _ := pem.Decode(a)
	pb, _ := pem.Decode(b)
	if pa == nil || pb == nil {
		return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
	}
	return bytes.Equal(pa.Bytes, pb.Bytes)
}

func describeWritten(written []string) string {
	if len(written) == 0 {
		return "files unchanged"
	}
	return "wrote " + strings.Join(written, ", ")
}

func countKinds(ws []workload) string {
	counts := map[string]int{}
	var kinds []string
	for _, w := range ws {
		if counts[w.Kind] == 0 {
			kinds = append(kinds, w.Kind)
		}
		counts[w.Kind]++
	}
	slices.Sort(kinds)
	var parts []string
	for _, k := range kinds {
		verb := "ready"
		if k == "Job" {
			verb = "complete"
		}
		parts = append(parts, fmt.Sprintf("%d %ss %s", counts[k], k, verb))
	}
	if len(parts) == 0 {
		return "no workloads"
	}
	return strings.Join(parts, ", ")
}

// ServiceAccountIssuer returns the cluster's service-account token issuer
// from its OIDC discovery document.
func (c *cluster) ServiceAccountIssuer(ctx context.Context) (string, error) {
	b, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/.well-known/openid-configuration").DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("reading the cluster's OIDC discovery document: %w", err)
	}
	var doc struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || doc.Issuer == "" {
		return "", fmt.Errorf("reading the cluster's OIDC discovery document: no issuer in %q", truncate(string(b), 200))
	}
	return doc.Issuer, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// applyMonitor installs the monitor chart (embedded in the binary) watching
// the in-cluster Rekor with the key read from the cluster, the TUF
// repository from its root and the expiry of the bootstrap CA.
func applyMonitor(ctx context.Context, cl *cluster, cfg *Config, trust *trustMaterial, res *upResult, s *step) (outcome, error) {
	if len(trust.RekorKeyPEM) == 0 {
		return "", fmt.Errorf("rekor's public key is missing (secret %s/%s)", rekorSignerNamespace, rekorSignerSecret)
	}
	ch, err := loadChartFS(monitorchart.Files)
	if err != nil {
		return "", err
	}
	vals, err := monitorValues(cfg.Monitor, ch.Metadata.AppVersion, monitorFiles{
		RekorKeyPEM: trust.RekorKeyPEM,
		TUFRoot:     trust.TUFRoot,
		CACertPEM:   res.CACertPEM,
		CTLogKeyPEM: trust.CTLogKeyPEM,
		FulcioCAPEM: trust.FulcioPEM,
	})
	if err != nil {
		return "", err
	}
	change, err := cl.EnsureNamespace(ctx, monitorNamespace, cfg.DryRun)
	if err != nil {
		return "", err
	}
	res.Changes["namespace "+monitorNamespace] = change
	change, err = cl.ApplyRelease(ctx, helmRelease{Name: monitorRelease, Namespace: monitorNamespace, Chart: ch, Values: vals, Progress: s.p.Println}, cfg.DryRun)
	if err != nil {
		return "", err
	}
	if cfg.DryRun {
		return change, nil
	}
	err = cl.WaitReady(ctx, []string{monitorNamespace}, cfg.Timeout, func(nr []workload) {
		if len(nr) > 0 {
			s.Update("%s: %s", change, nr[0])
		}
	})
	return change, err
}

// The monitor's view of the in-cluster Sigstore: the chart mounts its
// publicKeys value (see [monitorFiles]) at monitorKeyDir.
const (
	monitorRekorURL = "http://rekor-server.rekor-system.svc"
	// monitorCTLogURL is the scaffold's CT log (service ctlog in
	// ctlog-system, log prefix sigstorescaffolding): the URL its Fulcio
	// writes to (the chart's fulcio.ctlog.url).
	monitorCTLogURL = "http://ctlog.ctlog-system.svc/sigstorescaffolding"
	// monitorTUFMirror is the scaffold's TUF server (service tuf-server,
	// port 80, in tuf-system) as a pod in the cluster reaches it; the
	// ingress (trustMaterial.MirrorURL) may not resolve in the cluster.
	// It is plain http, which the monitor warns about at start: the TUF
	// metadata's signatures still protect it, short of freeze attacks.
	monitorTUFMirror = "http://tuf-server." + tufNamespace + ".svc"
	monitorKeyDir    = "/etc/vigil/keys"
	monitorRekorKey  = "rekor.pub"
	monitorCTLogKey  = "ctlog.pub"
	monitorFulcioCA  = "fulcio-ca.crt"
	monitorTUFRoot   = "root.json"
	monitorCACert    = "ca.crt"
)

// monitorFiles are the files of the monitor's keys ConfigMap (the chart's
// publicKeys value), mounted at monitorKeyDir. Empty ones are left out, and
// so is what the configuration would read from them.
type monitorFiles struct {
	RekorKeyPEM []byte // rekor.pub: Rekor's public key
	TUFRoot     []byte // root.json: the initial root of the TUF repository
	CACertPEM   []byte // ca.crt: the bootstrap CA's certificate
	CTLogKeyPEM []byte // ctlog.pub: the CT log's public key (secret ctlog-public-key)
	FulcioCAPEM []byte // fulcio-ca.crt: Fulcio's CA certificate, the issuer of what the CT log holds
}

// publicKeys is f as the chart's publicKeys value.
func (f monitorFiles) publicKeys() map[string]any {
	v := map[string]any{}
	for name, b := range map[string][]byte{monitorRekorKey: f.RekorKeyPEM, monitorTUFRoot: f.TUFRoot, monitorCACert: f.CACertPEM,
		monitorCTLogKey: f.CTLogKeyPEM, monitorFulcioCA: f.FulcioCAPEM} {
		if len(b) > 0 {
			v[name] = string(b)
		}
	}
	return v
}

// monitorConfig is the configuration of the monitor the bootstrap installs:
// the in-cluster Rekor v1 (service rekor-server in rekor-system) with the
// public key the chart mounts; the scaffold's CT log, which Fulcio writes
// to, with its key (when f has it), held against Rekor with Fulcio's CA
// (when f has it too); the identity rules to watch, and the trust watch:
// the scaffold's TUF repository (when f has its root) and the expiry of
// the bootstrap CA (when f has its certificate). state_dir and listen are
// the chart's to set; everything else left zero gets the chart's values,
// then the monitor's defaults.
func monitorConfig(m MonitorConfig, f monitorFiles) *config.Config {
	c := &config.Config{
		Logs: []config.Log{{
			Name:          "rekor",
			Kind:          config.KindRekorV1,
			URL:           monitorRekorURL,
			PublicKeyFile: path.Join(monitorKeyDir, monitorRekorKey),
		}},
		Identities: identity.Config{Watch: m.Watch},
	}
	if len(f.CTLogKeyPEM) > 0 {
		c.Logs = append(c.Logs, config.Log{
			Name:          "ctlog",
			Kind:          config.KindCT,
			URL:           monitorCTLogURL,
			PublicKeyFile: path.Join(monitorKeyDir, monitorCTLogKey),
		})
		if len(f.FulcioCAPEM) > 0 {
			c.Reconcile.Pairs = []config.Pair{{Rekor: "rekor", CT: "ctlog", CAFiles: []string{path.Join(monitorKeyDir, monitorFulcioCA)}}}
		}
	}
	if len(f.TUFRoot) > 0 {
		c.Trust.TUF = config.TUF{Mirror: monitorTUFMirror, RootFile: path.Join(monitorKeyDir, monitorTUFRoot)}
	}
	if len(f.CACertPEM) > 0 {
		c.Trust.Watch.CAFiles = []string{path.Join(monitorKeyDir, monitorCACert)}
	}
	return c
}

// chartConfig is c as the monitor chart's config value: the YAML
// configuration file as [config.Config.Encode] writes it, as a map.
func chartConfig(c *config.Config) (map[string]any, error) {
	if c.StateDir != "" || c.Listen != "" {
		return nil, errors.New("monitor config: state_dir and listen are set by the chart")
	}
	if err := c.Identities.Validate(); err != nil {
		return nil, fmt.Errorf("monitor config: %w", err)
	}
	b, err := c.Encode()
	if err != nil {
		return nil, fmt.Errorf("monitor config: %w", err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("monitor config: %w", err)
	}
	return v, nil
}

// monitorValues are the monitor chart's values: the image, the monitor's
// configuration ([monitorConfig]) and the files it reads (Rekor's public
// key, the TUF root, the CA certificate), with extra values merged over
// them.
func monitorValues(m MonitorConfig, appVersion string, f monitorFiles) (map[string]any, error) {
	cfg, err := chartConfig(monitorConfig(m, f))
	if err != nil {
		return nil, err
	}
	repo, tag, digest := splitImage(m.Image, appVersion)
	v := map[string]any{
		"image":      map[string]any{"repository": repo, "tag": tag, "digest": digest},
		"config":     cfg,
		"publicKeys": f.publicKeys(),
	}
	return mergeValues(v, m.Values), nil
}

func splitImage(image, appVersion string) (repo, tag, digest string) {
	if image == "" {
		return "vigil-monitor", appVersion, ""
	}
	if r, d, ok := strings.Cut(image, "@"); ok {
		return r, "", d
	}
	// A ':' after the last '/' separates the tag (a registry port may
	// come before it).
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i], image[i+1:], ""
	}
	return image, appVersion, ""
}

// mergeValues merges over into base: maps recursively, anything else
// replaced.
func mergeValues(base, over map[string]any) map[string]any {
	for k, v := range over {
		if om, ok := v.(map[string]any); ok {
			if bm, ok := base[k].(map[string]any); ok {
				base[k] = mergeValues(bm, om)
				continue
			}
		}
		base[k] = v
	}
	return base
}
