package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/search"
)

// The fixture: two logs, one healthy and one with an integrity violation;
// an integrity alert with both checkpoints and a consistency proof, an
// unexpected-identity alert with an entry; search results with and without
// proofs; one entry with a real Fulcio-shaped certificate. One of the
// signer's subjects is a script, as an attacker who controls a SAN would
// make it.
const (
	testHealthy   = "prod-rekor"
	testViolating = "prod-rekor-v2"

	injectSubject = "<script>alert(1)</script>"
	// injectImg would mark the body if it ran.
	injectImg = `<img src=x onerror="document.body.setAttribute('data-pwned','1')">`

	testEmail     = "release@example.com"
	testIssuer    = "https://accounts.example.com"
	testRepo      = "https://github.com/acme/app"
	testCertCN    = "sigstore-intermediate"
	testEntryIdx  = 42
	integrityID   = "01JINTEGRITY0000000000001"
	unexpectedID  = "01JUNEXPECTED000000000002"
	testCursor    = "c2"
	testQueryErr  = "zzzz"
	testFailQuery = "fail@example.com"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeSource is a Source over fixed data. Its methods are safe for
// concurrent use.
type fakeSource struct {
	logs    []Log
	alerts  []alert.Event
	entry   *search.Entry
	results []search.Result
	noIndex bool

	mu      sync.Mutex // guards queries
	queries []index.Query
}

func (f *fakeSource) Logs(context.Context) []Log { return f.logs }

func (f *fakeSource) Alerts(_ context.Context, limit int) []alert.Event {
	if len(f.alerts) > limit {
		return f.alerts[:limit]
	}
	return f.alerts
}

func (f *fakeSource) Search(_ context.Context, q index.Query) (*search.Response, error) {
	f.mu.Lock()
	f.queries = append(f.queries, q)
	f.mu.Unlock()
	switch {
	case f.noIndex:
		return nil, ErrNoIndex
	case q.Digest == testQueryErr:
		return nil, &index.QueryError{Field: "digest", Value: q.Digest, Reason: "not a digest"}
	case q.Subject == testFailQuery:
		return nil, fmt.Errorf("reading the index: %w", os.ErrPermission)
	case q.Cursor == testCursor:
		return &search.Response{Results: f.results[2:]}, nil
	case q.Subject == testEmail || q.Subject == injectSubject || len(q.Extensions) > 0:
		return &search.Response{Results: f.results[:2], Next: testCursor}, nil
	}
	return &search.Response{}, nil
}

func (f *fakeSource) Entry(_ context.Context, log string, idx uint64) (*search.Entry, error) {
	switch {
	case f.noIndex:
		return nil, ErrNoIndex
	case log == testHealthy && idx == testEntryIdx:
		return f.entry, nil
	case log == testHealthy && idx == 666:
		return nil, fmt.Errorf("fetching entry 666 from the log: %w", context.DeadlineExceeded)
	}
	return nil, fmt.Errorf("entry %d of %s: %w", idx, log, os.ErrNotExist)
}

// lastQuery is the last query Search got.
func (f *fakeSource) lastQuery() (index.Query, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.queries) == 0 {
		return index.Query{}, 0
	}
	return f.queries[len(f.queries)-1], len(f.queries)
}

// testCheckpoint signs a checkpoint of origin, size and root with k.
func testCheckpoint(t testing.TB, k note.Signer, origin string, size uint64, root []byte) string {
	t.Helper()
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
	msg, err := note.Sign(&note.Note{Text: text}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(msg)
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func hexOf(s string) string { return hex.EncodeToString(hashOf(s)) }

// testCert issues a CA and a Fulcio-shaped leaf certificate for
// testEmail, with the issuer extension (1.3.6.1.4.1.57264.1.8, a DER
// UTF8String), the deprecated raw issuer (.1.1) and the source repository
// (.1.12). It returns the leaf's and the CA's DER.
func testCert(t testing.TB) (leaf, ca []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: testCertCN, Organization: []string{"sigstore.dev"}},
		NotBefore: testNow.Add(-time.Hour), NotAfter: testNow.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	ca, err = x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(ca)
	if err != nil {
		t.Fatal(err)
	}
	utf8 := func(s string) []byte {
		b, err := asn1.MarshalWithParams(s, "utf8")
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x5eed), NotBefore: testNow.Add(-time.Minute), NotAfter: testNow.Add(9 * time.Minute),
		EmailAddresses: []string{testEmail},
		KeyUsage:       x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}, Value: []byte(testIssuer)},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}, Value: utf8(testIssuer)},
			{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 12}, Value: utf8(testRepo)},
		},
	}
	leaf, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return leaf, ca
}

