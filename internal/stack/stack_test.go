package stack_test

// Tests against the real local stack (scripts/stack/up.sh): skipped when it
// is down, failed under CI=true.

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
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// stackMaterial is what the stack tests sign with.
type stackMaterial struct {
	name   string
	signer crypto.Signer
	pem    []byte
}

func stackSigners(t *testing.T, env testenv.Env) []stackMaterial {
	t.Helper()
	client, err := identitytest.LoadSigner(env.Get(t, "CLIENT_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	clientPub, err := identitytest.PublicKeyPEM(client.Public())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := identitytest.NewTestCA()
	if err != nil {
		t.Fatal(err)
	}
	eph, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue(eph.Public(),
		"https://github.com/org/repo/.github/workflows/rel.yml@refs/tags/v1", identitytest.GitHubActionsIssuer,
		identitytest.GitHubActionsExtensions("org/repo", "refs/tags/v1", ".github/workflows/rel.yml", "abc"))
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
	raw, err := stack.Get(t.Context(), rekorURL+"/api/v1/log/entries?logIndex="+strconv.FormatInt(idx, 10))
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
	env := testenv.Stack(t)
	url := env.Get(t, "REKOR_URL")
	adders := []struct {
		kind string
		add  func(context.Context, string, crypto.Signer, []byte, []byte) (int64, error)
	}{
		{"hashedrekord", stack.AddV1HashedRekord},
		{"dsse", stack.AddV1DSSE},
		{"intoto", stack.AddV1InToto},
	}
	for _, m := range stackSigners(t, env) {
		for _, a := range adders {
			t.Run(a.kind+"/"+m.name, func(t *testing.T) {
				before, err := stack.FetchV1TreeSize(t.Context(), url)
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
				after, err := stack.FetchV1TreeSize(t.Context(), url)
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
	env := testenv.Stack(t)
	url := env.Get(t, "REKOR_URL")
	m := stackSigners(t, env)[0]
	art := uniqueArtifact(t, "dup")
	if _, err := stack.AddV1HashedRekord(t.Context(), url, m.signer, m.pem, art); err != nil {
		t.Fatal(err)
	}
	// ECDSA signatures are randomized, so a second upload differs in its signature;
	// only a byte-identical entry is a duplicate. Re-post the same signature.
	d := sha256.Sum256(art)
	sig, err := identitytest.SignDigest(m.signer, d[:])
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"data":{"hash":{"algorithm":"sha256","value":"%x"}},"signature":{"content":"%s","publicKey":{"content":"%s"}}}}`,
		d, base64.StdEncoding.EncodeToString(sig), base64.StdEncoding.EncodeToString(m.pem))
	for i := range 2 {
		err = stack.PostJSON(t.Context(), url+"/api/v1/log/entries", []byte(body), nil)
		if i == 1 && !errors.Is(err, stack.ErrEntryExists) {
			t.Errorf("second identical upload: error = %v, want ErrEntryExists", err)
		}
	}
}

func TestAddV2(t *testing.T) {
	env := testenv.Stack(t)
	write, read := env.Get(t, "REKOR_V2_WRITE_URL"), env.Get(t, "REKOR_V2_READ_URL")
	origin := env.Get(t, "REKOR_V2_ORIGIN")
	for _, m := range stackSigners(t, env) {
		for _, kind := range []string{"hashedrekord", "dsse"} {
			t.Run(kind+"/"+m.name, func(t *testing.T) {
				_, before, err := stack.FetchV2Checkpoint(t.Context(), read)
				if err != nil {
					t.Fatal(err)
				}
				art := uniqueArtifact(t, kind)
				var idx int64
				if kind == "dsse" {
					var env []byte
					idx, env, err = stack.AddV2DSSE(t.Context(), write, m.signer, m.pem, art)
					if err == nil && !json.Valid(env) {
						t.Errorf("AddV2DSSE returned an invalid envelope %q", env)
					}
				} else {
					idx, err = stack.AddV2HashedRekord(t.Context(), write, m.signer, m.pem, art)
				}
				if err != nil {
					t.Fatal(err)
				}
				if idx < before {
					t.Errorf("log index %d, want >= tree size %d before the add", idx, before)
				}
				// The write returns once a checkpoint covering the entry is published.
				cp, after, err := stack.FetchV2Checkpoint(t.Context(), read)
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
	env := testenv.Stack(t)
	m := stackSigners(t, env)[0]
	other, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	// Signed by other, verifier says the client key: the log must refuse it.
	d := sha256.Sum256(uniqueArtifact(t, "bad"))
	sig, err := identitytest.SignDigest(other, d[:])
	if err != nil {
		t.Fatal(err)
	}
	_, err = stack.AddV2(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), m.pem, d[:], sig)
	var se *stack.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
		t.Errorf("adding a badly signed entry: error = %v, want a 400 StatusError", err)
	}
}

func TestFulcioCert(t *testing.T) {
	env := testenv.Stack(t)
	issuer := env.Get(t, "OIDC_ISSUER")
	tests := []struct {
		name string
		key  func() (crypto.Signer, error)
	}{
		{"ecdsa", identitytest.NewSigner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := tt.key()
			if err != nil {
				t.Fatal(err)
			}
			chain, err := stack.FulcioCert(t.Context(), env.Get(t, "FULCIO_URL"), issuer, "carol@example.com", key)
			if err != nil {
				t.Fatal(err)
			}
			block, _ := pem.Decode(chain)
			if block == nil || block.Type != "CERTIFICATE" {
				t.Fatalf("chain does not start with a PEM certificate: %q", chain)
			}
			leaf, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if len(leaf.EmailAddresses) != 1 || leaf.EmailAddresses[0] != "carol@example.com" {
				t.Errorf("leaf email SANs = %v, want [carol@example.com]", leaf.EmailAddresses)
			}
			wantIssuer, err := asn1.MarshalWithParams(issuer, "utf8")
			if err != nil {
				t.Fatal(err)
			}
			var gotIssuer []byte
			for _, e := range leaf.Extensions {
				if e.Id.String() == identity.OIDIssuer {
					gotIssuer = e.Value
				}
			}
			if !bytes.Equal(gotIssuer, wantIssuer) {
				t.Errorf("leaf issuer extension = %q, want %q", gotIssuer, wantIssuer)
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
			if _, err := stack.AddV1HashedRekord(t.Context(), env.Get(t, "REKOR_URL"), key, chain, uniqueArtifact(t, "fulcio")); err != nil {
				t.Errorf("adding an entry with the Fulcio certificate: %v", err)
			}
		})
	}
}

// TestStackTilesServed checks the tile server serves what rekor-tiles wrote,
// including partial tiles, and hides tessera's state directory.
func TestStackTilesServed(t *testing.T) {
	env := testenv.Stack(t)
	read := env.Get(t, "REKOR_V2_READ_URL")
	_, size, err := stack.FetchV2Checkpoint(t.Context(), read)
	if err != nil {
		t.Fatal(err)
	}
	if size == 0 || size%256 == 0 {
		// Make the log's last tile partial, so the partial path exists.
		m := stackSigners(t, env)[0]
		if _, err := stack.AddV2HashedRekord(t.Context(), env.Get(t, "REKOR_V2_WRITE_URL"), m.signer, m.pem, uniqueArtifact(t, "tile")); err != nil {
			t.Fatal(err)
		}
		if _, size, err = stack.FetchV2Checkpoint(t.Context(), read); err != nil {
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
			resp, err := stack.Client().Get(read + tt.path)
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
	env := testenv.Stack(t)
	raw, err := stack.Get(t.Context(), env.Get(t, "REKOR_URL")+"/api/v1/log")
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		SignedTreeHead string `json:"signedTreeHead"`
	}
	if err := json.Unmarshal(raw, &info); err != nil {
		t.Fatal(err)
	}
	v2, _, err := stack.FetchV2Checkpoint(t.Context(), env.Get(t, "REKOR_V2_READ_URL"))
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
			priv, err := identitytest.LoadSigner(tt.privFile)
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
