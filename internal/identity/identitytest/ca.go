package identitytest

// Certificate authorities shaped like Fulcio: [CA] (root and intermediate,
// for tests) and [TestCA] (a root that programs can save and load). Both
// issue leaves through [CertOptions]: empty subject, a critical SAN, key
// usage digitalSignature, extended key usage codeSigning, and Fulcio
// extensions 1.3.6.1.4.1.57264.1.N encoded as Fulcio does (raw string bytes
// for N <= 6, a DER UTF8String from N = 8 on).

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/state"
)

// issuer is one certificate authority key and certificate.
type issuer struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

// newRoot creates a self-signed CA certificate for a fresh key.
func newRoot(subject pkix.Name, notBefore, notAfter time.Time) (*issuer, error) {
	key, err := newECDSAKey()
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	tmpl := caTemplate(subject, 1, notBefore, notAfter)
	cert, err := createCert(tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	return &issuer{cert: cert, key: key}, nil
}

// caTemplate is a CA certificate that may sign code-signing leaves.
func caTemplate(subject pkix.Name, serial int64, notBefore, notAfter time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}
}

func createCert(tmpl, parent *x509.Certificate, pub crypto.PublicKey, priv crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// issue signs a leaf for pub described by o; edit, if set, adjusts the
// template first.
func (is *issuer) issue(pub crypto.PublicKey, o CertOptions, edit func(*x509.Certificate)) (*x509.Certificate, error) {
	tmpl, err := o.template(is.serial.Add(1))
	if err != nil {
		return nil, err
	}
	if edit != nil {
		edit(tmpl)
	}
	c, err := createCert(tmpl, is.cert, pub, is.key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	return c, nil
}

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// ---------------------------------------------------------------------------
// CA

// CA is a root and an intermediate certificate authority, as a private
// Fulcio deployment has.
type CA struct {
	Root, Intermediate *x509.Certificate
	root, intermediate *issuer
}

// NewCA creates a CA named name, valid from one year ago for ten years.
func NewCA(tb TB, name string) *CA {
	tb.Helper()
	now := time.Now()
	nb, na := now.AddDate(-1, 0, 0), now.AddDate(9, 0, 0)
	root, err := newRoot(pkix.Name{CommonName: name + " root", Organization: []string{name}}, nb, na)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := newECDSAKey()
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := createCert(caTemplate(pkix.Name{CommonName: name + " intermediate", Organization: []string{name}}, 2, nb, na),
		root.cert, &key.PublicKey, root.key)
	if err != nil {
		tb.Fatalf("creating certificate: %v", err)
	}
	ca := &CA{Root: root.cert, Intermediate: cert, root: root, intermediate: &issuer{cert: cert, key: key}}
	ca.intermediate.serial.Store(100)
	return ca
}

// PEM returns the root and intermediate as a PEM bundle (a ca_file).
func (ca *CA) PEM() []byte {
	return append(certPEM(ca.Root), certPEM(ca.Intermediate)...)
}

// RootPEM returns the root certificate alone in PEM.
func (ca *CA) RootPEM() []byte {
	return certPEM(ca.Root)
}

// CertOptions describe a Fulcio-style leaf certificate.
type CertOptions struct {
	Emails, URIs, DNSNames []string
	// Username, if set, becomes a Fulcio OtherName SAN. Unlike Fulcio,
	// the SAN extension is not marked critical: crypto/x509 does not
	// parse OtherName, so rekor's chain check would reject the entry.
	Username string
	// Extensions maps 1.3.6.1.4.1.57264.1.N to a value: encoded raw for
	// N <= 6 and as a DER UTF8String otherwise, as Fulcio does.
	// [Extensions.OIDs] returns such a map.
	Extensions map[string]string
	// NotBefore defaults to ten minutes ago; the certificate lives ten
	// minutes, like a Fulcio certificate, unless Lifetime is set.
	NotBefore time.Time
	Lifetime  time.Duration
}

// template returns the leaf template o describes.
func (o CertOptions) template(serial int64) (*x509.Certificate, error) {
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-10 * time.Minute)
	}
	if o.Lifetime == 0 {
		o.Lifetime = 10 * time.Minute
	}
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(serial),
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotBefore.Add(o.Lifetime),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: o.Emails,
		DNSNames:       o.DNSNames,
	}
	for _, u := range o.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("parsing URI SAN %q: %w", u, err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if o.Username != "" {
		ext, err := cryptoutils.MarshalOtherNameSAN(o.Username, false)
		if err != nil {
			return nil, fmt.Errorf("encoding OtherName SAN: %w", err)
		}
		tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, *ext)
	}
	exts, err := fulcioExtensions(o.Extensions)
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = append(tmpl.ExtraExtensions, exts...)
	return tmpl, nil
}

