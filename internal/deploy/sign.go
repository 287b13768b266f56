package deploy

// Keyless signing and verification of a container image against a private
// Sigstore, in the format cosign v3 signs images by default:
//
//   - The signed statement is an in-toto v1 Statement whose subject is the
//     image manifest digest and whose predicate type is
//     https://sigstore.dev/cosign/sign/v1 (empty predicate), in a DSSE
//     envelope.
//   - sigstore-go signs it with an ephemeral key, gets the certificate from
//     Fulcio for the OIDC ID token, and the log entry (a dsse entry) from
//     Rekor v1, giving a Sigstore bundle (v0.3).
//   - The bundle is attached as an OCI 1.1 referrer of the image: a manifest
//     with artifactType application/vnd.dev.sigstore.bundle.v0.3+json, an
//     empty config, the bundle as its one layer and the image as subject.
//
// `cosign verify --trusted-root trusted_root.json` (or after `cosign
// initialize`) finds and verifies that bundle; so does [verifyImage].

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	rekorclient "github.com/sigstore/rekor/pkg/client"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// Media and predicate types of cosign v3's image signatures.
const (
	bundleMediaType          = "application/vnd.dev.sigstore.bundle.v0.3+json"
	cosignSignPredicateType  = "https://sigstore.dev/cosign/sign/v1"
	inTotoPayloadType        = "application/vnd.in-toto+json"
	bundlePredicateTypeAnnot = "dev.sigstore.bundle.predicateType"
	bundleContentAnnot       = "dev.sigstore.bundle.content"
	emptyMediaType           = "application/vnd.oci.empty.v1+json"
)

// errPlainHTTP reports a registry reached over plain HTTP without the
// caller allowing it.
var errPlainHTTP = errors.New("plain HTTP to the registry is not allowed")

// signConfig configures [signImage].
type signConfig struct {
	// Repository is where the test image goes: HOST[:PORT]/PATH.
	Repository string
	// AllowHTTP permits a registry without TLS.
	AllowHTTP bool
	FulcioURL string
	RekorURL  string
	// IDToken is the OIDC ID token Fulcio exchanges for a certificate.
	IDToken string
	// Transport for the registry, Fulcio and Rekor; nil is the default.
	Transport http.RoundTripper
	// Force signs even when the image already carries a signature by the
	// token's identity; without it a re-run changes nothing.
	Force bool
	// DryRun builds the image and reports what would be pushed and signed.
	DryRun bool
}

// signResult is what [signImage] made.
type signResult struct {
	Image    name.Digest // the pushed test image, by digest
	Referrer name.Digest // the manifest attaching the bundle
	Bundle   []byte      // the Sigstore bundle (JSON)
	LogIndex int64
	Identity string // the certificate's subject alternative name
	Issuer   string // the certificate's OIDC issuer
	// Change is created for a new signature, unchanged when the image
	// already had one by this identity, wouldCreate in a dry run.
	Change outcome
}

// registryOptions are the go-containerregistry options for a repository,
// refusing plain HTTP unless allowed: go-containerregistry itself would
// quietly use HTTP for loopback and private addresses.
func registryOptions(ctx context.Context, repo string, allowHTTP bool, rt http.RoundTripper) ([]name.Option, []remote.Option) {
	var nameOpts []name.Option
	if allowHTTP {
		nameOpts = append(nameOpts, name.Insecure)
	}
	if rt == nil {
		rt = remote.DefaultTransport
	}
	if !allowHTTP {
		rt = httpsOnly{rt}
	}
	return nameOpts, []remote.Option{remote.WithContext(ctx), remote.WithTransport(rt)}
}

type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: %s (allow it explicitly)", errPlainHTTP, r.URL.Host)
	}
	return h.next.RoundTrip(r)
}

// testImage builds a one-layer image holding /vigil-bootstrap.txt with note.
func testImage(note string) (v1.Image, error) {
	layer, err := crane.Layer(map[string][]byte{"vigil-bootstrap.txt": []byte(note + "\n")})
	if err != nil {
		return nil, fmt.Errorf("building test image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("building test image: %w", err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: "amd64", OS: "linux",
		Created: v1.Time{Time: time.Unix(0, 0).UTC()},
		Config:  v1.Config{Labels: map[string]string{"org.opencontainers.image.description": "vigil bootstrap test image"}},
	})
}

