package trust_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/trust"
)

// expCert is a generated certificate and its key.
type expCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var expSerial atomic.Int64

// expIssue creates a certificate valid from notBefore to notAfter, signed
// by parent (self-signed when parent is nil). isCA makes a CA certificate;
// otherwise a TLS server certificate for the given names (IP addresses are
// recognised).
func expIssue(t *testing.T, cn string, parent *expCert, isCA bool, notBefore, notAfter time.Time, names ...string) *expCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1000 + expSerial.Add(1)),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"vigil test"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	if isCA {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, n := range names {
			if ip := net.ParseIP(n); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, n)
			}
		}
	}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &expCert{cert: c, key: key}
}

// expPKI is a root and an intermediate CA valid for years.
type expPKI struct {
	root, inter *expCert
	pool        *x509.CertPool
}

func expNewPKI(t *testing.T, interNotAfter time.Time) *expPKI {
	t.Helper()
	now := time.Now()
	r := expIssue(t, "Vigil Test Root", nil, true, now.Add(-24*time.Hour), now.Add(10*365*24*time.Hour))
	i := expIssue(t, "Vigil Test Intermediate", r, true, now.Add(-24*time.Hour), interNotAfter)
	pool := x509.NewCertPool()
	pool.AddCert(r.cert)
	return &expPKI{root: r, inter: i, pool: pool}
}

// expServe starts an https server on 127.0.0.1 that presents leaf and then
// the extra certificates, and returns its URL.
func expServe(t *testing.T, leaf *expCert, extra ...*x509.Certificate) string {
	t.Helper()
	chain := [][]byte{leaf.cert.Raw}
	for _, c := range extra {
		chain = append(chain, c.Raw)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: chain, PrivateKey: leaf.key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func expCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestEndpointCertificateLevels(t *testing.T) {
	now := time.Now()
	pki := expNewPKI(t, now.Add(5*365*24*time.Hour))
	for _, tc := range []struct {
		name string
		life time.Duration
		want trust.Level
	}{
		{"critical", 2 * time.Hour, trust.LevelCritical},
		{"warning", 3 * 24 * time.Hour, trust.LevelWarning},
		{"ok", 60 * 24 * time.Hour, trust.LevelOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaf := expIssue(t, "rekor.test", pki.inter, false, now.Add(-time.Hour), now.Add(tc.life), "127.0.0.1")
			u := expServe(t, leaf, pki.inter.cert)
			got, err := trust.EndpointCertificate(expCtx(t), u+"/api/v1/log", pki.pool)
			if err != nil {
				t.Fatalf("EndpointCertificate: %v", err)
			}
			wantName := strings.TrimPrefix(u, "https://")
			if got.Kind != "tls" || got.Name != wantName {
				t.Errorf("Kind, Name = %q, %q; want tls, %q", got.Kind, got.Name, wantName)
			}
			if !got.NotAfter.Equal(leaf.cert.NotAfter) {
				t.Errorf("NotAfter = %v, want leaf's %v", got.NotAfter, leaf.cert.NotAfter)
			}
			if !strings.Contains(got.Detail, "rekor.test") || !strings.Contains(got.Detail, "sha256:") {
				t.Errorf("Detail = %q, want leaf subject and fingerprint", got.Detail)
			}
			if l := trust.Classify(got.NotAfter, time.Now(), config.DefaultTrustWarning, config.DefaultTrustCritical); l != tc.want {
				t.Errorf("Classify = %v, want %v", l, tc.want)
			}
		})
	}
}

func TestEndpointCertificateExpiredLeaf(t *testing.T) {
	now := time.Now()
	pki := expNewPKI(t, now.Add(365*24*time.Hour))
	leaf := expIssue(t, "fulcio.test", pki.inter, false, now.Add(-48*time.Hour), now.Add(-time.Hour), "127.0.0.1")
	u := expServe(t, leaf, pki.inter.cert)
	got, err := trust.EndpointCertificate(expCtx(t), u, pki.pool)
	if !errors.Is(err, trust.ErrCertificateExpired) {
		t.Fatalf("err = %v, want ErrCertificateExpired", err)
	}
	t.Logf("err: %v\nexpiry: %+v", err, got)
	if !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "leaf") {
		t.Errorf("err = %q, want it to name the expired leaf", err)
	}
	if got.Kind != "tls" || !got.NotAfter.Equal(leaf.cert.NotAfter) {
		t.Errorf("Expiry = %+v, want tls with leaf NotAfter %v", got, leaf.cert.NotAfter)
	}
	if l := trust.Classify(got.NotAfter, time.Now(), config.DefaultTrustWarning, config.DefaultTrustCritical); l != trust.LevelExpired {
		t.Errorf("Classify = %v, want expired", l)
	}
}

