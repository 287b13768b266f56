package testenv

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPAE(t *testing.T) {
	// The example from the DSSE v1 protocol description.
	got := string(PAE("http://example.com/HelloWorld", []byte("hello world")))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got != want {
		t.Errorf("PAE = %q, want %q", got, want)
	}
}

func TestSignDSSE(t *testing.T) {
	key, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	payload := InTotoStatement("a.tgz", []byte("a"), "https://builder.example")
	env, sig, err := SignDSSE(key, InTotoPayloadType, payload)
	if err != nil {
		t.Fatal(err)
	}
	var e dsseEnvelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatalf("envelope is not JSON: %v", err)
	}
	got, err := base64.StdEncoding.DecodeString(e.Payload)
	if err != nil || !bytes.Equal(got, payload) {
		t.Errorf("envelope payload = %q (%v), want the statement", got, err)
	}
	if len(e.Signatures) != 1 || e.Signatures[0].Sig != base64.StdEncoding.EncodeToString(sig) {
		t.Errorf("envelope signatures = %+v, want the one returned", e.Signatures)
	}
	d := sha256.Sum256(PAE(InTotoPayloadType, payload))
	if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), d[:], sig) {
		t.Error("signature does not verify over SHA-256(PAE)")
	}
}

func TestParseSigner(t *testing.T) {
	key, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pem     []byte
		wantErr bool
	}{
		{"pkcs8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), false},
		{"sec1", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), false},
		{"public key", pub, true},
		{"not pem", []byte("hello"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSigner(tt.pem)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseSigner() error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && !s.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
				t.Error("ParseSigner() returned a different key")
			}
		})
	}
}

// extValue returns the value of the extension id in cert, or nil.
func extValue(cert *x509.Certificate, id asn1.ObjectIdentifier) []byte {
	for _, e := range cert.Extensions {
		if e.Id.Equal(id) {
			return e.Value
		}
	}
	return nil
}

func utf8DER(t *testing.T, s string) []byte {
	t.Helper()
	b, err := asn1.MarshalWithParams(s, "utf8")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func parseCertPEM(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(p)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", p)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTestCAIssue(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	ext := GitHubActionsExtensions("org/repo", "refs/heads/main", ".github/workflows/rel.yml", "abc123")
	workflow := "https://github.com/org/repo/.github/workflows/rel.yml@refs/heads/main"
	tests := []struct {
		name, san, issuer string
		ext               Extensions
	}{
		{"email", "alice@example.com", "https://issuer.example", Extensions{}},
		{"workflow uri", workflow, GitHubActionsIssuer, ext},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			p, err := ca.Issue(key.Public(), tt.san, tt.issuer, tt.ext)
			if err != nil {
				t.Fatal(err)
			}
			cert := parseCertPEM(t, p)
			roots := x509.NewCertPool()
			roots.AddCert(ca.Root)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}); err != nil {
				t.Errorf("leaf does not verify against the root for code signing: %v", err)
			}
			if strings.Contains(tt.san, "://") {
				if len(cert.URIs) != 1 || cert.URIs[0].String() != tt.san {
					t.Errorf("URI SANs = %v, want [%s]", cert.URIs, tt.san)
				}
			} else if len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != tt.san {
				t.Errorf("email SANs = %v, want [%s]", cert.EmailAddresses, tt.san)
			}
			for _, e := range cert.Extensions {
				if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 17}) && !e.Critical {
					t.Error("SAN extension is not critical (Fulcio certificates have an empty subject)")
				}
			}
			if cert.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("key usage = %v, want digitalSignature", cert.KeyUsage)
			}
			if d := cert.NotAfter.Sub(cert.NotBefore); d > 15*time.Minute {
				t.Errorf("validity = %v, want short-lived", d)
			}
			checks := []struct {
				id   asn1.ObjectIdentifier
				want []byte
			}{
				{OIDIssuer, []byte(tt.issuer)},       // raw bytes
				{OIDIssuerV2, utf8DER(t, tt.issuer)}, // DER UTF8String
				{OIDGitHubWorkflowRef, nilIfEmpty([]byte(tt.ext.GithubWorkflowRef))},
				{OIDBuildSignerURI, derIfSet(t, tt.ext.BuildSignerURI)},
				{OIDSourceRepositoryURI, derIfSet(t, tt.ext.SourceRepositoryURI)},
				{OIDSourceRepositoryRef, derIfSet(t, tt.ext.SourceRepositoryRef)},
				{OIDRunnerEnvironment, derIfSet(t, tt.ext.RunnerEnvironment)},
			}
			for _, c := range checks {
				if got := extValue(cert, c.id); !bytes.Equal(got, c.want) {
					t.Errorf("extension %v = %q, want %q", c.id, got, c.want)
				}
			}
		})
	}
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

