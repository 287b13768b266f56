package main

import (
	"context"
	"flag"
	"os"
	"strings"

	"github.com/vigil-tlog/vigil/internal/deploy"
)

func cmdSign(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap sign", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	var o deploy.SignOptions
	fs.StringVar(&o.Registry, "registry", "", "registry HOST[:PORT] to push the test image to (required)")
	fs.StringVar(&o.Repository, "repository", "vigil/bootstrap-test", "repository path in the registry")
	fs.BoolVar(&o.AllowHTTP, "allow-http-registry", false, "allow a registry without TLS")
	fs.StringVar(&o.FulcioURL, "fulcio-url", "", "Fulcio base URL (default https://fulcio.DOMAIN)")
	fs.StringVar(&o.RekorURL, "rekor-url", "", "Rekor base URL (default https://rekor.DOMAIN)")
	fs.StringVar(&o.CAFile, "ca-file", "", "CA bundle for Fulcio, Rekor and the registry (default: the bootstrap's CA in --dir)")
	fs.StringVar(&o.IdentityTokenFile, "identity-token", "", "file holding the OIDC ID token to sign with")
	sa := fs.String("service-account", "", "NAMESPACE/NAME of a Kubernetes service account whose token to sign with (instead of --identity-token)")
	fs.StringVar(&o.Audience, "audience", "sigstore", "audience of the service-account token")
	fs.StringVar(&o.Note, "note", "vigil bootstrap test image", "text in the test image; a different note makes a different image")
	fs.BoolVar(&o.Force, "force", false, "sign even when the image already has a signature by this identity")
	fs.BoolVar(&o.DryRun, "dry-run", false, "build the image and say what would be pushed and signed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Registry == "" {
		return usagef("sign: --registry is required")
	}
	if (o.IdentityTokenFile == "") == (*sa == "") {
		return usagef("sign: give exactly one of --identity-token and --service-account")
	}
	if *sa != "" {
		ns, name, ok := strings.Cut(*sa, "/")
		if !ok {
			return usagef("sign: --service-account wants NAMESPACE/NAME, got %q", *sa)
		}
		o.ServiceAccountNamespace, o.ServiceAccountName = ns, name
	}
	o.Kubeconfig, o.Context, o.Domain, o.Dir = cfg.Kubeconfig, cfg.Context, cfg.Domain, cfg.Dir
	o.Out, o.TTY = os.Stdout, isTerminal(os.Stdout)
	return deploy.Sign(ctx, o)
}

func cmdVerify(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap verify", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	var o deploy.VerifyOptions
	fs.StringVar(&o.Image, "image", "", "image reference to verify (required)")
	fs.StringVar(&o.TrustedRoot, "trusted-root", "", "trusted_root.json (default: the one bootstrap up wrote in --dir)")
	fs.StringVar(&o.Identity, "certificate-identity", "", "expected signer identity (certificate SAN), exact")
	fs.StringVar(&o.IdentityRegexp, "certificate-identity-regexp", "", "expected signer identity as a regular expression")
	fs.StringVar(&o.Issuer, "certificate-oidc-issuer", "", "expected OIDC issuer of the signer's token (required)")
	fs.BoolVar(&o.AllowHTTP, "allow-http-registry", false, "allow a registry without TLS")
	fs.BoolVar(&o.RequireSCT, "require-sct", false, "require a certificate transparency proof in the certificate")
	fs.StringVar(&o.CAFile, "ca-file", "", "CA bundle for the registry (default: the bootstrap's CA in --dir)")
	fs.StringVar(&o.MonitorURL, "monitor", "", "API `URL` of the Vigil monitor: also check the bundle's checkpoint against what it verified (split views; e.g. after kubectl -n vigil-system port-forward svc/vigil-monitor 9464)")
	fs.StringVar(&o.MonitorTokenFile, "monitor-token-file", "", "`file` holding the monitor's API token (its api.token_file)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.MonitorTokenFile != "" && o.MonitorURL == "" {
		return usagef("verify: --monitor-token-file goes with --monitor")
	}
	if o.Image == "" || o.Issuer == "" || (o.Identity == "" && o.IdentityRegexp == "") {
		return usagef("verify: --image, --certificate-oidc-issuer and --certificate-identity(-regexp) are required")
	}
	o.Domain, o.Dir = cfg.Domain, cfg.Dir
	o.Out, o.TTY = os.Stdout, isTerminal(os.Stdout)
	return deploy.Verify(ctx, o)
}

func cmdTrust(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap trust", flag.ContinueOnError)
	var o deploy.TrustOptions
	fs.StringVar(&o.FulcioURL, "fulcio-url", "", "Fulcio base URL (required)")
	fs.StringVar(&o.RekorURL, "rekor-url", "", "Rekor v1 base URL (required)")
	fs.StringVar(&o.CAFile, "ca-file", "", "CA bundle for Fulcio's and Rekor's TLS certificates")
	fs.StringVar(&o.Dir, "out", ".", "directory to write trusted_root.json, rekor.pub and fulcio.crt.pem to")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.FulcioURL == "" || o.RekorURL == "" {
		return usagef("trust: --fulcio-url and --rekor-url are required")
	}
	o.Out = os.Stdout
	return deploy.WriteTrust(ctx, o)
}
