package testenv

// This file seeds the local stack with real entries: the same requests cosign
// and sigstore-go send, signed for real, so that the monitor's parsers, identity
// matchers and proofs meet what production logs hold. It has no testing
// dependency: tests, tools/loadgen (demo, benchmarks) and ad-hoc programs use it.
//
// What goes where:
//
//	Rekor v1  POST {url}/api/v1/log/entries        hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2
//	Rekor v2  POST {writeURL}/api/v2/log/entries   hashedrekord 0.0.2 (protojson CreateEntryRequest)
//	Fulcio    POST {fulcioURL}/api/v2/signingCert  with a token from tools/devoidc
//
// Rekor v1 answers once the entry is sequenced (Trillian's signer runs every
// 100ms in the stack); Rekor v2 answers once the entry is covered by a published
// checkpoint, at least ~1s per call, so v2 load needs many parallel callers
// (see [Parallel]).
//
// Signers: ECDSA P-256 (SHA-256, ASN.1 signatures) and RSA (PKCS#1 v1.5, SHA-256).
// Verification material is PEM: a "PUBLIC KEY" block or a "CERTIFICATE" (e.g.
// from [TestCA.Issue] or [FulcioCert]); for a certificate only the first block
// (the leaf) is sent to the log.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-openapi/strfmt"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorv2 "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor/pkg/generated/models"
	"google.golang.org/protobuf/encoding/protojson"
)

// StatusError is a non-success HTTP answer from a log or Fulcio.
type StatusError struct {
	URL        string
	StatusCode int
	Body       string // the start of the response body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s answered %d: %s", e.URL, e.StatusCode, e.Body)
}

// ErrEntryExists is matched (errors.Is) by a [StatusError] with status 409:
// Rekor v1 refuses an entry it already holds.
var ErrEntryExists = errors.New("entry already exists")

// Is reports whether target is [ErrEntryExists] and e is a 409.
func (e *StatusError) Is(target error) bool {
	return target == ErrEntryExists && e.StatusCode == http.StatusConflict
}

// maxResponse bounds what is read from a server.
const maxResponse = 4 << 20

// seedClient is shared by all calls: hundreds of parallel writers must reuse
// connections, which http.DefaultTransport (2 idle per host) would not.
var seedClient = sync.OnceValue(func() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // the stack is on loopback
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     60 * time.Second,
		},
	}
})

// postJSON POSTs body to u and decodes a 2xx answer's body into out (nil: drop it).
func postJSON(ctx context.Context, u string, body []byte, decode func([]byte) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request for %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := seedClient().Do(req)
	if err != nil {
		return fmt.Errorf("posting to %s: %w", u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("reading answer of %s: %w", u, err)
	}
	if resp.StatusCode/100 != 2 {
		b := string(raw)
		if len(b) > 300 {
			b = b[:300]
		}
		return &StatusError{URL: u, StatusCode: resp.StatusCode, Body: strings.TrimSpace(b)}
	}
	if decode == nil {
		return nil
	}
	if err := decode(raw); err != nil {
		return fmt.Errorf("decoding answer of %s: %w", u, err)
	}
	return nil
}

// ---------------------------------------------------------------------------
// Keys and signatures

// LoadSigner reads a PEM private key file (PKCS#8, SEC 1 "EC PRIVATE KEY" or
// PKCS#1 "RSA PRIVATE KEY"), e.g. CLIENT_KEY or REKOR_PRIVKEY of the stack env.
func LoadSigner(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading key: %w", err)
	}
	return ParseSigner(raw)
}

// ParseSigner parses a PEM private key, see [LoadSigner].
func ParseSigner(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parsing private key: no PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("parsing private key: %T is not a crypto.Signer", k)
	}
	return s, nil
}

// PublicKeyPEM encodes pub as a PEM "PUBLIC KEY" (PKIX) block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshaling public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// NewSigner returns a fresh ECDSA P-256 key, the kind cosign makes for keyless signing.
func NewSigner() (crypto.Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating ECDSA key: %w", err)
	}
	return k, nil
}

// checkSigner rejects keys the helpers cannot sign SHA-256 digests with.
func checkSigner(s crypto.Signer) error {
	switch pub := s.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return fmt.Errorf("unsupported ECDSA curve %s (want P-256)", pub.Curve.Params().Name)
		}
	case *rsa.PublicKey:
	default:
		return fmt.Errorf("unsupported signer key %T (want ECDSA P-256 or RSA)", pub)
	}
	return nil
}