func TestEndpointCertificateIntermediateExpiresFirst(t *testing.T) {
	now := time.Now()
	pki := expNewPKI(t, now.Add(5*24*time.Hour))
	leaf := expIssue(t, "tuf.test", pki.inter, false, now.Add(-time.Hour), now.Add(60*24*time.Hour), "127.0.0.1")
	u := expServe(t, leaf, pki.inter.cert)
	got, err := trust.EndpointCertificate(expCtx(t), u, pki.pool)
	if err != nil {
		t.Fatalf("EndpointCertificate: %v", err)
	}
	t.Logf("expiry: %+v", got)
	if !got.NotAfter.Equal(pki.inter.cert.NotAfter) {
		t.Errorf("NotAfter = %v, want intermediate's %v (leaf's is %v)", got.NotAfter, pki.inter.cert.NotAfter, leaf.cert.NotAfter)
	}
	if !strings.Contains(got.Detail, "intermediate") || !strings.Contains(got.Detail, "Vigil Test Intermediate") ||
		!strings.Contains(got.Detail, "tuf.test") {
		t.Errorf("Detail = %q, want it to name the intermediate and the leaf", got.Detail)
	}
	if l := trust.Classify(got.NotAfter, time.Now(), config.DefaultTrustWarning, config.DefaultTrustCritical); l != trust.LevelWarning {
		t.Errorf("Classify = %v, want warning", l)
	}
}

func TestEndpointCertificateExpiredIntermediate(t *testing.T) {
	now := time.Now()
	pki := expNewPKI(t, now.Add(-time.Hour))
	leaf := expIssue(t, "ctlog.test", pki.inter, false, now.Add(-12*time.Hour), now.Add(30*24*time.Hour), "127.0.0.1")
	u := expServe(t, leaf, pki.inter.cert)
	got, err := trust.EndpointCertificate(expCtx(t), u, pki.pool)
	if !errors.Is(err, trust.ErrCertificateExpired) {
		t.Fatalf("err = %v, want ErrCertificateExpired", err)
	}
	t.Logf("err: %v", err)
	if !strings.Contains(err.Error(), `intermediate "`) || !strings.Contains(err.Error(), "Vigil Test Intermediate") {
		t.Errorf("err = %q, want it to name the expired intermediate", err)
	}
	if !got.NotAfter.Equal(pki.inter.cert.NotAfter) {
		t.Errorf("NotAfter = %v, want intermediate's %v", got.NotAfter, pki.inter.cert.NotAfter)
	}
}

func TestEndpointCertificateExpiredRootNotServed(t *testing.T) {
	now := time.Now()
	r := expIssue(t, "Old Root", nil, true, now.Add(-10*24*time.Hour), now.Add(-time.Hour))
	leaf := expIssue(t, "rekor.test", r, false, now.Add(-2*24*time.Hour), now.Add(30*24*time.Hour), "127.0.0.1")
	pool := x509.NewCertPool()
	pool.AddCert(r.cert)
	u := expServe(t, leaf)
	got, err := trust.EndpointCertificate(expCtx(t), u, pool)
	if !errors.Is(err, trust.ErrCertificateExpired) || !strings.Contains(err.Error(), `root "`) {
		t.Fatalf("err = %v, want ErrCertificateExpired naming the root", err)
	}
	if !got.NotAfter.Equal(r.cert.NotAfter) {
		t.Errorf("NotAfter = %v, want root's %v", got.NotAfter, r.cert.NotAfter)
	}
}

