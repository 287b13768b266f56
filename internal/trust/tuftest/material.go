package tuftest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"testing"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Default service URLs of the sample material. Nothing listens on them: the
// material is only parsed, never used to reach a service.
const (
	RekorV1URL  = "https://rekor.example.test"
	RekorV2URL  = "https://log2025-1.rekor.example.test"
	FulcioURL   = "https://127.0.0.1:9/fulcio" // loopback, nothing listening: tests that dial the material's services stay local
	OIDCURL     = "https://oauth2.example.test/auth"
	sampleOrg   = "example.test"
	fulcioCN    = "fulcio"
	tsaCN       = "tsa"
	serviceSpan = 365 * 24 * time.Hour
)

// SampleStart is the start of the validity of the sample material.
var SampleStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TrustedRoot builds a Sigstore trusted_root.json (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1) with keys and
// certificates generated in memory. It is not safe for concurrent use.
type TrustedRoot struct {
	t  testing.TB
	pb *prototrustroot.TrustedRoot
}

// NewTrustedRoot returns the sample trusted root: a Rekor v1 log with an
// ECDSA P-256 key at [RekorV1URL], a Rekor v2 log with an Ed25519 key at
// [RekorV2URL] and a Fulcio CA (one self-signed ECDSA certificate) at
// [FulcioURL], all valid from [SampleStart] with an open end.
func NewTrustedRoot(t testing.TB) *TrustedRoot {
	t.Helper()
	tr := &TrustedRoot{t: t, pb: &prototrustroot.TrustedRoot{MediaType: root.TrustedRootMediaType01}}
	tr.AddRekorV1(RekorV1URL, SampleStart)
	tr.AddRekorV2(RekorV2URL, SampleStart)
	tr.AddFulcioCA(FulcioURL, SampleStart)
	return tr
}

// AddRekorV1 adds a transparency log with a fresh ECDSA P-256 key and
// returns its hex log ID (the SHA-256 of the DER public key).
func (tr *TrustedRoot) AddRekorV1(baseURL string, start time.Time) string {
	tr.t.Helper()
	inst, id := tr.tlog(baseURL, start, false)
	tr.pb.Tlogs = append(tr.pb.Tlogs, inst)
	return id
}

// AddRekorV2 adds a transparency log with a fresh Ed25519 key (as Rekor v2
// uses) and returns its hex log ID.
func (tr *TrustedRoot) AddRekorV2(baseURL string, start time.Time) string {
	tr.t.Helper()
	inst, id := tr.tlog(baseURL, start, true)
	tr.pb.Tlogs = append(tr.pb.Tlogs, inst)
	return id
}

// AddCTLog adds a certificate transparency log with a fresh ECDSA P-256 key
// and returns its hex log ID.
func (tr *TrustedRoot) AddCTLog(baseURL string, start time.Time) string {
	tr.t.Helper()
	inst, id := tr.tlog(baseURL, start, false)
	tr.pb.Ctlogs = append(tr.pb.Ctlogs, inst)
	return id
}

// EndLog sets the end of the validity of the transparency or CT log with
// hex log ID logID (a zero end removes it). It fails the test if there is
// no such log.
func (tr *TrustedRoot) EndLog(logID string, end time.Time) {
	tr.t.Helper()
	for _, l := range append(append([]*prototrustroot.TransparencyLogInstance{}, tr.pb.Tlogs...), tr.pb.Ctlogs...) {
		if hex.EncodeToString(l.GetLogId().GetKeyId()) != logID {
			continue
		}
		if end.IsZero() {
			l.PublicKey.ValidFor.End = nil
		} else {
			l.PublicKey.ValidFor.End = timestamppb.New(end)
		}
		return
	}
	tr.t.Fatalf("tuftest: no log with ID %s in the trusted root", logID)
}

// RemoveLog removes the transparency or CT log with hex log ID logID. It
// fails the test if there is no such log.
func (tr *TrustedRoot) RemoveLog(logID string) {
	tr.t.Helper()
	n := len(tr.pb.Tlogs) + len(tr.pb.Ctlogs)
	keep := func(ls []*prototrustroot.TransparencyLogInstance) []*prototrustroot.TransparencyLogInstance {
		var out []*prototrustroot.TransparencyLogInstance
		for _, l := range ls {
			if hex.EncodeToString(l.GetLogId().GetKeyId()) != logID {
				out = append(out, l)
			}
		}
		return out
	}
	tr.pb.Tlogs, tr.pb.Ctlogs = keep(tr.pb.Tlogs), keep(tr.pb.Ctlogs)
	if len(tr.pb.Tlogs)+len(tr.pb.Ctlogs) == n {
		tr.t.Fatalf("tuftest: no log with ID %s in the trusted root", logID)
	}
}

// AddFulcioCA adds a certificate authority whose chain is one fresh
// self-signed ECDSA certificate (subject O=example.test, CN=fulcio) and
// returns that certificate.
func (tr *TrustedRoot) AddFulcioCA(uri string, start time.Time) *x509.Certificate {
	tr.t.Helper()
	ca, cert := tr.ca(uri, fulcioCN, start)
	tr.pb.CertificateAuthorities = append(tr.pb.CertificateAuthorities, ca)
	return cert
}

// AddTSA adds a timestamp authority whose chain is one fresh self-signed
// ECDSA CA certificate (subject O=example.test, CN=tsa) and returns that
// certificate.
func (tr *TrustedRoot) AddTSA(uri string, start time.Time) *x509.Certificate {
	tr.t.Helper()
	ca, cert := tr.ca(uri, tsaCN, start)
	tr.pb.TimestampAuthorities = append(tr.pb.TimestampAuthorities, ca)
	return cert
}

