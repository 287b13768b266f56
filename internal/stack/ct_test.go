package stack_test

// Tests against the stack's CT logs (ct_server and tesseract) and the CT log
// Fulcio submits to: skipped when the stack is down, failed under CI=true.

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	ctx509 "github.com/google/certificate-transparency-go/x509"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// loadPub reads a PEM public key file.
func loadPub(t *testing.T, path string) (crypto.PublicKey, []byte) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("%s holds no PEM public key", path)
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return pub, block.Bytes
}

// pemCerts returns the DER of every certificate in a PEM bundle.
func pemCerts(t *testing.T, bundle []byte) [][]byte {
	t.Helper()
	var ders [][]byte
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return ders
		}
		if block.Type == "CERTIFICATE" {
			ders = append(ders, block.Bytes)
		}
	}
}

// ctTreeSize polls the CT log's STH until its tree size is at least want
// (Trillian's signer sequences every 100ms) and returns it.
func ctTreeSize(t *testing.T, ctURL string, want uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		sth, err := stack.FetchCTSTH(t.Context(), ctURL)
		if err != nil {
			t.Fatal(err)
		}
		if sth.TreeSize >= want || time.Now().After(deadline) {
			return sth.TreeSize
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFulcioCertEmbedsSCT checks that the stack's Fulcio logs each
// certificate's precertificate in the CT log and embeds the SCT: the leaf
// carries an SCT list whose SCT names the CT log (log ID = SHA-256 of
// CT_PUBKEY's DER) and verifies with its key, the chain ends in FULCIO_ROOT,
// and the CT log grows.
func TestFulcioCertEmbedsSCT(t *testing.T) {
	env := testenv.Stack(t)
	ctURL := env.Get(t, "CT_URL")
	pub, pubDER := loadPub(t, env.Get(t, "CT_PUBKEY"))
	logID := sha256.Sum256(pubDER)
	before, err := stack.FetchCTSTH(t.Context(), ctURL)
	if err != nil {
		t.Fatal(err)
	}
	key, err := identitytest.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	chainPEM, err := stack.FulcioCert(t.Context(), env.Get(t, "FULCIO_URL"), env.Get(t, "OIDC_ISSUER"), "dave@example.com", key)
	if err != nil {
		t.Fatal(err)
	}
	ders := pemCerts(t, chainPEM)
	if len(ders) < 2 {
		t.Fatalf("Fulcio chain has %d certificates, want the leaf and its issuer", len(ders))
	}
	rootPEM, err := os.ReadFile(env.Get(t, "FULCIO_ROOT"))
	if err != nil {
		t.Fatal(err)
	}
	if roots := pemCerts(t, rootPEM); len(roots) != 1 || !bytes.Equal(ders[len(ders)-1], roots[0]) {
		t.Error("Fulcio's chain does not end in FULCIO_ROOT")
	}

	leaf, err := x509.ParseCertificate(ders[0])
	if err != nil {
		t.Fatal(err)
	}
	var sctExt []byte
	for _, e := range leaf.Extensions {
		if e.Id.String() == identitytest.OIDCTSCTList {
			sctExt = e.Value
		}
	}
	if sctExt == nil {
		t.Fatalf("Fulcio's certificate has no SCT list extension (%s)", identitytest.OIDCTSCTList)
	}
	chain := make([]*ctx509.Certificate, 2)
	for i := range chain {
		if chain[i], err = ctx509.ParseCertificate(ders[i]); err != nil {
			t.Fatal(err)
		}
	}
	if len(chain[0].SCTList.SCTList) != 1 {
		t.Fatalf("SCT list holds %d SCTs, want 1", len(chain[0].SCTList.SCTList))
	}
	var sct ct.SignedCertificateTimestamp
	if rest, err := cttls.Unmarshal(chain[0].SCTList.SCTList[0].Val, &sct); err != nil || len(rest) > 0 {
		t.Fatalf("decoding the embedded SCT: %v (%d bytes left)", err, len(rest))
	}
	if sct.LogID.KeyID != logID {
		t.Errorf("embedded SCT log ID = %x, want SHA-256(CT_PUBKEY) = %x", sct.LogID.KeyID, logID)
	}
	// The SCT signs the precertificate: the leaf without its SCT list, with the issuer's key hash.
	eleaf, err := ct.MerkleTreeLeafForEmbeddedSCT(chain, sct.Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ct.NewSignatureVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.VerifySCTSignature(sct, ct.LogEntry{Leaf: *eleaf}); err != nil {
		t.Errorf("embedded SCT does not verify with CT_PUBKEY: %v", err)
	}
	if after := ctTreeSize(t, ctURL, before.TreeSize+1); after <= before.TreeSize {
		t.Errorf("CT log tree size stayed %d after Fulcio issued a certificate", after)
	}
}

// ctLog is one of the stack's two CT logs.
type ctLog struct {
	name, writeURL, pubFile string
	static                  bool // tesseract: SCTs carry the leaf index
}

func ctLogs(t *testing.T, env testenv.Env) []ctLog {
	return []ctLog{
		{"ct", env.Get(t, "CT_URL"), env.Get(t, "CT_PUBKEY"), false},
		{"static-ct", env.Get(t, "STATIC_CT_WRITE_URL"), env.Get(t, "STATIC_CT_PUBKEY"), true},
	}
}

// TestAddCTChain adds certificates and precertificates issued by the CAs the
// CT logs trust (loadgen's test CA in $STACK_DIR/testca, and Fulcio's CA from
// FULCIO_ROOT and FULCIO_CA_KEY) to both CT logs, checks the SCTs, that the
// logs grow, that the static-ct read side serves the issuer, and that a chain
// from an unknown CA is refused.
func TestAddCTChain(t *testing.T) {
	env := testenv.Stack(t)
	dir := filepath.Join(env.Get(t, "STACK_DIR"), "testca")
	testCA, err := identitytest.LoadTestCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	fulcioCA, err := identitytest.LoadTestCA(env.Get(t, "FULCIO_ROOT"), env.Get(t, "FULCIO_CA_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	cas := []struct {
		name string
		ca   *identitytest.TestCA
	}{{"testca", testCA}, {"fulcio-ca", fulcioCA}}
	ext := identitytest.GitHubActionsExtensions("org/repo", "refs/tags/v1", ".github/workflows/rel.yml", "abc")
	for _, l := range ctLogs(t, env) {
		pub, pubDER := loadPub(t, l.pubFile)
		logID := sha256.Sum256(pubDER)
		sv, err := ct.NewSignatureVerifier(pub)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cas {
			for _, precert := range []bool{false, true} {
				kind := "cert"
				if precert {
					kind = "precert"
				}
				t.Run(l.name+"/"+c.name+"/"+kind, func(t *testing.T) {
					key, err := identitytest.NewSigner()
					if err != nil {
						t.Fatal(err)
					}
					chain, err := c.ca.IssueChain(key.Public(), "https://github.com/org/repo/.github/workflows/rel.yml@refs/tags/v1",
						identitytest.GitHubActionsIssuer, ext, precert)
					if err != nil {
						t.Fatal(err)
					}
					sct, err := stack.AddCTChain(t.Context(), l.writeURL, chain, precert)
					if err != nil {
						t.Fatal(err)
					}
					if sct.LogID.KeyID != logID {
						t.Errorf("SCT log ID = %x, want SHA-256 of the log's key %x", sct.LogID.KeyID, logID)
					}
					etype := ct.X509LogEntryType
					if precert {
						etype = ct.PrecertLogEntryType
					}
					raw := []ct.ASN1Cert{{Data: chain[0]}, {Data: chain[1]}}
					leaf, err := ct.MerkleTreeLeafFromRawChain(raw, etype, sct.Timestamp)
					if err != nil {
						t.Fatal(err)
					}
					leaf.TimestampedEntry.Extensions = sct.Extensions
					if err := sv.VerifySCTSignature(*sct, ct.LogEntry{Leaf: *leaf}); err != nil {
						t.Errorf("SCT does not verify with %s: %v", l.pubFile, err)
					}
					idx, ok := stack.StaticCTLeafIndex(sct)
					if ok != l.static {
						t.Fatalf("SCT has a leaf_index extension: %v, want %v", ok, l.static)
					}
					if !l.static {
						if size := ctTreeSize(t, l.writeURL, 1); size == 0 {
							t.Errorf("CT log tree size is 0 after an add")
						}
						return
					}
					// tesseract answers once a checkpoint covers the entry.
					read := env.Get(t, "STATIC_CT_READ_URL")
					cp, size, err := stack.FetchStaticCTCheckpoint(t.Context(), read)
					if err != nil {
						t.Fatal(err)
					}
					if size <= idx {
						t.Errorf("static-ct checkpoint size %d, want > leaf index %d", size, idx)
					}
					if origin, _, _ := strings.Cut(string(cp), "\n"); origin != env.Get(t, "STATIC_CT_ORIGIN") {
						t.Errorf("static-ct checkpoint origin = %q, want %q", origin, env.Get(t, "STATIC_CT_ORIGIN"))
					}
					h := sha256.Sum256(chain[1])
					issuer, err := stack.Get(t.Context(), read+"/issuer/"+hex.EncodeToString(h[:]))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(issuer, chain[1]) {
						t.Error("static-ct read side serves another issuer certificate")
					}
				})
			}
		}
		t.Run(l.name+"/unknown-ca", func(t *testing.T) {
			other, err := identitytest.NewTestCA()
			if err != nil {
				t.Fatal(err)
			}
			key, err := identitytest.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			chain, err := other.IssueChain(key.Public(), "mallory@evil.example", "https://issuer.example", identitytest.Extensions{}, false)
			if err != nil {
				t.Fatal(err)
			}
			_, err = stack.AddCTChain(t.Context(), l.writeURL, chain, false)
			var se *stack.StatusError
			if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest {
				t.Errorf("adding a chain from an unknown CA: error = %v, want a 400 StatusError", err)
			}
		})
	}
}

// TestCTKeys checks the env file's contract for the CT logs' keys: the CT
// log's STH verifies with CT_PUBKEY, the static-ct checkpoint (origin
// STATIC_CT_ORIGIN, an RFC6962NoteSignature: key hash, timestamp, RFC 6962
// tree head signature) with STATIC_CT_PUBKEY, and each private key matches.
func TestCTKeys(t *testing.T) {
	env := testenv.Stack(t)
	for _, k := range []struct{ pub, priv string }{{"CT_PUBKEY", "CT_PRIVKEY"}, {"STATIC_CT_PUBKEY", "STATIC_CT_PRIVKEY"}} {
		pub, _ := loadPub(t, env.Get(t, k.pub))
		priv, err := identitytest.LoadSigner(env.Get(t, k.priv))
		if err != nil {
			t.Fatal(err)
		}
		if !priv.Public().(*ecdsa.PublicKey).Equal(pub) {
			t.Errorf("%s does not hold the private key of %s", k.priv, k.pub)
		}
	}

	pub, _ := loadPub(t, env.Get(t, "CT_PUBKEY"))
	sv, err := ct.NewSignatureVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := stack.FetchCTSTH(t.Context(), env.Get(t, "CT_URL"))
	if err != nil {
		t.Fatal(err)
	}
	sth, err := resp.ToSignedTreeHead()
	if err != nil {
		t.Fatal(err)
	}
	if err := sv.VerifySTHSignature(*sth); err != nil {
		t.Errorf("CT log STH does not verify with CT_PUBKEY: %v", err)
	}

	origin := env.Get(t, "STATIC_CT_ORIGIN")
	cp, _, err := stack.FetchStaticCTCheckpoint(t.Context(), env.Get(t, "STATIC_CT_READ_URL"))
	if err != nil {
		t.Fatal(err)
	}
	text, sigs, ok := strings.Cut(string(cp), "\n\n")
	if !ok {
		t.Fatalf("checkpoint %q has no signature block", cp)
	}
	lines := strings.Split(text, "\n")
	if len(lines) < 3 || lines[0] != origin {
		t.Fatalf("checkpoint body %q: want origin %q, size and root hash", text, origin)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		t.Fatalf("checkpoint root hash %q: %v", lines[2], err)
	}
	spub, _ := loadPub(t, env.Get(t, "STATIC_CT_PUBKEY"))
	ssv, err := ct.NewSignatureVerifier(spub)
	if err != nil {
		t.Fatal(err)
	}
	verified := false
	for _, line := range strings.Split(strings.TrimSpace(sigs), "\n") {
		name, b64, _ := strings.Cut(strings.TrimPrefix(line, "\u2014 "), " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || name != origin || len(sig) < 12 {
			continue
		}
		ts := binary.BigEndian.Uint64(sig[4:12])
		var ds ct.DigitallySigned
		if rest, err := cttls.Unmarshal(sig[12:], &ds); err != nil || len(rest) > 0 {
			continue
		}
		sth := ct.SignedTreeHead{Version: ct.V1, TreeSize: size, Timestamp: ts, TreeHeadSignature: ds}
		copy(sth.SHA256RootHash[:], root)
		verified = verified || ssv.VerifySTHSignature(sth) == nil
	}
	if !verified {
		t.Errorf("no signature by %q verifies with STATIC_CT_PUBKEY in %q", origin, cp)
	}
}
