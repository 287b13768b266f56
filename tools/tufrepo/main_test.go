package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	sigstoretuf "github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/trust"
	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

// runOK runs the command and fails the test unless it exits 0.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("tufrepo %s: exit %d; stderr:\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// serve serves the repository in dir on 127.0.0.1 as -serve does.
func serve(t *testing.T, dir string) string {
	t.Helper()
	srv := httptest.NewServer(handler(dir))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", srv.URL)
	}
	return srv.URL
}

// refresh runs go-tuf's client workflow from the pinned root into cache
// and returns the updater.
func refresh(t *testing.T, mirror string, pinned []byte, cache string) *updater.Updater {
	t.Helper()
	cfg, err := config.New(mirror, pinned)
	if err != nil {
		t.Fatal(err)
	}
	cfg.LocalMetadataDir = filepath.Join(cache, "metadata")
	cfg.LocalTargetsDir = filepath.Join(cache, "targets")
	for _, d := range []string{cfg.LocalMetadataDir, cfg.LocalTargetsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	u, err := updater.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.Refresh(); err != nil {
		t.Fatalf("go-tuf refresh from %s: %v", mirror, err)
	}
	return u
}

func versions(u *updater.Updater) [4]int64 {
	m := u.GetTrustedMetadataSet()
	return [4]int64{m.Root.Signed.Version, m.Targets[metadata.TARGETS].Signed.Version, m.Snapshot.Signed.Version, m.Timestamp.Signed.Version}
}

func download(t *testing.T, u *updater.Updater, name string) []byte {
	t.Helper()
	tf, err := u.GetTargetInfo(name)
	if err != nil {
		t.Fatalf("target %s: %v", name, err)
	}
	_, b, err := u.DownloadTarget(tf, "", "")
	if err != nil {
		t.Fatalf("downloading %s: %v", name, err)
	}
	return b
}

func TestInitPublishReadByClients(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "repo")
	tr1 := tuftest.NewTrustedRoot(t).JSON()
	sc := tuftest.NewSigningConfig(t).JSON()
	out := runOK(t, "-dir", dir, "-trusted-root", writeFile(t, filepath.Join(tmp, "tr1.json"), tr1),
		"-signing-config", writeFile(t, filepath.Join(tmp, "sc.json"), sc))
	for _, want := range []string{"root      v1 expires", "timestamp v1 expires", "target    trusted_root.json sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	pinned, err := os.ReadFile(filepath.Join(dir, "1.root.json"))
	if err != nil {
		t.Fatal(err)
	}
	mirror := serve(t, dir)

	// go-tuf's updater, from the pinned root.
	cache := filepath.Join(tmp, "cache")
	u := refresh(t, mirror, pinned, cache)
	if got := versions(u); got != [4]int64{1, 1, 1, 1} {
		t.Errorf("versions (root, targets, snapshot, timestamp) = %v, want all 1", got)
	}
	if !u.GetTrustedMetadataSet().Root.Signed.ConsistentSnapshot {
		t.Error("root does not use consistent snapshots")
	}
	if got := download(t, u, trustedRootTarget); !bytes.Equal(got, tr1) {
		t.Error("trusted_root.json served differs from the one given")
	}
	if got := download(t, u, signingConfigTarget); !bytes.Equal(got, sc) {
		t.Error("signing config served differs from the one given")
	}

	// sigstore-go's client, as cosign and the monitor's key loading use it.
	opts := sigstoretuf.DefaultOptions()
	opts.Root = pinned
	opts.RepositoryBaseURL = mirror
	opts.CachePath = filepath.Join(tmp, "sigstore-cache")
	c, err := sigstoretuf.New(opts)
	if err != nil {
		t.Fatalf("sigstore-go TUF client: %v", err)
	}
	b, err := c.GetTarget(trustedRootTarget)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := root.NewTrustedRootFromJSON(b); err != nil {
		t.Fatalf("sigstore-go does not parse the trusted root: %v", err)
	}

	// A second run without -publish refuses to overwrite.
	var errb bytes.Buffer
	if code := run([]string{"-dir", dir, "-trusted-root", filepath.Join(tmp, "tr1.json")}, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "-publish") {
		t.Errorf("second run without -publish: exit %d, stderr %q; want 2 naming -publish", code, errb.String())
	}

	// -publish: a new trusted root, the signing config kept.
	tr2 := tuftest.NewTrustedRoot(t).JSON()
	out = runOK(t, "-dir", dir, "-publish", "-trusted-root", writeFile(t, filepath.Join(tmp, "tr2.json"), tr2))
	if !strings.Contains(out, "targets   v2") || !strings.Contains(out, "root      v1") {
		t.Errorf("publish output:\n%s", out)
	}
	u = refresh(t, mirror, pinned, cache) // the same cache: an update, not a first fetch
	if got := versions(u); got != [4]int64{1, 2, 2, 2} {
		t.Errorf("after -publish: versions = %v, want root 1, the others 2", got)
	}
	if got := download(t, u, trustedRootTarget); !bytes.Equal(got, tr2) {
		t.Error("after -publish: the client does not see the new trusted_root.json")
	}
	if got := download(t, u, signingConfigTarget); !bytes.Equal(got, sc) {
		t.Error("after -publish: the signing config changed")
	}

	// The monitor's trust watch sees the new versions too.
	w, err := trust.NewTUF(trust.TUFConfig{Mirror: mirror, Root: pinned, CacheDir: filepath.Join(tmp, "watch")})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := w.Update(context.Background())
	if err != nil {
		t.Fatalf("trust watch update: %v", err)
	}
	if r := snap.Role(metadata.TIMESTAMP); r == nil || r.Version != 2 {
		t.Errorf("trust watch: timestamp role = %+v, want version 2", r)
	}
	if !bytes.Equal(snap.TrustedRoot, tr2) {
		t.Error("trust watch: trusted root is not the published one")
	}

	// -publish without targets re-signs what is there.
	runOK(t, "-dir", dir, "-publish")
	if got := versions(refresh(t, mirror, pinned, cache)); got != [4]int64{1, 3, 3, 3} {
		t.Errorf("after a bare -publish: versions = %v", got)
	}
}

func TestServesOnlyRepositoryFiles(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "repo")
	runOK(t, "-dir", dir, "-trusted-root", writeFile(t, filepath.Join(tmp, "tr.json"), tuftest.NewTrustedRoot(t).JSON()))
	if fi, err := os.Stat(keyFile(dir, metadata.ROOT)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("root key file: %v, %v; want mode 0600", fi, err)
	}
	mirror := serve(t, dir)
	for path, want := range map[string]int{
		"/1.root.json":         200,
		"/root.json":           200,
		"/timestamp.json":      200,
		"/1.snapshot.json":     200,
		"/1.targets.json":      200,
		"/keys/root.pem":       404,
		"/keys/":               404,
		"/":                    404,
		"/targets/":            404,
		"/2.root.json":         404, // what a client asks for to find a new root
		"/targets/../keys/x":   404,
		"/.1.root.json.tmp123": 404,
	} {
		resp, err := http.Get(mirror + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestServeDir(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "repo")
	runOK(t, "-dir", dir, "-trusted-root", writeFile(t, filepath.Join(tmp, "tr.json"), tuftest.NewTrustedRoot(t).JSON()))
	ctx, cancel := context.WithCancel(context.Background())
	urlFile := filepath.Join(tmp, "url")
	done := make(chan error, 1)
	go func() { done <- serveDir(ctx, dir, "127.0.0.1:0", urlFile, io.Discard) }()
	var url string
	for range 100 {
		if b, err := os.ReadFile(urlFile); err == nil {
			url = strings.TrimSpace(string(b))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url file holds %q", url)
	}
	pinned, _ := os.ReadFile(filepath.Join(dir, "1.root.json"))
	refresh(t, url, pinned, filepath.Join(tmp, "cache"))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serveDir: %v", err)
	}
}

func TestFromStackEnv(t *testing.T) {
	tmp := t.TempDir()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := func(name string, pub any) string {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, filepath.Join(tmp, name), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	// A Fulcio that serves its trust bundle.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{"sigstore.dev"}, CommonName: "sigstore"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	fulcio := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/trustBundle" {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"chains": []any{map[string]any{"certificates": []string{
			string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))}}}})
	}))
	defer fulcio.Close()
	env := writeFile(t, filepath.Join(tmp, "env"), fmt.Appendf(nil, `# stack env
REKOR_URL=http://127.0.0.1:31300
REKOR_PUBKEY=%s
REKOR_V2_READ_URL=http://127.0.0.1:31380
REKOR_V2_PUBKEY=%s
REKOR_V2_ORIGIN=rekor-tiles.local
FULCIO_URL=%s
OIDC_ISSUER=http://127.0.0.1:31556
`, pemKey("v1.pub", ec.Public()), pemKey("v2.pub", edPub), fulcio.URL))

	trJSON, scJSON, err := fromStackEnv(env, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := root.NewTrustedRootFromJSON(trJSON)
	if err != nil {
		t.Fatalf("sigstore-go does not parse the trusted root: %v\n%s", err, trJSON)
	}
	byURL := map[string]*root.TransparencyLog{}
	for _, l := range tr.RekorLogs() {
		byURL[l.BaseURL] = l
	}
	if l := byURL["http://127.0.0.1:31300"]; l == nil || !l.PublicKey.(*ecdsa.PublicKey).Equal(ec.Public()) {
		t.Errorf("Rekor v1 log: %+v", l)
	}
	if l := byURL["http://127.0.0.1:31380"]; l == nil || !edPub.Equal(l.PublicKey) {
		t.Errorf("Rekor v2 log: %+v", l)
	}
	// The Rekor v2 log's ID is its checkpoint key ID, as Sigstore's
	// trusted roots give it; the v1 log's the SHA-256 of its DER key.
	wantV2, err := checkpoint.NoteKeyID("rekor-tiles.local", edPub)
	if err != nil {
		t.Fatal(err)
	}
	wantV1, err := checkpoint.KeyID(ec.Public())
	if err != nil {
		t.Fatal(err)
	}
	for u, want := range map[string]string{"http://127.0.0.1:31380": wantV2, "http://127.0.0.1:31300": wantV1} {
		if l := byURL[u]; l == nil || hex.EncodeToString(l.ID) != want {
			t.Errorf("log ID of %s = %x, want %s", u, l.ID, want)
		}
	}
	for _, l := range byURL {
		if !l.ValidityPeriodStart.Before(time.Now()) {
			t.Errorf("log %s valid from %v, not yet", l.BaseURL, l.ValidityPeriodStart)
		}
	}
	if cas := tr.FulcioCertificateAuthorities(); len(cas) != 1 || cas[0].(*root.FulcioCertificateAuthority).URI != fulcio.URL {
		t.Errorf("Fulcio CAs: %+v", cas)
	}
	sc, err := root.NewSigningConfigFromJSON(scJSON)
	if err != nil {
		t.Fatalf("sigstore-go does not parse the signing config: %v\n%s", err, scJSON)
	}
	api := map[string]uint32{}
	for _, s := range sc.RekorLogURLs() {
		api[s.URL] = s.MajorAPIVersion
	}
	if api["http://127.0.0.1:31300"] != 1 || api["http://127.0.0.1:31380"] != 2 || len(api) != 2 {
		t.Errorf("signing config Rekor services: %v", api)
	}

	// Through the command: the repository serves them; -publish with
	// -extra-tlog publishes a trusted root with a third log.
	dir := filepath.Join(tmp, "repo")
	runOK(t, "-dir", dir, "-from-stack-env", env)
	pinned, _ := os.ReadFile(filepath.Join(dir, "1.root.json"))
	mirror, cache := serve(t, dir), filepath.Join(tmp, "cache")
	u := refresh(t, mirror, pinned, cache)
	if got := download(t, u, trustedRootTarget); !bytes.Equal(got, trJSON) {
		t.Errorf("served trusted root differs from fromStackEnv's:\n%s\n%s", got, trJSON)
	}
	runOK(t, "-dir", dir, "-publish", "-from-stack-env", env, "-extra-tlog", "http://127.0.0.1:31399="+pemKey("extra.pub", caKey.Public()))
	u = refresh(t, mirror, pinned, cache)
	tr, err = root.NewTrustedRootFromJSON(download(t, u, trustedRootTarget))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tr.RekorLogs()); n != 3 {
		t.Errorf("after -extra-tlog: %d logs, want 3", n)
	}
	if !bytes.Equal(download(t, u, signingConfigTarget), scJSON) {
		t.Error("-extra-tlog changed the signing config")
	}
}

func TestUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	tr := writeFile(t, filepath.Join(tmp, "tr.json"), tuftest.NewTrustedRoot(t).JSON())
	notRoot := writeFile(t, filepath.Join(tmp, "x.json"), []byte(`{"mediaType":"nope"}`))
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "usage"},
		{[]string{"-dir", filepath.Join(tmp, "a")}, 2, "holds no repository"},
		{[]string{"-dir", filepath.Join(tmp, "b"), "-trusted-root", tr, "-serve", "0.0.0.0:0"}, 2, "loopback"},
		{[]string{"-dir", filepath.Join(tmp, "c"), "-trusted-root", notRoot}, 1, "not a trusted root"},
		{[]string{"-dir", filepath.Join(tmp, "d"), "-signing-config", tr}, 2, "goes with -trusted-root"},
		{[]string{"-dir", filepath.Join(tmp, "e"), "-trusted-root", tr, "-from-stack-env", tr}, 2, "not both"},
		{[]string{"-dir", filepath.Join(tmp, "f"), "-trusted-root", tr, "-extra-tlog", "http://x=" + tr}, 2, "goes with -from-stack-env"},
	} {
		var errb bytes.Buffer
		if code := run(tc.args, io.Discard, &errb); code != tc.code || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("tufrepo %v: exit %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
}