// signDigest signs a SHA-256 digest.
func signDigest(s crypto.Signer, digest []byte) ([]byte, error) {
	if err := checkSigner(s); err != nil {
		return nil, err
	}
	sig, err := s.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return sig, nil
}

// ---------------------------------------------------------------------------
// DSSE

// DSSE payload types used by the helpers.
const (
	InTotoPayloadType = "application/vnd.in-toto+json"
)

// PAE is the DSSE v1 pre-authentication encoding that DSSE signatures cover:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload))
	b.Write(payload)
	return b.Bytes()
}

// dsseEnvelope is the JSON envelope (payload and sig in standard base64).
type dsseEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []dsseSignature `json:"signatures"`
}

type dsseSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// SignDSSE signs payload as a DSSE envelope with one signature. It returns the
// envelope JSON and the raw signature (over the SHA-256 of [PAE]).
func SignDSSE(signer crypto.Signer, payloadType string, payload []byte) (envelope, sig []byte, err error) {
	d := sha256.Sum256(PAE(payloadType, payload))
	sig, err = signDigest(signer, d[:])
	if err != nil {
		return nil, nil, fmt.Errorf("signing DSSE envelope: %w", err)
	}
	env, err := json.Marshal(dsseEnvelope{
		PayloadType: payloadType,
		Payload:     base64.StdEncoding.EncodeToString(payload),
		Signatures:  []dsseSignature{{Sig: base64.StdEncoding.EncodeToString(sig)}},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("encoding DSSE envelope: %w", err)
	}
	return env, sig, nil
}

// InTotoStatement returns an in-toto v1 statement (SLSA provenance v1 predicate
// type) about one artifact, as attestations in Rekor usually are.
func InTotoStatement(name string, artifact []byte, builderID string) []byte {
	d := sha256.Sum256(artifact)
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": name, "digest": map[string]string{"sha256": hex.EncodeToString(d[:])}}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{"buildType": "https://vigil.invalid/test-build/v1", "externalParameters": map[string]any{}},
			"runDetails":      map[string]any{"builder": map[string]any{"id": builderID}},
		},
	}
	b, err := json.Marshal(st)
	if err != nil {
		panic("marshaling a static in-toto statement: " + err.Error()) // only strings and maps
	}
	return b
}

// ---------------------------------------------------------------------------
// Rekor v1

// firstPEM returns the first PEM block of material (the leaf of a chain) re-encoded.
func firstPEM(material []byte) (*pem.Block, []byte, error) {
	block, _ := pem.Decode(material)
	if block == nil {
		return nil, nil, errors.New("verification material holds no PEM block")
	}
	if block.Type != "CERTIFICATE" && block.Type != "PUBLIC KEY" {
		return nil, nil, fmt.Errorf("verification material is a PEM %q, want CERTIFICATE or PUBLIC KEY", block.Type)
	}
	return block, pem.EncodeToMemory(block), nil
}

// postV1 submits a proposed entry and returns its log index.
func postV1(ctx context.Context, rekorURL string, entry models.ProposedEntry) (int64, error) {
	body, err := json.Marshal(entry)
	if err != nil {
		return 0, fmt.Errorf("encoding %s entry: %w", entry.Kind(), err)
	}
	var idx int64 = -1
	err = postJSON(ctx, strings.TrimSuffix(rekorURL, "/")+"/api/v1/log/entries", body, func(raw []byte) error {
		var resp map[string]struct {
			LogIndex *int64 `json:"logIndex"`
		}
		if err := json.Unmarshal(raw, &resp); err != nil {
			return err
		}
		for _, e := range resp {
			if e.LogIndex != nil {
				idx = *e.LogIndex
			}
		}
		if idx < 0 || len(resp) != 1 {
			return fmt.Errorf("answer holds %d entries and no log index", len(resp))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("adding %s entry to rekor v1: %w", entry.Kind(), err)
	}
	return idx, nil
}

// AddV1HashedRekord signs artifact's SHA-256 with signer and adds a
// hashedrekord 0.0.1 entry to the Rekor v1 log at rekorURL. certOrPubPEM is the
// verifier stored in the entry: signer's public key or a certificate for it.
// It returns the entry's log index once Rekor has sequenced it.
func AddV1HashedRekord(ctx context.Context, rekorURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, error) {
	_, material, err := firstPEM(certOrPubPEM)
	if err != nil {
		return 0, err
	}
	d := sha256.Sum256(artifact)
	sig, err := signDigest(signer, d[:])
	if err != nil {
		return 0, err
	}
	entry := &models.Hashedrekord{
		APIVersion: strPtr("0.0.1"),
		Spec: models.HashedrekordV001Schema{
			Data: &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{
				Algorithm: strPtr(models.HashedrekordV001SchemaDataHashAlgorithmSha256),
				Value:     strPtr(hex.EncodeToString(d[:])),
			}},
			Signature: &models.HashedrekordV001SchemaSignature{
				Content:   strfmt.Base64(sig),
				PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: strfmt.Base64(material)},
			},
		},
	}
	return postV1(ctx, rekorURL, entry)
}