// Issue returns a Signer with a fresh key and a leaf certificate issued by
// the intermediate, with the intermediate as its chain.
func (ca *CA) Issue(tb TB, o CertOptions) Signer {
	tb.Helper()
	s := NewKey(tb)
	cert, err := ca.intermediate.issue(&s.Key.PublicKey, o, nil)
	if err != nil {
		tb.Fatal(err)
	}
	s.Cert = cert
	s.Chain = []*x509.Certificate{ca.Intermediate}
	return s
}

// parseOID parses a dotted OID.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for part := range strings.SplitSeq(s, ".") {
		n, err := strconv.Atoi(part)
		if err != nil {
			return nil, fmt.Errorf("parsing OID %q: %w", s, err)
		}
		oid = append(oid, n)
	}
	return oid, nil
}

// fulcioExtensions encodes exts (dotted OID to value) as Fulcio does, in OID
// order.
func fulcioExtensions(exts map[string]string) ([]pkix.Extension, error) {
	type ext struct {
		id    asn1.ObjectIdentifier
		value string
	}
	var sorted []ext
	for oid, v := range exts {
		id, err := parseOID(oid)
		if err != nil {
			return nil, fmt.Errorf("encoding extension %s: %w", oid, err)
		}
		sorted = append(sorted, ext{id, v})
	}
	slices.SortFunc(sorted, func(a, b ext) int { return slices.Compare(a.id, b.id) })
	var out []pkix.Extension
	for _, e := range sorted {
		if n, ok := strings.CutPrefix(e.id.String(), identity.OIDPrefix); ok {
			if i, err := strconv.Atoi(n); err == nil && i <= 6 {
				// 1.3.6.1.4.1.57264.1.1 to .6 (deprecated) hold the raw string.
				out = append(out, pkix.Extension{Id: e.id, Value: []byte(e.value)})
				continue
			}
		}
		der, err := asn1.MarshalWithParams(e.value, "utf8")
		if err != nil {
			return nil, fmt.Errorf("encoding extension %s: %w", e.id, err)
		}
		out = append(out, pkix.Extension{Id: e.id, Value: der})
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Fulcio extensions by name

// Extensions are the Fulcio certificate extensions besides the issuer; empty
// fields are left out. The field names follow Fulcio's certificate.Extensions,
// the comments give N of 1.3.6.1.4.1.57264.1.N.
type Extensions struct {
	// Deprecated GitHub-specific forms, raw string bytes.
	GithubWorkflowTrigger    string // 2
	GithubWorkflowSHA        string // 3
	GithubWorkflowName       string // 4
	GithubWorkflowRepository string // 5
	GithubWorkflowRef        string // 6

	// DER UTF8String.
	BuildSignerURI                      string // 9
	BuildSignerDigest                   string // 10
	RunnerEnvironment                   string // 11
	SourceRepositoryURI                 string // 12
	SourceRepositoryDigest              string // 13
	SourceRepositoryRef                 string // 14
	SourceRepositoryIdentifier          string // 15
	SourceRepositoryOwnerURI            string // 16
	SourceRepositoryOwnerIdentifier     string // 17
	BuildConfigURI                      string // 18
	BuildConfigDigest                   string // 19
	BuildTrigger                        string // 20
	RunInvocationURI                    string // 21
	SourceRepositoryVisibilityAtSigning string // 22
	DeploymentEnvironment               string // 23
	Subject                             string // 24, the token's raw "sub"
}

// OIDs returns the extensions as [CertOptions.Extensions]: dotted OID to
// value, with issuer (if set) in both issuer extensions, as Fulcio sets
// them: [identity.OIDIssuerV1] and [identity.OIDIssuer].
func (e Extensions) OIDs(issuer string) map[string]string {
	m := make(map[string]string)
	set := func(oid, v string) {
		if v != "" {
			m[oid] = v
		}
	}
	n := func(n int) string { return identity.OIDPrefix + strconv.Itoa(n) }
	set(identity.OIDIssuerV1, issuer)
	set(identity.OIDIssuer, issuer)
	for i, v := range []string{
		2: e.GithubWorkflowTrigger, 3: e.GithubWorkflowSHA, 4: e.GithubWorkflowName,
		5: e.GithubWorkflowRepository, 6: e.GithubWorkflowRef,
		9: e.BuildSignerURI, 10: e.BuildSignerDigest, 11: e.RunnerEnvironment,
		12: e.SourceRepositoryURI, 13: e.SourceRepositoryDigest, 14: e.SourceRepositoryRef,
		15: e.SourceRepositoryIdentifier, 16: e.SourceRepositoryOwnerURI,
		17: e.SourceRepositoryOwnerIdentifier, 18: e.BuildConfigURI, 19: e.BuildConfigDigest,
		20: e.BuildTrigger, 21: e.RunInvocationURI, 22: e.SourceRepositoryVisibilityAtSigning,
		23: e.DeploymentEnvironment, 24: e.Subject,
	} {
		set(n(i), v)
	}
	return m
}

// GitHubActionsExtensions returns the extensions Fulcio sets for a GitHub
// Actions workflow run of repo ("owner/name") at ref for the workflow file
// path (".github/workflows/release.yml"), with commit sha, as a test would
// expect to see in a release signed from CI.
func GitHubActionsExtensions(repo, ref, workflow, sha string) Extensions {
	base := "https://github.com/" + repo
	owner, _, _ := strings.Cut(repo, "/")
	return Extensions{
		GithubWorkflowTrigger:               "push",
		GithubWorkflowSHA:                   sha,
		GithubWorkflowName:                  "release",
		GithubWorkflowRepository:            repo,
		GithubWorkflowRef:                   ref,
		BuildSignerURI:                      base + "/" + workflow + "@" + ref,
		BuildSignerDigest:                   sha,
		RunnerEnvironment:                   "github-hosted",
		SourceRepositoryURI:                 base,
		SourceRepositoryDigest:              sha,
		SourceRepositoryRef:                 ref,
		SourceRepositoryIdentifier:          "100000001",
		SourceRepositoryOwnerURI:            "https://github.com/" + owner,
		SourceRepositoryOwnerIdentifier:     "200000002",
		BuildConfigURI:                      base + "/" + workflow + "@" + ref,
		BuildConfigDigest:                   sha,
		BuildTrigger:                        "push",
		RunInvocationURI:                    base + "/actions/runs/1/attempts/1",
		SourceRepositoryVisibilityAtSigning: "public",
	}
}

// GitHubActionsIssuer is the issuer of GitHub Actions ID tokens.
const GitHubActionsIssuer = "https://token.actions.githubusercontent.com"

// ---------------------------------------------------------------------------
// TestCA

// TestCA issues short-lived code-signing certificates shaped like Fulcio's
// (see [CertOptions]) straight from a self-signed ECDSA P-256 root: the
// issuer in 57264.1.1 (raw) and .1.8 (UTF8String) and the given
// [Extensions]. Put RootPEM in a monitor's ca_file. Unlike [CA], it
// reports errors rather than stopping a test, and it can be saved for a
// later process ([TestCA.Save], [LoadOrCreateTestCA]).
//
// A TestCA is safe for concurrent use.
type TestCA struct {
	Root    *x509.Certificate
	RootPEM []byte
	// Validity is the lifetime of issued certificates (Fulcio: 10 minutes).
	Validity time.Duration

	issuer *issuer
}

func newTestCA(is *issuer) *TestCA {
	is.serial.Store(time.Now().UnixNano())
	return &TestCA{Root: is.cert, RootPEM: certPEM(is.cert), Validity: 10 * time.Minute, issuer: is}
}

// NewTestCA creates a CA with a fresh root key, valid from an hour ago for ten years.
func NewTestCA() (*TestCA, error) {
	now := time.Now()
	is, err := newRoot(pkix.Name{Organization: []string{"vigil-test"}, CommonName: "vigil-test-fulcio-root"}, now.Add(-time.Hour), now.AddDate(10, 0, 0))
	if err != nil {
		return nil, err
	}
	return newTestCA(is), nil
}

// Save writes the root certificate and key as PEM files (the key with mode
// 0600, both atomically), so a later process can [LoadTestCA] it and a monitor
// config can name certPath as its ca_file.
func (ca *TestCA) Save(certPath, keyPath string) error {
	key, err := PrivateKeyPEM(ca.issuer.key)
	if err != nil {
		return fmt.Errorf("saving CA key: %w", err)
	}
	if err := state.WriteFileAtomic(keyPath, key, 0o600); err != nil {
		return err
	}
	return state.WriteFileAtomic(certPath, ca.RootPEM, 0o644)
}

// LoadTestCA reads a CA written by [TestCA.Save].
func LoadTestCA(certPath, keyPath string) (*TestCA, error) {
	signer, err := LoadSigner(keyPath)
	if err != nil {
		return nil, fmt.Errorf("loading CA key: %w", err)
	}
	key, ok := signer.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("loading CA key: %T is not an ECDSA key", signer)
	}
	rootPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("reading CA certificate: %w", err)
	}
	block, _ := pem.Decode(rootPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("parsing CA certificate %s: no CERTIFICATE block", certPath)
	}
	root, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate %s: %w", certPath, err)
	}
	if !key.PublicKey.Equal(root.PublicKey) {
		return nil, fmt.Errorf("loading CA: key %s does not match certificate %s", keyPath, certPath)
	}
	return newTestCA(&issuer{cert: root, key: key}), nil
}

