package deploy

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
)

// trustMaterial is the client trust material of a private Sigstore: what cosign and
// sigstore-go need to verify signatures made against it.
//
//   - TUFRoot and MirrorURL are what `cosign initialize --mirror URL --root
//     root.json` takes: clients then fetch the trusted root from the TUF
//     repository the scaffold's TUF server publishes.
//   - The keys and certificates give a trusted_root.json directly (for
//     sigstore-go and `cosign verify --trusted-root`), for when the TUF mirror
//     is not reachable from the client.
type trustMaterial struct {
	TUFRoot   []byte // the TUF root.json (tuf-system/tuf-root, key "root")
	MirrorURL string // https://tuf.<domain>

	RekorURL    string
	RekorKeyPEM []byte // PEM public key of the Rekor log
	FulcioURL   string
	FulcioPEM   []byte // Fulcio's CA chain, root last
	CTLogURL    string
	CTLogKeyPEM []byte // PEM public key of the CT log; optional
	TSAURL      string
	TSAChainPEM []byte // TSA chain, leaf first; optional

	// ValidFrom starts the validity of every key in the trusted root; the
	// zero value means Fulcio's root's NotBefore.
	ValidFrom time.Time
}

// errIncompleteTrust reports trust material without the Fulcio chain or the
// Rekor key, the minimum a trusted root needs.
var errIncompleteTrust = errors.New("incomplete trust material")

// TrustedRootJSON builds a Sigstore trusted_root.json (media type
// application/vnd.dev.sigstore.trustedroot+json;version=0.1) with sigstore-go.
func (t *trustMaterial) TrustedRootJSON() ([]byte, error) {
	if len(t.FulcioPEM) == 0 || len(t.RekorKeyPEM) == 0 {
		return nil, fmt.Errorf("%w: need Fulcio's CA certificate and Rekor's public key", errIncompleteTrust)
	}
	chain, err := parseCertsPEM(t.FulcioPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing Fulcio certificate chain: %w", err)
	}
	start := t.ValidFrom
	if start.IsZero() {
		start = chain[len(chain)-1].NotBefore
	}
	ca := &root.FulcioCertificateAuthority{
		Root:                chain[len(chain)-1],
		Intermediates:       chain[:len(chain)-1],
		ValidityPeriodStart: start,
		URI:                 t.FulcioURL,
	}
	rekor, err := transparencyLog(t.RekorURL, t.RekorKeyPEM, start)
	if err != nil {
		return nil, fmt.Errorf("parsing Rekor public key: %w", err)
	}
	tlogs := map[string]*root.TransparencyLog{hex.EncodeToString(rekor.ID): rekor}
	ctlogs := map[string]*root.TransparencyLog{}
	if len(t.CTLogKeyPEM) > 0 {
		ct, err := transparencyLog(t.CTLogURL, t.CTLogKeyPEM, start)
		if err != nil {
			return nil, fmt.Errorf("parsing CT log public key: %w", err)
		}
		ctlogs[hex.EncodeToString(ct.ID)] = ct
	}
	var tsas []root.TimestampingAuthority
	if len(t.TSAChainPEM) > 0 {
		tc, err := parseCertsPEM(t.TSAChainPEM)
		if err != nil {
			return nil, fmt.Errorf("parsing TSA certificate chain: %w", err)
		}
		tsa := &root.SigstoreTimestampingAuthority{Root: tc[len(tc)-1], ValidityPeriodStart: start, URI: t.TSAURL}
		if len(tc) > 1 {
			tsa.Leaf = tc[0]
			tsa.Intermediates = tc[1 : len(tc)-1]
		}
		tsas = append(tsas, tsa)
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, []root.CertificateAuthority{ca}, ctlogs, tsas, tlogs)
	if err != nil {
		return nil, fmt.Errorf("building trusted root: %w", err)
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding trusted root: %w", err)
	}
	return indentJSON(b), nil
}

