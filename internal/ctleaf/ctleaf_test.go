package ctleaf_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/identity"
)

const (
	testOrigin = "ct.example.com/vigil-ct"
	testSAN    = "alice@example.com"
	testIssuer = "https://accounts.example.com"
	// ts is a timestamp in Unix milliseconds with a non-zero millisecond
	// part, so that a seconds or nanoseconds mix-up shows.
	ts = uint64(1_700_000_000_123)
)

type fixture struct {
	log    *ctleaftest.Log
	ca     *ctleaftest.CA
	issued *ctleaftest.Issued
	// x509Index is the entry of the final certificate, logged with
	// add-chain after the precertificate.
	x509Index uint64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	l, err := ctleaftest.NewLog(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := ctleaftest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ctleaftest.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	is, err := ca.Issue(l, k.Public(), testSAN, testIssuer, ts)
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := l.AddChain([][]byte{is.Final, is.Issuer}, false, ts+1)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{log: l, ca: ca, issued: is, x509Index: idx}
}

func (f *fixture) verifier(t testing.TB) note.Verifier {
	t.Helper()
	v, err := ctleaf.NewVerifier(testOrigin, f.log.Public())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestKeyMatchesPrecertAndFinal(t *testing.T) {
	f := newFixture(t)
	final, err := ctleaf.CertKey(f.issued.Final)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := ctleaf.CertKey(f.issued.Precert)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := f.log.Entry(f.issued.Index)
	fromLeaf, when, err := ctleaf.LeafKey(leaf)
	if err != nil {
		t.Fatal(err)
	}
	x509Leaf, _ := f.log.Entry(f.x509Index)
	fromX509Leaf, _, err := ctleaf.LeafKey(x509Leaf)
	if err != nil {
		t.Fatal(err)
	}
	if final != pre || final != fromLeaf || final != fromX509Leaf {
		t.Errorf("keys differ: final %s, precert %s, precert leaf %s, x509 leaf %s", final, pre, fromLeaf, fromX509Leaf)
	}
	if want := time.UnixMilli(int64(ts)); !when.Equal(want) {
		t.Errorf("LeafKey timestamp = %v, want %v", when, want)
	}
	// Another certificate has another key.
	k, _ := ctleaftest.NewKey()
	other, err := f.ca.Issue(f.log, k.Public(), testSAN, testIssuer, ts)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := ctleaf.CertKey(other.Final); ok == final {
		t.Error("two certificates have the same Key")
	}
	if _, err := ctleaf.CertKey([]byte("not a certificate")); err == nil {
		t.Error("CertKey of garbage succeeded")
	}
}

func TestEmbeddedSCTsAndLeafHash(t *testing.T) {
	f := newFixture(t)
	scts, err := ctleaf.EmbeddedSCTs(f.issued.Final)
	if err != nil {
		t.Fatal(err)
	}
	if len(scts) != 1 || scts[0].Timestamp != ts || scts[0].LogID.KeyID != f.log.LogID {
		t.Fatalf("EmbeddedSCTs = %v, want the log's SCT at %d", scts, ts)
	}
	for name, der := range map[string][]byte{"precertificate": f.issued.Precert, "root": f.issued.Issuer} {
		if got, err := ctleaf.EmbeddedSCTs(der); err != nil || len(got) != 0 {
			t.Errorf("EmbeddedSCTs(%s) = %v, %v; want none", name, got, err)
		}
	}
	h, err := ctleaf.PrecertLeafHash(f.issued.Final, f.issued.Issuer, scts[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := f.log.LeafHash(f.issued.Index); !bytes.Equal(h, want) {
		t.Errorf("PrecertLeafHash = %x, want the logged precertificate's %x", h, want)
	}
	late := *scts[0]
	late.Timestamp++
	if h, err := ctleaf.PrecertLeafHash(f.issued.Final, f.issued.Issuer, &late); err != nil || bytes.Equal(h, f.log.LeafHash(f.issued.Index)) {
		t.Errorf("PrecertLeafHash with another timestamp = %x, %v; want another hash", h, err)
	}
}

func TestVerifySCT(t *testing.T) {
	f := newFixture(t)
	sct := f.issued.SCT
	if err := ctleaf.VerifySCT(f.log.Public(), f.issued.Final, f.issued.Issuer, sct); err != nil {
		t.Fatalf("VerifySCT: %v", err)
	}
	other, err := ctleaftest.NewLog(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	late := *sct
	late.Timestamp++
	for name, tc := range map[string]struct {
		pub crypto.PublicKey
		der []byte
		sct *ct.SignedCertificateTimestamp
	}{
		"another key":       {other.Public(), f.issued.Final, sct},
		"another timestamp": {f.log.Public(), f.issued.Final, &late},
		"not embedded":      {f.log.Public(), f.issued.Precert, sct},
		"no sct":            {f.log.Public(), f.issued.Final, nil},
		"garbage cert":      {f.log.Public(), []byte{0x30, 0x00}, sct},
	} {
		if err := ctleaf.VerifySCT(tc.pub, tc.der, f.issued.Issuer, tc.sct); err == nil {
			t.Errorf("%s: VerifySCT succeeded", name)
		}
	}
}

func TestLogIDAndKeyID(t *testing.T) {
	f := newFixture(t)
	der, err := x509.MarshalPKIXPublicKey(f.log.Public())
	if err != nil {
		t.Fatal(err)
	}
	id, err := ctleaf.LogID(f.log.Public())
	if err != nil || id != sha256.Sum256(der) {
		t.Errorf("LogID = %x, %v; want SHA-256 of the DER key", id, err)
	}
	kid, err := ctleaf.KeyID(f.log.Public())
	if err != nil || kid != hexSHA256(der) {
		t.Errorf("KeyID = %s, %v; want %s", kid, err, hexSHA256(der))
	}
	if _, err := ctleaf.KeyID("not a key"); err == nil {
		t.Error("KeyID of a string succeeded")
	}
}

func TestFromSTHParseRoundTrip(t *testing.T) {
	f := newFixture(t)
	size := f.log.Size()
	sthJSON, err := f.log.STHJSON(size, ts)
	if err != nil {
		t.Fatal(err)
	}
	v := f.verifier(t)
	raw, err := ctleaf.FromSTH(sthJSON, testOrigin, v.KeyHash())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ctleaf.Parse(raw, testOrigin, v)
	if err != nil {
		t.Fatalf("Parse(%q): %v", raw, err)
	}
	if cp.Origin != testOrigin || cp.Size != size || !bytes.Equal(cp.Hash, f.log.Root(size)) || !bytes.Equal(cp.Raw, raw) {
		t.Errorf("Parse = %v (raw %q), want %s@%d/%x", cp, cp.Raw, testOrigin, size, f.log.Root(size))
	}
	if want := time.UnixMilli(int64(ts)); !cp.Timestamp.Equal(want) {
		t.Errorf("Timestamp = %v, want %v", cp.Timestamp, want)
	}

	// formats/note builds the same checkpoint for a log whose origin is
	// the C2SP name of its URL, and verifies ours.
	url := "https://" + strings.ToUpper(testOrigin) + "/"
	if got := ctleaf.OriginFromURL(url); got != testOrigin {
		t.Fatalf("OriginFromURL(%q) = %q, want %q", url, got, testOrigin)
	}
	vkey, err := fnote.RFC6962VerifierString(url, f.log.Public())
	if err != nil {
		t.Fatal(err)
	}
	fv, err := fnote.NewRFC6962Verifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if fv.KeyHash() != v.KeyHash() || fv.Name() != v.Name() {
		t.Errorf("formats verifier is %s %08x, ours %s %08x", fv.Name(), fv.KeyHash(), v.Name(), v.KeyHash())
	}
	theirs, err := fnote.RFC6962STHToCheckpoint(sthJSON, fv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(theirs, raw) {
		t.Errorf("FromSTH = %q, formats/note builds %q", raw, theirs)
	}
	if _, err := note.Open(raw, note.VerifierList(fv)); err != nil {
		t.Errorf("formats/note does not verify our checkpoint: %v", err)
	}
}

func TestRSAKey(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	root := sha256.Sum256([]byte("root"))
	input, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: 7, Timestamp: ts, SHA256RootHash: root})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := cttls.CreateSignature(*k, cttls.SHA256, input)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := cttls.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	sthJSON, err := json.Marshal(ct.GetSTHResponse{TreeSize: 7, Timestamp: ts, SHA256RootHash: root[:], TreeHeadSignature: sig})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ctleaf.NewVerifier(testOrigin, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ctleaf.FromSTH(sthJSON, testOrigin, v.KeyHash())
	if err != nil {
		t.Fatal(err)
	}
	cp, err := ctleaf.Parse(raw, testOrigin, v)
	if err != nil {
		t.Fatalf("Parse of an RSA-signed checkpoint: %v", err)
	}
	if cp.Size != 7 || !cp.Timestamp.Equal(time.UnixMilli(int64(ts))) {
		t.Errorf("Parse = %v at %v", cp, cp.Timestamp)
	}
	tampered := bytes.Replace(raw, []byte("\n7\n"), []byte("\n8\n"), 1)
	if _, err := ctleaf.Parse(tampered, testOrigin, v); !isReason(err, checkpoint.ReasonSignature) {
		t.Errorf("Parse of a tampered RSA checkpoint = %v, want a signature IntegrityError", err)
	}
}

func isReason(err error, r checkpoint.Reason) bool {
	var ie *checkpoint.IntegrityError
	return errors.As(err, &ie) && ie.Reason == r
}

// resign rebuilds the checkpoint raw with its text edited by edit and its
// signature bytes (after the key hash) edited by editSig, without signing.
func resign(t *testing.T, raw []byte, edit func(text string) string, editSig func(sig []byte) []byte) []byte {
	t.Helper()
	text, sigLine, ok := strings.Cut(string(raw), "\n\n")
	if !ok {
		t.Fatalf("no signature in %q", raw)
	}
	fields := strings.Fields(strings.TrimPrefix(sigLine, "— "))
	if len(fields) != 2 {
		t.Fatalf("signature line %q", sigLine)
	}
	sig, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	text = edit(text + "\n")
	sig = append(sig[:4:4], editSig(slices.Clone(sig[4:]))...)
	return []byte(fmt.Sprintf("%s\n— %s %s\n", text, fields[0], base64.StdEncoding.EncodeToString(sig)))
}

func TestParseRejects(t *testing.T) {
	f := newFixture(t)
	size := f.log.Size()
	raw, err := f.log.Checkpoint(size, ts)
	if err != nil {
		t.Fatal(err)
	}
	v := f.verifier(t)
	same := func(s string) string { return s }
	sameSig := func(b []byte) []byte { return b }
	lines := func(fn func([]string)) func(string) string {
		return func(s string) string {
			l := strings.Split(s, "\n")
			fn(l)
			return strings.Join(l, "\n")
		}
	}
	otherRoot := base64.StdEncoding.EncodeToString(f.log.Root(size - 1))
	// The root's base64 with its last (padding-covered) bits changed:
	// the same 32 bytes, in a non-canonical encoding.
	root := strings.Split(string(raw), "\n")[2]
	b64 := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	last := strings.IndexByte(b64, root[len(root)-2])
	nonCanonical := root[:len(root)-2] + string(b64[last^1]) + "="

	other, err := ctleaftest.NewLog(testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	ov, err := ctleaf.NewVerifier(testOrigin, other.Public())
	if err != nil {
		t.Fatal(err)
	}
	wrongOrigin, err := ctleaf.NewVerifier("other.example.com", f.log.Public())
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		raw  []byte
		vs   []note.Verifier
	}{
		{"root", resign(t, raw, lines(func(l []string) { l[2] = otherRoot }), sameSig), nil},
		{"size", resign(t, raw, lines(func(l []string) { l[1] = fmt.Sprint(size - 1) }), sameSig), nil},
		{"size with a leading zero", resign(t, raw, lines(func(l []string) { l[1] = "0" + l[1] }), sameSig), nil},
		{"non-canonical base64 root", resign(t, raw, lines(func(l []string) { l[2] = nonCanonical }), sameSig), nil},
		{"extension line", resign(t, raw, func(s string) string { return s + "Timestamp: 1\n" }, sameSig), nil},
		{"timestamp", resign(t, raw, same, func(b []byte) []byte { b[7]++; return b }), nil},
		{"signature", resign(t, raw, same, func(b []byte) []byte { b[len(b)-1]++; return b }), nil},
		{"hash algorithm", resign(t, raw, same, func(b []byte) []byte { b[8] = 2; return b }), nil},
		{"trailing signature byte", resign(t, raw, same, func(b []byte) []byte { return append(b, 0) }), nil},
		{"another key", raw, []note.Verifier{ov}},
		{"another origin", raw, []note.Verifier{wrongOrigin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := tc.vs
			if vs == nil {
				vs = []note.Verifier{v}
			}
			cp, err := ctleaf.Parse(tc.raw, testOrigin, vs...)
			var ie *checkpoint.IntegrityError
			if !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSignature || !bytes.Equal(ie.New, tc.raw) {
				t.Fatalf("Parse(%q) = %v, %v; want a signature IntegrityError with the note", tc.raw, cp, err)
			}
		})
	}
	// The untampered note still verifies, also in a key rotation.
	if _, err := ctleaf.Parse(raw, testOrigin, ov, v); err != nil {
		t.Errorf("Parse with two keys: %v", err)
	}
	var fe *checkpoint.FormatError
	if _, err := ctleaf.Parse([]byte("<html>502</html>"), testOrigin, v); !errors.As(err, &fe) {
		t.Errorf("Parse of HTML = %v, want a FormatError", err)
	}
}

func TestShortSignaturesDoNotPanic(t *testing.T) {
	f := newFixture(t)
	v := f.verifier(t)
	body := fmt.Sprintf("%s\n%d\n%s\n", testOrigin, 3, base64.StdEncoding.EncodeToString(make([]byte, 32)))
	for n := 0; n <= 80; n++ {
		for _, fill := range []byte{0x00, 0x04, 0xff} {
			sig := binary.BigEndian.AppendUint32(nil, v.KeyHash())
			sig = append(sig, bytes.Repeat([]byte{fill}, n)...)
			if n >= 10 {
				sig[4+8], sig[4+9] = 4, 3 // SHA-256, ECDSA
			}
			raw := fmt.Sprintf("%s\n— %s %s\n", body, testOrigin, base64.StdEncoding.EncodeToString(sig))
			_, err := ctleaf.Parse([]byte(raw), testOrigin, v)
			var fe *checkpoint.FormatError
			if n == 0 && errors.As(err, &fe) {
				continue // a signature line needs more than the key hash
			}
			if !isReason(err, checkpoint.ReasonSignature) {
				t.Errorf("%d signature bytes of %#x: Parse = %v, want a signature IntegrityError", n, fill, err)
			}
			if v.Verify([]byte(body), sig[4:]) {
				t.Errorf("%d signature bytes of %#x verify", n, fill)
			}
		}
	}
}

func TestFromSTHRejects(t *testing.T) {
	f := newFixture(t)
	good, err := f.log.STH(f.log.Size(), ts)
	if err != nil {
		t.Fatal(err)
	}
	enc := func(edit func(*ct.GetSTHResponse)) []byte {
		s := *good
		edit(&s)
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, raw := range map[string][]byte{
		"not JSON":             []byte("<html>"),
		"null":                 []byte("null"),
		"empty object":         []byte("{}"),
		"negative size":        []byte(`{"tree_size":-1}`),
		"short root":           enc(func(s *ct.GetSTHResponse) { s.SHA256RootHash = s.SHA256RootHash[:31] }),
		"no signature":         enc(func(s *ct.GetSTHResponse) { s.TreeHeadSignature = nil }),
		"short signature":      enc(func(s *ct.GetSTHResponse) { s.TreeHeadSignature = []byte{4, 3, 0} }),
		"signature and more":   enc(func(s *ct.GetSTHResponse) { s.TreeHeadSignature = append(s.TreeHeadSignature, 0) }),
		"root is not base64":   []byte(`{"tree_size":1,"timestamp":1,"sha256_root_hash":"!!","tree_head_signature":""}`),
		"oversized":            append([]byte(`{"x":"`), append(bytes.Repeat([]byte("a"), checkpoint.MaxSize), `"}`...)...),
		"signature wrong type": []byte(`{"tree_size":1,"timestamp":1,"sha256_root_hash":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","tree_head_signature":5}`),
	} {
		var fe *checkpoint.FormatError
		if _, err := ctleaf.FromSTH(raw, testOrigin, 1); !errors.As(err, &fe) {
			t.Errorf("%s: FromSTH = %v, want a FormatError", name, err)
		}
	}
	if _, err := ctleaf.FromSTH(enc(func(*ct.GetSTHResponse) {}), "two words", 1); err == nil {
		t.Error("FromSTH under an origin with a space succeeded")
	}
}

func TestNewVerifierRejects(t *testing.T) {
	f := newFixture(t)
	for _, origin := range []string{"", "a b", "a+b"} {
		if _, err := ctleaf.NewVerifier(origin, f.log.Public()); err == nil {
			t.Errorf("NewVerifier(%q) succeeded", origin)
		}
	}
	if _, err := ctleaf.NewVerifier(testOrigin, "not a key"); err == nil {
		t.Error("NewVerifier with a string key succeeded")
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctleaf.NewVerifier(testOrigin, small.Public()); err == nil {
		t.Error("NewVerifier with RSA-1024 succeeded")
	}
}

func TestOriginFromURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://ct.example.com/2024h1/":     "ct.example.com/2024h1",
		"http://127.0.0.1:31662/vigil-ct":    "127.0.0.1:31662/vigil-ct",
		"HTTPS://CT.Example.COM/Log":         "ct.example.com/log",
		"ct.example.com":                     "ct.example.com",
		"https://rome.ct.example.com/2024h1": "rome.ct.example.com/2024h1",
	} {
		if got := ctleaf.OriginFromURL(in); got != want {
			t.Errorf("OriginFromURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestExplainSignature(t *testing.T) {
	f := newFixture(t)
	raw, err := f.log.Checkpoint(f.log.Size(), ts)
	if err != nil {
		t.Fatal(err)
	}
	keys := []crypto.PublicKey{f.log.Public()}
	if hint := ctleaf.ExplainSignature(raw, "wrong.example.com", keys); !strings.Contains(hint, `set origin (--origin) to "`+testOrigin+`"`) {
		t.Errorf("ExplainSignature under another origin = %q", hint)
	}
	if hint := ctleaf.ExplainSignature(raw, testOrigin, keys); hint != "" {
		t.Errorf("ExplainSignature under the right origin = %q, want none", hint)
	}
	other, _ := ctleaftest.NewLog(testOrigin)
	if hint := ctleaf.ExplainSignature(raw, "wrong.example.com", []crypto.PublicKey{other.Public()}); hint != "" {
		t.Errorf("ExplainSignature with another key = %q, want none", hint)
	}
}

func TestIdentities(t *testing.T) {
	f := newFixture(t)
	preLeaf, preExtra := f.log.Entry(f.issued.Index)
	x509Leaf, _ := f.log.Entry(f.x509Index)
	k, _ := ctleaftest.NewKey()
	other, err := f.ca.Issue(f.log, k.Public(), "mallory@example.com", testIssuer, ts)
	if err != nil {
		t.Fatal(err)
	}
	// The extra data of the precertificate entry, decoded.
	var pce ct.PrecertChainEntry
	if rest, err := cttls.Unmarshal(preExtra, &pce); err != nil || len(rest) != 0 {
		t.Fatalf("decoding extra data: %v", err)
	}
	preChain := [][]byte{pce.PreCertificate.Data}
	for _, c := range pce.CertificateChain {
		preChain = append(preChain, c.Data)
	}
	finalKey, _ := x509.ParseCertificate(f.issued.Final)
	spki := hexSHA256(finalKey.RawSubjectPublicKeyInfo)

	// A CA rule that the signer must chain to.
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemCert(f.ca.Root.Raw), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := identity.Compile(identity.Config{Expect: []identity.Rule{{Name: "ca", CAFile: caFile}}})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		leaf     []byte
		chain    [][]byte
		kind     string
		certFP   string
		expected bool
	}{
		{"x509", x509Leaf, [][]byte{f.issued.Issuer}, identity.KindCTX509, hexSHA256(f.issued.Final), true},
		{"x509 without chain", x509Leaf, nil, identity.KindCTX509, hexSHA256(f.issued.Final), true},
		{"precert", preLeaf, preChain, identity.KindCTPrecert, hexSHA256(f.issued.Precert), true},
		{"precert without chain", preLeaf, nil, identity.KindCTPrecert, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := identity.NewParser(16)
			ids, err := ctleaf.Identities(p, tc.leaf, tc.chain)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != 1 {
				t.Fatalf("got %d identities, want 1", len(ids))
			}
			id := ids[0]
			if id.EntryKind != tc.kind || id.KeyType != identity.KeyX509 || !slices.Equal(id.Emails, []string{testSAN}) ||
				id.Issuer != testIssuer || id.Extensions[identity.OIDIssuer] != testIssuer ||
				id.CertFingerprint != tc.certFP || id.KeyFingerprint != spki {
				t.Errorf("identity = %+v", id)
			}
			if got := m.Match(ids).Expected; got != tc.expected {
				t.Errorf("CA rule matches: %v, want %v", got, tc.expected)
			}
		})
	}

	// Malformed entries are errors wrapping a *MalformedError.
	swapped := slices.Clone(preChain)
	swapped[0] = other.Precert
	for _, tc := range []struct {
		name  string
		leaf  []byte
		chain [][]byte
	}{
		{"garbage leaf", []byte("garbage"), nil},
		{"empty leaf", nil, nil},
		{"leaf with trailing data", append(slices.Clone(x509Leaf), 0), nil},
		{"precert of another certificate", preLeaf, swapped},
		{"final certificate as precert", preLeaf, [][]byte{f.issued.Final, f.issued.Issuer}},
		{"empty chain", preLeaf, [][]byte{}},
		{"garbage precert", preLeaf, [][]byte{{0x30, 0x03, 0x02, 0x01, 0x01}}},
		{"garbage issuer", x509Leaf, [][]byte{{0x30, 0x00}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ids, err := ctleaf.Identities(nil, tc.leaf, tc.chain)
			var me *identity.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("Identities = %v, %v; want a MalformedError", ids, err)
			}
		})
	}
}

func pemCert(der []byte) []byte {
	return []byte("-----BEGIN CERTIFICATE-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END CERTIFICATE-----\n")
}

func TestEntryIdentities(t *testing.T) {
	f := newFixture(t)
	preLeaf, preExtra := f.log.Entry(f.issued.Index)
	x509Leaf, x509Extra := f.log.Entry(f.x509Index)
	for _, tc := range []struct {
		name   string
		leaf   []byte
		extra  []byte
		certFP string
	}{
		{"precert", preLeaf, preExtra, hexSHA256(f.issued.Precert)},
		{"precert without extra data", preLeaf, []byte{}, ""},
		{"x509", x509Leaf, x509Extra, hexSHA256(f.issued.Final)},
		{"x509 without extra data", x509Leaf, nil, hexSHA256(f.issued.Final)},
	} {
		ids, err := ctleaf.EntryIdentities(nil, tc.leaf, tc.extra)
		if err != nil || len(ids) != 1 || ids[0].CertFingerprint != tc.certFP || !slices.Equal(ids[0].Emails, []string{testSAN}) {
			t.Errorf("%s: EntryIdentities = %+v, %v", tc.name, ids, err)
		}
	}
	for _, tc := range []struct {
		name        string
		leaf, extra []byte
	}{
		{"garbage extra data", preLeaf, []byte{1, 2, 3}},
		{"x509 extra data for a precert", preLeaf, x509Extra},
		{"precert extra data for an x509 entry", x509Leaf, preExtra},
		{"short leaf", []byte{0, 0}, preExtra},
	} {
		ids, err := ctleaf.EntryIdentities(nil, tc.leaf, tc.extra)
		var me *identity.MalformedError
		if !errors.As(err, &me) {
			t.Errorf("%s: EntryIdentities = %v, %v; want a MalformedError", tc.name, ids, err)
		}
	}
}