// signImage pushes img to cfg.Repository (tag "latest"), signs its digest
// keyless and attaches the bundle as a referrer.
//
// Re-running it with the same image and identity changes nothing: when the
// image already carries a bundle whose certificate names the token's issuer
// and subject (or email), it returns that signature with Change unchanged
// (cfg.Force signs again). In a dry run nothing is pushed or signed.
func signImage(ctx context.Context, cfg signConfig, img v1.Image) (*signResult, error) {
	nameOpts, remoteOpts := registryOptions(ctx, cfg.Repository, cfg.AllowHTTP, cfg.Transport)
	tag, err := name.NewTag(cfg.Repository+":latest", nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("parsing repository %q: %w", cfg.Repository, err)
	}
	h, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("digesting test image: %w", err)
	}
	digest := tag.Context().Digest(h.String())
	claims, err := tokenClaims(cfg.IDToken)
	if err != nil {
		return nil, err
	}
	if cfg.DryRun {
		return &signResult{Image: digest, Identity: claims.identity(), Issuer: claims.Iss, Change: wouldCreate}, nil
	}
	if err := remote.Write(tag, img, remoteOpts...); err != nil {
		return nil, fmt.Errorf("pushing test image to %s: %w", tag, err)
	}
	if !cfg.Force {
		if prev, err := findSignature(digest, claims, remoteOpts); err != nil {
			return nil, err
		} else if prev != nil {
			return prev, nil
		}
	}

	payload, err := signPayload(h)
	if err != nil {
		return nil, err
	}
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	rc, err := rekorClient(cfg.RekorURL, cfg.Transport, 1)
	if err != nil {
		return nil, err
	}
	opts := sign.BundleOptions{
		Context:                    ctx,
		CertificateProvider:        sign.NewFulcio(&sign.FulcioOptions{BaseURL: cfg.FulcioURL, Timeout: 30 * time.Second, Retries: 1, Transport: cfg.Transport}),
		CertificateProviderOptions: &sign.CertificateProviderOptions{IDToken: cfg.IDToken},
		TransparencyLogs:           []sign.Transparency{sign.NewRekor(&sign.RekorOptions{BaseURL: cfg.RekorURL, Timeout: 30 * time.Second, Retries: 1, Version: 1, Client: rc})},
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: payload, PayloadType: inTotoPayloadType}, kp, opts)
	if err != nil {
		return nil, fmt.Errorf("signing %s with Fulcio %s and Rekor %s: %w", digest, cfg.FulcioURL, cfg.RekorURL, err)
	}
	bundleJSON, err := protojson.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encoding bundle: %w", err)
	}
	ref, err := attachBundle(digest, bundleJSON, remoteOpts, nameOpts)
	if err != nil {
		return nil, err
	}
	res := &signResult{Image: digest, Referrer: ref, Bundle: bundleJSON, Change: created}
	if b, err := bundle.NewBundle(pb); err == nil {
		describeBundle(b, res)
	}
	return res, nil
}

// rekorClient is the Rekor v1 API client sigstore-go signs with, using the
// TLS configuration (the --ca-file roots) of rt when rt is an
// *http.Transport; sigstore-go's own client would use the system roots only.
func rekorClient(baseURL string, rt http.RoundTripper, retries uint) (sign.RekorClient, error) {
	opts := []rekorclient.Option{rekorclient.WithRetryCount(retries), rekorclient.WithUserAgent("vigil-bootstrap")}
	if t, ok := rt.(*http.Transport); ok && t.TLSClientConfig != nil {
		opts = append(opts, rekorclient.WithTLSConfig(t.TLSClientConfig.Clone()))
	}
	c, err := rekorclient.GetRekorClient(baseURL, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating Rekor client for %s: %w", baseURL, err)
	}
	return c.Entries, nil
}