// transparencyLog describes a log (Rekor or CT) by its PEM public key; its ID
// is the SHA-256 of the DER SubjectPublicKeyInfo, as both RFC 6962 and
// Rekor define it.
func transparencyLog(baseURL string, keyPEM []byte, start time.Time) (*root.TransparencyLog, error) {
	blk, _ := pem.Decode(keyPEM)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(blk.Bytes)
	return &root.TransparencyLog{
		BaseURL:             baseURL,
		ID:                  id[:],
		ValidityPeriodStart: start,
		HashFunc:            crypto.SHA256,
		PublicKey:           pub,
		SignatureHashFunc:   crypto.SHA256,
	}, nil
}

func indentJSON(b []byte) []byte {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return b
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return b
	}
	return append(out, '\n')
}

// TrustFiles are the names [trustMaterial.Write] uses inside its directory.
const (
	fileTUFRoot     = "root.json"
	fileMirror      = "tuf-mirror"
	fileTrustedRoot = "trusted_root.json"
	fileRekorKey    = "rekor.pub"
	fileFulcioChain = "fulcio.crt.pem"
)

// Write stores the trust material in dir, each file atomically and only when
// its content changed: root.json and tuf-mirror (when TUFRoot is set),
// rekor.pub, fulcio.crt.pem and trusted_root.json (when both are known). It
// returns the files written; a trusted root that cannot be built yet because
// keys are missing is skipped, not an error.
func (t *trustMaterial) Write(dir string) (written []string, err error) {
	files := map[string][]byte{}
	if len(t.TUFRoot) > 0 {
		files[fileTUFRoot] = t.TUFRoot
		files[fileMirror] = []byte(t.MirrorURL + "\n")
	}
	if len(t.RekorKeyPEM) > 0 {
		files[fileRekorKey] = t.RekorKeyPEM
	}
	if len(t.FulcioPEM) > 0 {
		files[fileFulcioChain] = t.FulcioPEM
	}
	tr, err := t.TrustedRootJSON()
	switch {
	case err == nil:
		files[fileTrustedRoot] = tr
	case !errors.Is(err, errIncompleteTrust):
		return nil, err
	}
	for _, name := range []string{fileTUFRoot, fileMirror, fileRekorKey, fileFulcioChain, fileTrustedRoot} {
		data, ok := files[name]
		if !ok {
			continue
		}
		changed, err := writeFileIfChanged(filepath.Join(dir, name), data, 0o644)
		if err != nil {
			return written, err
		}
		if changed {
			written = append(written, name)
		}
	}
	return written, nil
}

// fetchTrust reads the trust material of a running Sigstore from its APIs:
// Fulcio's CA chain (GET /api/v2/trustBundle) and Rekor's public key (GET
// /api/v1/log/publicKey). It is how a client of an existing private Sigstore
// (or the local test stack) gets a trusted_root.json without TUF.
func fetchTrust(ctx context.Context, client *http.Client, fulcioURL, rekorURL string) (*trustMaterial, error) {
	if client == nil {
		client = http.DefaultClient
	}
	get := func(u string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", u, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", u, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetching %s: %s", u, resp.Status)
		}
		return b, nil
	}
	tb, err := get(strings.TrimSuffix(fulcioURL, "/") + "/api/v2/trustBundle")
	if err != nil {
		return nil, err
	}
	var bundle struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.Unmarshal(tb, &bundle); err != nil {
		return nil, fmt.Errorf("reading Fulcio trust bundle from %s: %w", fulcioURL, err)
	}
	if len(bundle.Chains) == 0 || len(bundle.Chains[0].Certificates) == 0 {
		return nil, fmt.Errorf("reading Fulcio trust bundle from %s: no certificate chain", fulcioURL)
	}
	key, err := get(strings.TrimSuffix(rekorURL, "/") + "/api/v1/log/publicKey")
	if err != nil {
		return nil, err
	}
	if blk, _ := pem.Decode(key); blk == nil {
		return nil, fmt.Errorf("reading Rekor public key from %s: not PEM", rekorURL)
	}
	return &trustMaterial{
		FulcioURL: fulcioURL, FulcioPEM: []byte(strings.Join(bundle.Chains[0].Certificates, "")),
		RekorURL: rekorURL, RekorKeyPEM: key,
	}, nil
}