func derIfSet(t *testing.T, s string) []byte {
	t.Helper()
	if s == "" {
		return nil
	}
	return utf8DER(t, s)
}

func TestTestCASaveLoad(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateTestCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadOrCreateTestCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Root.Equal(ca.Root) {
		t.Fatal("LoadOrCreateTestCA created a new root instead of loading the saved one")
	}
	key, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	p, err := again.Issue(key.Public(), "bob@example.com", "https://issuer.example", Extensions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := parseCertPEM(t, p).CheckSignatureFrom(ca.Root); err != nil {
		t.Errorf("certificate from the loaded CA does not chain to the saved root: %v", err)
	}
	other, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Save(filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTestCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "other.key")); err == nil {
		t.Error("LoadTestCA accepted a key that does not match the certificate")
	}
}

func TestParallel(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		n        int
		workers  int
		failAt   int // -1: never
		wantDone func(int) bool
		wantErr  error
	}{
		{"all", 100, 7, -1, func(d int) bool { return d == 100 }, nil},
		{"more workers than work", 3, 50, -1, func(d int) bool { return d == 3 }, nil},
		{"nothing", 0, 4, -1, func(d int) bool { return d == 0 }, nil},
		{"stops at error", 1000, 4, 10, func(d int) bool { return d < 1000 }, boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls, inFlight, maxInFlight atomic.Int64
			done, err := Parallel(t.Context(), tt.n, tt.workers, func(ctx context.Context, i int) error {
				calls.Add(1)
				cur := inFlight.Add(1)
				defer inFlight.Add(-1)
				for m := maxInFlight.Load(); cur > m && !maxInFlight.CompareAndSwap(m, cur); m = maxInFlight.Load() {
				}
				if i == tt.failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Parallel() error = %v, want %v", err, tt.wantErr)
			}
			if !tt.wantDone(done) {
				t.Errorf("Parallel() done = %d (calls %d)", done, calls.Load())
			}
			if m := maxInFlight.Load(); m > int64(tt.workers) {
				t.Errorf("%d calls in flight, want at most %d", m, tt.workers)
			}
		})
	}
}

func TestParallelCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	done, err := Parallel(ctx, 10, 2, func(context.Context, int) error { return nil })
	if !errors.Is(err, context.Canceled) || done != 0 {
		t.Errorf("Parallel(canceled) = %d, %v; want 0, context.Canceled", done, err)
	}
}