func TestEndpointCertificatePlainHTTP(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	got, err := trust.EndpointCertificate(expCtx(t), srv.URL, nil)
	if !errors.Is(err, trust.ErrNotTLS) {
		t.Fatalf("err = %v, want ErrNotTLS", err)
	}
	if got != (trust.Expiry{}) {
		t.Errorf("Expiry = %+v, want zero", got)
	}
	if _, err := trust.EndpointCertificate(expCtx(t), "ftp://127.0.0.1/", nil); err == nil || errors.Is(err, trust.ErrNotTLS) {
		t.Errorf("ftp URL: err = %v, want unsupported scheme", err)
	}
	if _, err := trust.EndpointCertificate(expCtx(t), "https:///path", nil); err == nil {
		t.Error("URL without host: no error")
	}
}

func TestEndpointCertificateUnknownCA(t *testing.T) {
	now := time.Now()
	pki := expNewPKI(t, now.Add(365*24*time.Hour))
	other := expNewPKI(t, now.Add(365*24*time.Hour))
	leaf := expIssue(t, "rekor.test", pki.inter, false, now.Add(-time.Hour), now.Add(60*24*time.Hour), "127.0.0.1")
	u := expServe(t, leaf, pki.inter.cert)
	got, err := trust.EndpointCertificate(expCtx(t), u, other.pool)
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		t.Fatalf("err = %v, want x509.UnknownAuthorityError", err)
	}
	t.Logf("err: %v", err)
	if errors.Is(err, trust.ErrCertificateExpired) || !strings.Contains(err.Error(), "unknown authority") ||
		!strings.Contains(err.Error(), "Vigil Test Intermediate") {
		t.Errorf("err = %q, want unknown authority naming the issuer", err)
	}
	if got != (trust.Expiry{}) {
		t.Errorf("Expiry = %+v, want zero for an unverified certificate", got)
	}
	// System roots do not know the test CA either.
	if _, err := trust.EndpointCertificate(expCtx(t), u, nil); err == nil {
		t.Error("system roots: no error for a private CA")
	}
}

func TestEndpointCertificateHostnameMismatch(t *testing.T) {
	now := time.Now()
	pki := expNewPKI(t, now.Add(365*24*time.Hour))
	leaf := expIssue(t, "rekor.example", pki.inter, false, now.Add(-time.Hour), now.Add(60*24*time.Hour), "rekor.example")
	u := expServe(t, leaf, pki.inter.cert)
	got, err := trust.EndpointCertificate(expCtx(t), u, pki.pool)
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want x509.HostnameError", err)
	}
	if got != (trust.Expiry{}) {
		t.Errorf("Expiry = %+v, want zero", got)
	}

	// Expired and wrong host: both are reported, and nothing is trusted.
	old := expIssue(t, "rekor.example", pki.inter, false, now.Add(-48*time.Hour), now.Add(-time.Hour), "rekor.example")
	u = expServe(t, old, pki.inter.cert)
	got, err = trust.EndpointCertificate(expCtx(t), u, pki.pool)
	t.Logf("err: %v", err)
	if !errors.As(err, &he) || errors.Is(err, trust.ErrCertificateExpired) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired, wrong host: err = %v, want host name error and expiry mention", err)
	}
	if got != (trust.Expiry{}) {
		t.Errorf("expired, wrong host: Expiry = %+v, want zero", got)
	}
}

func TestEndpointCertificateContextDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Accept and never answer the handshake.
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = trust.EndpointCertificate(ctx, "https://"+ln.Addr().String(), nil)
	if err == nil {
		t.Fatal("no error from a server that never handshakes")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v, want about the 200ms deadline", d)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestEndpointCertificateDefaultPort(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Whatever answers (or not) on 127.0.0.1:443, it is not our test CA.
	_, err := trust.EndpointCertificate(ctx, "https://127.0.0.1/", x509.NewCertPool())
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:443") {
		t.Errorf("err = %v, want it to name 127.0.0.1:443", err)
	}
}

