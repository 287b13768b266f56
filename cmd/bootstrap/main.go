// Command bootstrap installs a private Sigstore (the Sigstore scaffold Helm
// chart) on Kubernetes with the Vigil monitor next to it, signs and verifies a
// test image against it, and reports or removes what it installed.
//
// Usage:
//
//	bootstrap up      [--kubeconfig F] [--context C] [--domain D] [--chart PATH] [--rotate-ca] [--dry-run] ...
//	bootstrap status  [--kubeconfig F] [--context C] [--domain D]
//	bootstrap down    [--kubeconfig F] [--context C] [--purge] [--dry-run]
//	bootstrap sign    --registry HOST:PORT [--identity-token FILE] ...
//	bootstrap verify  --image REF --trusted-root FILE --certificate-identity ... --certificate-oidc-issuer ...
//	bootstrap trust   --fulcio-url URL --rekor-url URL --out DIR
//
// Run `bootstrap <command> -h` for each command's flags. Exit codes: 0 done
// (status: healthy), 1 failed (status: unhealthy), 2 usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/deploy"
)

func main() { os.Exit(run(os.Args[1:])) }

const usage = `usage: bootstrap <command> [flags]

commands:
  up      install or upgrade private Sigstore and the Vigil monitor
  status  report what is installed and whether it is healthy
  down    uninstall (keep secrets and state unless --purge)
  sign    build, push and keyless-sign a test image
  verify  verify an image's signature against the private trust root
  trust   write a trusted_root.json from a running Fulcio and Rekor
`

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "up":
		err = cmdUp(ctx, args[1:])
	case "status":
		err = cmdStatus(ctx, args[1:])
	case "down":
		err = cmdDown(ctx, args[1:])
	case "sign":
		err = cmdSign(ctx, args[1:])
	case "verify":
		err = cmdVerify(ctx, args[1:])
	case "trust":
		err = cmdTrust(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "bootstrap: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, new(*usageError)):
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		return 2
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		fmt.Fprintln(os.Stderr, "bootstrap: interrupted")
		return 1
	default:
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		return 1
	}
}

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// clusterFlags are the flags every cluster command shares.
func clusterFlags(fs *flag.FlagSet, cfg *deploy.Config) {
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fs.StringVar(&cfg.Context, "context", "", "kubeconfig context (default: the current one)")
	fs.StringVar(&cfg.Domain, "domain", "sigstore.local", "DNS suffix of the ingress hosts (rekor.DOMAIN, fulcio.DOMAIN, tuf.DOMAIN)")
	fs.StringVar(&cfg.Dir, "dir", "", "directory for the CA and trust material (default: ~/.config/vigil/bootstrap/DOMAIN)")
	fs.BoolVar(&cfg.ExposeCTLog, "expose-ctlog", false, "also expose the CT log at ctlog.DOMAIN")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "how long to wait for rollouts")
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func cmdUp(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap up", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	chartPath := fs.String("chart", "", "scaffold chart: a local directory or .tgz (offline installs); default: the Sigstore Helm repository, version "+deploy.ScaffoldVersion)
	chartVersion := fs.String("chart-version", deploy.ScaffoldVersion, "scaffold chart version to fetch from the repository")
	fs.StringVar(&cfg.IngressClass, "ingress-class", "nginx", "ingress class of the Sigstore ingresses")
	var issuers, watch repeated
	fs.Var(&issuers, "oidc-issuer", "OIDC issuer Fulcio trusts: URL[,client_id=ID][,type=email|kubernetes|...] (repeatable; default: the cluster's service-account issuer)")
	fs.StringVar(&cfg.IngressIP, "ingress-ip", "127.0.0.1", "address for the hosts lines when the ingresses report none")
	fs.StringVar(&cfg.HostsFile, "write-hosts", "", "write the hosts lines into this file (e.g. /etc/hosts) instead of printing them")
	fs.DurationVar(&cfg.TUFTimeout, "tuf-timeout", 2*time.Minute, "how long to wait for the TUF root secret")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "say what would change without changing anything")
	fs.BoolVar(&cfg.RotateCA, "rotate-ca", false, "re-issue TLS secrets that a different CA issued from the CA in --dir (without it, up refuses; clients must then trust the new ca.crt)")
	fs.BoolVar(&cfg.Monitor.Disabled, "no-monitor", false, "do not install the Vigil monitor")
	fs.StringVar(&cfg.Monitor.Image, "monitor-image", "", "monitor image, REPO[:TAG] or REPO@sha256:... (default: vigil-monitor:<version>)")
	fs.Var(&watch, "watch", "identity to watch in the log: subject=REGEXP,issuer=URL[,name=NAME] (repeatable)")
	monitorValues := fs.String("monitor-values", "", "YAML file of extra values for the monitor chart")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("up: unexpected arguments %q", fs.Args())
	}
	if *chartPath != "" {
		cfg.Chart = deploy.ChartSource{Path: *chartPath}
	} else {
		cfg.Chart = deploy.ChartSource{RepoURL: deploy.ScaffoldRepoURL, Name: deploy.ScaffoldChart, Version: *chartVersion}
	}
	for _, s := range issuers {
		iss, err := deploy.ParseOIDCIssuer(s)
		if err != nil {
			return usagef("--oidc-issuer: %v", err)
		}
		cfg.OIDCIssuers = append(cfg.OIDCIssuers, iss)
	}
	rules, err := parseWatches(watch)
	if err != nil {
		return err
	}
	cfg.Monitor.Watch = rules
	if *monitorValues != "" {
		b, err := os.ReadFile(*monitorValues)
		if err != nil {
			return usagef("--monitor-values: %v", err)
		}
		if err := yaml.Unmarshal(b, &cfg.Monitor.Values); err != nil {
			return usagef("--monitor-values: parsing %s: %v", *monitorValues, err)
		}
	}
	cfg.Out, cfg.TTY = os.Stdout, isTerminal(os.Stdout)
	_, err = deploy.Up(ctx, cfg)
	return err
}

