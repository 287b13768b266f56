package identity_test

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	"github.com/sigstore/rekor/pkg/generated/models"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

func sha256Digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func readEntry(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "entries", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// modelDigests reads the hash fields DigestsV1 reads through rekor's model
// types instead: the reference the fast decoding is checked against.
func modelDigests(t *testing.T, body []byte) []string {
	t.Helper()
	var env struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	var out []string
	add := func(alg, value *string) {
		if alg != nil && value != nil {
			out = append(out, *alg+":"+strings.ToLower(*value))
		}
	}
	decode := func(v any) {
		if err := json.Unmarshal(env.Spec, v); err != nil {
			t.Fatalf("decoding %s spec: %v", env.Kind, err)
		}
	}
	switch env.Kind {
	case "hashedrekord":
		var s models.HashedrekordV001Schema
		decode(&s)
		add(s.Data.Hash.Algorithm, s.Data.Hash.Value)
	case "rekord":
		var s models.RekordV001Schema
		decode(&s)
		add(s.Data.Hash.Algorithm, s.Data.Hash.Value)
	case "intoto":
		var s struct {
			Content struct {
				Hash, PayloadHash *struct{ Algorithm, Value *string }
			}
		}
		decode(&s)
		for _, h := range []*struct{ Algorithm, Value *string }{s.Content.Hash, s.Content.PayloadHash} {
			if h != nil {
				add(h.Algorithm, h.Value)
			}
		}
	case "dsse":
		var s models.DSSEV001Schema
		decode(&s)
		add(s.EnvelopeHash.Algorithm, s.EnvelopeHash.Value)
		add(s.PayloadHash.Algorithm, s.PayloadHash.Value)
	case "cose":
		var s models.CoseV001Schema
		decode(&s)
		add(s.Data.EnvelopeHash.Algorithm, s.Data.EnvelopeHash.Value)
		add(s.Data.PayloadHash.Algorithm, s.Data.PayloadHash.Value)
	case "helm":
		var s models.HelmV001Schema
		decode(&s)
		add(s.Chart.Hash.Algorithm, s.Chart.Hash.Value)
	case "jar":
		var s models.JarV001Schema
		decode(&s)
		add(s.Archive.Hash.Algorithm, s.Archive.Hash.Value)
	case "rpm":
		var s models.RpmV001Schema
		decode(&s)
		add(s.Package.Hash.Algorithm, s.Package.Hash.Value)
	case "alpine":
		var s models.AlpineV001Schema
		decode(&s)
		add(s.Package.Hash.Algorithm, s.Package.Hash.Value)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestDigestsV1 reads the digests of real bodies of every kind, as rekor
// canonicalizes them: the same as rekor's model types read, and where the
// test knows what was hashed, that digest.
func TestDigestsV1(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	alice := ca.Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}})
	key := identitytest.NewKey(t)
	pgpKey := newPGPKey(t, "release@example.org")
	artifact := []byte("hello, log")
	statement := identitytest.InTotoStatement("app", artifact)
	sshBody, _, _ := rekordSSH(t, "carol@example.com", artifact)
	minisignBody, _ := rekordMinisign(t, artifact)
	tufBody, _ := tufEntry(t)
	alpineBody, _ := alpineEntry(t)
	testdataArtifact := "sha256:af2cf44eba6a2b869d3b29726bc7adec66ac0874f474f9134f912f5b7b8752e3"

	tests := []struct {
		name string
		body []byte
		n    int    // digests
		want string // one of them, when known
	}{
		{"testdata/hashedrekord-fulcio", readEntry(t, "hashedrekord-fulcio.json"), 1, testdataArtifact},
		{"testdata/hashedrekord-key", readEntry(t, "hashedrekord-key.json"), 1, testdataArtifact},
		{"testdata/rekord-pgp", readEntry(t, "rekord-pgp.json"), 1, testdataArtifact},
		{"testdata/intoto-0.0.2", readEntry(t, "intoto-0.0.2-fulcio-key.json"), 2, "sha256:c212f7f8233350a9213bc6b368df78abdfa4d70781eda9185be5f593661b749e"},
		{"hashedrekord", identitytest.HashedRekordV1(t, key, artifact), 1, sha256Digest(artifact)},
		{"rekord/x509", rekordX509(t, alice, artifact), 1, sha256Digest(artifact)},
		{"rekord/pgp", rekordPGP(t, pgpKey, artifact), 1, sha256Digest(artifact)},
		{"rekord/ssh", sshBody, 1, sha256Digest(artifact)},
		{"rekord/minisign", minisignBody, 1, sha256Digest(artifact)},
		{"intoto-0.0.1", intotoV1(t, alice, statement), 2, sha256Digest(statement)},
		{"intoto-0.0.2", intotoV2(t, statement, key, alice), 2, sha256Digest(statement)},
		{"dsse", identitytest.DSSEV1(t, statement, alice), 2, sha256Digest(statement)},
		{"cose", coseEntry(t, alice, statement), 2, sha256Digest(statement)},
		{"jar", jarEntry(t, alice), 1, ""},
		{"rpm", rpmEntry(t, pgpKey), 1, ""},
		{"alpine", alpineBody, 1, ""},
		{"helm", helmEntry(t, pgpKey), 1, ""},
		{"tuf", tufBody, 0, ""},
		{"rfc3161", rfc3161Entry(t, alice, true), 1, sha256Digest([]byte("timestamped"))},
		{"rfc3161/no-certificates", rfc3161Entry(t, alice, false), 1, sha256Digest([]byte("timestamped"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.DigestsV1(tt.body)
			if err != nil {
				t.Fatalf("DigestsV1: %v", err)
			}
			if len(got) != tt.n {
				t.Fatalf("DigestsV1 = %q, want %d digests", got, tt.n)
			}
			if tt.want != "" && !slices.Contains(got, tt.want) {
				t.Errorf("DigestsV1 = %q, want %s among them", got, tt.want)
			}
			if !slices.IsSorted(got) {
				t.Errorf("DigestsV1 = %q, not sorted", got)
			}
			if general, err := identity.DigestsV1General(tt.body); err != nil || !slices.Equal(general, got) {
				t.Errorf("DigestsV1 without its canonical path = %q, %v", general, err)
			}
			if _, ok := identity.DigestsV1Canonical(tt.body); ok != strings.Contains(tt.name, "hashedrekord") {
				t.Errorf("the canonical path decides: %v, want %v (for hashedrekord only)", ok, !ok)
			}
			if !strings.HasPrefix(tt.name, "rfc3161") {
				if diff := cmp.Diff(modelDigests(t, tt.body), got); diff != "" {
					t.Errorf("DigestsV1 differs from rekor's models (-models +DigestsV1):\n%s", diff)
				}
			}
			// The same body, not canonical (kind first): the general path.
			var m map[string]json.RawMessage
			if err := json.Unmarshal(tt.body, &m); err != nil {
				t.Fatal(err)
			}
			other := fmt.Appendf(nil, `{"kind":%s,"spec":%s,"apiVersion":%s}`, m["kind"], m["spec"], m["apiVersion"])
			if again, err := identity.DigestsV1(other); err != nil || !slices.Equal(again, got) {
				t.Errorf("DigestsV1(non-canonical) = %q, %v; want %q", again, err, got)
			}
		})
	}
}

// tsrEntry returns an rfc3161 body whose timestamp response carries its
// TSTInfo as RFC 5652 says, in an OCTET STRING (identitytest's carries it
// bare, as relic's builder does), with a message imprint of alg over sum.
func tsrEntry(t *testing.T, tsa identitytest.Signer, alg asn1.ObjectIdentifier, sum []byte) []byte {
	t.Helper()
	genTime, err := asn1.Marshal(time.Now().UTC().Truncate(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	info, err := asn1.Marshal(pkcs9.TSTInfo{
		Version: 1, Policy: asn1.ObjectIdentifier{1, 2, 3}, SerialNumber: big.NewInt(7),
		MessageImprint: pkcs9.MessageImprint{HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: alg}, HashedMessage: sum},
		GenTime:        asn1.RawValue{FullBytes: genTime},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := pkcs7.NewBuilder(tsa.Key, []*x509.Certificate{tsa.Cert}, crypto.SHA256)
	if err := b.SetContent(pkcs9.OidTSTInfo, info); err != nil { // []byte: an OCTET STRING
		t.Fatal(err)
	}
	psd, err := b.Sign()
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(pkcs9.TimeStampResp{Status: pkcs9.PKIStatusInfo{Status: pkcs9.StatusGranted}, TimeStampToken: *psd})
	if err != nil {
		t.Fatal(err)
	}
	return []byte(v1Body("rfc3161", `{"tsr":{"content":"`+base64.StdEncoding.EncodeToString(der)+`"}}`))
}

func TestDigestsV1Timestamp(t *testing.T) {
	tsa := identitytest.NewCA(t, "acme").Issue(t, identitytest.CertOptions{DNSNames: []string{"tsa.example.com"}})
	s384 := sha512.Sum384([]byte("x"))
	s1 := sha1.Sum([]byte("x"))
	for _, tc := range []struct {
		name string
		alg  asn1.ObjectIdentifier
		sum  []byte
		want []string
		err  string
	}{
		{"sha384", asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, s384[:], []string{"sha384:" + hex.EncodeToString(s384[:])}, ""},
		{"sha1", asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, s1[:], []string{"sha1:" + hex.EncodeToString(s1[:])}, ""},
		{"sha224 is none of ours", asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, make([]byte, 28), nil, ""},
		{"short imprint", asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, s384[:20], nil, "message imprint: 20 bytes of sha384, want 48"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := identity.DigestsV1(tsrEntry(t, tsa, tc.alg, tc.sum))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("DigestsV1 = %q, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("DigestsV1 = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// hashJSON is a Rekor v1 hash object.
func hashJSON(alg, value string) string {
	return fmt.Sprintf(`{"algorithm":%q,"value":%q}`, alg, value)
}

// v1Body is a canonical Rekor v1 body of kind with spec.
func v1Body(kind, spec string) string {
	return `{"apiVersion":"0.0.1","kind":"` + kind + `","spec":` + spec + `}`
}

func TestDigestsV1Cases(t *testing.T) {
	h256 := strings.Repeat("ab", 32)
	s384 := sha512.Sum384([]byte("x"))
	s512 := sha512.Sum512([]byte("x"))
	h384, h512 := hex.EncodeToString(s384[:]), hex.EncodeToString(s512[:])
	tests := []struct {
		name, body string
		want       []string
		err        string // substring of the error; "" for none
	}{
		{"sha384", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha384", h384)+`}}`), []string{"sha384:" + h384}, ""},
		{"sha512", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha512", h512)+`}}`), []string{"sha512:" + h512}, ""},
		{"upper-case hex", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", strings.ToUpper(h256))+`}}`), []string{"sha256:" + h256}, ""},
		{"duplicates", v1Body("dsse", `{"envelopeHash":`+hashJSON("sha256", h256)+`,"payloadHash":`+hashJSON("sha256", h256)+`}`), []string{"sha256:" + h256}, ""},
		{"no hash", v1Body("hashedrekord", `{"data":{}}`), nil, ""},
		{"no data", v1Body("hashedrekord", `{}`), nil, ""},
		{"intoto without payload hash", `{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"hash":` + hashJSON("sha256", h256) + `}}}`, []string{"sha256:" + h256}, ""},
		{"unknown kind", v1Body("frobnicate", `{"data":{"hash":"nonsense"}}`), nil, ""},
		{"unknown version", `{"apiVersion":"9.9.9","kind":"hashedrekord","spec":{"data":{"hash":"nonsense"}}}`, nil, ""},
		{"tuf", v1Body("tuf", `{"metadata":{"content":{}},"root":{"content":{}}}`), nil, ""},

		{"empty", "", nil, "malformed entry: decoding entry body: jsontext: unexpected EOF"},
		{"not json", "hello", nil, "malformed entry: decoding entry body"},
		{"truncated", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", h256)+`}}`)[:60], nil, "malformed hashedrekord:0.0.1 entry: decoding spec"},
		{"missing spec", `{"kind":"hashedrekord","apiVersion":"0.0.1"}`, nil, "malformed hashedrekord:0.0.1 entry: missing spec"},
		{"canonical, truncated after the hash", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", h256)+`},"signature":{"content":"AA`), nil, "malformed hashedrekord:0.0.1 entry: decoding spec"},
		{"canonical, a second hash", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", h256)+`},"data":{}}`), nil, `duplicate object member name "data"`},
		{"duplicate names", `{"kind":"hashedrekord","kind":"rekord","apiVersion":"0.0.1","spec":{}}`, nil, `malformed entry: decoding entry body: jsontext: duplicate object member name "kind"`},
		{"invalid UTF-8", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", h256)+`},"x":"`+"\xff"+`"}`), nil, "invalid UTF-8"},
		{"spec not an object", v1Body("hashedrekord", `[1]`), nil, `unmarshal JSON array into Go identity.dataHashSpec within "/spec"`},
		{"hash not an object", v1Body("hashedrekord", `{"data":{"hash":"abc"}}`), nil, `unmarshal JSON string into Go identity.v1Hash within "/spec/data/hash"`},
		{"algorithm not a string", v1Body("hashedrekord", `{"data":{"hash":{"algorithm":256,"value":"`+h256+`"}}}`), nil, `within "/spec/data/hash/algorithm"`},
		{"unknown algorithm", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("md5", h256[:32])+`}}`), nil, `spec.data.hash: algorithm "md5" is not sha256, sha384, sha512 or sha1`},
		{"no algorithm", v1Body("rekord", `{"data":{"hash":{"value":"`+h256+`"}}}`), nil, "malformed rekord:0.0.1 entry: spec.data.hash: missing algorithm"},
		{"no value", v1Body("hashedrekord", `{"data":{"hash":{"algorithm":"sha256"}}}`), nil, "spec.data.hash: missing value"},
		{"value not hex", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", strings.Repeat("zz", 32))+`}}`), nil, "spec.data.hash: value \"zzzz"},
		{"value too short", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha256", h256[:62])+`}}`), nil, "is not the hex of a sha256 digest (32 bytes)"},
		{"sha384 of sha256 length", v1Body("hashedrekord", `{"data":{"hash":`+hashJSON("sha384", h256)+`}}`), nil, "is not the hex of a sha384 digest (48 bytes)"},
		{"dsse payload hash", v1Body("dsse", `{"payloadHash":`+hashJSON("sha256", "00")+`}`), nil, "malformed dsse:0.0.1 entry: spec.payloadHash: value"},
		{"cose envelope hash", v1Body("cose", `{"data":{"envelopeHash":`+hashJSON("sha1", h256)+`}}`), nil, "spec.data.envelopeHash: value"},
		{"intoto content hash", `{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"hash":` + hashJSON("SHA256", h256) + `}}}`, nil, `malformed intoto:0.0.2 entry: spec.content.hash: algorithm "SHA256"`},
		{"helm", v1Body("helm", `{"chart":{"hash":{"algorithm":"sha256"}}}`), nil, "spec.chart.hash: missing value"},
		{"jar", v1Body("jar", `{"archive":{"hash":{"value":"00"}}}`), nil, "spec.archive.hash: missing algorithm"},
		{"rpm", v1Body("rpm", `{"package":{"hash":`+hashJSON("sha256", "")+`}}`), nil, "spec.package.hash: missing value"},
		{"rfc3161 not base64", v1Body("rfc3161", `{"tsr":{"content":"!!"}}`), nil, "malformed rfc3161:0.0.1 entry: decoding spec"},
		{"rfc3161 garbage", v1Body("rfc3161", `{"tsr":{"content":"AAAA"}}`), nil, "spec.tsr.content: parsing timestamp response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.DigestsV1([]byte(tt.body))
			if general, gerr := identity.DigestsV1General([]byte(tt.body)); !slices.Equal(general, got) || (gerr == nil) != (err == nil) {
				t.Errorf("DigestsV1 without its canonical path = %q, %v", general, gerr)
			}
			if tt.err == "" {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("DigestsV1(%s) = %q, %v; want %q", tt.body, got, err, tt.want)
				}
				return
			}
			var me *identity.MalformedError
			if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.err) || got != nil {
				t.Fatalf("DigestsV1(%s) = %q, %v; want a *MalformedError with %q", tt.body, got, err, tt.err)
			}
		})
	}
}

func TestDigestsV2(t *testing.T) {
	key := identitytest.NewKey(t)
	artifact := []byte("hello, log")
	d256 := sha256.Sum256(artifact)
	d384 := sha512.Sum384(artifact)
	b64 := base64.StdEncoding.EncodeToString
	hr := func(data string) string {
		return `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":` + data + `,"signature":{"content":"AAAA"}}}}`
	}
	tests := []struct {
		name, leaf string
		want       []string
		err        string
	}{
		{"testdata/hashedrekord", string(readEntry(t, "hashedrekord-v2-fulcio.json")), []string{"sha256:af2cf44eba6a2b869d3b29726bc7adec66ac0874f474f9134f912f5b7b8752e3"}, ""},
		{"testdata/dsse", string(readEntry(t, "dsse-v2-key.json")), []string{"sha256:c212f7f8233350a9213bc6b368df78abdfa4d70781eda9185be5f593661b749e"}, ""},
		{"hashedrekord", string(identitytest.HashedRekordV2(t, key, artifact)), []string{sha256Digest(artifact)}, ""},
		{"dsse", string(identitytest.DSSEV2(t, artifact, key)), []string{sha256Digest(artifact)}, ""},
		{"sha384", hr(`{"algorithm":"SHA2_384","digest":"` + b64(d384[:]) + `"}`), []string{"sha384:" + hex.EncodeToString(d384[:])}, ""},
		{"sha3-256", hr(`{"algorithm":"SHA3_256","digest":"` + b64(d256[:]) + `"}`), []string{"sha3-256:" + hex.EncodeToString(d256[:])}, ""},
		// What protojson accepts beside its canonical output.
		{"url-safe base64", hr(`{"algorithm":"SHA2_256","digest":"` + base64.RawURLEncoding.EncodeToString(d256[:]) + `"}`), []string{sha256Digest(artifact)}, ""},
		{"enum number", hr(`{"algorithm":1,"digest":"` + b64(d256[:]) + `"}`), []string{sha256Digest(artifact)}, ""},
		{"proto field names", `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashed_rekord_v002":{"data":{"algorithm":"SHA2_256","digest":"` + b64(d256[:]) + `"}}}}`, []string{sha256Digest(artifact)}, ""},
		{"no data", `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{}}}`, nil, ""},
		{"empty data", hr(`{}`), nil, ""},
		{"dsse without payload hash", `{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"signatures":[]}}}`, nil, ""},
		{"unknown kind", `{"apiVersion":"0.0.2","kind":"rekord","spec":{}}`, nil, ""},
		{"unknown version", `{"apiVersion":"0.0.3","kind":"hashedrekord","spec":{}}`, nil, ""},

		{"empty", "", nil, "malformed entry: decoding entry"},
		{"not json", "hello", nil, "malformed entry: decoding entry"},
		{"missing spec", `{"apiVersion":"0.0.2","kind":"hashedrekord"}`, nil, "malformed hashedrekord:0.0.2 entry: missing spec.hashedRekordV002"},
		{"dsse missing spec", `{"apiVersion":"0.0.2","kind":"dsse","spec":{}}`, nil, "malformed dsse:0.0.2 entry: missing spec.dsseV002"},
		{"short digest", hr(`{"algorithm":"SHA2_256","digest":"` + b64(d256[:31]) + `"}`), nil, "spec.hashedRekordV002.data: digest of 31 bytes, want 32 for SHA2_256"},
		{"sha384 of sha256 length", hr(`{"algorithm":"SHA2_384","digest":"` + b64(d256[:]) + `"}`), nil, "digest of 32 bytes, want 48"},
		{"no algorithm", hr(`{"digest":"` + b64(d256[:]) + `"}`), nil, "spec.hashedRekordV002.data: digest without an algorithm"},
		// protojson drops an enum name it does not know (DiscardUnknown).
		{"unknown algorithm", hr(`{"algorithm":"MD5","digest":"` + b64(d256[:16]) + `"}`), nil, "spec.hashedRekordV002.data: digest without an algorithm"},
		{"unknown algorithm number", hr(`{"algorithm":42,"digest":"` + b64(d256[:]) + `"}`), nil, "spec.hashedRekordV002.data: unknown algorithm 42"},
		{"dsse payload hash", `{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"payloadHash":{"algorithm":"SHA2_512","digest":"AAAA"}}}}`, nil, "malformed dsse:0.0.2 entry: spec.dsseV002.payloadHash: digest of 3 bytes, want 64"},
		{"digest not base64", hr(`{"algorithm":"SHA2_256","digest":"!!"}`), nil, "malformed entry: decoding entry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := identity.DigestsV2([]byte(tt.leaf))
			if tt.err == "" {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Fatalf("DigestsV2(%s) = %q, %v; want %q", tt.leaf, got, err, tt.want)
				}
			} else {
				var me *identity.MalformedError
				if !errors.As(err, &me) || !strings.Contains(err.Error(), tt.err) || got != nil {
					t.Fatalf("DigestsV2(%s) = %q, %v; want a *MalformedError with %q", tt.leaf, got, err, tt.err)
				}
			}
			// Both paths agree where the fast one decides (these leaves
			// are malformed nowhere else).
			fast, ok := identity.DigestsV2Fast([]byte(tt.leaf))
			proto, perr := identity.DigestsV2Proto([]byte(tt.leaf))
			if ok && (perr != nil || !slices.Equal(fast, proto)) {
				t.Errorf("fast path = %q, protojson path = %q, %v", fast, proto, perr)
			}
			if canon, cok := identity.DigestsV2Canonical([]byte(tt.leaf)); cok && (!ok || !slices.Equal(canon, fast)) {
				t.Errorf("canonical path = %q, fast path = %q (%v)", canon, fast, ok)
			}
		})
	}
	// The fast paths decide the leaves rekor-tiles writes.
	for _, leaf := range [][]byte{readEntry(t, "hashedrekord-v2-fulcio.json"), readEntry(t, "dsse-v2-key.json"), identitytest.HashedRekordV2(t, key, artifact)} {
		if _, ok := identity.DigestsV2Fast(leaf); !ok {
			t.Errorf("the fast path left %s to protojson", bytes.TrimSpace(leaf)[:60])
		}
		if _, ok := identity.DigestsV2Canonical(leaf); !ok {
			t.Errorf("the canonical path left %s to the fast path", bytes.TrimSpace(leaf)[:60])
		}
	}
}

