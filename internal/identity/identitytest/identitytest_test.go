package identitytest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/rekor/pkg/generated/models"

	"github.com/vigil-tlog/vigil/internal/identity"
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
	payload := InTotoStatement("a.tgz", []byte("a"))
	env, sigs, err := SignDSSE(InTotoPayloadType, payload, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 {
		t.Fatalf("SignDSSE returned %d signatures, want 1", len(sigs))
	}
	sig := sigs[0]
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

// extValue returns the value of the extension oid (dotted) in cert, or nil.
func extValue(cert *x509.Certificate, oid string) []byte {
	for _, e := range cert.Extensions {
		if e.Id.String() == oid {
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
				id   string
				want []byte
			}{
				{identity.OIDIssuerV1, []byte(tt.issuer)},   // raw bytes
				{identity.OIDIssuer, utf8DER(t, tt.issuer)}, // DER UTF8String
				{identity.OIDPrefix + "6", nilIfEmpty([]byte(tt.ext.GithubWorkflowRef))},
				{identity.OIDPrefix + "9", derIfSet(t, tt.ext.BuildSignerURI)},
				{identity.OIDPrefix + "12", derIfSet(t, tt.ext.SourceRepositoryURI)},
				{identity.OIDPrefix + "14", derIfSet(t, tt.ext.SourceRepositoryRef)},
				{identity.OIDPrefix + "11", derIfSet(t, tt.ext.RunnerEnvironment)},
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

// TestUploadEntries runs the entries package stack uploads, built from a
// crypto.Signer and PEM material, through rekor's insertion path (which
// verifies the signatures), signed by a bare key and by a TestCA leaf.
func TestUploadEntries(t *testing.T) {
	ca, err := NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := PublicKeyPEM(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(key.Public(), "alice@example.com", "https://issuer.example", Extensions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, material := range map[string][]byte{"key": pub, "cert": cert} {
		t.Run(name, func(t *testing.T) {
			art := Artifact()
			d := sha256.Sum256(art)
			sig, err := SignDigest(key, d[:])
			if err != nil {
				t.Fatal(err)
			}
			env, _, err := SignDSSE(InTotoPayloadType, InTotoStatement("a", art), key)
			if err != nil {
				t.Fatal(err)
			}
			intoto, err := IntotoV002Entry(env, material)
			if err != nil {
				t.Fatal(err)
			}
			for _, pe := range []models.ProposedEntry{HashedRekordEntry(d[:], sig, material), DSSEEntry(env, material), intoto} {
				if body := Canonical(t, pe); !json.Valid(body) {
					t.Errorf("%s body is not JSON: %q", pe.Kind(), body)
				}
			}
			if _, err := IntotoV002Entry(env); err == nil {
				t.Error("IntotoV002Entry accepted an envelope with more signatures than verifiers")
			}
			v, err := V2Verifier(material)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.GetX509Certificate() != nil; got != (name == "cert") {
				t.Errorf("V2Verifier(%s) holds a certificate: %v", name, got)
			}
		})
	}
}
