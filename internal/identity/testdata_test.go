package identity_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// Regenerate the committed entries with
//
//	go test ./internal/identity -run TestTestdataEntries -update
var update = flag.Bool("update", false, "rewrite testdata/entries")

// TestTestdataEntries (re)generates testdata/entries, real entries used by
// the examples, and checks that the committed ones still parse.
func TestTestdataEntries(t *testing.T) {
	dir := filepath.Join("testdata", "entries")
	if *update {
		ca := identitytest.NewCA(t, "example")
		s := ca.Issue(t, identitytest.CertOptions{
			URIs:      []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3"},
			NotBefore: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
			Extensions: map[string]string{
				identity.OIDIssuer:       "https://token.actions.githubusercontent.com",
				"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app",
				"1.3.6.1.4.1.57264.1.14": "refs/tags/v1.2.3",
			},
		})
		files := map[string][]byte{
			"hashedrekord-fulcio.json":     identitytest.HashedRekordV1(t, s, []byte("app-1.2.3.tar.gz")),
			"hashedrekord-v2-fulcio.json":  identitytest.HashedRekordV2(t, s, []byte("app-1.2.3.tar.gz")),
			"example-ca.pem":               ca.PEM(),
			"hashedrekord-key.json":        identitytest.HashedRekordV1(t, identitytest.NewKey(t), []byte("app-1.2.3.tar.gz")),
			"dsse-v2-key.json":             identitytest.DSSEV2(t, identitytest.InTotoStatement("app", []byte("app")), identitytest.NewKey(t)),
			"intoto-0.0.2-fulcio-key.json": intotoV2(t, identitytest.InTotoStatement("app", []byte("app")), s),
			"rekord-pgp.json":              rekordPGP(t, newPGPKey(t, "release@example.org"), []byte("app-1.2.3.tar.gz")),
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range files {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		parse := identity.ParseV1
		if filepath.Base(e.Name()) == "hashedrekord-v2-fulcio.json" || filepath.Base(e.Name()) == "dsse-v2-key.json" {
			parse = identity.ParseV2
		}
		if ids, err := parse(data); err != nil || len(ids) == 0 {
			t.Errorf("parsing %s = %v, %v", e.Name(), ids, err)
		}
	}
}