// expTimeRange returns a TimeRange from start to end (no end when zero).
func expTimeRange(start, end time.Time) *protocommon.TimeRange {
	tr := &protocommon.TimeRange{Start: timestamppb.New(start)}
	if !end.IsZero() {
		tr.End = timestamppb.New(end)
	}
	return tr
}

func expCA(uri string, validFor *protocommon.TimeRange, chain ...*x509.Certificate) *prototrustroot.CertificateAuthority {
	ca := &prototrustroot.CertificateAuthority{
		Subject:   &protocommon.DistinguishedName{Organization: "vigil test", CommonName: chain[len(chain)-1].Subject.CommonName},
		Uri:       uri,
		CertChain: &protocommon.X509CertificateChain{},
		ValidFor:  validFor,
	}
	for _, c := range chain {
		ca.CertChain.Certificates = append(ca.CertChain.Certificates, &protocommon.X509Certificate{RawBytes: c.Raw})
	}
	return ca
}

func expLog(t *testing.T, baseURL string, keyID byte, start, end time.Time) *prototrustroot.TransparencyLogInstance {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	id[0] = keyID
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256,
			ValidFor:   expTimeRange(start, end),
		},
		LogId: &protocommon.LogId{KeyId: id},
	}
}

func TestTrustedRootExpiries(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	year := 365 * 24 * time.Hour
	// Fulcio: an active chain, a second chain under the same root, and a
	// retired single-certificate chain.
	fRoot := expIssue(t, "fulcio root", nil, true, now.Add(-year), now.Add(10*year))
	fInter := expIssue(t, "fulcio intermediate", fRoot, true, now.Add(-year), now.Add(100*24*time.Hour))
	fInter2 := expIssue(t, "fulcio intermediate 2", fRoot, true, now.Add(-year), now.Add(200*24*time.Hour))
	fOld := expIssue(t, "fulcio old root", nil, true, now.Add(-3*year), now.Add(-year))
	// TSA: leaf, intermediate, root.
	tRoot := expIssue(t, "tsa root", nil, true, now.Add(-year), now.Add(5*year))
	tInter := expIssue(t, "tsa intermediate", tRoot, true, now.Add(-year), now.Add(2*year))
	tLeaf := expIssue(t, "tsa leaf", tInter, false, now.Add(-year), now.Add(6*24*time.Hour))

	rekorEnd := now.Add(-30 * 24 * time.Hour)
	ctEnd := now.Add(12 * time.Hour)
	pb := &prototrustroot.TrustedRoot{
		MediaType: root.TrustedRootMediaType01,
		CertificateAuthorities: []*prototrustroot.CertificateAuthority{
			expCA("https://fulcio.test", expTimeRange(now.Add(-year), time.Time{}), fInter.cert, fRoot.cert),
			expCA("https://fulcio.test", expTimeRange(now.Add(-year), time.Time{}), fInter2.cert, fRoot.cert),
			expCA("https://fulcio-old.test", expTimeRange(now.Add(-3*year), now.Add(-year)), fOld.cert),
		},
		TimestampAuthorities: []*prototrustroot.CertificateAuthority{
			expCA("https://tsa.test", expTimeRange(now.Add(-year), time.Time{}), tLeaf.cert, tInter.cert, tRoot.cert),
		},
		Tlogs: []*prototrustroot.TransparencyLogInstance{
			expLog(t, "https://rekor.test", 0xbb, now.Add(-year), time.Time{}),           // current: open-ended
			expLog(t, "https://rekor.test", 0xaa, now.Add(-2*year), rekorEnd),            // rotated out
			expLog(t, "https://rekor-shard.test", 0xcc, now.Add(-2*year), now.Add(year)), // shard with an end
		},
		Ctlogs: []*prototrustroot.TransparencyLogInstance{
			expLog(t, "https://ctfe.test/test", 0x01, now.Add(-year), ctEnd),
			expLog(t, "https://ctfe.test/test2", 0x02, now.Add(-year), time.Time{}),
		},
	}
	js, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(js)
	if err != nil {
		t.Fatalf("NewTrustedRootFromJSON: %v", err)
	}

	type row struct {
		kind, name string
		notAfter   time.Time
		detail     string // substring
	}
	want := []row{
		{"fulcio_ca", fInter.cert.Subject.String(), fInter.cert.NotAfter, "intermediate"},
		{"fulcio_ca", fRoot.cert.Subject.String(), fRoot.cert.NotAfter, "root"},
		{"fulcio_ca", fInter2.cert.Subject.String(), fInter2.cert.NotAfter, "fulcio_ca #1 intermediate"},
		{"fulcio_ca", fOld.cert.Subject.String(), fOld.cert.NotAfter, "valid_for_end="},
		{"tsa_ca", tLeaf.cert.Subject.String(), tLeaf.cert.NotAfter, "leaf"},
		{"tsa_ca", tInter.cert.Subject.String(), tInter.cert.NotAfter, "intermediate"},
		{"tsa_ca", tRoot.cert.Subject.String(), tRoot.cert.NotAfter, "https://tsa.test"},
		{"rekor_log_key", "https://rekor-shard.test", now.Add(year), "key_id=cc"},
		{"rekor_log_key", "https://rekor.test", rekorEnd, "key_id=aa"},
		{"ct_log_key", "https://ctfe.test/test", ctEnd, "key_id=01"},
	}
	for run := range 5 { // maps underneath: the order must not vary
		got := trust.TrustedRootExpiries(tr)
		if len(got) != len(want) {
			for _, e := range got {
				t.Logf("%+v", e)
			}
			t.Fatalf("run %d: %d expiries, want %d", run, len(got), len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.Kind != w.kind || g.Name != w.name || !g.NotAfter.Equal(w.notAfter) || !strings.Contains(g.Detail, w.detail) {
				t.Errorf("run %d: [%d] = %+v, want kind %s name %s notAfter %v detail ~%q", run, i, g, w.kind, w.name, w.notAfter, w.detail)
			}
		}
	}

	got := trust.TrustedRootExpiries(tr)
	if l := trust.Classify(got[4].NotAfter, now, config.DefaultTrustWarning, config.DefaultTrustCritical); l != trust.LevelWarning {
		t.Errorf("TSA leaf in 6 days: %v, want warning", l)
	}
	if l := trust.Classify(got[8].NotAfter, now, config.DefaultTrustWarning, config.DefaultTrustCritical); l != trust.LevelExpired {
		t.Errorf("rotated-out rekor key: %v, want expired", l)
	}
	if l := trust.Classify(got[9].NotAfter, now, config.DefaultTrustWarning, config.DefaultTrustCritical); l != trust.LevelCritical {
		t.Errorf("CT key ending in 12h: %v, want critical", l)
	}

	if got := trust.TrustedRootExpiries(nil); got != nil {
		t.Errorf("nil root: %v", got)
	}
}

// TestTrustedRootExpiriesPublicGood reads sigstore-go's copy of the public
// trusted root when the module cache has it.
func TestTrustedRootExpiriesPublicGood(t *testing.T) {
	gomodcache := os.Getenv("GOMODCACHE")
	if gomodcache == "" {
		if gp := os.Getenv("GOPATH"); gp != "" {
			gomodcache = filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")
		} else if home, err := os.UserHomeDir(); err == nil {
			gomodcache = filepath.Join(home, "go", "pkg", "mod")
		}
	}
	path := filepath.Join(gomodcache, "github.com", "sigstore", "sigstore-go@v1.3.0", "examples", "trusted-root-public-good.json")
	tr, err := root.NewTrustedRootFromPath(path)
	if err != nil {
		t.Skipf("no public-good trusted root: %v", err)
	}
	got := trust.TrustedRootExpiries(tr)
	kinds := map[string]int{}
	for _, e := range got {
		kinds[e.Kind]++
		if e.NotAfter.IsZero() || e.Name == "" || e.Detail == "" {
			t.Errorf("incomplete: %+v", e)
		}
	}
	if kinds["fulcio_ca"] == 0 {
		t.Errorf("no Fulcio CA certificate in %v", kinds)
	}
	t.Logf("%d expiries: %v", len(got), kinds)
}

func TestCertificateFile(t *testing.T) {
	now := time.Now()
	ca := expIssue(t, "vigil bootstrap CA", nil, true, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	other := expIssue(t, "vigil other CA", nil, true, now.Add(-time.Hour), now.Add(30*24*time.Hour))
	keyDER, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})...)
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})...)
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.cert.Raw})...)
	dir := t.TempDir()
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := trust.CertificateFile(path)
	if err != nil {
		t.Fatalf("CertificateFile: %v", err)
	}
	if len(got) != 2 {
		t.Fatalf("%d expiries, want 2: %+v", len(got), got)
	}
	for i, c := range []*x509.Certificate{ca.cert, other.cert} {
		if got[i].Kind != "ca_file" || got[i].Name != path || !got[i].NotAfter.Equal(c.NotAfter) ||
			!strings.Contains(got[i].Detail, c.Subject.CommonName) {
			t.Errorf("[%d] = %+v, want ca_file %s %v %s", i, got[i], path, c.NotAfter, c.Subject.CommonName)
		}
	}

	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("not pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.CertificateFile(empty); err == nil {
		t.Error("file without certificates: no error")
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.CertificateFile(bad); err == nil {
		t.Error("malformed certificate: no error")
	}
	if _, err := trust.CertificateFile(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want ErrNotExist", err)
	}
}

