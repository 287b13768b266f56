package deploy

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCAWriteLoad(t *testing.T) {
	now := time.Now()
	ca, err := newCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := loadCA(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadCA(empty dir) error = %v, want os.ErrNotExist", err)
	}
	if err := ca.Write(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode = %v (%v), want 0600", fi.Mode(), err)
	}
	got, err := loadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) {
		t.Errorf("loaded CA certificate differs from the written one")
	}
	// A key that is not the certificate's is refused.
	other, err := newCA("other", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCA(dir); !errors.Is(err, errBadCA) {
		t.Errorf("LoadCA(mismatched key) error = %v, want ErrBadCA", err)
	}
}

func TestServingCert(t *testing.T) {
	now := time.Now()
	ca, err := newCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ca.Issue([]string{"rekor.sigstore.local"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(sc.CertPEM, sc.KeyPEM); err != nil {
		t.Fatalf("serving cert and key do not pair: %v", err)
	}
	other, err := newCA("other CA", now)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		ca    *certAuthority
		hosts []string
		at    time.Time
		want  string // "" means usable
	}{
		{"valid", ca, []string{"rekor.sigstore.local"}, now, ""},
		{"other host", ca, []string{"fulcio.sigstore.local"}, now, "fulcio.sigstore.local"},
		{"other CA", other, []string{"rekor.sigstore.local"}, now, "unknown authority"},
		{"renewal due", ca, []string{"rekor.sigstore.local"}, now.Add(servingValidity - renewBefore/2), "expires"},
		{"expired", ca, []string{"rekor.sigstore.local"}, now.Add(servingValidity + time.Hour), "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ca.CheckServing(sc.CertPEM, tt.hosts, tt.at)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckServing = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("CheckServing = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := ca.CheckServing([]byte("garbage"), []string{"x"}, now); err == nil {
		t.Errorf("CheckServing(garbage) = nil, want an error")
	}
}
