package stack

// Seeding the stack's logs.
//
//	Rekor v1  POST {url}/api/v1/log/entries        hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2, or any kind
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
// from identitytest.TestCA.Issue or [FulcioCert]); for a certificate only the
// first block (the leaf) is sent to the log.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	rekorv2 "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"github.com/sigstore/rekor/pkg/generated/models"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
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

// client is shared by all calls: hundreds of parallel writers must reuse
// connections, which http.DefaultTransport (2 idle per host) would not.
var client = sync.OnceValue(func() *http.Client {
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
	resp, err := client().Do(req)
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
// Rekor v1

// AddV1Entry submits a proposed entry of any kind (as rekor-cli upload
// does: POST /api/v1/log/entries) to the Rekor v1 log at rekorURL and
// returns its log index once Rekor has sequenced it. A rejected entry is
// a [*StatusError] carrying Rekor's answer.
func AddV1Entry(ctx context.Context, rekorURL string, entry models.ProposedEntry) (int64, error) {
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
	material, err := identitytest.LeafPEM(certOrPubPEM)
	if err != nil {
		return 0, err
	}
	d := sha256.Sum256(artifact)
	sig, err := identitytest.SignDigest(signer, d[:])
	if err != nil {
		return 0, err
	}
	return AddV1Entry(ctx, rekorURL, identitytest.HashedRekordEntry(d[:], sig, material))
}

// AddV1DSSE signs an in-toto statement about artifact as a DSSE envelope and
// adds it as a dsse 0.0.1 entry to the Rekor v1 log at rekorURL (what cosign
// attest --new-bundle-format uploads).
func AddV1DSSE(ctx context.Context, rekorURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, error) {
	material, err := identitytest.LeafPEM(certOrPubPEM)
	if err != nil {
		return 0, err
	}
	env, _, err := identitytest.SignDSSE(identitytest.InTotoPayloadType, identitytest.InTotoStatement("artifact", artifact), signer)
	if err != nil {
		return 0, err
	}
	return AddV1Entry(ctx, rekorURL, identitytest.DSSEEntry(env, material))
}

// AddV1InToto adds the same kind of attestation as [AddV1DSSE] as an intoto
// 0.0.2 entry (what cosign attest uploads).
func AddV1InToto(ctx context.Context, rekorURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, error) {
	material, err := identitytest.LeafPEM(certOrPubPEM)
	if err != nil {
		return 0, err
	}
	env, _, err := identitytest.SignDSSE(identitytest.InTotoPayloadType, identitytest.InTotoStatement("artifact", artifact), signer)
	if err != nil {
		return 0, err
	}
	entry, err := identitytest.IntotoV002Entry(env, material)
	if err != nil {
		return 0, err
	}
	return AddV1Entry(ctx, rekorURL, entry)
}

// ---------------------------------------------------------------------------
// Rekor v2

// addV2 submits a hashedrekord 0.0.2 request for a SHA-256 digest and its signature.
func addV2(ctx context.Context, writeURL string, certOrPubPEM, digest, sig []byte) (int64, error) {
	hr, err := identitytest.HashedRekordRequestV2(digest, sig, certOrPubPEM)
	if err != nil {
		return 0, err
	}
	req := &rekorv2.CreateEntryRequest{Spec: &rekorv2.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: hr}}
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
	sig, err := identitytest.SignDigest(signer, d[:])
	if err != nil {
		return 0, err
	}
	return addV2(ctx, writeURL, certOrPubPEM, d[:], sig)
}

// AddV2DSSE signs an in-toto statement about artifact as a DSSE envelope and
// logs it in Rekor v2. rekor-tiles v2.3.0 no longer accepts dsse entries (its
// DSSERequestV002 is deprecated "use HashedRekordRequestV002 with the hash of the
// DSSE PAE instead"), so the entry is a hashedrekord 0.0.2 over SHA-256(PAE)
// carrying the envelope's signature, exactly what current clients log. The
// envelope is returned so callers can build a bundle or check the entry.
func AddV2DSSE(ctx context.Context, writeURL string, signer crypto.Signer, certOrPubPEM, artifact []byte) (int64, []byte, error) {
	payload := identitytest.InTotoStatement("artifact", artifact)
	env, sigs, err := identitytest.SignDSSE(identitytest.InTotoPayloadType, payload, signer)
	if err != nil {
		return 0, nil, err
	}
	d := sha256.Sum256(identitytest.PAE(identitytest.InTotoPayloadType, payload))
	idx, err := addV2(ctx, writeURL, certOrPubPEM, d[:], sigs[0])
	if err != nil {
		return 0, nil, err
	}
	return idx, env, nil
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
	resp, err := client().Do(req)
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
	pubPEM, err := identitytest.PublicKeyPEM(signer.Public())
	if err != nil {
		return nil, err
	}
	d := sha256.Sum256([]byte(email))
	pop, err := identitytest.SignDigest(signer, d[:])
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
	return fetchCheckpoint(ctx, readURL, "rekor v2")
}

// fetchCheckpoint GETs {readURL}/checkpoint of the what log (tlog-tiles or
// static-ct-api) and parses the tree size on its second line.
func fetchCheckpoint(ctx context.Context, readURL, what string) ([]byte, int64, error) {
	raw, err := get(ctx, strings.TrimSuffix(readURL, "/")+"/checkpoint")
	if err != nil {
		return nil, 0, fmt.Errorf("fetching %s checkpoint: %w", what, err)
	}
	lines := strings.SplitN(string(raw), "\n", 3)
	if len(lines) < 3 {
		return raw, 0, fmt.Errorf("parsing %s checkpoint: fewer than 3 lines", what)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		return raw, 0, fmt.Errorf("parsing %s checkpoint size: %w", what, err)
	}
	return raw, size, nil
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client().Do(req)
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
