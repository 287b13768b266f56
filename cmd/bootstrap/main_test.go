package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// runCapture runs bootstrap with args and returns its exit code and what it
// wrote to stderr.
func runCapture(t *testing.T, args ...string) (int, string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := os.Stderr
	os.Stderr = f
	code := run(args)
	os.Stderr = old
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(b)
}

// Every usage error exits 2, as the README says: an unknown command or flag,
// a bad flag value, a missing required flag, an unexpected argument, no
// kubeconfig.
func TestRunExitCodes(t *testing.T) {
	home := testenv.NoKubeconfig(t)
	tests := []struct {
		args []string
		want int
	}{
		// No command, unknown command, help.
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"help"}, 0},
		{[]string{"up", "-h"}, 0},
		{[]string{"sign", "--help"}, 0},
		// Unknown flags, on every command.
		{[]string{"up", "--frobnicate"}, 2},
		{[]string{"status", "--frobnicate"}, 2},
		{[]string{"down", "--frobnicate"}, 2},
		{[]string{"sign", "--frobnicate"}, 2},
		{[]string{"verify", "--frobnicate"}, 2},
		{[]string{"trust", "--frobnicate"}, 2},
		{[]string{"up", "-x"}, 2},
		// Bad flag values: ones the flag package parses, and ones we do.
		{[]string{"up", "--timeout", "ten"}, 2},
		{[]string{"up", "--timeout", "10"}, 2}, // a duration needs a unit
		{[]string{"up", "--tuf-timeout", "soon"}, 2},
		{[]string{"status", "--timeout", "x"}, 2},
		{[]string{"down", "--purge=maybe"}, 2},
		{[]string{"sign", "--force=perhaps", "--registry", "127.0.0.1:1"}, 2},
		{[]string{"verify", "--require-sct=2"}, 2},
		{[]string{"up", "--kubeconfig"}, 2}, // flag needs an argument
		{[]string{"up", "--oidc-issuer", "not-a-url"}, 2},
		{[]string{"up", "--watch", "colour=blue"}, 2},
		{[]string{"up", "--watch", "release@example.com"}, 2},
		{[]string{"up", "--watch", "name=a,subject=x", "--watch", "name=a,subject=y"}, 2},
		{[]string{"up", "--monitor-values", filepath.Join(home, "missing.yaml")}, 2},
		{[]string{"status", "--kubeconfig", filepath.Join(home, "missing")}, 2},
		{[]string{"sign", "--registry", "127.0.0.1:1", "--service-account", "no-slash"}, 2},
		// Missing required flags.
		{[]string{"sign"}, 2},
		{[]string{"sign", "--registry", "127.0.0.1:1"}, 2},
		{[]string{"verify"}, 2},
		{[]string{"verify", "--image", "x"}, 2},
		{[]string{"trust"}, 2},
		{[]string{"trust", "--fulcio-url", "https://fulcio.example"}, 2},
		// Unexpected arguments, on every command.
		{[]string{"up", "extra"}, 2},
		{[]string{"up", "--dry-run", "extra", "--domain", "x"}, 2},
		{[]string{"status", "extra"}, 2},
		{[]string{"down", "extra"}, 2},
		{[]string{"sign", "--registry", "127.0.0.1:1", "--identity-token", "t", "extra"}, 2},
		{[]string{"verify", "--image", "x", "--certificate-oidc-issuer", "i", "--certificate-identity", "e", "extra"}, 2},
		{[]string{"trust", "--fulcio-url", "https://f.example", "--rekor-url", "https://r.example", "extra"}, 2},
		// No kubeconfig anywhere.
		{[]string{"up"}, 2},
		{[]string{"status"}, 2},
		{[]string{"down", "--dry-run"}, 2},
	}
	for _, tt := range tests {
		if got, stderr := runCapture(t, tt.args...); got != tt.want {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", tt.args, got, tt.want, stderr)
		}
	}
}

// The messages of usage errors say what was wrong and what is expected.
func TestUsageErrorMessages(t *testing.T) {
	home := testenv.NoKubeconfig(t)
	tests := []struct {
		args []string
		want string // a line of stderr
	}{
		{[]string{"up", "--frobnicate"}, "bootstrap: up: flag provided but not defined: -frobnicate (bootstrap up -h lists the flags)"},
		{[]string{"up", "--timeout", "ten"}, `bootstrap: up: invalid value "ten" for flag -timeout: parse error (bootstrap up -h lists the flags)`},
		{[]string{"status", "extra"}, `bootstrap: status: unexpected arguments ["extra"] (bootstrap status takes only flags)`},
		{[]string{"up", "--watch", "release@example.com"},
			`bootstrap: --watch "release@example.com": want key=value pairs separated by commas, ` +
				`e.g. subject=release@example\.com,issuer=https://accounts.example.com; keys: subject (a regular expression), issuer, name, fingerprint`},
		{[]string{"up"},
			"bootstrap: no kubeconfig found: looked at --kubeconfig (not given), $KUBECONFIG (not set), " + home + "/.kube/config (does not exist), " +
				"the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT not set); " +
				"give --kubeconfig FILE or set KUBECONFIG (without one, client-go would try http://localhost:8080)"},
	}
	for _, tt := range tests {
		code, stderr := runCapture(t, tt.args...)
		if code != 2 || !slices.Contains(strings.Split(stderr, "\n"), tt.want) {
			t.Errorf("run(%q) = %d, stderr:\n%s\nwant 2 and the line\n%s", tt.args, code, stderr, tt.want)
		}
	}
}

func TestParseWatchErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"release@example.com", `"release@example.com": want key=value pairs separated by commas, e.g. subject=release@example\.com,issuer=https://accounts.example.com; keys: subject (a regular expression), issuer, name, fingerprint`},
		{"subject=a,b.example", `"subject=a,b.example": want key=value pairs separated by commas, e.g. subject=release@example\.com,issuer=https://accounts.example.com; keys: subject (a regular expression), issuer, name, fingerprint`},
		{"subject=", `"subject=": want key=value pairs separated by commas, e.g. subject=release@example\.com,issuer=https://accounts.example.com; keys: subject (a regular expression), issuer, name, fingerprint`},
		{"subject=a,colour=b", `"subject=a,colour=b": unknown key "colour"; keys: subject (a regular expression), issuer, name, fingerprint`},
		{"issuer=https://issuer.example", `"issuer=https://issuer.example": needs subject= or fingerprint=, e.g. subject=release@example\.com,issuer=https://accounts.example.com; keys: subject (a regular expression), issuer, name, fingerprint`},
	}
	for _, tt := range tests {
		_, err := parseWatch(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("parseWatch(%q) = %v, want %s", tt.in, err, tt.want)
		}
	}
}

func TestParseWatch(t *testing.T) {
	tests := []struct {
		in      string
		want    identity.Rule
		wantErr bool
	}{
		{"subject=ci@example.com,issuer=https://issuer.example", identity.Rule{Name: "watch-ci@example.com", Subject: "ci@example.com", Issuer: "https://issuer.example"}, false},
		{"name=release,subject=^rel.*$", identity.Rule{Name: "release", Subject: "^rel.*$"}, false},
		{"fingerprint=ab12,name=key", identity.Rule{Name: "key", Fingerprint: "ab12"}, false},
		{"fingerprint=0123456789abcdef0123", identity.Rule{Name: "watch-fingerprint-0123456789abcdef", Fingerprint: "0123456789abcdef0123"}, false},
		{"issuer=https://issuer.example", identity.Rule{}, true},
		{"subject", identity.Rule{}, true},
		{"subject=a,colour=b", identity.Rule{}, true},
	}
	for _, tt := range tests {
		got, err := parseWatch(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseWatch(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
			t.Errorf("parseWatch(%q) mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

// Rules without name= get names unique among all --watch rules: never
// "watch-<nil>", and repeats get a suffix.
func TestParseWatches(t *testing.T) {
	tests := []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"fingerprint=aa", "fingerprint=bb"}, []string{"watch-fingerprint-aa", "watch-fingerprint-bb"}, false},
		{[]string{"subject=x", "subject=x,issuer=https://a.example", "subject=x"}, []string{"watch-x", "watch-x-2", "watch-x-3"}, false},
		{[]string{"subject=x", "name=watch-x,fingerprint=cc"}, []string{"watch-x-2", "watch-x"}, false},
		{[]string{"name=a,subject=x", "name=a,subject=y"}, nil, true},
	}
	for _, tt := range tests {
		rules, err := parseWatches(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseWatches(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.Name)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("parseWatches(%q) names mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestSignVerifyCommands runs `bootstrap trust`, `sign` and `verify` as a
// user would against the local Sigstore stack and a loopback registry.
func TestSignVerifyCommands(t *testing.T) {
	env := testenv.Stack(t)
	reg := httptest.NewServer(registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	dir := t.TempDir()
	email := "cli-" + filepath.Base(dir) + "@example.com"
	resp, err := http.Get(env.Get(t, "OIDC_ISSUER") + "/token?email=" + url.QueryEscape(email))
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := os.WriteFile(filepath.Join(dir, "token"), tok, 0o600); err != nil {
		t.Fatal(err)
	}
	fulcio, rekor, issuer := env.Get(t, "FULCIO_URL"), env.Get(t, "REKOR_URL"), env.Get(t, "OIDC_ISSUER")

	if got := run([]string{"trust", "--fulcio-url", fulcio, "--rekor-url", rekor, "--out", filepath.Join(dir, "trust")}); got != 0 {
		t.Fatalf("bootstrap trust = %d", got)
	}
	// Without --allow-http-registry the plain-HTTP registry is refused.
	sign := []string{"sign", "--registry", host, "--repository", "cli/test", "--dir", dir,
		"--fulcio-url", fulcio, "--rekor-url", rekor, "--identity-token", filepath.Join(dir, "token")}
	if got := run(sign); got != 1 {
		t.Errorf("bootstrap sign over plain HTTP without the flag = %d, want 1", got)
	}
	if got := run(append(sign, "--allow-http-registry")); got != 0 {
		t.Fatalf("bootstrap sign = %d", got)
	}
	verify := []string{"verify", "--image", host + "/cli/test:latest", "--allow-http-registry", "--dir", dir,
		"--trusted-root", filepath.Join(dir, "trust", "trusted_root.json"), "--certificate-oidc-issuer", issuer}
	if got := run(append(verify, "--certificate-identity", email)); got != 0 {
		t.Errorf("bootstrap verify = %d, want 0", got)
	}
	if got := run(append(verify, "--certificate-identity", "someone-else@example.com")); got != 1 {
		t.Errorf("bootstrap verify with the wrong identity = %d, want 1", got)
	}
}
