package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/deploy"
)

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
		dir = deploy.DefaultDir(domain)
	}
	p := filepath.Join(dir, "ca.crt")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

func cmdSign(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap sign", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	registry := fs.String("registry", "", "registry HOST[:PORT] to push the test image to (required)")
	repo := fs.String("repository", "vigil/bootstrap-test", "repository path in the registry")
	allowHTTP := fs.Bool("allow-http-registry", false, "allow a registry without TLS")
	fulcioURL := fs.String("fulcio-url", "", "Fulcio base URL (default https://fulcio.DOMAIN)")
	rekorURL := fs.String("rekor-url", "", "Rekor base URL (default https://rekor.DOMAIN)")
	caFile := fs.String("ca-file", "", "CA bundle for Fulcio, Rekor and the registry (default: the bootstrap's CA in --dir)")
	tokenFile := fs.String("identity-token", "", "file holding the OIDC ID token to sign with")
	sa := fs.String("service-account", "", "NAMESPACE/NAME of a Kubernetes service account whose token to sign with (instead of --identity-token)")
	audience := fs.String("audience", "sigstore", "audience of the service-account token")
	note := fs.String("note", "vigil bootstrap test image", "text in the test image; a different note makes a different image")
	force := fs.Bool("force", false, "sign even when the image already has a signature by this identity")
	dryRun := fs.Bool("dry-run", false, "build the image and say what would be pushed and signed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *registry == "" {
		return usagef("sign: --registry is required")
	}
	if (*tokenFile == "") == (*sa == "") {
		return usagef("sign: give exactly one of --identity-token and --service-account")
	}
	if cfg.Domain == "" {
		cfg.Domain = "sigstore.local"
	}
	if *fulcioURL == "" {
		*fulcioURL = "https://fulcio." + cfg.Domain
	}
	if *rekorURL == "" {
		*rekorURL = "https://rekor." + cfg.Domain
	}
	if *caFile == "" {
		*caFile = defaultCAFile(cfg.Dir, cfg.Domain)
	}
	rt, err := transportWithCA(*caFile)
	if err != nil {
		return err
	}
	p := deploy.NewProgress(os.Stdout, isTerminal(os.Stdout), 3)
	s := p.Start("identity token")
	var token string
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return s.Fail(fmt.Errorf("reading identity token: %w", err))
		}
		token = strings.TrimSpace(string(b))
		s.Done("from %s", *tokenFile)
	} else {
		ns, name, ok := strings.Cut(*sa, "/")
		if !ok {
			return s.Fail(usagef("sign: --service-account wants NAMESPACE/NAME, got %q", *sa))
		}
		cl, err := deploy.Connect(cfg.Kubeconfig, cfg.Context)
		if err != nil {
			return s.Fail(err)
		}
		if token, err = cl.ServiceAccountToken(ctx, ns, name, *audience); err != nil {
			return s.Fail(err)
		}
		s.Done("service account %s (audience %s)", *sa, *audience)
	}
	s = p.Start("test image")
	img, err := deploy.TestImage(*note)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("built")
	s = p.Start("sign")
	res, err := deploy.SignImage(ctx, deploy.SignConfig{
		Repository: strings.TrimSuffix(*registry, "/") + "/" + strings.Trim(*repo, "/"),
		AllowHTTP:  *allowHTTP, FulcioURL: *fulcioURL, RekorURL: *rekorURL,
		IDToken: token, Transport: rt, Force: *force, DryRun: *dryRun,
	}, img)
	if err != nil {
		return s.Fail(err)
	}
	switch res.Change {
	case deploy.WouldCreate:
		s.Done("would push %s and sign it as %s (issuer %s) with Fulcio %s and Rekor %s", res.Image, res.Identity, res.Issuer, *fulcioURL, *rekorURL)
		return nil
	case deploy.Unchanged:
		s.Done("%s already signed as %s (issuer %s), Rekor entry %d: unchanged (--force signs again)", res.Image, res.Identity, res.Issuer, res.LogIndex)
	default:
		s.Done("%s signed as %s (issuer %s), Rekor entry %d", res.Image, res.Identity, res.Issuer, res.LogIndex)
	}
	p.Println("signature attached as %s", res.Referrer)
	p.Println("verify: bootstrap verify --image %s --certificate-identity %s --certificate-oidc-issuer %s", res.Image, res.Identity, res.Issuer)
	return nil
}

func cmdVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap verify", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	var vc deploy.VerifyConfig
	fs.StringVar(&vc.Image, "image", "", "image reference to verify (required)")
	fs.StringVar(&vc.TrustedRoot, "trusted-root", "", "trusted_root.json (default: the one bootstrap up wrote in --dir)")
	fs.StringVar(&vc.Identity, "certificate-identity", "", "expected signer identity (certificate SAN), exact")
	fs.StringVar(&vc.IdentityRegexp, "certificate-identity-regexp", "", "expected signer identity as a regular expression")
	fs.StringVar(&vc.Issuer, "certificate-oidc-issuer", "", "expected OIDC issuer of the signer's token (required)")
	fs.BoolVar(&vc.AllowHTTP, "allow-http-registry", false, "allow a registry without TLS")
	fs.BoolVar(&vc.RequireSCT, "require-sct", false, "require a certificate transparency proof in the certificate")
	caFile := fs.String("ca-file", "", "CA bundle for the registry (default: the bootstrap's CA in --dir)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if vc.Image == "" || vc.Issuer == "" || (vc.Identity == "" && vc.IdentityRegexp == "") {
		return usagef("verify: --image, --certificate-oidc-issuer and --certificate-identity(-regexp) are required")
	}
	if cfg.Domain == "" {
		cfg.Domain = "sigstore.local"
	}
	if vc.TrustedRoot == "" {
		dir := cfg.Dir
		if dir == "" {
			dir = deploy.DefaultDir(cfg.Domain)
		}
		vc.TrustedRoot = filepath.Join(deploy.TrustDir(dir), deploy.FileTrustedRoot)
	}
	if *caFile == "" {
		*caFile = defaultCAFile(cfg.Dir, cfg.Domain)
	}
	rt, err := transportWithCA(*caFile)
	if err != nil {
		return err
	}
	vc.Transport = rt
	p := deploy.NewProgress(os.Stdout, isTerminal(os.Stdout), 0)
	s := p.Start("verify")
	v, err := deploy.VerifyImage(ctx, vc)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("%s verified against %s", v.Image, vc.TrustedRoot)
	for _, c := range v.Checks() {
		p.Println("ok  %s", c)
	}
	return nil
}

func cmdTrust(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap trust", flag.ContinueOnError)
	fulcioURL := fs.String("fulcio-url", "", "Fulcio base URL (required)")
	rekorURL := fs.String("rekor-url", "", "Rekor v1 base URL (required)")
	caFile := fs.String("ca-file", "", "CA bundle for Fulcio's and Rekor's TLS certificates")
	out := fs.String("out", ".", "directory to write trusted_root.json, rekor.pub and fulcio.crt.pem to")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *fulcioURL == "" || *rekorURL == "" {
		return usagef("trust: --fulcio-url and --rekor-url are required")
	}
	rt, err := transportWithCA(*caFile)
	if err != nil {
		return err
	}
	p := deploy.NewProgress(os.Stdout, false, 0)
	s := p.Start("trust material")
	t, err := deploy.FetchTrust(ctx, &http.Client{Transport: rt, Timeout: 30 * time.Second}, *fulcioURL, *rekorURL)
	if err != nil {
		return s.Fail(err)
	}
	written, err := t.Write(*out)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("from %s and %s: wrote %d files", *fulcioURL, *rekorURL, len(written))
	p.Println("%s", filepath.Join(*out, deploy.FileTrustedRoot))
	return nil
}
