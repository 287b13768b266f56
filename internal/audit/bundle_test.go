package audit_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/audit"
)

// edit decodes a bundle, lets f change it as generic JSON and encodes it.
func edit(t *testing.T, b []byte, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entry0(m map[string]any) map[string]any {
	return m["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)[0].(map[string]any)
}

func TestParseBundleNamesTheField(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 3)
	good := m.bundle(t, 1, 3, m.publish(t))
	if _, err := audit.ParseBundle(good); err != nil {
		t.Fatalf("the good bundle: %v", err)
	}
	// Where the checkpoint starts: cut the file in the middle of it.
	cut := strings.Index(string(good), `"envelope":`) + len(`"envelope":`) + 10
	const e0 = "verificationMaterial.tlogEntries[0]"
	for _, tc := range []struct {
		name   string
		bundle []byte
		want   string // the error's prefix
	}{
		{"empty", nil, "empty: not a bundle"},
		{"garbage", []byte("\x00\x01 not json"), "not valid JSON at byte"},
		{"not an object", []byte(`[1, 2]`), "not a bundle: the JSON is not an object"},
		{"truncated in the checkpoint", good[:cut], e0 + ".inclusionProof.checkpoint.envelope: truncated"},
		{"truncated after a key", good[:strings.Index(string(good), `"tlogEntries":`)+len(`"tlogEntries":`)], "verificationMaterial.tlogEntries: truncated"},
		{"trailing data", append(append([]byte{}, good...), "{}"...), "not valid JSON: data after the bundle's closing brace"},
		{"missing checkpoint", edit(t, good, func(m map[string]any) {
			delete(entry0(m)["inclusionProof"].(map[string]any), "checkpoint")
		}), e0 + ".inclusionProof.checkpoint: missing"},
		{"missing inclusion proof (v0.1 promise only)", edit(t, good, func(m map[string]any) {
			delete(entry0(m), "inclusionProof")
		}), e0 + ".inclusionProof: missing"},
		{"root hash not base64", edit(t, good, func(m map[string]any) {
			entry0(m)["inclusionProof"].(map[string]any)["rootHash"] = "%%%"
		}), e0 + ".inclusionProof.rootHash: invalid value for bytes field"},
		{"short root hash", edit(t, good, func(m map[string]any) {
			entry0(m)["inclusionProof"].(map[string]any)["rootHash"] = "AAAA"
		}), e0 + ".inclusionProof.rootHash: 3 bytes, want a 32-byte SHA-256"},
		{"log index not a number", edit(t, good, func(m map[string]any) {
			entry0(m)["logIndex"] = "one"
		}), e0 + ".logIndex: invalid value for int64 field"},
		{"unknown field", edit(t, good, func(m map[string]any) {
			entry0(m)["extra"] = 1
		}), e0 + `: unknown field "extra"`},
		{"no log ID", edit(t, good, func(m map[string]any) {
			delete(entry0(m), "logId")
		}), e0 + ".logId.keyId: missing"},
		{"body not an entry", edit(t, good, func(m map[string]any) {
			entry0(m)["canonicalizedBody"] = "e30=" // {}
		}), e0 + ": entry body is not a recognizable Rekor v1 or Rekor v2 type"},
		{"no entries", edit(t, good, func(m map[string]any) {
			m["verificationMaterial"].(map[string]any)["tlogEntries"] = []any{}
		}), "verificationMaterial.tlogEntries: missing"},
		{"unknown media type", edit(t, good, func(m map[string]any) {
			m["mediaType"] = "application/json"
		}), "mediaType: validation error: unsupported media type: application/json"},
		{"no content", edit(t, good, func(m map[string]any) {
			delete(m, "messageSignature")
		}), "invalid bundle: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := audit.ParseBundle(tc.bundle)
			var ie *audit.InputError
			if !errors.As(err, &ie) {
				t.Fatalf("ParseBundle: %v (%T), want an *InputError", err, err)
			}
			if got := strings.ReplaceAll(err.Error(), "\u00a0", " "); !strings.HasPrefix(got, tc.want) {
				t.Errorf("error %q, want prefix %q", got, tc.want)
			}
		})
	}
}

func FuzzParseBundle(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}`))
	f.Add([]byte(`{"verificationMaterial":{"tlogEntries":[{"logIndex":"1"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := audit.ParseBundle(b)
		var ie *audit.InputError
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("ParseBundle: %v (%T), want an *InputError", err, err)
		}
	})
}