// AddV1DSSE signs an in-toto statement about artifact as a DSSE envelope and
// adds it as a dsse 0.0.1 entry to the Rekor v1 log at rekorURL (what cosign
// attest --new-bundle-format uploads).
func AddV1DSSE(ctx context.Context, rekorURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, error) {
	_, material, err := firstPEM(certOrPubPEM)
	if err != nil {
		return 0, err
	}
	env, _, err := SignDSSE(signer, InTotoPayloadType, InTotoStatement("artifact", artifact, "https://vigil.invalid/builder"))
	if err != nil {
		return 0, err
	}
	entry := &models.DSSE{
		APIVersion: strPtr("0.0.1"),
		Spec: models.DSSEV001Schema{ProposedContent: &models.DSSEV001SchemaProposedContent{
			Envelope:  strPtr(string(env)),
			Verifiers: []strfmt.Base64{strfmt.Base64(material)},
		}},
	}
	return postV1(ctx, rekorURL, entry)
}

// AddV1InToto adds the same kind of attestation as [AddV1DSSE] as an intoto
// 0.0.2 entry (what cosign attest uploads). intoto 0.0.2 base64-encodes the
// envelope's already base64 payload and signature once more on the wire.
func AddV1InToto(ctx context.Context, rekorURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, error) {
	_, material, err := firstPEM(certOrPubPEM)
	if err != nil {
		return 0, err
	}
	payload := InTotoStatement("artifact", artifact, "https://vigil.invalid/builder")
	env, sig, err := SignDSSE(signer, InTotoPayloadType, payload)
	if err != nil {
		return 0, err
	}
	envHash := sha256.Sum256(env) // rekor keeps the digest of the envelope as uploaded
	sigB64 := strfmt.Base64(base64.StdEncoding.EncodeToString(sig))
	pub := strfmt.Base64(material)
	entry := &models.Intoto{
		APIVersion: strPtr("0.0.2"),
		Spec: models.IntotoV002Schema{Content: &models.IntotoV002SchemaContent{
			Envelope: &models.IntotoV002SchemaContentEnvelope{
				PayloadType: strPtr(InTotoPayloadType),
				Payload:     strfmt.Base64(base64.StdEncoding.EncodeToString(payload)),
				Signatures:  []*models.IntotoV002SchemaContentEnvelopeSignaturesItems0{{Sig: &sigB64, PublicKey: &pub}},
			},
			Hash: &models.IntotoV002SchemaContentHash{
				Algorithm: strPtr(models.IntotoV002SchemaContentHashAlgorithmSha256),
				Value:     strPtr(hex.EncodeToString(envHash[:])),
			},
		}},
	}
	return postV1(ctx, rekorURL, entry)
}

func strPtr(s string) *string { return &s }

// ---------------------------------------------------------------------------
// Rekor v2