// JSON returns the trusted root as protobuf JSON, after checking that
// sigstore-go parses it.
func (tr *TrustedRoot) JSON() []byte {
	tr.t.Helper()
	b, err := protojson.Marshal(tr.pb)
	if err != nil {
		tr.t.Fatalf("tuftest: marshalling trusted root: %v", err)
	}
	if _, err := root.NewTrustedRootFromJSON(b); err != nil {
		tr.t.Fatalf("tuftest: sample trusted root does not parse: %v", err)
	}
	return b
}

func (tr *TrustedRoot) tlog(baseURL string, start time.Time, ed bool) (*prototrustroot.TransparencyLogInstance, string) {
	tr.t.Helper()
	var (
		pub     crypto.PublicKey
		details protocommon.PublicKeyDetails
	)
	if ed {
		p, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tr.t.Fatalf("tuftest: generating Ed25519 key: %v", err)
		}
		pub, details = p, protocommon.PublicKeyDetails_PKIX_ED25519
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			tr.t.Fatalf("tuftest: generating ECDSA key: %v", err)
		}
		pub, details = k.Public(), protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tr.t.Fatalf("tuftest: marshalling public key: %v", err)
	}
	id := sha256.Sum256(der)
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(start)},
		},
		LogId: &protocommon.LogId{KeyId: id[:]},
	}, hex.EncodeToString(id[:])
}

func (tr *TrustedRoot) ca(uri, cn string, start time.Time) (*prototrustroot.CertificateAuthority, *x509.Certificate) {
	tr.t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tr.t.Fatalf("tuftest: generating CA key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tr.t.Fatalf("tuftest: generating serial: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{sampleOrg}, CommonName: cn},
		NotBefore:             start,
		NotAfter:              start.Add(10 * serviceSpan),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		tr.t.Fatalf("tuftest: creating CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tr.t.Fatalf("tuftest: parsing CA certificate: %v", err)
	}
	return &prototrustroot.CertificateAuthority{
		Subject:   &protocommon.DistinguishedName{Organization: sampleOrg, CommonName: cn},
		Uri:       uri,
		CertChain: &protocommon.X509CertificateChain{Certificates: []*protocommon.X509Certificate{{RawBytes: der}}},
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(start)},
	}, cert
}

// SigningConfig builds a Sigstore signing config (media type
// application/vnd.dev.sigstore.signingconfig.v0.2+json). It is not safe
// for concurrent use.
type SigningConfig struct {
	t  testing.TB
	pb *prototrustroot.SigningConfig
}

// NewSigningConfig returns the sample signing config: Fulcio at
// [FulcioURL], an OIDC provider at [OIDCURL], Rekor v1 at [RekorV1URL] and
// Rekor v2 at [RekorV2URL] (selector ANY), all valid from [SampleStart].
func NewSigningConfig(t testing.TB) *SigningConfig {
	t.Helper()
	sc := &SigningConfig{t: t, pb: &prototrustroot.SigningConfig{
		MediaType:       root.SigningConfigMediaType02,
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	}}
	sc.pb.CaUrls = append(sc.pb.CaUrls, service(FulcioURL, 1, SampleStart))
	sc.pb.OidcUrls = append(sc.pb.OidcUrls, service(OIDCURL, 1, SampleStart))
	sc.AddRekor(RekorV1URL, 1, SampleStart)
	sc.AddRekor(RekorV2URL, 2, SampleStart)
	return sc
}

// AddRekor adds a Rekor service of major API version apiVersion.
func (sc *SigningConfig) AddRekor(url string, apiVersion uint32, start time.Time) {
	sc.pb.RekorTlogUrls = append(sc.pb.RekorTlogUrls, service(url, apiVersion, start))
}

// AddTSA adds a timestamp authority service (API version 1).
func (sc *SigningConfig) AddTSA(url string, start time.Time) {
	sc.pb.TsaUrls = append(sc.pb.TsaUrls, service(url, 1, start))
}

// EndRekor sets the end of the validity of every Rekor service at url. It
// fails the test if there is none.
func (sc *SigningConfig) EndRekor(url string, end time.Time) {
	sc.t.Helper()
	found := false
	for _, s := range sc.pb.RekorTlogUrls {
		if s.GetUrl() == url {
			s.ValidFor.End = timestamppb.New(end)
			found = true
		}
	}
	if !found {
		sc.t.Fatalf("tuftest: no Rekor service %s in the signing config", url)
	}
}

// JSON returns the signing config as protobuf JSON, after checking that
// sigstore-go parses it.
func (sc *SigningConfig) JSON() []byte {
	sc.t.Helper()
	b, err := protojson.Marshal(sc.pb)
	if err != nil {
		sc.t.Fatalf("tuftest: marshalling signing config: %v", err)
	}
	if _, err := root.NewSigningConfigFromJSON(b); err != nil {
		sc.t.Fatalf("tuftest: sample signing config does not parse: %v", err)
	}
	return b
}

func service(url string, apiVersion uint32, start time.Time) *prototrustroot.Service {
	return &prototrustroot.Service{
		Url:             url,
		MajorApiVersion: apiVersion,
		ValidFor:        &protocommon.TimeRange{Start: timestamppb.New(start)},
		Operator:        sampleOrg,
	}
}