// describeBundle fills in the log index and certificate identity.
func describeBundle(b *bundle.Bundle, res *signResult) {
	if es, err := b.TlogEntries(); err == nil && len(es) > 0 {
		res.LogIndex = es[0].LogIndex()
	}
	if vc, err := b.VerificationContent(); err == nil && vc.Certificate() != nil {
		if s, err := certificate.SummarizeCertificate(vc.Certificate()); err == nil {
			res.Identity, res.Issuer = s.SubjectAlternativeName, s.Issuer
		}
	}
}

// idClaims are the ID token claims that decide the certificate's identity.
type idClaims struct {
	Iss   string `json:"iss"`
	Sub   string `json:"sub"`
	Email string `json:"email"`
}

func (c idClaims) identity() string {
	if c.Email != "" {
		return c.Email
	}
	return c.Sub
}

// tokenClaims decodes, without verifying (Fulcio does that), the claims of
// a compact JWS ID token.
func tokenClaims(tok string) (idClaims, error) {
	var c idClaims
	parts := strings.Split(strings.TrimSpace(tok), ".")
	if len(parts) != 3 {
		return c, errors.New("reading identity token: not a compact JWS (header.payload.signature)")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("reading identity token: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("reading identity token claims: %w", err)
	}
	if c.Iss == "" {
		return c, errors.New("reading identity token: no iss claim")
	}
	return c, nil
}

// findSignature returns an existing signature of digest whose certificate
// names the token's issuer and subject or email, or nil.
func findSignature(digest name.Digest, c idClaims, ropts []remote.Option) (*signResult, error) {
	idx, err := remote.Referrers(digest, ropts...)
	if err != nil {
		return nil, fmt.Errorf("listing signatures of %s: %w", digest, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing signatures of %s: %w", digest, err)
	}
	for _, d := range im.Manifests {
		ref := digest.Context().Digest(d.Digest.String())
		b, _, err := fetchBundle(ref, ropts)
		if err != nil {
			continue
		}
		res := &signResult{Image: digest, Referrer: ref, Change: unchanged}
		describeBundle(b, res)
		if res.Issuer == c.Iss && (res.Identity == c.Sub || (c.Email != "" && res.Identity == c.Email)) {
			if raw, err := b.MarshalJSON(); err == nil {
				res.Bundle = raw
			}
			return res, nil
		}
	}
	return nil, nil
}

// signPayload is the in-toto statement cosign v3 signs for an image.
func signPayload(h v1.Hash) ([]byte, error) {
	st := &intoto.Statement{
		Type:          intoto.StatementTypeUri,
		Subject:       []*intoto.ResourceDescriptor{{Digest: map[string]string{h.Algorithm: h.Hex}}},
		PredicateType: cosignSignPredicateType,
		Predicate:     &structpb.Struct{},
	}
	b, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding statement: %w", err)
	}
	return b, nil
}

// referrerManifest is an OCI 1.1 image manifest with artifactType, which
// go-containerregistry's v1.Manifest lacks.
type referrerManifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

func (r referrerManifest) RawManifest() ([]byte, error) { return json.Marshal(r) }
func (r referrerManifest) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}

