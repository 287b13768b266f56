package index_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
)

func Example() {
	dir, err := os.MkdirTemp("", "vigil-index-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := index.Open(ctx, index.Config{Driver: index.DriverSQLite, Path: filepath.Join(dir, "index.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	sum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	leaf := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	release := index.Identity{
		Subjects:        []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"},
		Issuer:          "https://token.actions.githubusercontent.com",
		Extensions:      map[string]string{"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app"},
		CertFingerprint: sum("cert 1"),
		KeyFingerprint:  sum("key 1"),
	}
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	// The monitor adds what it verified, from where the index ends.
	next, _ := s.Next(ctx, "rekor")
	err = s.Add(ctx, []index.Record{
		{Log: "rekor", Index: next, Kind: "hashedrekord:0.0.1", Digests: []string{"sha256:" + sum("app-1.0.0.tar.gz")},
			LeafHash: leaf("0"), Time: t0, Identities: []index.Identity{release}},
		{Log: "rekor", Index: next + 1, Kind: "hashedrekord:0.0.1", Digests: []string{"sha256:" + sum("app-1.0.0.sbom")},
			LeafHash: leaf("1"), Time: t0.Add(time.Second), Identities: []index.Identity{release}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// What else did this repository's workflow sign?
	p, err := s.Search(ctx, index.Query{Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range p.Results {
		fmt.Println(r.Log, r.Index, r.Time.Format(time.RFC3339), r.Digests[0][:15])
	}
	// Who signed this digest? (Bare hex works too.)
	p, _ = s.Search(ctx, index.Query{Digest: sum("app-1.0.0.sbom")})
	fmt.Println(p.Results[0].Identities[0].Subjects[0])
	// Output:
	// rekor 1 2025-06-01T12:00:01Z sha256:db4400f0
	// rekor 0 2025-06-01T12:00:00Z sha256:37e691bf
	// https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0
}
