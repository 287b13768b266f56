package deploy

// The steps behind `bootstrap sign`, `verify` and `trust`: a client of the
// private Sigstore signs a test image, verifies an image, or fetches trust
// material. They change nothing in the cluster.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// SignOptions configure [Sign]. The zero values of the optional fields mean
// the defaults noted.
type SignOptions struct {
	Kubeconfig string // for the service account; default as for [Up]
	Context    string
	Domain     string // default sigstore.local
	Dir        string // the bootstrap's directory; default as for [Up]

	// Registry is HOST[:PORT] of the registry to push the test image to
	// (required), Repository the path in it (default vigil/bootstrap-test).
	Registry   string
	Repository string
	AllowHTTP  bool   // allow a registry without TLS
	FulcioURL  string // default https://fulcio.<domain>
	RekorURL   string // default https://rekor.<domain>
	// CAFile is a PEM bundle trusted for Fulcio, Rekor and the registry
	// besides the system roots; default the bootstrap's ca.crt in Dir when
	// it exists.
	CAFile string

	// The OIDC ID token to sign with: read from IdentityTokenFile, or
	// requested for the Kubernetes service account
	// ServiceAccountNamespace/ServiceAccountName with Audience (default
	// sigstore). Exactly one of IdentityTokenFile and the service account.
	IdentityTokenFile       string
	ServiceAccountNamespace string
	ServiceAccountName      string
	Audience                string

	// Note is the text in the test image (default "vigil bootstrap test
	// image"); a different note makes a different image.
	Note   string
	Force  bool // sign even when the image has a signature by this identity
	DryRun bool // build the image and say what would be pushed and signed

	Out io.Writer // progress; default os.Stdout
	TTY bool      // spinner
}