// v2Verifier turns PEM material into a Rekor v2 verifier for signer's key type.
func v2Verifier(signer crypto.Signer, certOrPubPEM []byte) (*rekorv2.Verifier, error) {
	block, _, err := firstPEM(certOrPubPEM)
	if err != nil {
		return nil, err
	}
	var details protocommon.PublicKeyDetails
	switch pub := signer.Public().(type) {
	case *ecdsa.PublicKey:
		details = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	case *rsa.PublicKey:
		switch pub.N.BitLen() {
		case 2048:
			details = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_2048_SHA256
		case 3072:
			details = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_3072_SHA256
		case 4096:
			details = protocommon.PublicKeyDetails_PKIX_RSA_PKCS1V15_4096_SHA256
		default:
			return nil, fmt.Errorf("unsupported RSA key size %d", pub.N.BitLen())
		}
	}
	v := &rekorv2.Verifier{KeyDetails: details}
	if block.Type == "CERTIFICATE" {
		v.Verifier = &rekorv2.Verifier_X509Certificate{X509Certificate: &protocommon.X509Certificate{RawBytes: block.Bytes}}
	} else {
		v.Verifier = &rekorv2.Verifier_PublicKey{PublicKey: &rekorv2.PublicKey{RawBytes: block.Bytes}}
	}
	return v, nil
}

// addV2 submits a hashedrekord 0.0.2 request for a SHA-256 digest and its signature.
func addV2(ctx context.Context, writeURL string, signer crypto.Signer, certOrPubPEM, digest, sig []byte) (int64, error) {
	v, err := v2Verifier(signer, certOrPubPEM)
	if err != nil {
		return 0, err
	}
	req := &rekorv2.CreateEntryRequest{Spec: &rekorv2.CreateEntryRequest_HashedRekordRequestV002{
		HashedRekordRequestV002: &rekorv2.HashedRekordRequestV002{
			Digest:    digest,
			Signature: &rekorv2.Signature{Content: sig, Verifier: v},
		},
	}}
	body, err := protojson.Marshal(req)
	if err != nil {
		return 0, fmt.Errorf("encoding rekor v2 request: %w", err)
	}
	var tle protorekor.TransparencyLogEntry
	err = postJSON(ctx, strings.TrimSuffix(writeURL, "/")+"/api/v2/log/entries", body, func(raw []byte) error {
		return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(raw, &tle)
	})
	if err != nil {
		return 0, fmt.Errorf("adding hashedrekord entry to rekor v2: %w", err)
	}
	return tle.GetLogIndex(), nil
}

// AddV2HashedRekord signs artifact's SHA-256 with signer and adds a
// hashedrekord 0.0.2 entry to the Rekor v2 log whose write API is at writeURL.
// certOrPubPEM is the verifier: signer's public key or a certificate for it.
// It returns the log index once the entry is covered by a published checkpoint.
func AddV2HashedRekord(ctx context.Context, writeURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, error) {
	d := sha256.Sum256(artifact)
	sig, err := signDigest(signer, d[:])
	if err != nil {
		return 0, err
	}
	return addV2(ctx, writeURL, signer, certOrPubPEM, d[:], sig)
}

// AddV2DSSE signs an in-toto statement about artifact as a DSSE envelope and
// logs it in Rekor v2. rekor-tiles v2.3.0 no longer accepts dsse entries (its
// DSSERequestV002 is deprecated "use HashedRekordRequestV002 with the hash of the
// DSSE PAE instead"), so the entry is a hashedrekord 0.0.2 over SHA-256(PAE)
// carrying the envelope's signature, exactly what current clients log. The
// envelope is returned so callers can build a bundle or check the entry.
func AddV2DSSE(ctx context.Context, writeURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, []byte, error) {
	payload := InTotoStatement("artifact", artifact, "https://vigil.invalid/builder")
	env, sig, err := SignDSSE(signer, InTotoPayloadType, payload)
	if err != nil {
		return 0, nil, err
	}
	d := sha256.Sum256(PAE(InTotoPayloadType, payload))
	idx, err := addV2(ctx, writeURL, signer, certOrPubPEM, d[:], sig)
	if err != nil {
		return 0, nil, err
	}
	return idx, env, nil
}

// ---------------------------------------------------------------------------
// A certificate authority shaped like Fulcio

