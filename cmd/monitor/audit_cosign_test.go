package main

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// pemBlock reads the first PEM block of file.
func pemBlock(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s holds no PEM", file)
	}
	return blk.Bytes
}

// stackTransparencyLog is the trusted-root entry of a log of the stack
// whose public key is the PEM file pubFile.
func stackTransparencyLog(t *testing.T, url, pubFile string) *root.TransparencyLog {
	t.Helper()
	der := pemBlock(t, pubFile)
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("%s: %v", pubFile, err)
	}
	id := sha256.Sum256(der)
	return &root.TransparencyLog{BaseURL: url, ID: id[:], ValidityPeriodStart: time.Now().Add(-24 * time.Hour),
		HashFunc: crypto.SHA256, PublicKey: pub, SignatureHashFunc: crypto.SHA256}
}

// cosignTrust writes the trusted root and the signing config (v0.2) a
// cosign client of the stack needs: its Fulcio, CT log and Rekor v1.
func cosignTrust(t *testing.T, env testenv.Env, dir string) (trustedRoot, signingConfig string) {
	t.Helper()
	ca, err := x509.ParseCertificate(pemBlock(t, env.Get(t, "FULCIO_ROOT")))
	if err != nil {
		t.Fatal(err)
	}
	ct := stackTransparencyLog(t, env.Get(t, "CT_URL"), env.Get(t, "CT_PUBKEY"))
	rekor := stackTransparencyLog(t, env.Get(t, "REKOR_URL"), env.Get(t, "REKOR_PUBKEY"))
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01,
		[]root.CertificateAuthority{&root.FulcioCertificateAuthority{Root: ca, ValidityPeriodStart: ca.NotBefore, URI: env.Get(t, "FULCIO_URL")}},
		map[string]*root.TransparencyLog{string(ct.ID): ct}, nil,
		map[string]*root.TransparencyLog{string(rekor.ID): rekor})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot = filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(trustedRoot, b, 0o600); err != nil {
		t.Fatal(err)
	}
	service := func(url string) map[string]any {
		return map[string]any{"url": url, "majorApiVersion": 1, "operator": "vigil-test",
			"validFor": map[string]any{"start": time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)}}
	}
	sc, err := json.Marshal(map[string]any{
		"mediaType":       root.SigningConfigMediaType02,
		"caUrls":          []any{service(env.Get(t, "FULCIO_URL"))},
		"oidcUrls":        []any{service(env.Get(t, "OIDC_ISSUER"))},
		"rekorTlogUrls":   []any{service(env.Get(t, "REKOR_URL"))},
		"rekorTlogConfig": map[string]any{"selector": "ANY"},
		"tsaConfig":       map[string]any{"selector": "ANY"},
	})
	if err != nil {
		t.Fatal(err)
	}
	signingConfig = filepath.Join(dir, "signing_config.json")
	if err := os.WriteFile(signingConfig, sc, 0o600); err != nil {
		t.Fatal(err)
	}
	return trustedRoot, signingConfig
}

// TestAuditBundleCosign audits a bundle written by a real cosign
// (sign-blob --bundle, keyless against the stack's Fulcio and Rekor v1):
// what release pipelines hand to `monitor audit-bundle`.
func TestAuditBundleCosign(t *testing.T) {
	env := testenv.Stack(t)
	cosign := testenv.Tool(t, "cosign")
	dir := t.TempDir()
	trustedRoot, signingConfig := cosignTrust(t, env, dir)
	blob := filepath.Join(dir, "artifact.txt")
	if err := os.WriteFile(blob, []byte("cosign audit-bundle test "+time.Now().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := strings.TrimSpace(string(get(t, env.Get(t, "OIDC_ISSUER")+"/token?email=cosign-audit@example.com")))
	bundle := filepath.Join(dir, "artifact.sigstore.json")
	cmd := exec.CommandContext(t.Context(), cosign, "sign-blob", "--yes",
		"--trusted-root", trustedRoot, "--signing-config", signingConfig,
		"--identity-token", tok, "--bundle", bundle, blob)
	// No TUF: cosign must not reach for the public good instance.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "TUF_ROOT="+t.TempDir(), "SIGSTORE_NO_CACHE=true")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}

	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte("state_dir: "+filepath.Join(dir, "state")+"\nscan: {disabled: true}\nindex: {disabled: true}\nlogs:\n"+
		"  - {name: rekor-v1, kind: rekor-v1, url: '"+env.Get(t, "REKOR_URL")+"', public_key_file: "+env.Get(t, "REKOR_PUBKEY")+"}\n"), 0o600)
	var cout strings.Builder
	if code := run([]string{"check", "--config", cfg}, &cout, &cout); code != exitOK {
		t.Fatalf("monitor check: exit %d\n%s", code, cout.String())
	}
	code, res := auditCmd(t, "--config", cfg, bundle)
	if code != exitOK || !strings.Contains(res, ": consistent with the ") {
		t.Fatalf("audit-bundle of cosign's bundle: exit %d\n%s", code, res)
	}
	t.Logf("%s", res)
}