func TestStatusError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"code":409,"message":"an equivalent entry already exists in the transparency log"}`, http.StatusConflict)
	}))
	defer srv.Close()
	key, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	_, err = AddV1HashedRekord(t.Context(), srv.URL, key, pub, []byte("x"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusConflict || !errors.Is(err, ErrEntryExists) {
		t.Errorf("AddV1HashedRekord(409 server) error = %v, want a StatusError matching ErrEntryExists", err)
	}
}

// ---------------------------------------------------------------- against the real stack

// stackMaterial is what the stack tests sign with.
type stackMaterial struct {
	name   string
	signer crypto.Signer
	pem    []byte
}

func stackSigners(t *testing.T, env Env) []stackMaterial {
	t.Helper()
	client, err := LoadSigner(env.Get(t, "CLIENT_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	clientPub, err := PublicKeyPEM(client.Public())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	eph, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(eph.Public(),
		"https://github.com/org/repo/.github/workflows/rel.yml@refs/tags/v1", GitHubActionsIssuer,
		GitHubActionsExtensions("org/repo", "refs/tags/v1", ".github/workflows/rel.yml", "abc"))
	if err != nil {
		t.Fatal(err)
	}
	return []stackMaterial{{"key", client, clientPub}, {"cert", eph, cert}}
}

func uniqueArtifact(t *testing.T, what string) []byte {
	return fmt.Appendf(nil, "%s %s %d", t.Name(), what, time.Now().UnixNano())
}

// v1EntryKind fetches entry idx from Rekor v1 and returns its body's kind.
func v1EntryKind(t *testing.T, rekorURL string, idx int64) string {
	t.Helper()
	raw, err := get(t.Context(), rekorURL+"/api/v1/log/entries?logIndex="+strconv.FormatInt(idx, 10))
	if err != nil {
		t.Fatalf("fetching entry %d: %v", idx, err)
	}
	var resp map[string]struct {
		Body     string `json:"body"`
		LogIndex int64  `json:"logIndex"`
	}
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("decoding entry %d: %v", idx, err)
	}
	for _, e := range resp {
		if e.LogIndex != idx {
			t.Errorf("entry %d answered with logIndex %d", idx, e.LogIndex)
		}
		body, err := base64.StdEncoding.DecodeString(e.Body)
		if err != nil {
			t.Fatalf("decoding body of entry %d: %v", idx, err)
		}
		var k struct {
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal(body, &k); err != nil {
			t.Fatalf("decoding body of entry %d: %v", idx, err)
		}
		return k.Kind
	}
	t.Fatalf("entry %d: empty answer", idx)
	return ""
}

func TestAddV1(t *testing.T) {
	env := Stack(t)
	url := env.Get(t, "REKOR_URL")
	adders := []struct {
		kind string
		add  func(context.Context, string, crypto.Signer, []byte, []byte) (int64, error)
	}{
		{"hashedrekord", AddV1HashedRekord},
		{"dsse", AddV1DSSE},
		{"intoto", AddV1InToto},
	}
	for _, m := range stackSigners(t, env) {
		for _, a := range adders {
			t.Run(a.kind+"/"+m.name, func(t *testing.T) {
				before, err := FetchV1TreeSize(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				idx, err := a.add(t.Context(), url, m.signer, m.pem, uniqueArtifact(t, a.kind))
				if err != nil {
					t.Fatal(err)
				}
				if idx < before {
					t.Errorf("log index %d, want >= tree size %d before the add", idx, before)
				}
				after, err := FetchV1TreeSize(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				if after <= idx {
					t.Errorf("tree size after the add = %d, want > log index %d", after, idx)
				}
				if got := v1EntryKind(t, url, idx); got != a.kind {
					t.Errorf("entry %d has kind %q, want %q", idx, got, a.kind)
				}
			})
		}
	}
}

func TestAddV1Duplicate(t *testing.T) {
	env := Stack(t)
	url := env.Get(t, "REKOR_URL")
	m := stackSigners(t, env)[0]
	art := uniqueArtifact(t, "dup")
	if _, err := AddV1HashedRekord(t.Context(), url, m.signer, m.pem, art); err != nil {
		t.Fatal(err)
	}
	// ECDSA signatures are randomized, so a second upload differs in its signature;
	// only a byte-identical entry is a duplicate. Re-post the same signature.
	d := sha256.Sum256(art)
	sig, err := signDigest(m.signer, d[:])
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{"algorithm":"sha256","value":"%x"}},"signature":{"content":"%s","publicKey":{"content":"%s"}}}}`,
		d, base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(m.pem))
	for i := range 2 {
		err = postJSON(t.Context(), url+"/api/v1/log/entries", []byte(body), nil)
		if i == 1 && !errors.Is(err, ErrEntryExists) {
			t.Errorf("second identical upload: error = %v, want ErrEntryExists", err)
		}
	}
}