// attachBundle uploads the bundle and an empty config as blobs and puts a
// manifest referring to the image, as cosign's WriteAttestationNewBundleFormat
// does.
func attachBundle(subject name.Digest, bundleJSON []byte, ropts []remote.Option, nopts []name.Option) (name.Digest, error) {
	desc, err := remote.Head(subject, ropts...)
	if err != nil {
		return name.Digest{}, fmt.Errorf("reading %s: %w", subject, err)
	}
	repo := subject.Context()
	cfgLayer := static.NewLayer([]byte("{}"), types.MediaType(emptyMediaType))
	bundleLayer := static.NewLayer(bundleJSON, types.MediaType(bundleMediaType))
	var descs []v1.Descriptor
	for _, l := range []v1.Layer{cfgLayer, bundleLayer} {
		if err := remote.WriteLayer(repo, l, ropts...); err != nil {
			return name.Digest{}, fmt.Errorf("uploading to %s: %w", repo, err)
		}
		d, err := l.Digest()
		if err != nil {
			return name.Digest{}, err
		}
		sz, err := l.Size()
		if err != nil {
			return name.Digest{}, err
		}
		mt, err := l.MediaType()
		if err != nil {
			return name.Digest{}, err
		}
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d, Size: sz})
	}
	descs[0].ArtifactType = bundleMediaType // as cosign writes it
	m := referrerManifest{Manifest: v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        descs[0],
		Layers:        descs[1:],
		Subject:       &v1.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size},
		Annotations: map[string]string{
			"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339),
			bundleContentAnnot:                 "dsse-envelope",
			bundlePredicateTypeAnnot:           cosignSignPredicateType,
		},
	}, ArtifactType: bundleMediaType}
	raw, err := m.RawManifest()
	if err != nil {
		return name.Digest{}, err
	}
	sum := sha256.Sum256(raw)
	ref, err := name.NewDigest(repo.String()+"@sha256:"+hex.EncodeToString(sum[:]), nopts...)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Put(ref, m, ropts...); err != nil {
		return name.Digest{}, fmt.Errorf("attaching signature to %s: %w", subject, err)
	}
	return ref, nil
}

// verifyConfig configures [verifyImage].
type verifyConfig struct {
	Image       string // by tag or digest
	AllowHTTP   bool
	TrustedRoot string // trusted_root.json
	// Identity is the expected certificate subject alternative name
	// (exact), IdentityRegexp a regular expression for it; one is needed.
	Identity, IdentityRegexp string
	// Issuer is the expected OIDC issuer (exact).
	Issuer string
	// RequireSCT demands a certificate transparency proof in the
	// certificate (off for Fulcio without a CT log).
	RequireSCT bool
	Transport  http.RoundTripper
}

// verified is one bundle that verified, with what was checked.
type verified struct {
	Image     name.Digest
	Referrer  v1.Hash
	Identity  string // certificate SAN
	Issuer    string // OIDC issuer in the certificate
	CAIssuer  string // the certificate's issuer (Fulcio's CA)
	LogIndex  int64
	LogTime   time.Time
	LogURL    string
	Predicate string
	// Bundle is the verified bundle as the registry holds it (JSON).
	Bundle []byte
}

// Checks renders what was verified, one check a line.
func (v *verified) Checks() []string {
	return []string{
		fmt.Sprintf("signature: DSSE envelope over an in-toto statement for %s, signed by the key in the certificate", v.Image.DigestStr()),
		fmt.Sprintf("certificate chain: issued by %q, chains to a Fulcio root in the trusted root, valid at the log time", v.CAIssuer),
		fmt.Sprintf("transparency log: entry %d integrated %s (%s); inclusion proof and signed checkpoint verified with the log's key", v.LogIndex, v.LogTime.UTC().Format(time.RFC3339), v.LogURL),
		fmt.Sprintf("identity: subject %q from issuer %q", v.Identity, v.Issuer),
		fmt.Sprintf("statement: predicate %s, subject %s", v.Predicate, v.Image.DigestStr()),
	}
}

// errNoSignature reports an image without a verifying signature.
var errNoSignature = errors.New("no verified signature")

