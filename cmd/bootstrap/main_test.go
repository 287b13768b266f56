package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"frobnicate"}, 2},
		{[]string{"help"}, 0},
		{[]string{"up", "-h"}, 0},
		{[]string{"up", "extra"}, 2},
		{[]string{"up", "--oidc-issuer", "not-a-url"}, 2},
		{[]string{"up", "--watch", "colour=blue"}, 2},
		{[]string{"sign"}, 2},
		{[]string{"sign", "--registry", "127.0.0.1:1"}, 2},
		{[]string{"verify", "--image", "x"}, 2},
		{[]string{"trust"}, 2},
		{[]string{"status", "--kubeconfig", filepath.Join(t.TempDir(), "missing")}, 1},
	}
	for _, tt := range tests {
		if got := run(tt.args); got != tt.want {
			t.Errorf("run(%q) = %d, want %d", tt.args, got, tt.want)
		}
	}
}

func TestParseWatch(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]any
		wantErr bool
	}{
		{"subject=ci@example.com,issuer=https://issuer.example", map[string]any{"name": "watch-ci@example.com", "subject": "ci@example.com", "issuer": "https://issuer.example"}, false},
		{"name=release,subject=^rel.*$", map[string]any{"name": "release", "subject": "^rel.*$"}, false},
		{"fingerprint=ab12,name=key", map[string]any{"name": "key", "fingerprint": "ab12"}, false},
		{"fingerprint=0123456789abcdef0123", map[string]any{"name": "watch-fingerprint-0123456789abcdef", "fingerprint": "0123456789abcdef0123"}, false},
		{"issuer=https://issuer.example", nil, true},
		{"subject", nil, true},
		{"subject=a,colour=b", nil, true},
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
			got = append(got, r["name"].(string))
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
