package deploy

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteHostsBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	orig := "127.0.0.1 localhost\n::1 localhost\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	lines := []string{"127.0.0.1 rekor.sigstore.local", "127.0.0.1 fulcio.sigstore.local"}
	steps := []struct {
		lines  []string
		dryRun bool
		want   outcome
		file   string
	}{
		{lines, true, wouldUpdate, orig},
		{lines, false, updated, orig + "# BEGIN vigil-bootstrap sigstore.local\n127.0.0.1 rekor.sigstore.local\n127.0.0.1 fulcio.sigstore.local\n# END vigil-bootstrap sigstore.local\n"},
		{lines, false, unchanged, orig + "# BEGIN vigil-bootstrap sigstore.local\n127.0.0.1 rekor.sigstore.local\n127.0.0.1 fulcio.sigstore.local\n# END vigil-bootstrap sigstore.local\n"},
		{lines[:1], false, updated, orig + "# BEGIN vigil-bootstrap sigstore.local\n127.0.0.1 rekor.sigstore.local\n# END vigil-bootstrap sigstore.local\n"},
	}
	for i, s := range steps {
		got, err := writeHostsBlock(path, "sigstore.local", s.lines, s.dryRun)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if got != s.want {
			t.Errorf("step %d: change = %s, want %s", i, got, s.want)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != s.file {
			t.Errorf("step %d: file =\n%s\nwant\n%s", i, b, s.file)
		}
	}
}

func TestParseOIDCIssuer(t *testing.T) {
	tests := []struct {
		in      string
		want    OIDCIssuer
		wantErr bool
	}{
		{"https://issuer.example", OIDCIssuer{"https://issuer.example", "sigstore", "email"}, false},
		{"https://kubernetes.default.svc.cluster.local,type=kubernetes", OIDCIssuer{"https://kubernetes.default.svc.cluster.local", "sigstore", "kubernetes"}, false},
		{"https://issuer.example,client_id=cosign,type=email", OIDCIssuer{"https://issuer.example", "cosign", "email"}, false},
		{"issuer.example", OIDCIssuer{}, true},
		{"https://issuer.example,colour=blue", OIDCIssuer{}, true},
		{"https://issuer.example,type", OIDCIssuer{}, true},
	}
	for _, tt := range tests {
		got, err := ParseOIDCIssuer(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseOIDCIssuer(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("ParseOIDCIssuer(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