// verifyImage finds the Sigstore bundles attached to the image and verifies
// each against the trusted root and the identity policy until one passes.
// When none does, the error wraps [errNoSignature] and says why each failed.
func verifyImage(ctx context.Context, cfg verifyConfig) (*verified, error) {
	if cfg.Identity == "" && cfg.IdentityRegexp == "" {
		return nil, errors.New("verifying: need the expected identity")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("verifying: need the expected OIDC issuer")
	}
	tr, err := root.NewTrustedRootFromPath(cfg.TrustedRoot)
	if err != nil {
		return nil, fmt.Errorf("reading trusted root %s: %w", cfg.TrustedRoot, err)
	}
	nameOpts, ropts := registryOptions(ctx, cfg.Image, cfg.AllowHTTP, cfg.Transport)
	ref, err := name.ParseReference(cfg.Image, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("parsing image %q: %w", cfg.Image, err)
	}
	desc, err := remote.Head(ref, ropts...)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", ref, err)
	}
	digest := ref.Context().Digest(desc.Digest.String())
	// Like cosign, list every referrer and keep those holding a bundle:
	// registries differ in which artifactType they report.
	idx, err := remote.Referrers(digest, ropts...)
	if err != nil {
		return nil, fmt.Errorf("listing signatures of %s: %w", digest, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("listing signatures of %s: %w", digest, err)
	}
	opts := []verify.VerifierOption{verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1)}
	if cfg.RequireSCT {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	verifier, err := verify.NewVerifier(tr, opts...)
	if err != nil {
		return nil, fmt.Errorf("building verifier: %w", err)
	}
	id, err := verify.NewShortCertificateIdentity(cfg.Issuer, "", cfg.Identity, cfg.IdentityRegexp)
	if err != nil {
		return nil, fmt.Errorf("building identity policy: %w", err)
	}
	digestBytes, err := hex.DecodeString(desc.Digest.Hex)
	if err != nil {
		return nil, err
	}
	policy := verify.NewPolicy(verify.WithArtifactDigest(desc.Digest.Algorithm, digestBytes), verify.WithCertificateIdentity(id))

	var why []string
	for _, d := range im.Manifests {
		b, raw, err := fetchBundle(ref.Context().Digest(d.Digest.String()), ropts)
		if errors.Is(err, errNotBundle) {
			continue
		}
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", d.Digest, err))
			continue
		}
		res, err := verifier.Verify(b, policy)
		if err != nil {
			why = append(why, fmt.Sprintf("%s: %v", d.Digest, err))
			continue
		}
		v := &verified{Image: digest, Referrer: d.Digest, Bundle: raw}
		if s := res.Signature; s != nil && s.Certificate != nil {
			v.Identity, v.Issuer = s.Certificate.SubjectAlternativeName, s.Certificate.Issuer
		}
		if res.Statement != nil {
			v.Predicate = res.Statement.GetPredicateType()
		}
		for _, ts := range res.VerifiedTimestamps {
			if ts.Type == "Tlog" {
				v.LogTime, v.LogURL = ts.Timestamp, ts.URI
			}
		}
		if vc, err := b.VerificationContent(); err == nil && vc.Certificate() != nil {
			v.CAIssuer = vc.Certificate().Issuer.String()
		}
		if es, err := b.TlogEntries(); err == nil && len(es) > 0 {
			v.LogIndex = es[0].LogIndex()
		}
		if v.Predicate != cosignSignPredicateType {
			why = append(why, fmt.Sprintf("%s: predicate %q is not an image signature", d.Digest, v.Predicate))
			continue
		}
		return v, nil
	}
	if len(why) == 0 {
		return nil, fmt.Errorf("%w for %s: no Sigstore bundle is attached", errNoSignature, digest)
	}
	return nil, fmt.Errorf("%w for %s:\n  %s", errNoSignature, digest, strings.Join(why, "\n  "))
}

// errNotBundle marks a referrer that is not a Sigstore bundle (an SBOM, say).
var errNotBundle = errors.New("not a Sigstore bundle")

// fetchBundle returns the bundle of the referrer ref, parsed and as JSON.
func fetchBundle(ref name.Digest, ropts []remote.Option) (*bundle.Bundle, []byte, error) {
	img, err := remote.Image(ref, ropts...)
	if err != nil {
		return nil, nil, fmt.Errorf("fetching: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, nil, fmt.Errorf("fetching: %w", err)
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), "application/vnd.dev.sigstore.bundle") {
		return nil, nil, errNotBundle
	}
	layers, err := img.Layers()
	if err != nil || len(layers) == 0 {
		return nil, nil, fmt.Errorf("fetching layers: %w", errors.Join(err, errors.New("no layer")))
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		return nil, nil, fmt.Errorf("fetching bundle: %w", err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, 16<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("fetching bundle: %w", err)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bytes.TrimSpace(raw)); err != nil {
		return nil, nil, fmt.Errorf("parsing bundle: %w", err)
	}
	return &b, bytes.TrimSpace(raw), nil
}