// Fulcio's certificate extension OIDs (github.com/sigstore/fulcio/pkg/certificate).
// 57264.1.1 to .1.6 hold the raw string bytes (deprecated forms); .1.8 onwards
// hold a DER UTF8String.
var (
	OIDIssuer                              = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	OIDGitHubWorkflowTrigger               = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 2}
	OIDGitHubWorkflowSHA                   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 3}
	OIDGitHubWorkflowName                  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 4}
	OIDGitHubWorkflowRepository            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 5}
	OIDGitHubWorkflowRef                   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 6}
	OIDIssuerV2                            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	OIDBuildSignerURI                      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 9}
	OIDBuildSignerDigest                   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 10}
	OIDRunnerEnvironment                   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 11}
	OIDSourceRepositoryURI                 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}
	OIDSourceRepositoryDigest              = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 13}
	OIDSourceRepositoryRef                 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 14}
	OIDSourceRepositoryIdentifier          = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 15}
	OIDSourceRepositoryOwnerURI            = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 16}
	OIDSourceRepositoryOwnerIdentifier     = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 17}
	OIDBuildConfigURI                      = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 18}
	OIDBuildConfigDigest                   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 19}
	OIDBuildTrigger                        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 20}
	OIDRunInvocationURI                    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 21}
	OIDSourceRepositoryVisibilityAtSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 22}
	OIDDeploymentEnvironment               = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 23}
	OIDTokenSubject                        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 24}
)

// Extensions are the Fulcio certificate extensions besides the issuer; empty
// fields are left out. The field names follow Fulcio's certificate.Extensions.
type Extensions struct {
	// Deprecated GitHub-specific forms, raw string bytes.
	GithubWorkflowTrigger    string // 1.2
	GithubWorkflowSHA        string // 1.3
	GithubWorkflowName       string // 1.4
	GithubWorkflowRepository string // 1.5
	GithubWorkflowRef        string // 1.6

	// DER UTF8String.
	BuildSignerURI                      string // 1.9
	BuildSignerDigest                   string // 1.10
	RunnerEnvironment                   string // 1.11
	SourceRepositoryURI                 string // 1.12
	SourceRepositoryDigest              string // 1.13
	SourceRepositoryRef                 string // 1.14
	SourceRepositoryIdentifier          string // 1.15
	SourceRepositoryOwnerURI            string // 1.16
	SourceRepositoryOwnerIdentifier     string // 1.17
	BuildConfigURI                      string // 1.18
	BuildConfigDigest                   string // 1.19
	BuildTrigger                        string // 1.20
	RunInvocationURI                    string // 1.21
	SourceRepositoryVisibilityAtSigning string // 1.22
	DeploymentEnvironment               string // 1.23
	Subject                             string // 1.24, the token's raw "sub"
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

// pkixExtensions encodes issuer and e the way Fulcio does.
func (e Extensions) pkixExtensions(issuer string) ([]pkix.Extension, error) {
	var exts []pkix.Extension
	raw := func(id asn1.ObjectIdentifier, v string) {
		if v != "" {
			exts = append(exts, pkix.Extension{Id: id, Value: []byte(v)})
		}
	}
	var err error
	utf8 := func(id asn1.ObjectIdentifier, v string) {
		if v == "" || err != nil {
			return
		}
		var der []byte
		der, err = asn1.MarshalWithParams(v, "utf8")
		exts = append(exts, pkix.Extension{Id: id, Value: der})
	}
	raw(OIDIssuer, issuer)
	raw(OIDGitHubWorkflowTrigger, e.GithubWorkflowTrigger)
	raw(OIDGitHubWorkflowSHA, e.GithubWorkflowSHA)
	raw(OIDGitHubWorkflowName, e.GithubWorkflowName)
	raw(OIDGitHubWorkflowRepository, e.GithubWorkflowRepository)
	raw(OIDGitHubWorkflowRef, e.GithubWorkflowRef)
	utf8(OIDIssuerV2, issuer)
	utf8(OIDBuildSignerURI, e.BuildSignerURI)
	utf8(OIDBuildSignerDigest, e.BuildSignerDigest)
	utf8(OIDRunnerEnvironment, e.RunnerEnvironment)
	utf8(OIDSourceRepositoryURI, e.SourceRepositoryURI)
	utf8(OIDSourceRepositoryDigest, e.SourceRepositoryDigest)
	utf8(OIDSourceRepositoryRef, e.SourceRepositoryRef)
	utf8(OIDSourceRepositoryIdentifier, e.SourceRepositoryIdentifier)
	utf8(OIDSourceRepositoryOwnerURI, e.SourceRepositoryOwnerURI)
	utf8(OIDSourceRepositoryOwnerIdentifier, e.SourceRepositoryOwnerIdentifier)
	utf8(OIDBuildConfigURI, e.BuildConfigURI)
	utf8(OIDBuildConfigDigest, e.BuildConfigDigest)
	utf8(OIDBuildTrigger, e.BuildTrigger)
	utf8(OIDRunInvocationURI, e.RunInvocationURI)
	utf8(OIDSourceRepositoryVisibilityAtSigning, e.SourceRepositoryVisibilityAtSigning)
	utf8(OIDDeploymentEnvironment, e.DeploymentEnvironment)
	utf8(OIDTokenSubject, e.Subject)
	if err != nil {
		return nil, fmt.Errorf("encoding certificate extension: %w", err)
	}
	return exts, nil
}

// TestCA issues short-lived code-signing certificates shaped like Fulcio's:
// empty subject, one critical SAN (email or URI), key usage digitalSignature,
// extended key usage codeSigning, the issuer in 57264.1.1 (raw) and .1.8
// (UTF8String), and the given [Extensions]. The chain is a self-signed ECDSA
// P-256 root and the leaf; put RootPEM in a monitor's ca_file.
//
// A TestCA is safe for concurrent use.
type TestCA struct {
	Root    *x509.Certificate
	RootPEM []byte
	// Validity is the lifetime of issued certificates (Fulcio: 10 minutes).
	Validity time.Duration

	key    *ecdsa.PrivateKey
	serial atomic.Int64
}

// NewTestCA creates a CA with a fresh root key, valid from an hour ago for ten years.
func NewTestCA() (*TestCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"vigil-test"}, CommonName: "vigil-test-fulcio-root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}
	ca := &TestCA{Root: root, RootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Validity: 10 * time.Minute, key: key}
	ca.serial.Store(now.UnixNano())
	return ca, nil
}