// newFakeSource builds the fixture.
func newFakeSource(t testing.TB) *fakeSource {
	t.Helper()
	skey, _, err := note.GenerateKey(rand.Reader, "rekor.example.internal")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	originV1 := "rekor.example.internal - 1193050959916656506"
	originV2 := "log2025.rekor.example.internal"
	cpV1 := testCheckpoint(t, signer, originV1, 1234, hashOf("root-1234"))
	cpOld := testCheckpoint(t, signer, originV2, 5, hashOf("root-5"))
	cpNew := testCheckpoint(t, signer, originV2, 8, hashOf("root-8"))

	leaf, ca := testCert(t)
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf})
	body := []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"` +
		hexOf("artifact") + `"}},"signature":{"content":"MEUCIQ==","publicKey":{"content":"` +
		base64.StdEncoding.EncodeToString(leafPEM) + `"}}}}`)
	leafHash := sha256.Sum256(append([]byte{0}, body...))
	leafHex := hex.EncodeToString(leafHash[:])
	certFP := sha256.Sum256(leaf)
	entryTime := testNow.Add(-30 * time.Minute)
	ids := []search.Identity{{
		Subjects: []string{testEmail, injectSubject, injectImg},
		Issuer:   testIssuer,
		Extensions: map[string]string{
			"1.3.6.1.4.1.57264.1.8":  testIssuer,
			"1.3.6.1.4.1.57264.1.12": testRepo,
		},
		CertFingerprint: hex.EncodeToString(certFP[:]),
	}}
	proof := &search.Proof{
		LeafIndex: testEntryIdx, TreeSize: 1234, RootHash: hexOf("root-1234"),
		Hashes:     []string{hexOf("p0"), hexOf("p1"), hexOf("p2")},
		Checkpoint: cpV1,
	}
	res := search.Result{
		Log: testHealthy, Index: testEntryIdx, Kind: "hashedrekord:0.0.1",
		Digests: []string{"sha256:" + hexOf("artifact")}, LeafHash: leafHex,
		Time: &entryTime, Identities: ids, Proof: proof,
	}
	other := search.Result{
		Log: testViolating, Index: 7, Kind: "hashedrekord:0.0.2",
		Digests: []string{"sha256:" + hexOf("other")}, LeafHash: hexOf("leaf-7"),
		Identities: []search.Identity{{Subjects: []string{testEmail}, Issuer: testIssuer}},
		ProofError: "log unreachable: connection refused",
	}
	third := search.Result{
		Log: testHealthy, Index: 3, Kind: "dsse:0.0.1",
		Digests: []string{"sha256:" + hexOf("third")}, LeafHash: hexOf("leaf-3"),
		Identities: []search.Identity{{Subjects: []string{"page-two@example.com"}, Issuer: testIssuer}},
		Proof:      proof,
	}
	return &fakeSource{
		logs: []Log{
			{Name: testHealthy, Kind: "rekor-v1", URL: "https://rekor.example.internal", Healthy: true, Status: "verified",
				Size: 1234, Checkpoint: cpV1, VerifiedAt: testNow.Add(-2 * time.Minute), ScanLag: 3,
				TrustExpiry: testNow.Add(20 * 24 * time.Hour)},
			{Name: testViolating, Kind: "rekor-v2", URL: "https://log2025.rekor.example.internal/", Healthy: false,
				Status: "integrity violation: consistency proof failed", Size: 5, Checkpoint: cpOld,
				VerifiedAt: testNow.Add(-3 * time.Hour), TrustExpiry: testNow.Add(200 * 24 * time.Hour)},
		},
		alerts: []alert.Event{
			{
				ID: integrityID, Kind: alert.KindIntegrityViolation, Severity: alert.SeverityCritical,
				Log: testViolating, Reason: "consistency", Time: testNow.Add(-10 * time.Minute),
				DedupeKey: "integrity_violation/prod-rekor-v2/0123456789abcdef0123456789abcdef",
				Summary:   "log prod-rekor-v2 failed verification (consistency)",
				Evidence: alert.Evidence{
					KeyID: hexOf("key"), OldCheckpoint: cpOld, NewCheckpoint: cpNew,
					Proof:  []string{hexOf("c0"), hexOf("c1")},
					Detail: "consistency proof from 5 to 8 does not verify",
				},
			},
			{
				ID: unexpectedID, Kind: alert.KindUnexpectedIdentity, Severity: alert.SeverityCritical,
				Log: testHealthy, Time: testNow.Add(-20 * time.Minute),
				DedupeKey: "unexpected_identity/prod-rekor/fedcba9876543210fedcba9876543210",
				Summary:   "unexpected identity signed entry 42 in log prod-rekor",
				Evidence: alert.Evidence{
					Entry:    &alert.Entry{Index: testEntryIdx, UUID: "24296fb24b8ad77a" + leafHex, LeafHash: leafHex, Body: body},
					Identity: map[string]string{"subject": injectSubject, "issuer": testIssuer, "1.3.6.1.4.1.57264.1.12": testRepo},
					Rule:     "expected-ci",
				},
			},
			{
				ID: "01JSTALE00000000000000003", Kind: alert.KindStaleLog, Severity: alert.SeverityWarning,
				Log: testViolating, Time: testNow.Add(-time.Hour),
				Summary:  "log prod-rekor-v2 has no verified checkpoint within its staleness limit",
				Evidence: alert.Evidence{OldCheckpoint: cpOld, Detail: "fetching checkpoint: connection refused"},
			},
		},
		entry: &search.Entry{
			Result:       res,
			Body:         body,
			Certificates: [][]byte{leaf, ca},
		},
		results: []search.Result{res, other, third},
	}
}

// mustContain fails t unless s contains every one of want.
func mustContain(t testing.TB, what, s string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

// mustNotContain fails t if s contains any of bad.
func mustNotContain(t testing.TB, what, s string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(s, b) {
			t.Errorf("%s contains %q", what, b)
		}
	}
}
