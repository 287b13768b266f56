package trust_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-tlog/vigil/internal/trust"
	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

// FuzzMaterial: whatever a TUF repository (or a file) holds as trusted root
// and signing config, parsing, diffing and the baseline give an answer or
// an error, never a panic; a diff of material with itself is empty.
func FuzzMaterial(f *testing.F) {
	tr, sc := tuftest.NewTrustedRoot(f), tuftest.NewSigningConfig(f)
	f.Add(tr.JSON(), sc.JSON())
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1","tlogs":[{}]}`), []byte(`{"rekorTlogUrls":[{"url":"x","majorApiVersion":7}]}`))
	f.Add([]byte(`null`), []byte(`[]`))
	f.Fuzz(func(t *testing.T, root, signing []byte) {
		_, _ = trust.RekorAPIVersions(signing)
		s := &trust.Snapshot{TrustedRoot: root, SigningConfig: signing}
		changes, err := trust.Diff(s, s)
		if err == nil && len(changes) != 0 {
			t.Fatalf("Diff of material with itself = %v", changes)
		}
		path := filepath.Join(t.TempDir(), "baseline.json")
		if err := trust.SaveBaseline(path, s); err != nil {
			return
		}
		b, err := trust.LoadBaseline(path)
		if err != nil {
			t.Fatalf("a saved baseline does not load: %v", err)
		}
		if changes, err := trust.Diff(b.Snapshot(), s); err != nil || len(changes) != 0 {
			t.Fatalf("Diff(baseline, the material it was saved from) = %v, %v", changes, err)
		}
		_ = os.Remove(path)
	})
}