func (o *SignOptions) defaults() {
	if o.Domain == "" {
		o.Domain = defaultDomain
	}
	if o.Repository == "" {
		o.Repository = "vigil/bootstrap-test"
	}
	if o.FulcioURL == "" {
		o.FulcioURL = "https://fulcio." + o.Domain
	}
	if o.RekorURL == "" {
		o.RekorURL = "https://rekor." + o.Domain
	}
	if o.CAFile == "" {
		o.CAFile = defaultCAFile(o.Dir, o.Domain)
	}
	if o.Audience == "" {
		o.Audience = "sigstore"
	}
	if o.Note == "" {
		o.Note = "vigil bootstrap test image"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
}

// Sign builds a test image, pushes it and signs it keyless with Fulcio and
// Rekor, in three steps: the identity token, the test image, the signature.
// A re-run with the same identity changes nothing unless o.Force is set.
func Sign(ctx context.Context, o SignOptions) error {
	o.defaults()
	if o.Registry == "" {
		return errors.New("sign: no registry")
	}
	if (o.IdentityTokenFile == "") == (o.ServiceAccountNamespace == "" && o.ServiceAccountName == "") {
		return errors.New("sign: need exactly one of an identity token file and a service account")
	}
	rt, err := transportWithCA(o.CAFile)
	if err != nil {
		return err
	}
	p := newProgress(o.Out, o.TTY, 3)
	s := p.Start("identity token")
	var token string
	if o.IdentityTokenFile != "" {
		b, err := os.ReadFile(o.IdentityTokenFile)
		if err != nil {
			return s.Fail(fmt.Errorf("reading identity token: %w", err))
		}
		token = strings.TrimSpace(string(b))
		s.Done("from %s", o.IdentityTokenFile)
	} else {
		cl, err := connect(o.Kubeconfig, o.Context)
		if err != nil {
			return s.Fail(err)
		}
		if token, err = cl.ServiceAccountToken(ctx, o.ServiceAccountNamespace, o.ServiceAccountName, o.Audience); err != nil {
			return s.Fail(err)
		}
		s.Done("service account %s/%s (audience %s)", o.ServiceAccountNamespace, o.ServiceAccountName, o.Audience)
	}
	s = p.Start("test image")
	img, err := testImage(o.Note)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("built")
	s = p.Start("sign")
	res, err := signImage(ctx, signConfig{
		Repository: strings.TrimSuffix(o.Registry, "/") + "/" + strings.Trim(o.Repository, "/"),
		AllowHTTP:  o.AllowHTTP, FulcioURL: o.FulcioURL, RekorURL: o.RekorURL,
		IDToken: token, Transport: rt, Force: o.Force, DryRun: o.DryRun,
	}, img)
	if err != nil {
		return s.Fail(err)
	}
	switch res.Change {
	case wouldCreate:
		s.Done("would push %s and sign it as %s (issuer %s) with Fulcio %s and Rekor %s", res.Image, res.Identity, res.Issuer, o.FulcioURL, o.RekorURL)
		return nil
	case unchanged:
		s.Done("%s already signed as %s (issuer %s), Rekor entry %d: unchanged (--force signs again)", res.Image, res.Identity, res.Issuer, res.LogIndex)
	default:
		s.Done("%s signed as %s (issuer %s), Rekor entry %d", res.Image, res.Identity, res.Issuer, res.LogIndex)
	}
	p.Println("signature attached as %s", res.Referrer)
	p.Println("verify: bootstrap verify --image %s --certificate-identity %s --certificate-oidc-issuer %s", res.Image, res.Identity, res.Issuer)
	return nil
}

// VerifyOptions configure [Verify].
type VerifyOptions struct {
	Domain string // default sigstore.local
	Dir    string // the bootstrap's directory; default as for [Up]

	Image string // by tag or digest (required)
	// TrustedRoot is a trusted_root.json; default the one [Up] wrote in Dir.
	TrustedRoot string
	// Identity is the expected certificate identity (exact),
	// IdentityRegexp a regular expression for it; one is required.
	Identity, IdentityRegexp string
	Issuer                   string // expected OIDC issuer (required)
	AllowHTTP                bool   // allow a registry without TLS
	RequireSCT               bool   // require a certificate transparency proof
	// CAFile is a PEM bundle trusted for the registry besides the system
	// roots; default the bootstrap's ca.crt in Dir when it exists.
	CAFile string
	// MonitorURL is the API of the Vigil monitor watching the logs; when
	// set, the verified bundle's checkpoint must also be one history with
	// what the monitor verified (monitor audit-bundle), else the
	// verification fails ([ErrSplitView] for a split view).
	MonitorURL string
	// MonitorTokenFile holds the monitor's API token (api.token_file).
	MonitorTokenFile string

	Out io.Writer // progress; default os.Stdout
	TTY bool      // spinner
}

// Verify verifies the image's signature against the trusted root and the
// identity policy, and prints what it checked.
func Verify(ctx context.Context, o VerifyOptions) error {
	if o.Domain == "" {
		o.Domain = defaultDomain
	}
	if o.TrustedRoot == "" {
		dir := o.Dir
		if dir == "" {
			dir = defaultDir(o.Domain)
		}
		o.TrustedRoot = filepath.Join(trustDir(dir), fileTrustedRoot)
	}
	if o.CAFile == "" {
		o.CAFile = defaultCAFile(o.Dir, o.Domain)
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	rt, err := transportWithCA(o.CAFile)
	if err != nil {
		return err
	}
	p := newProgress(o.Out, o.TTY, 0)
	s := p.Start("verify")
	v, err := verifyImage(ctx, verifyConfig{
		Image: o.Image, AllowHTTP: o.AllowHTTP, TrustedRoot: o.TrustedRoot,
		Identity: o.Identity, IdentityRegexp: o.IdentityRegexp, Issuer: o.Issuer,
		RequireSCT: o.RequireSCT, Transport: rt,
	})
	if err != nil {
		return s.Fail(err)
	}
	s.Done("%s verified against %s", v.Image, o.TrustedRoot)
	for _, c := range v.Checks() {
		p.Println("ok  %s", c)
	}
	if o.MonitorURL == "" {
		return nil
	}
	token, err := readToken(o.MonitorTokenFile)
	if err != nil {
		return err
	}
	s = p.Start("split-view check")
	rep, err := auditWithMonitor(ctx, rt, o.MonitorURL, token, v.Referrer.String(), v.Bundle)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("the monitor at %s verified the same history", o.MonitorURL)
	for _, e := range rep.Entries {
		against := "the monitor's checkpoint"
		if r := e.ProvenAgainst; r != nil {
			against = fmt.Sprintf("the monitor's %s checkpoint of size %d", r.Source, r.TreeSize)
		}
		p.Println("ok  split view: the bundle's checkpoint (log %s, tree size %d) is consistent with %s", e.Log, e.TreeSize, against)
	}
	return nil
}

// TrustOptions configure [WriteTrust].
type TrustOptions struct {
	FulcioURL string // required
	RekorURL  string // Rekor v1; required
	// CAFile is a PEM bundle trusted for Fulcio and Rekor besides the
	// system roots.
	CAFile string
	// Dir receives trusted_root.json, rekor.pub and fulcio.crt.pem
	// (default the working directory).
	Dir string

	Out io.Writer // progress; default os.Stdout
}

// WriteTrust fetches the trust material of a running Fulcio and Rekor
// ([fetchTrust]) and writes it into o.Dir ([trustMaterial.Write]).
func WriteTrust(ctx context.Context, o TrustOptions) error {
	if o.Dir == "" {
		o.Dir = "."
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	rt, err := transportWithCA(o.CAFile)
	if err != nil {
		return err
	}
	p := newProgress(o.Out, false, 0)
	s := p.Start("trust material")
	t, err := fetchTrust(ctx, &http.Client{Transport: rt, Timeout: 30 * time.Second}, o.FulcioURL, o.RekorURL)
	if err != nil {
		return s.Fail(err)
	}
	written, err := t.Write(o.Dir)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("from %s and %s: wrote %d files", o.FulcioURL, o.RekorURL, len(written))
	p.Println("%s", filepath.Join(o.Dir, fileTrustedRoot))
	return nil
}

// transportWithCA trusts the system roots plus the PEM bundle in caFile
// (the bootstrap's CA by default), for Fulcio, Rekor and the registry.
func transportWithCA(caFile string) (http.RoundTripper, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA bundle: %w", err)
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("reading CA bundle %s: no certificates", caFile)
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return t, nil
}

// defaultCAFile is the bootstrap's CA for domain when it exists.
func defaultCAFile(dir, domain string) string {
	if dir == "" {
		dir = defaultDir(domain)
	}
	p := filepath.Join(dir, "ca.crt")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}