// LoadOrCreateTestCA loads the CA saved as dir/ca.crt and dir/ca.key, creating
// and saving a new one when neither file exists.
func LoadOrCreateTestCA(dir string) (*TestCA, error) {
	certPath, keyPath := filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")
	_, errC := os.Stat(certPath)
	_, errK := os.Stat(keyPath)
	if errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating CA directory: %w", err)
		}
		ca, err := NewTestCA()
		if err != nil {
			return nil, err
		}
		if err := ca.Save(certPath, keyPath); err != nil {
			return nil, err
		}
		return ca, nil
	}
	return LoadTestCA(certPath, keyPath)
}

// Issue returns a PEM leaf certificate for pub. san is an email address, or a
// URI when it contains "://" (workflow identities such as
// "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main").
// issuer is the OIDC issuer URL; ext adds the remaining Fulcio extensions.
func (ca *TestCA) Issue(pub crypto.PublicKey, san, issuer string, ext Extensions) ([]byte, error) {
	if san == "" || issuer == "" {
		return nil, errors.New("issuing certificate: san and issuer are required")
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshaling leaf public key: %w", err)
	}
	o := CertOptions{Extensions: ext.OIDs(issuer), NotBefore: time.Now().Add(-time.Minute), Lifetime: ca.Validity + time.Minute}
	if strings.Contains(san, "://") {
		o.URIs = []string{san}
	} else {
		o.Emails = []string{san}
	}
	cert, err := ca.issuer.issue(pub, o, func(tmpl *x509.Certificate) {
		skid := sha256.Sum256(pubDER)
		tmpl.SubjectKeyId = skid[:20]
	})
	if err != nil {
		return nil, err
	}
	return certPEM(cert), nil
}