// FuzzDigests: DigestsV1 and DigestsV2 return sorted, distinct digests or
// an error, never both, never panic; DigestsV2's paths agree where both
// decide.
func FuzzDigests(f *testing.F) {
	for _, name := range []string{"hashedrekord-fulcio.json", "intoto-0.0.2-fulcio-key.json", "rekord-pgp.json", "hashedrekord-v2-fulcio.json", "dsse-v2-key.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "entries", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(v1Body("dsse", `{"envelopeHash":`+hashJSON("sha256", strings.Repeat("ab", 32))+`}`)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, digests := range []func([]byte) ([]string, error){identity.DigestsV1, identity.DigestsV2} {
			ds, err := digests(b)
			if err != nil && ds != nil {
				t.Fatalf("digests and an error: %q, %v", ds, err)
			}
			if !slices.IsSorted(ds) || len(slices.Compact(slices.Clone(ds))) != len(ds) {
				t.Fatalf("digests not sorted and distinct: %q", ds)
			}
		}
		// The fast path reads the digest fields only; protojson rejects a
		// leaf malformed anywhere. Where both decide, they agree.
		if fast, ok := identity.DigestsV2Fast(b); ok {
			if proto, err := identity.DigestsV2Proto(b); err == nil && !slices.Equal(fast, proto) {
				t.Fatalf("fast path = %q, protojson path = %q", fast, proto)
			}
		}
		// The canonical fast paths answer as the paths they shortcut.
		if canon, ok := identity.DigestsV1Canonical(b); ok {
			if gds, err := identity.DigestsV1General(b); err != nil || !slices.Equal(canon, gds) {
				t.Fatalf("canonical path = %q, general path = %q, %v", canon, gds, err)
			}
		}
		if canon, ok := identity.DigestsV2Canonical(b); ok {
			if fast, ok := identity.DigestsV2Fast(b); !ok || !slices.Equal(canon, fast) {
				t.Fatalf("canonical path = %q, fast path = %q (%v)", canon, fast, ok)
			}
		}
		ds, err := identity.DigestsV1(b)
		if gds, gerr := identity.DigestsV1General(b); !slices.Equal(ds, gds) || (err == nil) != (gerr == nil) {
			t.Fatalf("DigestsV1 = %q, %v; without its canonical path %q, %v", ds, err, gds, gerr)
		}
	})
}

