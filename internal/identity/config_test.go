package identity_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/identity"
)

// loadConfig decodes the identities section of a monitor config file as
// the monitor does: strictly.
func loadConfig(t *testing.T, name string) (identity.Config, error) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "config", name))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Identities identity.Config `yaml:"identities"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err = dec.Decode(&file)
	return file.Identities, err
}

func TestConfigGood(t *testing.T) {
	cfg, err := loadConfig(t, "good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate(good.yml) = %v", err)
	}
	if len(cfg.Watch) != 3 || len(cfg.Expect) != 1 || cfg.Expect[0].CAFile == "" {
		t.Errorf("good.yml decoded to %+v", cfg)
	}
}

// TestConfigBad holds one bad configuration per file and checks the exact
// error, which must name the field.
func TestConfigBad(t *testing.T) {
	tests := []struct {
		file    string
		wantErr string
	}{
		{"missing-name.yml", "identities.watch[0].name: required"},
		{"empty-rule.yml", "identities.watch[0]: rule matches every identity: set at least one of subject, issuer, fingerprint, extensions, ca_file"},
		{"bad-subject.yml", "identities.watch[2].subject: error parsing regexp: missing closing ): `a(b`"},
		{"bad-issuer.yml", "identities.expect[0].issuer: error parsing regexp: missing closing ]: `[accounts`"},
		{"bad-fingerprint.yml", `identities.watch[0].fingerprint: want 64 hex digits (SHA-256, optionally prefixed "sha256:"), 40 or 64 hex digits (PGP), or an OpenSSH "SHA256:<base64>" fingerprint`},
		{"bad-extension-oid.yml", `identities.watch[0].extensions["1.2.3.4"]: not a Fulcio extension OID 1.3.6.1.4.1.57264.1.N`},
		{"bad-extension-regexp.yml", `identities.watch[0].extensions["1.3.6.1.4.1.57264.1.12"]: error parsing regexp: invalid nested repetition operator: ` + "`*+`"},
		{"missing-ca-file.yml", "identities.expect[0].ca_file: reading CA bundle: open testdata/config/does-not-exist.pem: no such file or directory"},
		{"empty-ca-file.yml", "identities.expect[0].ca_file: no PEM certificates in testdata/config/not-a-ca.pem"},
		{"duplicate-name.yml", `identities.watch[1].name: duplicate rule name "a" (also identities.watch[0])`},
		{"two-errors.yml", "identities.watch[0].subject: error parsing regexp: missing argument to repetition operator: `*`\n" +
			`identities.expect[0].fingerprint: want 64 hex digits (SHA-256, optionally prefixed "sha256:"), 40 or 64 hex digits (PGP), or an OpenSSH "SHA256:<base64>" fingerprint`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			cfg, err := loadConfig(t, tt.file)
			if err != nil {
				t.Fatalf("decoding %s: %v", tt.file, err)
			}
			err = cfg.Validate()
			if err == nil {
				t.Fatalf("Validate(%s) = nil, want %q", tt.file, tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("Validate(%s) =\n%s\nwant\n%s", tt.file, err, tt.wantErr)
			}
			if m, err := identity.Compile(cfg); m != nil || err == nil {
				t.Errorf("Compile(%s) = %v, %v; want nil, error", tt.file, m, err)
			}
		})
	}
}

func TestConfigUnknownField(t *testing.T) {
	_, err := loadConfig(t, "unknown-field.yml")
	const want = "yaml: unmarshal errors:\n  line 4: field subjet not found in type identity.Rule"
	if err == nil || err.Error() != want {
		t.Errorf("decoding unknown-field.yml = %v, want %q", err, want)
	}
}

func TestFingerprintForms(t *testing.T) {
	const hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, fp := range []string{
		hex,
		"sha256:" + hex,
		"SHA256:" + hex,
		"Sha256:0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
		"  " + hex + " ",
		"0123456789abcdef0123456789abcdef01234567", // PGP v4
		"SHA256:ASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4mrze8",
	} {
		if _, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "a", Fingerprint: fp}}}); err != nil {
			t.Errorf("fingerprint %q: %v", fp, err)
		}
	}
	for _, fp := range []string{
		"sha256:" + hex[:40], // prefix only for SHA-256
		"sha1:" + hex[:40],
		hex[:63] + "g",
		"SHA256:not base64 at all, not at all, no no no!",
		"md5:" + hex[:32],
	} {
		if _, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "a", Fingerprint: fp}}}); err == nil {
			t.Errorf("fingerprint %q accepted", fp)
		}
	}
}
