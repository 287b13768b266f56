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
// (status: healthy), 1 failed (status: unhealthy), 2 usage error: an unknown
// command or flag, a bad flag value, a missing required flag, an unexpected
// argument, or no kubeconfig to be found (see [deploy.NoKubeconfigError]).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/deploy"
	"github.com/vigil-tlog/vigil/internal/identity"
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
	case errors.As(err, new(*deploy.NoKubeconfigError)):
		// Nothing was tried against a cluster: like a missing required
		// flag, the fix is on the command line (--kubeconfig) or in the
		// environment, and for status a 1 would wrongly say "unhealthy".
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

// parseFlags parses args into fs, whose name is "bootstrap CMD". Every
// problem is a *usageError, so that it exits 2: an unknown flag, a bad value
// (a duration that does not parse, ...) and any positional argument, since no
// command takes one. -h and --help print the flags to stdout and return
// [flag.ErrHelp].
func parseFlags(fs *flag.FlagSet, args []string) error {
	// The flag package prints its error and the whole flag list to the
	// output; the error alone, with a pointer to -h, is easier to read.
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	cmd := strings.TrimPrefix(fs.Name(), "bootstrap ")
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(os.Stdout)
		fmt.Printf("usage: %s [flags]\n\nflags:\n", fs.Name())
		fs.PrintDefaults()
		return err
	case err != nil:
		return usagef("%s: %v (%s -h lists the flags)", cmd, err, fs.Name())
	case fs.NArg() > 0:
		return usagef("%s: unexpected arguments %q (%s takes only flags)", cmd, fs.Args(), fs.Name())
	}
	return nil
}

// clusterFlags are the flags every cluster command shares.
func clusterFlags(fs *flag.FlagSet, cfg *deploy.Config) {
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account; none of them is an error)")
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
	fs.Var(&watch, "watch", "identity to watch in the log: subject=REGEXP[,issuer=URL][,name=NAME] or fingerprint=HEX[,name=NAME] (repeatable)")
	monitorValues := fs.String("monitor-values", "", "YAML file of extra values for the monitor chart")
	if err := parseFlags(fs, args); err != nil {
		return err
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
	return deploy.Up(ctx, cfg)
}

// watchKeys are the keys a --watch value may set.
const watchKeys = "keys: subject (a regular expression), issuer, name, fingerprint"

// watchExample is a --watch value for an error message about s: when s is a
// single value without a key (a common first try: --watch
// release@example.com), its subject is s as a regular expression.
func watchExample(s string) string {
	subject := `release@example\.com`
	if s != "" && !strings.ContainsAny(s, "=,") {
		subject = regexp.QuoteMeta(s)
	}
	return "subject=" + subject + ",issuer=https://accounts.example.com"
}

// parseWatch parses "subject=...,issuer=...[,name=...]" into an identity rule
// of the monitor's config. Its errors quote s and show the expected form.
func parseWatch(s string) (identity.Rule, error) {
	var rule identity.Rule
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" || v == "" {
			return identity.Rule{}, fmt.Errorf("%q: want key=value pairs separated by commas, e.g. %s; %s", s, watchExample(s), watchKeys)
		}
		switch k {
		case "subject":
			rule.Subject = v
		case "issuer":
			rule.Issuer = v
		case "name":
			rule.Name = v
		case "fingerprint":
			rule.Fingerprint = v
		default:
			return identity.Rule{}, fmt.Errorf("%q: unknown key %q; %s", s, k, watchKeys)
		}
	}
	if rule.Subject == "" && rule.Fingerprint == "" {
		return identity.Rule{}, fmt.Errorf("%q: needs subject= or fingerprint=, e.g. %s; %s", s, watchExample(""), watchKeys)
	}
	if rule.Name == "" {
		if rule.Subject != "" {
			rule.Name = "watch-" + rule.Subject
		} else {
			rule.Name = "watch-fingerprint-" + rule.Fingerprint[:min(len(rule.Fingerprint), 16)]
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
func parseWatches(watch []string) ([]identity.Rule, error) {
	rules := make([]identity.Rule, len(watch))
	used := map[string]bool{}
	for i, s := range watch {
		rule, err := parseWatch(s)
		if err != nil {
			return nil, usagef("--watch %v", err)
		}
		rules[i] = rule
		if hasKey(s, "name") {
			if used[rule.Name] {
				return nil, usagef("--watch: name %q given twice", rule.Name)
			}
			used[rule.Name] = true
		}
	}
	for i, s := range watch {
		if hasKey(s, "name") {
			continue
		}
		base := rules[i].Name
		n := base
		for k := 2; used[n]; k++ {
			n = fmt.Sprintf("%s-%d", base, k)
		}
		used[n] = true
		rules[i].Name = n
	}
	return rules, nil
}

func cmdStatus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bootstrap status", flag.ContinueOnError)
	var cfg deploy.Config
	clusterFlags(fs, &cfg)
	if err := parseFlags(fs, args); err != nil {
		return err
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
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Out, cfg.TTY = os.Stdout, isTerminal(os.Stdout)
	return deploy.Down(ctx, cfg)
}