// BenchmarkDigests measures the digests of hashedrekord entries (the bulk
// of a log) beside the parsing of their signers, which a scan does for
// every entry anyway: Fulcio-signed (every certificate new, so parsing
// misses the cache) and key-signed (parsing hits it). cpu-ns/op is the
// process's CPU time per entry, which other load on the machine does not
// inflate as it does ns/op.
func BenchmarkDigests(b *testing.B) {
	for _, c := range []struct {
		name    string
		bodies  func(*testing.B, entryBuilder) [][]byte
		build   entryBuilder
		digests func([]byte) ([]string, error)
		parse   func(*identity.Parser, []byte) ([]identity.Identity, error)
	}{
		{"v1/fulcio", fulcioSigned, identitytest.HashedRekordV1, identity.DigestsV1, (*identity.Parser).ParseV1},
		{"v1/key", keySigned, identitytest.HashedRekordV1, identity.DigestsV1, (*identity.Parser).ParseV1},
		{"v2/fulcio", fulcioSigned, identitytest.HashedRekordV2, identity.DigestsV2, (*identity.Parser).ParseV2},
		{"v2/key", keySigned, identitytest.HashedRekordV2, identity.DigestsV2, (*identity.Parser).ParseV2},
	} {
		bodies := c.bodies(b, c.build)
		b.Run(c.name+"/digests", func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for i := range b.N {
				if ds, err := c.digests(bodies[i%len(bodies)]); err != nil || len(ds) != 1 {
					b.Fatalf("digests = %q, %v", ds, err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
		b.Run(c.name+"/parse", func(b *testing.B) {
			p := identity.NewParser(benchCache)
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for i := range b.N {
				if _, err := c.parse(p, bodies[i%len(bodies)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
