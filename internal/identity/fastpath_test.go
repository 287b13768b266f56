package identity

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/sigstore/rekor/pkg/generated/models"
)

// fastPathCases are hashedrekord and dsse bodies, valid and not, for
// comparing the fast decoding with the rekor model types.
func fastPathCases(t testing.TB) [][]byte {
	t.Helper()
	cases := [][]byte{
		[]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"!!"}}}}`),
		[]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"aGVs\u006Cbw=="}}}}`),
		[]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":null}}}}`),
		[]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":12}}}}`),
		[]byte(`{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":[{"verifier":"aGVsbG8="}]}}`),
	}
	for _, name := range []string{"hashedrekord-fulcio.json", "hashedrekord-key.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "entries", name))
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, b, bytes.Replace(b, []byte(`"kind":"hashedrekord",`), nil, 1))
	}
	return cases
}

// modelVerifiers decodes the verifiers of a hashedrekord or dsse body with
// the rekor model types, or returns ok=false when that fails.
func modelVerifiers(body []byte) (verifiers [][]byte, ok bool) {
	var env struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil, false
	}
	switch env.Kind {
	case "hashedrekord":
		var s models.HashedrekordV001Schema
		if json.Unmarshal(env.Spec, &s) != nil || s.Signature == nil || s.Signature.PublicKey == nil || len(s.Signature.PublicKey.Content) == 0 {
			return nil, false
		}
		return [][]byte{s.Signature.PublicKey.Content}, true
	case "dsse":
		var s models.DSSEV001Schema
		if json.Unmarshal(env.Spec, &s) != nil || len(s.Signatures) == 0 {
			return nil, false
		}
		for _, sig := range s.Signatures {
			if sig == nil || sig.Verifier == nil || len(*sig.Verifier) == 0 {
				return nil, false
			}
			verifiers = append(verifiers, *sig.Verifier)
		}
		return verifiers, true
	}
	return nil, false
}

// fastVerifiers decodes the same with the fast path's types.
func fastVerifiers(body []byte) (verifiers [][]byte, ok bool) {
	var env struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	if json.Unmarshal(body, &env) != nil {
		return nil, false
	}
	var raws []json.RawMessage
	switch env.Kind {
	case "hashedrekord":
		s, err := decodeSpec[hashedrekordVerifier](env.Spec, false)
		if err != nil || s.Signature == nil || s.Signature.PublicKey == nil || isNull(s.Signature.PublicKey.Content) {
			return nil, false
		}
		raws = append(raws, s.Signature.PublicKey.Content)
	case "dsse":
		s, err := decodeSpec[dsseVerifiers](env.Spec, false)
		if err != nil || len(s.Signatures) == 0 {
			return nil, false
		}
		for _, sig := range s.Signatures {
			if sig == nil || isNull(sig.Verifier) {
				return nil, false
			}
			raws = append(raws, sig.Verifier)
		}
	default:
		return nil, false
	}
	for _, raw := range raws {
		v, err := decodeJSONBase64(raw)
		if err != nil || len(v) == 0 {
			return nil, false
		}
		verifiers = append(verifiers, v)
	}
	return verifiers, true
}

func checkFastPath(t *testing.T, body []byte) {
	want, wantOK := modelVerifiers(body)
	got, gotOK := fastVerifiers(body)
	if wantOK != gotOK || (wantOK && !equalAll(want, got)) {
		t.Errorf("body %q: fast path gives %q, %v; models give %q, %v", body, got, gotOK, want, wantOK)
	}
}

func equalAll(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// TestFastPathMatchesModels checks that the fast hashedrekord and dsse
// decoding extracts exactly the verifier bytes the rekor model types hold.
func TestFastPathMatchesModels(t *testing.T) {
	for _, body := range fastPathCases(t) {
		checkFastPath(t, body)
	}
}

func FuzzFastPathMatchesModels(f *testing.F) {
	for _, body := range fastPathCases(f) {
		f.Add(body)
	}
	f.Fuzz(checkFastPath)
}

// TestDERString checks derString against encoding/asn1.
func TestDERString(t *testing.T) {
	for _, tc := range []struct {
		der  []byte
		want string
		ok   bool
	}{
		{[]byte{0x0c, 0x03, 'a', 'b', 'c'}, "abc", true}, // UTF8String
		{[]byte{0x13, 0x01, 'a'}, "a", true},             // PrintableString
		{[]byte{0x16, 0x01, 'a'}, "a", true},             // IA5String
		{[]byte{0x0c, 0x00}, "", true},
		{[]byte{0x0c, 0x02, 0xff, 0xfe}, "", false}, // invalid UTF-8
		{[]byte{0x0c, 0x03, 'a'}, "", false},        // truncated
		{[]byte{0x0c, 0x01, 'a', 0x00}, "", false},  // trailing data
		{[]byte{0x02, 0x01, 0x01}, "", false},       // INTEGER
		{[]byte("https://raw.example"), "", false},  // raw, not DER
	} {
		got, ok := derString(tc.der)
		if got != tc.want || ok != tc.ok {
			t.Errorf("derString(%x) = %q, %v; want %q, %v", tc.der, got, ok, tc.want, tc.ok)
		}
	}
}