func TestClassify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	warn, crit := config.DefaultTrustWarning, config.DefaultTrustCritical
	for _, tc := range []struct {
		left time.Duration
		want trust.Level
	}{
		{-365 * 24 * time.Hour, trust.LevelExpired},
		{-time.Nanosecond, trust.LevelExpired},
		{0, trust.LevelExpired},
		{time.Nanosecond, trust.LevelCritical},
		{2 * time.Hour, trust.LevelCritical},
		{crit, trust.LevelCritical},
		{crit + time.Nanosecond, trust.LevelWarning},
		{3 * 24 * time.Hour, trust.LevelWarning},
		{warn, trust.LevelWarning},
		{warn + time.Nanosecond, trust.LevelOK},
		{60 * 24 * time.Hour, trust.LevelOK},
	} {
		if got := trust.Classify(now.Add(tc.left), now, warn, crit); got != tc.want {
			t.Errorf("Classify(now%+v) = %v, want %v", tc.left, got, tc.want)
		}
	}
	if got := trust.Classify(time.Time{}, now, warn, crit); got != trust.LevelOK {
		t.Errorf("zero notAfter (open-ended) = %v, want ok", got)
	}
	// Custom thresholds.
	if got := trust.Classify(now.Add(20*24*time.Hour), now, 30*24*time.Hour, 14*24*time.Hour); got != trust.LevelWarning {
		t.Errorf("custom: %v, want warning", got)
	}
	if got := trust.Classify(now.Add(10*24*time.Hour), now, 30*24*time.Hour, 14*24*time.Hour); got != trust.LevelCritical {
		t.Errorf("custom: %v, want critical", got)
	}
	if got := trust.Classify(now.Add(time.Hour), now, 0, 0); got != trust.LevelOK {
		t.Errorf("no thresholds: %v, want ok", got)
	}
}

func TestClassifyLevelString(t *testing.T) {
	for l, want := range map[trust.Level]string{
		trust.LevelOK: "ok", trust.LevelWarning: "warning", trust.LevelCritical: "critical", trust.LevelExpired: "expired",
		trust.Level(9): "Level(9)",
	} {
		if got := l.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(l), got, want)
		}
	}
}