// Save writes the root certificate and key as PEM files (the key with mode
// 0600, both atomically), so a later process can [LoadTestCA] it and a monitor
// config can name certPath as its ca_file.
func (ca *TestCA) Save(certPath, keyPath string) error {
	der, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return fmt.Errorf("marshaling CA key: %w", err)
	}
	if err := writeFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return writeFileAtomic(certPath, ca.RootPEM, 0o644)
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
	ca := &TestCA{Root: root, RootPEM: pem.EncodeToMemory(block), Validity: 10 * time.Minute, key: key}
	ca.serial.Store(time.Now().UnixNano())
	return ca, nil
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

// writeFileAtomic writes data to a temporary file next to path, syncs it,
// renames it over path and syncs the directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// Issue returns a PEM leaf certificate for pub. san is an email address, or a
// URI when it contains "://" (workflow identities such as
// "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main").
// issuer is the OIDC issuer URL; ext adds the remaining Fulcio extensions.
func (ca *TestCA) Issue(pub crypto.PublicKey, san, issuer string, ext Extensions) ([]byte, error) {
	if san == "" || issuer == "" {
		return nil, errors.New("issuing certificate: san and issuer are required")
	}
	exts, err := ext.pkixExtensions(issuer)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshaling leaf public key: %w", err)
	}
	skid := sha256.Sum256(pubDER)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(ca.serial.Add(1)),
		NotBefore:       now.Add(-time.Minute),
		NotAfter:        now.Add(ca.Validity),
		SubjectKeyId:    skid[:20],
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: exts,
	}
	if strings.Contains(san, "://") {
		u, err := url.Parse(san)
		if err != nil {
			return nil, fmt.Errorf("parsing URI SAN: %w", err)
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{san}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Root, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// ---------------------------------------------------------------------------
// Fulcio (the real one in the stack)

// FulcioCert gets a signing certificate for signer's key from the Fulcio at
// fulcioURL, the keyless way: an ID token for email from the test OIDC issuer
// at oidcIssuer (tools/devoidc), a proof of possession (signature over email),
// then POST /api/v2/signingCert. It returns the PEM chain, leaf first.
func FulcioCert(ctx context.Context, fulcioURL, oidcIssuer, email string, signer crypto.Signer) ([]byte, error) {
	tokURL := strings.TrimSuffix(oidcIssuer, "/") + "/token?" + url.Values{"email": {email}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, tokURL, nil)
	if err != nil {
		return nil, fmt.Errorf("building token request: %w", err)
	}
	resp, err := seedClient().Do(req)
	if err != nil {
		return nil, fmt.Errorf("getting ID token from %s: %w", oidcIssuer, err)
	}
	tok, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading ID token from %s: %w", oidcIssuer, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("getting ID token: %w", &StatusError{URL: tokURL, StatusCode: resp.StatusCode, Body: string(tok)})
	}
	pubPEM, err := PublicKeyPEM(signer.Public())
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256([]byte(email))
	pop, err := signDigest(signer, d[:])
	if err != nil {
		return nil, fmt.Errorf("signing proof of possession: %w", err)
	}
	alg := "ECDSA"
	if _, ok := signer.Public().(*rsa.PublicKey); ok {
		alg = "RSA"
	}
	body, err := json.Marshal(map[string]any{
		"credentials": map[string]string{"oidcIdentityToken": strings.TrimSpace(string(tok))},
		"publicKeyRequest": map[string]any{
			"publicKey":         map[string]string{"algorithm": alg, "content": string(pubPEM)},
			"proofOfPossession": base64.StdEncoding.EncodeToString(pop),
		},
	})
	if err != nil {
		return nil, fmt.Errorf("encoding signing certificate request: %w", err)
	}
	type chain struct {
		Chain struct {
			Certificates []string `json:"certificates"`
		} `json:"chain"`
	}
	var out struct {
		Embedded *chain `json:"signedCertificateEmbeddedSct"`
		Detached *chain `json:"signedCertificateDetachedSct"`
	}
	err = postJSON(ctx, strings.TrimSuffix(fulcioURL, "/")+"/api/v2/signingCert", body, func(raw []byte) error {
		return json.Unmarshal(raw, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("getting signing certificate from fulcio: %w", err)
	}
	c := out.Embedded
	if c == nil {
		c = out.Detached
	}
	if c == nil || len(c.Chain.Certificates) == 0 {
		return nil, errors.New("getting signing certificate from fulcio: answer holds no certificate chain")
	}
	var chainPEM []byte
	for _, c := range c.Chain.Certificates {
		chainPEM = append(chainPEM, strings.TrimSpace(c)...)
		chainPEM = append(chainPEM, '\n')
	}
	return chainPEM, nil
}

// ---------------------------------------------------------------------------
// Parallel load

// Parallel calls fn(ctx, i) for every i in [0, n) from at most workers
// goroutines. At the first error it stops handing out new work, cancels the
// context passed to the calls in flight, waits for them and returns that error
// together with the number of calls that succeeded. It also stops when ctx is done.
func Parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	workers = max(1, min(workers, n))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		once       sync.Once
		firstErr   error
		wg         sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := fn(ctx, int(i)); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("call %d: %w", i, err); cancel() })
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil && int(done.Load()) < n {
		firstErr = ctx.Err()
	}
	return int(done.Load()), firstErr
}