// parseWatch parses "subject=...,issuer=...[,name=...]" into an identity rule
// of the monitor's config.
func parseWatch(s string) (map[string]any, error) {
	rule := map[string]any{}
	for _, p := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("%q: %q is not key=value", s, p)
		}
		switch k {
		case "subject", "issuer", "name", "fingerprint":
			rule[k] = v
		default:
			return nil, fmt.Errorf("%q: unknown key %q (subject, issuer, name, fingerprint)", s, k)
		}
	}
	if rule["subject"] == nil && rule["fingerprint"] == nil {
		return nil, fmt.Errorf("%q: needs subject= or fingerprint=", s)
	}
	if rule["name"] == nil {
		if sub, ok := rule["subject"].(string); ok {
			rule["name"] = "watch-" + sub
		} else {
			fp := rule["fingerprint"].(string)
			rule["name"] = "watch-fingerprint-" + fp[:min(len(fp), 16)]
		}
	}
	return rule, nil
}

// hasKey reports whether the --watch value s sets key.
func hasKey(s, key string) bool {
	for _, p := range strings.Split(s, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(p), "="); k == key {
			return true
		}
	}
	return false
}

// parseWatches parses every --watch, giving rules without name= names that
// are unique among them (a "-2", "-3", ... suffix on repeats).
func parseWatches(watch []string) ([]map[string]any, error) {
	rules := make([]map[string]any, len(watch))
	used := map[string]bool{}
	for i, s := range watch {
		rule, err := parseWatch(s)
		if err != nil {
			return nil, usagef("--watch: %v", err)
		}
		rules[i] = rule
		if hasKey(s, "name") {
			n := rule["name"].(string)
			if used[n] {
				return nil, usagef("--watch: name %q given twice", n)
			}
			used[n] = true
		}
	}
	for i, s := range watch {
		if hasKey(s, "name") {
			continue
		}
		base := rules[i]["name"].(string)
		n := base
		for k := 2; used[n]; k++ {
			n = fmt.Sprintf("%s-%d", base, k)
		}
		used[n] = true
		rules[i]["name"] = n
	}
	return rules, nil
}

func cmdStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap status", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("status: unexpected arguments %q", fs.Args())
	}
	cfg.Out = os.Stdout
	return deploy.Status(ctx, cfg)
}

func cmdDown(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap down", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	fs.BoolVar(&cfg.Purge, "purge", false, "also delete the namespaces (TLS secrets, TUF root, Rekor signing key, Trillian MySQL passwords, monitor state) and the CA and trust files the bootstrap wrote in --dir (without it these are kept)")
	fs.BoolVar(&cfg.DryRun, "dry-run", false, "say what would be removed without removing anything")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("down: unexpected arguments %q", fs.Args())
	}
	cfg.Out, cfg.TTY = os.Stdout, isTerminal(os.Stdout)
	return deploy.Down(ctx, cfg)
}