func TestAddV2(t *testing.T) {
	env := Stack(t)
	write, read := env.Get(t, "REKOR_V2_WRITE_URL"), env.Get(t, "REKOR_V2_READ_URL")
	origin := env.Get(t, "REKOR_V2_ORIGIN")
	for _, m := range stackSigners(t, env) {
		for _, kind := range []string{"hashedrekord", "dsse"} {
			t.Run(kind+"/"+m.name, func(t *testing.T) {
				_, before, err := FetchV2Checkpoint(t.Context(), read)
				if err != nil {
					t.Fatal(err)
				}
				art := uniqueArtifact(t, kind)
				var idx int64
				if kind == "dsse" {
					var env []byte
					idx, env, err = AddV2DSSE(t.Context(), write, m.signer, m.pem, art)
					if err == nil && !json.Valid(env) {
						t.Errorf("AddV2DSSE returned an invalid envelope %q", env)
					}
				} else {
					idx, err = AddV2HashedRekord(t.Context(), write, m.signer, m.pem, art)
				}
				if err != nil {
					t.Fatal(err)
				}
				if idx < before {
					t.Errorf("log index %d, want >= tree size %d before the add", idx, before)
				}
				// The write returns once a checkpoint covering the entry is published.
				cp, after, err := FetchV2Checkpoint(t.Context(), read)
				if err != nil {
					t.Fatal(err)
				}
				if after <= idx {
					t.Errorf("checkpoint size after the add = %d, want > log index %d", after, idx)
				}
				if first, _, _ := strings.Cut(string(cp), "\n"); first != origin {
					t.Errorf("checkpoint origin = %q, want %q", first, origin)
				}
			})
		}
	}
}

func TestAddV2RejectsBadSignature(t *testing.T) {
	env := Stack(t)
	m := stackSigners(t, env)[0]
	other, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	// Signed by other, verifier says the client key: the log must refuse it.
	d := sha256.Sum256(uniqueArtifact(t, "bad"))
	sig, err := signDigest(other, d[:])
	if err != nil {
		t.Fatal(err)
	}
	_, err = addV2(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), m.signer, m.pem, d[:], sig)
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
		t.Errorf("adding a badly signed entry: error = %v, want a 400 StatusError", err)
	}
}

func TestFulcioCert(t *testing.T) {
	env := Stack(t)
	issuer := env.Get(t, "OIDC_ISSUER")
	tests := []struct {
		name string
		key  func() (crypto.Signer, error)
	}{
		{"ecdsa", NewSigner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := tt.key()
			if err != nil {
				t.Fatal(err)
			}
			chain, err := FulcioCert(t.Context(), env.Get(t, "FULCIO_URL"), issuer, "carol@example.com", key)
			if err != nil {
				t.Fatal(err)
			}
			leaf := parseCertPEM(t, chain)
			if len(leaf.EmailAddresses) != 1 || leaf.EmailAddresses[0] != "carol@example.com" {
				t.Errorf("leaf email SANs = %v, want [carol@example.com]", leaf.EmailAddresses)
			}
			if got := extValue(leaf, OIDIssuerV2); !bytes.Equal(got, utf8DER(t, issuer)) {
				t.Errorf("leaf issuer extension = %q, want %q", got, issuer)
			}
			switch pub := leaf.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if !pub.Equal(key.Public()) {
					t.Error("leaf certifies another key")
				}
			case *rsa.PublicKey:
				t.Errorf("leaf key is RSA, want the ECDSA key sent")
			}
			// And the certificate is accepted by Rekor v1 as a verifier.
			if _, err := AddV1HashedRekord(t.Context(), env.Get(t, "REKOR_URL"), key, chain, uniqueArtifact(t, "fulcio")); err != nil {
				t.Errorf("adding an entry with the Fulcio certificate: %v", err)
			}
		})
	}
}