// ---------------------------------------------------------------------------
// Checkpoints (for checking that seeding grew the logs)

// FetchV1TreeSize returns the tree size Rekor v1 at rekorURL reports (GET /api/v1/log).
func FetchV1TreeSize(ctx context.Context, rekorURL string) (int64, error) {
	raw, err := get(ctx, strings.TrimSuffix(rekorURL, "/")+"/api/v1/log")
	if err != nil {
		return 0, fmt.Errorf("fetching rekor v1 log info: %w", err)
	}
	var info struct {
		TreeSize *int64 `json:"treeSize"`
	}
	if err := json.Unmarshal(raw, &info); err != nil || info.TreeSize == nil {
		return 0, fmt.Errorf("decoding rekor v1 log info: %w", errors.Join(err, errors.New("no treeSize")))
	}
	return *info.TreeSize, nil
}

// FetchV2Checkpoint returns the raw checkpoint the Rekor v2 read side at
// readURL serves and the tree size on its second line.
func FetchV2Checkpoint(ctx context.Context, readURL string) ([]byte, int64, error) {
	raw, err := get(ctx, strings.TrimSuffix(readURL, "/")+"/checkpoint")
	if err != nil {
		return nil, 0, fmt.Errorf("fetching rekor v2 checkpoint: %w", err)
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	if len(lines) < 3 {
		return raw, 0, errors.New("parsing rekor v2 checkpoint: fewer than 3 lines")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return raw, 0, fmt.Errorf("parsing rekor v2 checkpoint size: %w", err)
	}
	return raw, size, nil
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := seedClient().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{URL: u, StatusCode: resp.StatusCode, Body: string(raw)}
	}
	return raw, nil
}
