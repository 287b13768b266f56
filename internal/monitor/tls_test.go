package monitor_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/monitor"
)

// testCA is a private certificate authority, as a private Sigstore
// deployment has for its ingress.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"vigil test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

// serverCert issues a server certificate for 127.0.0.1 and localhost.
func (ca *testCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// writeCertPEM writes cert as a PEM bundle at path.
func writeCertPEM(t *testing.T, path string, cert *x509.Certificate) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// tlsProxy serves the real log at target over HTTPS with a certificate of
// ca, the way a private deployment's ingress does.
func tlsProxy(t *testing.T, target string, ca *testCA) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(httputil.NewSingleHostReverseProxy(u))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t)}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestTLSCustomCA: a log behind HTTPS with a private CA verifies when the
// log's ca_file holds that CA. Verification is on by default: without
// ca_file, or with another CA, the check has no verdict and says why
// (x509), and is never reported as an integrity violation.
func TestTLSCustomCA(t *testing.T) {
	logs := stackLogs(t)
	ca, other := newTestCA(t, "vigil private CA"), newTestCA(t, "someone else's CA")
	dir := t.TempDir()
	caFile, otherFile, noPEM := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other.pem"), filepath.Join(dir, "nopem.pem")
	writeCertPEM(t, caFile, ca.cert)
	writeCertPEM(t, otherFile, other.cert)
	if err := os.WriteFile(noPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		caFile     string
		wantResult monitor.Result
		newAppErr  string
	}{
		{name: "ca_file with the CA", caFile: caFile, wantResult: "verified"},
		{name: "no ca_file", wantResult: "error"},
		{name: "ca_file with another CA", caFile: otherFile, wantResult: "error"},
		{name: "ca_file without PEM", caFile: noPEM, newAppErr: "ca_file"},
	}
	for _, l := range logs {
		srv := tlsProxy(t, l.URL, ca)
		for _, tc := range cases {
			t.Run(l.Kind+"/"+tc.name, func(t *testing.T) {
				cfg := logConfig(t, l, srv.URL, t.TempDir())
				cfg.Logs[0].CAFile = tc.caFile
				app, err := tryApp(t, cfg)
				if tc.newAppErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.newAppErr) {
						t.Fatalf("NewApp error %v, want one naming %s", err, tc.newAppErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("NewApp: %v", err)
				}
				o := checkOne(t, app)
				if got := o.Result(); got != tc.wantResult {
					t.Fatalf("check = %s (%v), want %s", got, o.Err, tc.wantResult)
				}
				if tc.wantResult == "verified" {
					if o.Checkpoint == nil || o.Checkpoint.Size == 0 {
						t.Fatalf("verified checkpoint %+v, want the log's non-empty tree", o.Checkpoint)
					}
					return
				}
				var cve *tls.CertificateVerificationError
				var uae x509.UnknownAuthorityError
				if !errors.As(o.Err, &cve) || !errors.As(o.Err, &uae) {
					t.Errorf("check error %v (%T), want a TLS certificate verification error (unknown authority)", o.Err, o.Err)
				}
				if v, ok := metricValue(t, app.Gatherer(), "vigil_log_up", "log", l.Name()); !ok || v != 0 {
					t.Errorf("vigil_log_up = %v (present %v), want 0", v, ok)
				}
			})
		}
	}
}