// TestStackTilesServed checks the tile server serves what rekor-tiles wrote,
// including partial tiles, and hides tessera's state directory.
func TestStackTilesServed(t *testing.T) {
	env := Stack(t)
	read := env.Get(t, "REKOR_V2_READ_URL")
	_, size, err := FetchV2Checkpoint(t.Context(), read)
	if err != nil {
		t.Fatal(err)
	}
	if size == 0 || size%256 == 0 {
		// Make the log's last tile partial, so the partial path exists.
		m := stackSigners(t, env)[0]
		if _, err := AddV2HashedRekord(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), m.signer, m.pem, uniqueArtifact(t, "tile")); err != nil {
			t.Fatal(err)
		}
		if _, size, err = FetchV2Checkpoint(t.Context(), read); err != nil {
			t.Fatal(err)
		}
	}
	// The last (partial) level-0 tile and entry bundle, per the tlog-tiles path scheme.
	n, w := size/256, size%256
	tests := []struct {
		path       string
		wantStatus int
	}{
		{fmt.Sprintf("/tile/0/%s.p/%d", tileIndex(n), w), http.StatusOK},
		{fmt.Sprintf("/tile/entries/%s.p/%d", tileIndex(n), w), http.StatusOK},
		{"/.state/treeState", http.StatusNotFound},
		{"/tile/", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := seedClient().Get(read + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusOK && strings.HasPrefix(tt.path, "/tile/0/") && len(body) != int(w)*32 {
				t.Errorf("partial tile of width %d has %d bytes, want %d", w, len(body), w*32)
			}
		})
	}
}

// tileIndex formats a tile index as tlog-tiles path elements ("x001/234").
func tileIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/", n%1000) + s
	}
	return s
}

// TestStackCheckpointKeys checks the env file's contract for the logs' keys and
// origins: the v1 checkpoint (ECDSA P-256 signed note, origin "<REKOR_HOSTNAME>
// - <REKOR_TREE_ID>") verifies with REKOR_PUBKEY, the v2 one (Ed25519, origin
// REKOR_V2_ORIGIN) with REKOR_V2_PUBKEY, and each private key matches.
func TestStackCheckpointKeys(t *testing.T) {
	env := Stack(t)
	raw, err := get(t.Context(), env.Get(t, "REKOR_URL")+"/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		SignedTreeHead string `json:"signedTreeHead"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	v2, _, err := FetchV2Checkpoint(t.Context(), env.Get(t, "REKOR_V2_READ_URL"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, note, origin, keyName, pubFile, privFile string
	}{
		{"v1", info.SignedTreeHead, env.Get(t, "REKOR_HOSTNAME") + " - " + env.Get(t, "REKOR_TREE_ID"),
			env.Get(t, "REKOR_HOSTNAME"), env.Get(t, "REKOR_PUBKEY"), env.Get(t, "REKOR_PRIVKEY")},
		{"v2", string(v2), env.Get(t, "REKOR_V2_ORIGIN"),
			env.Get(t, "REKOR_V2_ORIGIN"), env.Get(t, "REKOR_V2_PUBKEY"), env.Get(t, "REKOR_V2_PRIVKEY")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text, sigs, ok := strings.Cut(tt.note, "\n\n")
			if !ok {
				t.Fatalf("checkpoint %q has no signature block", tt.note)
			}
			text += "\n"
			if first, _, _ := strings.Cut(text, "\n"); first != tt.origin {
				t.Errorf("origin = %q, want %q", first, tt.origin)
			}
			pubPEM, err := os.ReadFile(tt.pubFile)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(pubPEM)
			if block == nil {
				t.Fatalf("%s holds no PEM", tt.pubFile)
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			priv, err := LoadSigner(tt.privFile)
			if err != nil {
				t.Fatal(err)
			}
			if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Errorf("%s does not hold the private key of %s", tt.privFile, tt.pubFile)
			}
			verified := false
			for _, line := range strings.Split(strings.TrimSpace(sigs), "\n") {
				name, b64, _ := strings.Cut(strings.TrimPrefix(line, "\u2014 "), " ")
				sig, err := base64.StdEncoding.DecodeString(b64)
				if err != nil || name != tt.keyName || len(sig) < 5 {
					continue
				}
				sig = sig[4:] // key hash
				switch k := pub.(type) {
				case *ecdsa.PublicKey:
					d := sha256.Sum256([]byte(text))
					verified = verified || ecdsa.VerifyASN1(k, d[:], sig)
				case ed25519.PublicKey:
					verified = verified || ed25519.Verify(k, []byte(text), sig)
				}
			}
			if !verified {
				t.Errorf("no signature by %q verifies with %s in %q", tt.keyName, tt.pubFile, tt.note)
			}
		})
	}
}
