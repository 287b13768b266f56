package index_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/index/indextest"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// backend makes fresh, empty indexes of one kind: each call of fresh
// returns the Config of a new index, removed when the test ends.
type backend struct {
	name  string
	fresh func(t testing.TB) index.Config
	// raw runs a statement on the index's database outside the Store.
	raw func(t *testing.T, cfg index.Config, q string)
}

var sqliteBackend = backend{
	name: "sqlite",
	fresh: func(t testing.TB) index.Config {
		return index.Config{Driver: index.DriverSQLite, Path: filepath.Join(t.TempDir(), "index.db")}
	},
	raw: func(t *testing.T, cfg index.Config, q string) {
		t.Helper()
		db, err := sql.Open("sqlite", cfg.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	},
}

var postgresBackend = backend{
	name:  "postgres",
	fresh: freshPostgres,
	raw: func(t *testing.T, cfg index.Config, q string) {
		t.Helper()
		c, err := pgx.Connect(t.Context(), cfg.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	},
}

// freshPostgres creates a database vigil_index_test_<random> on the local
// stack's PostgreSQL (as the superuser postgres, trust auth) and drops it
// when the test ends. The stack's PG_URI names the Trillian database; only
// its host and port are used.
func freshPostgres(t testing.TB) index.Config {
	t.Helper()
	env := testenv.Stack(t)
	admin := pgAdminURL(t, env.Get(t, "PG_URI"))
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "vigil_index_test_" + hex.EncodeToString(rnd[:])
	c, err := pgx.Connect(t.Context(), admin.String())
	if err != nil {
		testenv.Unavailable(t, "the stack's PostgreSQL", fmt.Sprintf("run make stack-up (%v)", err))
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin.String())
		if err != nil {
			t.Errorf("dropping database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping database %s: %v", name, err)
		}
	})
	u := *admin
	u.Path = "/" + name
	return index.Config{Driver: index.DriverPostgres, DSN: u.String()}
}

func pgAdminURL(t testing.TB, uri string) *url.URL {
	t.Helper()
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatalf("stack PG_URI: %v", err)
	}
	u.User = url.User("postgres")
	u.Path = "/postgres"
	return u
}

var backends = []backend{sqliteBackend, postgresBackend}

func open(t testing.TB, cfg index.Config) *index.Store {
	t.Helper()
	s, err := index.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStore runs the conformance suite against each backend.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		f    func(t *testing.T, b backend)
	}{
		{"Fields", testFields},
		{"SameSigner", testSameSigner},
		{"Oracle", testOracle},
		{"Pagination", testPagination},
		{"Idempotent", testIdempotent},
		{"Next", testNext},
		{"Truncate", testTruncate},
		{"Time", testTime},
		{"Limit", testLimit},
		{"Cursor", testCursor},
		{"Hostile", testHostile},
		{"BadRecords", testBadRecords},
		{"SchemaVersion", testSchemaVersion},
		{"Reopen", testReopen},
		{"Concurrent", testConcurrent},
		{"Segments", testSegments},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) { tt.f(t, b) })
			}
		})
	}
}

func leaf(s string) []byte {
	h := sha256.Sum256([]byte("leaf " + s))
	return h[:]
}

func hexSum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// keys lists "log/index" of records, for comparing results.
func keys(rs []index.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s/%d", r.Log, r.Index)
	}
	return out
}

// all returns every result of q, following cursors.
func all(t *testing.T, s *index.Store, q index.Query) []index.Record {
	t.Helper()
	var out []index.Record
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("Search(%+v): too many pages", q)
		}
		p, err := s.Search(t.Context(), q)
		if err != nil {
			t.Fatalf("Search(%+v): %v", q, err)
		}
		if q.Limit != 0 && len(p.Results) > q.Limit {
			t.Fatalf("Search(%+v) = %d results, above the limit", q, len(p.Results))
		}
		out = append(out, p.Results...)
		if p.Next == "" {
			return out
		}
		q.Cursor = p.Next
	}
}

func add(t *testing.T, s *index.Store, recs ...index.Record) {
	t.Helper()
	if err := s.Add(t.Context(), recs); err != nil {
		t.Fatalf("Add: %v", err)
	}
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// sample is a small hand-made log covering every field.
func sample() []index.Record {
	return []index.Record{
		{
			Log: "rekor", Index: 0, Kind: "hashedrekord:0.0.1", LeafHash: leaf("0"), Time: t0,
			Digests: []string{"sha256:" + hexSum("artifact-a")},
			Identities: []index.Identity{{
				Subjects: []string{"alice@example.com"}, Issuer: "https://accounts.example.com",
				Extensions:      map[string]string{indextest.OIDIssuer: "https://accounts.example.com"},
				CertFingerprint: hexSum("cert-0"), KeyFingerprint: hexSum("key-0"),
			}},
		},
		{
			Log: "rekor", Index: 1, Kind: "dsse:0.0.1", LeafHash: leaf("1"), Time: t0.Add(time.Minute),
			Digests: []string{"sha256:" + hexSum("artifact-b"), "sha512:" + strings.Repeat("ab", 64)},
			Identities: []index.Identity{{
				Subjects: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1", "build@acme.example"},
				Issuer:   indextest.GitHubActionsIssuer,
				Extensions: map[string]string{
					indextest.OIDIssuer:           indextest.GitHubActionsIssuer,
					indextest.OIDSourceRepoURI:    "https://github.com/acme/app",
					indextest.OIDBuildTrigger:     "release",
					indextest.OIDSourceRepoDigest: "abc123",
					indextest.OIDRunInvocationURI: "https://github.com/acme/app/actions/runs/1/attempts/1",
				},
				CertFingerprint: hexSum("cert-1"), KeyFingerprint: hexSum("key-1"),
			}, {
				// A second signer, as GitHub fills the per-commit extensions.
				Subjects: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"},
				Issuer:   indextest.GitHubActionsIssuer,
				Extensions: map[string]string{
					indextest.OIDBuildSignerHash:  strings.Repeat("0123456789", 4),
					indextest.OIDSourceRepoDigest: strings.Repeat("0123456789", 4),
					indextest.OIDBuildConfigHash:  strings.Repeat("0123456789", 4),
					"1.3.6.1.4.1.57264.1.3":       "ABCDEF0123", // upper case: kept as it is
				},
				KeyFingerprint: hexSum("key-1b"),
			}},
		},
		{
			Log: "rekor", Index: 2, Kind: "hashedrekord:0.0.1", LeafHash: leaf("2"), Time: t0.Add(2 * time.Minute),
			Digests:    []string{"sha256:" + hexSum("artifact-a")}, // signed again
			Identities: []index.Identity{{KeyFingerprint: hexSum("long-lived-key")}},
		},
		{
			Log: "rekor-v2", Index: 0, Kind: "hashedrekord:0.0.2", LeafHash: leaf("v2-0"), // no time
			Digests: []string{"sha256:" + hexSum("artifact-c")},
			Identities: []index.Identity{{
				Subjects: []string{"alice@example.com"}, Issuer: "https://accounts.example.com",
				Extensions:      map[string]string{indextest.OIDIssuer: "https://accounts.example.com"},
				CertFingerprint: hexSum("cert-v2-0"), KeyFingerprint: hexSum("key-v2-0"),
			}},
		},
		{
			Log: "rekor-v2", Index: 1, Kind: "hashedrekord:0.0.2", LeafHash: leaf("v2-1"),
			Digests: []string{"sha256:" + hexSum("artifact-d")},
			Identities: []index.Identity{{
				Subjects: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"},
				Issuer:   indextest.GitHubActionsIssuer,
				Extensions: map[string]string{
					indextest.OIDIssuer:           indextest.GitHubActionsIssuer,
					indextest.OIDSourceRepoURI:    "https://github.com/acme/app",
					indextest.OIDBuildTrigger:     "push",
					indextest.OIDSourceRepoDigest: "abc123",
					indextest.OIDRunInvocationURI: "https://github.com/acme/app/actions/runs/2/attempts/1",
				},
				CertFingerprint: hexSum("cert-v2-1"), KeyFingerprint: hexSum("key-v2-1"),
			}},
		},
		{
			Log: "rekor-v2", Index: 2, Kind: "tuf:0.0.1", LeafHash: leaf("v2-2"), // two bare keys, no digest
			Identities: []index.Identity{{KeyFingerprint: hexSum("tuf-key-1")}, {KeyFingerprint: hexSum("tuf-key-2")}},
		},
	}
}

func testFields(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	recs := sample()
	add(t, s, recs...)

	// Entry round-trips every field.
	for _, want := range recs {
		got, err := s.Entry(t.Context(), want.Log, want.Index)
		if err != nil {
			t.Fatalf("Entry(%s, %d): %v", want.Log, want.Index, err)
		}
		if diff := cmp.Diff(&want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Entry(%s, %d) mismatch (-want +got):\n%s", want.Log, want.Index, diff)
		}
	}
	if got, err := s.Entry(t.Context(), "rekor", 99); got != nil || err != nil {
		t.Errorf("Entry(rekor, 99) = %v, %v; want nil, nil", got, err)
	}
	if got, err := s.Entry(t.Context(), "nope", 0); got != nil || err != nil {
		t.Errorf("Entry(nope, 0) = %v, %v; want nil, nil", got, err)
	}

	// rekor-v2 was first seen after rekor: its entries come first.
	tests := []struct {
		name string
		q    index.Query
		want []string
	}{
		{"everything", index.Query{}, []string{"rekor-v2/2", "rekor-v2/1", "rekor-v2/0", "rekor/2", "rekor/1", "rekor/0"}},
		{"subject", index.Query{Subject: "alice@example.com"}, []string{"rekor-v2/0", "rekor/0"}},
		{"second subject", index.Query{Subject: "build@acme.example"}, []string{"rekor/1"}},
		{"subject is exact", index.Query{Subject: "alice@example.co"}, nil},
		{"subject is case-sensitive", index.Query{Subject: "Alice@example.com"}, nil},
		{"issuer", index.Query{Issuer: indextest.GitHubActionsIssuer}, []string{"rekor-v2/1", "rekor/1"}},
		{"subject and issuer", index.Query{Subject: "alice@example.com", Issuer: "https://accounts.example.com"}, []string{"rekor-v2/0", "rekor/0"}},
		{"subject and other issuer", index.Query{Subject: "alice@example.com", Issuer: indextest.GitHubActionsIssuer}, nil},
		{"digest", index.Query{Digest: "sha256:" + hexSum("artifact-a")}, []string{"rekor/2", "rekor/0"}},
		{"digest bare hex", index.Query{Digest: hexSum("artifact-b")}, []string{"rekor/1"}},
		{"digest upper case", index.Query{Digest: "SHA256:" + strings.ToUpper(hexSum("artifact-b"))}, []string{"rekor/1"}},
		{"second digest sha512", index.Query{Digest: "sha512:" + strings.Repeat("AB", 64)}, []string{"rekor/1"}},
		{"digest unknown", index.Query{Digest: hexSum("nothing")}, nil},
		{"cert fingerprint", index.Query{Fingerprint: hexSum("cert-1")}, []string{"rekor/1"}},
		{"cert fingerprint sha256:", index.Query{Fingerprint: "sha256:" + hexSum("cert-1")}, []string{"rekor/1"}},
		{"key fingerprint upper case", index.Query{Fingerprint: "SHA256:" + strings.ToUpper(hexSum("key-v2-1"))}, []string{"rekor-v2/1"}},
		{"bare key", index.Query{Fingerprint: hexSum("long-lived-key")}, []string{"rekor/2"}},
		{"second signer's key", index.Query{Fingerprint: hexSum("tuf-key-2")}, []string{"rekor-v2/2"}},
		{"extension", index.Query{Extensions: map[string]string{indextest.OIDSourceRepoURI: "https://github.com/acme/app"}}, []string{"rekor-v2/1", "rekor/1"}},
		{"two extensions", index.Query{Extensions: map[string]string{indextest.OIDSourceRepoURI: "https://github.com/acme/app", indextest.OIDBuildTrigger: "push"}}, []string{"rekor-v2/1"}},
		{"extension of another OID", index.Query{Extensions: map[string]string{indextest.OIDBuildTrigger: "https://github.com/acme/app"}}, nil},
		{"per-commit extension", index.Query{Extensions: map[string]string{indextest.OIDSourceRepoDigest: "abc123"}}, []string{"rekor-v2/1", "rekor/1"}},
		{"per-run extension", index.Query{Extensions: map[string]string{indextest.OIDRunInvocationURI: "https://github.com/acme/app/actions/runs/2/attempts/1"}}, []string{"rekor-v2/1"}},
		{"per-run extension of another OID", index.Query{Extensions: map[string]string{indextest.OIDSourceRepoDigest: "https://github.com/acme/app/actions/runs/2/attempts/1"}}, nil},
		{"per-commit and repeated extensions", index.Query{Extensions: map[string]string{indextest.OIDSourceRepoDigest: "abc123", indextest.OIDBuildTrigger: "release"}}, []string{"rekor/1"}},
		{"per-commit extension and subject", index.Query{Subject: "build@acme.example", Extensions: map[string]string{indextest.OIDSourceRepoDigest: "abc123"}}, []string{"rekor/1"}},
		{"per-commit extension and log", index.Query{Log: "rekor-v2", Extensions: map[string]string{indextest.OIDSourceRepoDigest: "abc123"}}, []string{"rekor-v2/1"}},
		{"per-commit extension and fingerprint", index.Query{Fingerprint: hexSum("key-1"), Extensions: map[string]string{indextest.OIDSourceRepoDigest: "abc123"}}, []string{"rekor/1"}},
		{"unknown per-commit value", index.Query{Extensions: map[string]string{indextest.OIDSourceRepoDigest: "abc1234"}}, nil},
		{"per-commit digest", index.Query{Extensions: map[string]string{indextest.OIDBuildConfigHash: strings.Repeat("0123456789", 4)}}, []string{"rekor/1"}},
		{"per-commit digest in upper case", index.Query{Extensions: map[string]string{indextest.OIDBuildConfigHash: strings.ToUpper(strings.Repeat("0123456789abcdef", 2))}}, nil},
		{"upper-case value", index.Query{Extensions: map[string]string{"1.3.6.1.4.1.57264.1.3": "ABCDEF0123"}}, []string{"rekor/1"}},
		{"per-commit digest, other signer's subject", index.Query{Subject: "build@acme.example", Extensions: map[string]string{indextest.OIDBuildConfigHash: strings.Repeat("0123456789", 4)}}, nil},
		{"log", index.Query{Log: "rekor"}, []string{"rekor/2", "rekor/1", "rekor/0"}},
		{"log and subject", index.Query{Log: "rekor-v2", Subject: "alice@example.com"}, []string{"rekor-v2/0"}},
		{"unknown log", index.Query{Log: "nope"}, nil},
		{"digest and log", index.Query{Digest: hexSum("artifact-a"), Log: "rekor-v2"}, nil},
		{"digest and fingerprint", index.Query{Digest: hexSum("artifact-a"), Fingerprint: hexSum("cert-0")}, []string{"rekor/0"}},
		{"since", index.Query{Since: t0.Add(time.Minute)}, []string{"rekor/2", "rekor/1"}},
		{"until", index.Query{Until: t0.Add(time.Minute)}, []string{"rekor/0"}},
		{"since and until", index.Query{Since: t0.Add(30 * time.Second), Until: t0.Add(90 * time.Second)}, []string{"rekor/1"}},
		{"subject and since", index.Query{Subject: "alice@example.com", Since: t0.Add(-time.Hour)}, []string{"rekor/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := keys(all(t, s, tt.q))
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Search(%+v) mismatch (-want +got):\n%s", tt.q, diff)
			}
		})
	}
}

// testSameSigner: identity filters hold for one signer of an entry.
func testSameSigner(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	add(t, s, index.Record{
		Log: "rekor", Index: 7, Kind: "dsse:0.0.1", LeafHash: leaf("7"),
		Identities: []index.Identity{
			{Subjects: []string{"a@example.com"}, Issuer: "https://one", CertFingerprint: hexSum("ca"), KeyFingerprint: hexSum("ka")},
			{Subjects: []string{"b@example.com"}, Issuer: "https://two", CertFingerprint: hexSum("cb"), KeyFingerprint: hexSum("kb")},
		},
	})
	for _, tt := range []struct {
		q    index.Query
		want int
	}{
		{index.Query{Subject: "a@example.com"}, 1},
		{index.Query{Subject: "b@example.com", Issuer: "https://two"}, 1},
		{index.Query{Subject: "a@example.com", Issuer: "https://two"}, 0},
		{index.Query{Subject: "a@example.com", Fingerprint: hexSum("ca")}, 1},
		{index.Query{Subject: "a@example.com", Fingerprint: hexSum("kb")}, 0},
		{index.Query{Issuer: "https://two", Fingerprint: hexSum("kb")}, 1},
	} {
		if got := len(all(t, s, tt.q)); got != tt.want {
			t.Errorf("Search(%+v) = %d results, want %d", tt.q, got, tt.want)
		}
	}
}

// matches is the reference semantics of a query, for the oracle.
func matches(r *index.Record, q index.Query) bool {
	if q.Log != "" && r.Log != q.Log {
		return false
	}
	if !q.Since.IsZero() && (r.Time.IsZero() || r.Time.Before(q.Since)) {
		return false
	}
	if !q.Until.IsZero() && (r.Time.IsZero() || !r.Time.Before(q.Until)) {
		return false
	}
	if q.Digest != "" && !slices.Contains(r.Digests, q.Digest) {
		return false
	}
	if q.Subject == "" && q.Issuer == "" && q.Fingerprint == "" && len(q.Extensions) == 0 {
		return true
	}
	for _, id := range r.Identities {
		if q.Subject != "" && !slices.Contains(id.Subjects, q.Subject) {
			continue
		}
		if q.Issuer != "" && id.Issuer != q.Issuer {
			continue
		}
		if q.Fingerprint != "" && id.CertFingerprint != q.Fingerprint && id.KeyFingerprint != q.Fingerprint {
			continue
		}
		ok := true
		for k, v := range q.Extensions {
			if got, has := id.Extensions[k]; !has || got != v {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// testOracle compares every query path of the planner with the reference
// semantics over generated logs.
func testOracle(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g1 := &indextest.Generator{Log: "rekor", Seed: 1, Subjects: 40, Keys: 5, Start: t0}
	g2 := &indextest.Generator{Log: "rekor-v2", Seed: 2, Subjects: 40, Keys: 5}
	var recs []index.Record
	for _, g := range []*indextest.Generator{g1, g2} {
		for from := uint64(0); from < 600; from += 200 {
			rs := g.Records(from, 200)
			add(t, s, rs...)
			recs = append(recs, rs...)
		}
	}
	// The expected order: rekor-v2 (seen second) first, then by index.
	slices.SortFunc(recs, func(a, b index.Record) int {
		if a.Log != b.Log {
			return strings.Compare(b.Log, a.Log)
		}
		return int(b.Index) - int(a.Index)
	})
	// A workflow-signed entry, for its per-commit and per-run values.
	var wf index.Identity
	for i := uint64(0); wf.Extensions[indextest.OIDRunInvocationURI] == ""; i++ {
		wf = g1.Record(i).Identities[0]
	}
	commit := wf.Extensions[indextest.OIDSourceRepoDigest]
	// An entry signed by Email(3), for a digest and a subject that match.
	var byEmail3 index.Record
	for i := uint64(0); len(byEmail3.Identities) == 0 || !slices.Contains(byEmail3.Identities[0].Subjects, indextest.Email(3)); i++ {
		byEmail3 = g1.Record(i)
	}
	queries := []index.Query{
		{Extensions: map[string]string{indextest.OIDRunInvocationURI: wf.Extensions[indextest.OIDRunInvocationURI]}},
		{Extensions: map[string]string{indextest.OIDSourceRepoDigest: commit}},
		{Extensions: map[string]string{indextest.OIDSourceRepoDigest: commit, indextest.OIDBuildTrigger: "push"}},
		{Subject: wf.Subjects[0], Extensions: map[string]string{indextest.OIDSourceRepoDigest: commit}, Since: t0.Add(100 * time.Second)},
		{Subject: indextest.Email(3), Extensions: map[string]string{indextest.OIDSourceRepoDigest: commit}},
		{Subject: indextest.Email(3)},
		{Subject: indextest.WorkflowSubject(5), Log: "rekor"},
		{Subject: indextest.WorkflowSubject(5), Extensions: map[string]string{indextest.OIDSourceRepoRef: "refs/tags/v1.2.3"}},
		{Issuer: indextest.GitHubActionsIssuer},
		{Issuer: indextest.EmailIssuer(2)},
		{Extensions: map[string]string{indextest.OIDIssuerV1: indextest.EmailIssuer(0)}, Log: "rekor"},
		{Issuer: indextest.EmailIssuer(1), Since: t0.Add(100 * time.Second), Until: t0.Add(400 * time.Second)},
		{Extensions: map[string]string{indextest.OIDBuildTrigger: "release"}},
		{Extensions: map[string]string{indextest.OIDBuildTrigger: "release", indextest.OIDSourceRepoRef: "refs/heads/main"}, Log: "rekor-v2"},
		{Fingerprint: g1.Key(2)},
		{Fingerprint: g2.Key(3), Log: "rekor-v2"},
		{Fingerprint: g1.CertFingerprint(10)},
		{Digest: g1.Digest(300)},
		{Digest: byEmail3.Digests[0], Subject: indextest.Email(3)},
		{Digest: byEmail3.Digests[0], Subject: indextest.Email(4)}, // nothing
		{Fingerprint: g1.Key(1), Subject: indextest.Email(3)},      // a bare key has no subject: nothing
		{Log: "rekor", Since: t0.Add(500 * time.Second)},
		{},
	}
	for _, limits := range []struct {
		name              string
		merge, sort, scan int
	}{
		{"default", 64, 20000, index.MaxScan},
		{"merge", 300, 0, index.MaxScan},            // (nearly) every principal set merged
		{"sort", 0, 1 << 30, index.MaxScan},         // every principal set sorted
		{"scan", 0, 0, index.MaxScan},               // every principal set scanned
		{"short scans", 0, 0, 7},                    // pages cut short by the scan bound
		{"tiny merges", 2, 1 << 30, index.MaxScan},  // merge up to 2, sort above
		{"tiny merges, scan", 2, 0, index.MaxScan},  // merge up to 2, scan above
		{"one at a time", 1, 0, index.MaxScan},      // merge only single principals
		{"short scans, merge", 300, 0, 3},           // bound below the limit
		{"short scans, sort", 0, 1 << 30, 4},        // bound below the limit
		{"short scans, tiny merges", 2, 0, 5},       // ...
		{"default, short scans", 64, 20000, 11},     // ...
		{"default, two per scan", 64, 20000, 2},     // two candidates per call
		{"default, limit-sized", 64, 20000, 50 + 1}, // exactly a page
	} {
		t.Run(limits.name, func(t *testing.T) {
			defer index.SetPlanLimits(limits.merge, limits.sort, limits.scan)()
			for i, q := range queries {
				var want []string
				for j := range recs {
					if matches(&recs[j], q) {
						want = append(want, fmt.Sprintf("%s/%d", recs[j].Log, recs[j].Index))
					}
				}
				// Three queries match nothing by design (a bare key has no
				// subject; an e-mail signer no commit; a digest another
				// signer's); the others must match something, or they
				// test nothing.
				if wantEmpty := (q.Fingerprint != "" && q.Subject != "") || (q.Subject == indextest.Email(3) && len(q.Extensions) > 0) || q.Subject == indextest.Email(4); wantEmpty != (len(want) == 0) {
					t.Errorf("query %d %+v: %d expected results; the generator changed?", i, q, len(want))
				}
				if limits.scan < 20 && len(want) > 150 {
					continue // hundreds of calls
				}
				for _, limit := range []int{0, 1, 7, index.MaxLimit} {
					if (limit == 1 && (limits.name != "default" || len(want) > 150)) || (limits.scan < 3 && limit != index.MaxLimit) {
						continue // hundreds of pages
					}
					q.Limit = limit
					got := keys(all(t, s, q))
					if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
						t.Errorf("query %d %+v limit %d: mismatch (-want +got):\n%s", i, q, limit, diff)
					}
				}
			}
		})
	}
}

// testSegments: hash postings are kept in segments of 2^16 indexes of a
// log (see the package documentation). Searches for a hash read them
// newest first across segments and logs, page by page, with and without
// a log or times; a replaced entry and Truncate, in the middle of a
// segment and at its start, leave none behind.
func testSegments(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	// Same seed and one key each: one bare key signs 15% of both logs.
	g1 := &indextest.Generator{Log: "rekor", Keys: 1, Subjects: 5, Start: t0}
	g2 := &indextest.Generator{Log: "other", Keys: 1, Subjects: 5, Start: t0}
	var recs []index.Record
	for _, g := range []*indextest.Generator{g1, g2} {
		for seg := range uint64(4) {
			var batch []index.Record
			for j := range uint64(60) {
				batch = append(batch, g.Record(seg<<16+j*1091))
			}
			add(t, s, batch...)
			recs = append(recs, batch...)
		}
	}
	across := g1.Records(4<<16-30, 60) // one batch, two segments
	add(t, s, across...)
	recs = append(recs, across...)
	var wf index.Identity // a workflow signer, for its per-commit value
	for i := 0; wf.Extensions[indextest.OIDSourceRepoDigest] == ""; i++ {
		wf = recs[i].Identities[0]
	}
	queries := []index.Query{
		{Fingerprint: g1.Key(0)},
		{Fingerprint: g1.Key(0), Log: "rekor"},
		{Fingerprint: g1.Key(0), Log: "other", Since: t0.Add(70000 * time.Second)},
		{Fingerprint: g1.Key(0), Until: t0.Add(3 << 16 * time.Second)},
		{Digest: recs[130].Digests[0]},
		{Digest: across[45].Digests[0], Log: "rekor"},
		{Fingerprint: across[10].Identities[0].KeyFingerprint},
		{Extensions: map[string]string{indextest.OIDSourceRepoDigest: wf.Extensions[indextest.OIDSourceRepoDigest]}},
	}
	check := func(when string) {
		t.Helper()
		// The expected order: other (seen second) first, then by index.
		slices.SortFunc(recs, func(a, b index.Record) int {
			if a.Log != b.Log {
				return strings.Compare(a.Log, b.Log)
			}
			return int(b.Index) - int(a.Index)
		})
		for i, q := range queries {
			var want []string
			for j := range recs {
				if matches(&recs[j], q) {
					want = append(want, fmt.Sprintf("%s/%d", recs[j].Log, recs[j].Index))
				}
			}
			if when == "added" && i < 4 && len(want) < 10 {
				t.Errorf("%s: query %d %+v: %d expected results; the generator changed?", when, i, q, len(want))
			}
			for _, limit := range []int{0, 1, 7} {
				q.Limit = limit
				if diff := cmp.Diff(want, keys(all(t, s, q)), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%s: query %d %+v limit %d: mismatch (-want +got):\n%s", when, i, q, limit, diff)
				}
			}
		}
	}
	check("added")

	// A replaced entry keeps none of its old hash postings.
	for i := range recs {
		if r := &recs[i]; r.Log == "rekor" && r.Index > 2<<16 && r.Identities[0].KeyFingerprint == g1.Key(0) {
			r.Identities = []index.Identity{{KeyFingerprint: hexSum("another key")}}
			add(t, s, *r)
			break
		}
	}
	check("replaced")

	truncate := func(log string, from uint64) {
		t.Helper()
		if err := s.Truncate(t.Context(), log, from); err != nil {
			t.Fatal(err)
		}
		recs = slices.DeleteFunc(recs, func(r index.Record) bool { return r.Log == log && r.Index >= from })
	}
	truncate("rekor", 2<<16+5000) // mid-segment
	check("truncated mid-segment")
	truncate("other", 1<<16) // at a segment's start
	check("truncated at a segment")
	// The rebuild adds them again.
	again := g2.Records(1<<16, 100)
	add(t, s, again...)
	recs = append(recs, again...)
	check("re-added")
}

// testPagination: a query paged while entries are added (newer ones and
// older ones of another log) returns each entry that was there exactly
// once.
func testPagination(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g := &indextest.Generator{Log: "rekor", Profile: indextest.FulcioEmail, Subjects: 3}
	other := &indextest.Generator{Log: "other", Profile: indextest.FulcioEmail, Subjects: 3}
	add(t, s, other.Records(0, 10)...) // "other" is seen first: after "rekor" in the order
	add(t, s, g.Records(0, 600)...)
	q := index.Query{Subject: indextest.Email(1), Limit: 37}
	before := keys(all(t, s, q))
	if len(before) < 150 {
		t.Fatalf("only %d matches", len(before))
	}
	var got []string
	next := uint64(600)
	backfill := uint64(10)
	for pages := 0; ; pages++ {
		p, err := s.Search(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, keys(p.Results)...)
		// Between pages: new entries at the head, and a backfill of the
		// other log (entries not yet reached, which the query may return).
		add(t, s, g.Records(next, 40)...)
		next += 40
		add(t, s, other.Records(backfill, 5)...)
		backfill += 5
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	seen := map[string]bool{}
	for _, k := range got {
		if seen[k] {
			t.Errorf("%s returned twice", k)
		}
		seen[k] = true
	}
	for _, k := range before {
		if !seen[k] {
			t.Errorf("%s was there before the first page but never returned", k)
		}
	}
	for _, k := range got {
		if strings.HasPrefix(k, "rekor/") && !slices.Contains(before, k) {
			t.Errorf("%s was added after the first page, at the head, yet returned", k)
		}
	}
}

func count(t *testing.T, s *index.Store, q index.Query) int {
	t.Helper()
	return len(all(t, s, q))
}

func testIdempotent(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g := &indextest.Generator{Log: "rekor", Subjects: 5, Start: t0}
	recs := g.Records(0, 200)
	add(t, s, recs...)
	want := keys(all(t, s, index.Query{Subject: indextest.Email(2)}))
	// A crash after the index committed but before the state saved: the
	// monitor adds the same entries again, and some more.
	add(t, s, recs[150:]...)
	add(t, s, g.Records(150, 60)...)
	got := keys(all(t, s, index.Query{Subject: indextest.Email(2), Until: t0.Add(200 * time.Second)}))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after re-adding (-want +got):\n%s", diff)
	}
	if n := count(t, s, index.Query{}); n != 210 {
		t.Errorf("%d entries after re-adding, want 210", n)
	}
	if next, _ := s.Next(t.Context(), "rekor"); next != 210 {
		t.Errorf("Next = %d, want 210", next)
	}
	// Different content at a taken index replaces the entry.
	r := recs[42]
	oldDigest := r.Digests[0]
	r.Digests = []string{"sha256:" + hexSum("replacement")}
	r.LeafHash = leaf("replacement")
	r.Identities = []index.Identity{{Subjects: []string{"new@example.com"}, KeyFingerprint: hexSum("new-key")}}
	add(t, s, r)
	got1, err := s.Entry(t.Context(), "rekor", 42)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&r, got1, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("replaced entry (-want +got):\n%s", diff)
	}
	for _, q := range []index.Query{{Digest: oldDigest, Log: "rekor"}, {Fingerprint: recs[42].Identities[0].KeyFingerprint}} {
		for _, k := range keys(all(t, s, q)) {
			if k == "rekor/42" {
				t.Errorf("Search(%+v) still finds the replaced entry", q)
			}
		}
	}
	for _, q := range []index.Query{{Digest: hexSum("replacement")}, {Subject: "new@example.com"}, {Fingerprint: hexSum("new-key")}} {
		if got := keys(all(t, s, q)); !slices.Equal(got, []string{"rekor/42"}) {
			t.Errorf("Search(%+v) = %v, want [rekor/42]", q, got)
		}
	}
	if n := count(t, s, index.Query{}); n != 210 {
		t.Errorf("%d entries after replacing one, want 210", n)
	}
}

func testNext(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	if n, err := s.Next(t.Context(), "rekor"); n != 0 || err != nil {
		t.Errorf("Next(empty) = %d, %v; want 0, nil", n, err)
	}
	g := &indextest.Generator{Log: "rekor"}
	add(t, s, g.Records(0, 10)...)
	add(t, s, (&indextest.Generator{Log: "other"}).Records(0, 3)...)
	for log, want := range map[string]uint64{"rekor": 10, "other": 3, "nope": 0} {
		if n, err := s.Next(t.Context(), log); n != want || err != nil {
			t.Errorf("Next(%s) = %d, %v; want %d, nil", log, n, err, want)
		}
	}
	// Next is one past the highest index, even across a gap.
	add(t, s, g.Record(1000))
	if n, _ := s.Next(t.Context(), "rekor"); n != 1001 {
		t.Errorf("Next(rekor) = %d, want 1001", n)
	}
}

func testTruncate(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g := &indextest.Generator{Log: "rekor", Subjects: 4, Start: t0}
	o := &indextest.Generator{Log: "other", Subjects: 4, Seed: 9}
	add(t, s, g.Records(0, 100)...)
	add(t, s, o.Records(0, 100)...)
	subj := index.Query{Subject: indextest.Email(1), Log: "rekor"}
	full := keys(all(t, s, subj))
	otherBefore := count(t, s, index.Query{Log: "other"})
	if err := s.Truncate(t.Context(), "rekor", 50); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Next(t.Context(), "rekor"); n != 50 {
		t.Errorf("Next after Truncate(50) = %d, want 50", n)
	}
	if got := count(t, s, index.Query{Digest: g.Digest(77), Log: "rekor"}); got != 0 {
		t.Errorf("digest of a truncated entry still found")
	}
	if fp := g.CertFingerprint(77); fp != "" && count(t, s, index.Query{Fingerprint: fp}) != 0 {
		t.Errorf("fingerprint of a truncated entry still found")
	}
	for _, k := range keys(all(t, s, subj)) {
		var i int
		fmt.Sscanf(k, "rekor/%d", &i)
		if i >= 50 {
			t.Errorf("%s found after truncation at 50", k)
		}
	}
	if got := count(t, s, index.Query{Log: "other"}); got != otherBefore {
		t.Errorf("other log has %d entries after truncating rekor, want %d", got, otherBefore)
	}
	// The rebuild adds them again.
	add(t, s, g.Records(50, 50)...)
	if diff := cmp.Diff(full, keys(all(t, s, subj))); diff != "" {
		t.Errorf("after the rebuild (-want +got):\n%s", diff)
	}
	if err := s.Truncate(t.Context(), "rekor", 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Next(t.Context(), "rekor"); n != 0 {
		t.Errorf("Next after Truncate(0) = %d", n)
	}
	if got := count(t, s, index.Query{Subject: indextest.Email(1)}); got != len(all(t, s, index.Query{Subject: indextest.Email(1), Log: "other"})) {
		t.Errorf("subject still finds truncated entries")
	}
	if err := s.Truncate(t.Context(), "nope", 0); err != nil {
		t.Errorf("Truncate(unknown log) = %v", err)
	}
}

func testTime(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	ms := t0.Add(1500 * time.Microsecond) // stored to the millisecond
	add(t, s,
		index.Record{Log: "rekor", Index: 0, Kind: "k", LeafHash: leaf("a"), Time: ms},
		index.Record{Log: "rekor", Index: 1, Kind: "k", LeafHash: leaf("b"), Time: t0.Add(time.Hour).In(time.FixedZone("X", 3600))},
		index.Record{Log: "rekor", Index: 2, Kind: "k", LeafHash: leaf("c")},
	)
	r, err := s.Entry(t.Context(), "rekor", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(time.Millisecond); !r.Time.Equal(want) || r.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want %v UTC", r.Time, want)
	}
	r, _ = s.Entry(t.Context(), "rekor", 2)
	if !r.Time.IsZero() {
		t.Errorf("Time of an entry without one = %v", r.Time)
	}
	for _, tt := range []struct {
		since, until time.Time
		want         []string
	}{
		{t0, time.Time{}, []string{"rekor/1", "rekor/0"}},
		{t0.Add(time.Millisecond), time.Time{}, []string{"rekor/1", "rekor/0"}}, // inclusive
		{t0.Add(2 * time.Millisecond), time.Time{}, []string{"rekor/1"}},
		{time.Time{}, t0.Add(time.Hour), []string{"rekor/0"}}, // exclusive
		{time.Time{}, t0.Add(time.Hour + time.Millisecond), []string{"rekor/1", "rekor/0"}},
		{t0.Add(time.Minute), t0.Add(2 * time.Hour), []string{"rekor/1"}},
	} {
		got := keys(all(t, s, index.Query{Since: tt.since, Until: tt.until}))
		if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("since %v until %v (-want +got):\n%s", tt.since, tt.until, diff)
		}
	}
	_, err = s.Search(t.Context(), index.Query{Since: t0, Until: t0})
	var qe *index.QueryError
	if !errors.As(err, &qe) || qe.Field != "until" {
		t.Errorf("Search(until = since) = %v, want a QueryError on until", err)
	}
}

func testLimit(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g := &indextest.Generator{Log: "rekor"}
	add(t, s, g.Records(0, 600)...)
	for _, tt := range []struct {
		limit, want int
	}{
		{0, index.DefaultLimit},
		{1, 1},
		{index.MaxLimit, index.MaxLimit},
	} {
		p, err := s.Search(t.Context(), index.Query{Limit: tt.limit})
		if err != nil {
			t.Fatalf("Search(limit %d): %v", tt.limit, err)
		}
		if len(p.Results) != tt.want || p.Next == "" {
			t.Errorf("Search(limit %d) = %d results, next %q; want %d and a cursor", tt.limit, len(p.Results), p.Next, tt.want)
		}
	}
	for _, limit := range []int{-1, index.MaxLimit + 1, 1 << 30} {
		_, err := s.Search(t.Context(), index.Query{Limit: limit})
		var qe *index.QueryError
		if !errors.As(err, &qe) || qe.Field != "limit" || !strings.Contains(err.Error(), "limit") {
			t.Errorf("Search(limit %d) = %v, want a QueryError naming limit", limit, err)
		}
	}
	// The last page has no cursor.
	p, err := s.Search(t.Context(), index.Query{Limit: 100, Log: "rekor", Cursor: mustCursorAt(t, s, 100)})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Results) != 100 || p.Next != "" {
		t.Errorf("last page = %d results, next %q; want 100 and none", len(p.Results), p.Next)
	}
}

// mustCursorAt returns the cursor of the query {Log: rekor} after which
// exactly left entries remain.
func mustCursorAt(t *testing.T, s *index.Store, left int) string {
	t.Helper()
	n := count(t, s, index.Query{Log: "rekor"})
	p, err := s.Search(t.Context(), index.Query{Log: "rekor", Limit: n - left})
	if err != nil {
		t.Fatal(err)
	}
	return p.Next
}

func testCursor(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g := &indextest.Generator{Log: "rekor", Subjects: 2}
	add(t, s, g.Records(0, 50)...)
	p, err := s.Search(t.Context(), index.Query{Subject: indextest.Email(0), Limit: 2})
	if err != nil || p.Next == "" {
		t.Fatalf("Search = %v, %v", p, err)
	}
	for _, tt := range []struct {
		name string
		q    index.Query
	}{
		{"garbage", index.Query{Cursor: "garbage!"}},
		{"not base64 of a cursor", index.Query{Cursor: "AAAA"}},
		{"huge", index.Query{Cursor: strings.Repeat("A", 10000)}},
		{"other query", index.Query{Subject: indextest.Email(1), Cursor: p.Next}},
		{"truncated", index.Query{Subject: indextest.Email(0), Cursor: p.Next[:len(p.Next)-2]}},
		{"sql", index.Query{Cursor: "' OR 1=1 --"}},
	} {
		_, err := s.Search(t.Context(), tt.q)
		var qe *index.QueryError
		if !errors.As(err, &qe) || qe.Field != "cursor" || !strings.Contains(err.Error(), "cursor") {
			t.Errorf("%s: Search = %v, want a QueryError naming the cursor", tt.name, err)
		}
	}
	// A cursor is good for the same query with another limit.
	if _, err := s.Search(t.Context(), index.Query{Subject: indextest.Email(0), Limit: 10, Cursor: p.Next}); err != nil {
		t.Errorf("same query, other limit: %v", err)
	}
}

// testHostile: SQL and other metacharacters in values are just values.
func testHostile(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	values := []string{
		"'; DROP TABLE entries; --",
		`" OR "1"="1`,
		"%",
		"_",
		"a%b_c\\d",
		"x' || (SELECT name FROM names) || '",
		"nul\x00byte",
		"bad utf-8 \xff\xfe",
		"?", "$1", "?1", ":name", "@p",
		"json\"]}[{",
		strings.Repeat("long", 2500), // 10 kB, above a PostgreSQL btree entry
		"",
	}
	// Log names and kinds are at most 256 bytes.
	name := func(v string) string {
		if len(v) > 200 {
			return "long"
		}
		return v
	}
	var recs []index.Record
	for i, v := range values {
		recs = append(recs, index.Record{
			Log: "log " + name(v), Index: uint64(i), Kind: "kind " + name(v), LeafHash: leaf(v),
			Identities: []index.Identity{{
				Subjects:   []string{v, "s-" + v},
				Issuer:     "i-" + v,
				Extensions: map[string]string{"1.2.3": v, indextest.OIDRunInvocationURI: "r-" + v},
			}},
		})
	}
	add(t, s, recs...)
	for i, v := range values {
		want := []string{fmt.Sprintf("log %s/%d", name(v), i)}
		qs := []index.Query{
			{Subject: "s-" + v},
			{Issuer: "i-" + v},
			{Extensions: map[string]string{"1.2.3": v}},
			{Extensions: map[string]string{indextest.OIDRunInvocationURI: "r-" + v}},
			{Log: "log " + name(v)},
		}
		if v != "" {
			qs = append(qs, index.Query{Subject: v})
		}
		for _, q := range qs {
			if got := keys(all(t, s, q)); !slices.Equal(got, want) {
				t.Errorf("Search(%q) = %q, want %q", fmt.Sprintf("%+v", q), got, want)
			}
		}
		got, err := s.Entry(t.Context(), "log "+name(v), uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&recs[i], got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Entry(%q) (-want +got):\n%s", v, diff)
		}
	}
	if n := count(t, s, index.Query{}); n != len(values) {
		t.Errorf("%d entries, want %d: something was dropped", n, len(values))
	}
	for _, q := range []index.Query{
		{Subject: "' OR 1=1 --"},
		{Subject: "%%"},
		{Log: "' OR 1=1 --"},
		{Extensions: map[string]string{"1.2.3": "' OR '1'='1"}},
	} {
		if got := count(t, s, q); got != 0 {
			t.Errorf("Search(%+v) = %d results, want 0", q, got)
		}
	}
	for _, q := range []index.Query{
		{Digest: "sha256:' OR 1=1"},
		{Fingerprint: "'; DROP TABLE entries; --"},
		{Extensions: map[string]string{"1.2.3' OR '1'='1": "x"}},
	} {
		_, err := s.Search(t.Context(), q)
		var qe *index.QueryError
		if !errors.As(err, &qe) {
			t.Errorf("Search(%+v) = %v, want a QueryError", q, err)
		}
	}
}

func testBadRecords(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	good := index.Record{Log: "rekor", Index: 1, Kind: "k", LeafHash: leaf("x")}
	for _, tt := range []struct {
		name string
		f    func(r *index.Record)
		want string
	}{
		{"short leaf", func(r *index.Record) { r.LeafHash = r.LeafHash[:31] }, "leaf hash"},
		{"no log", func(r *index.Record) { r.Log = "" }, "log"},
		{"long log", func(r *index.Record) { r.Log = strings.Repeat("x", 10000) }, "log name"},
		{"bad digest", func(r *index.Record) { r.Digests = []string{"sha256:xyz"} }, "digest"},
		{"digest of the wrong length", func(r *index.Record) { r.Digests = []string{"sha256:abcd"} }, "digest"},
		{"unknown algorithm", func(r *index.Record) { r.Digests = []string{"md5:" + strings.Repeat("a", 32)} }, "algorithm"},
		{"bad fingerprint", func(r *index.Record) { r.Identities = []index.Identity{{KeyFingerprint: "not hex"}} }, "fingerprint"},
		{"bad OID", func(r *index.Record) { r.Identities = []index.Identity{{Extensions: map[string]string{"x": "y"}}} }, "OID"},
		{"huge index", func(r *index.Record) { r.Index = 1 << 63 }, "index"},
	} {
		r := good
		tt.f(&r)
		err := s.Add(t.Context(), []index.Record{good2(), r})
		if err == nil || !strings.Contains(err.Error(), tt.want) || len(err.Error()) > 400 {
			t.Errorf("%s: Add = %v, want an error about %s", tt.name, err, tt.want)
		}
	}
	if err := s.Add(t.Context(), []index.Record{good, good}); err == nil || !strings.Contains(err.Error(), "rekor/1") {
		t.Errorf("Add(duplicate) = %v, want an error naming rekor/1", err)
	}
	// A failed Add adds nothing.
	if n := count(t, s, index.Query{}); n != 0 {
		t.Errorf("%d entries after failed adds", n)
	}
}

func good2() index.Record {
	return index.Record{Log: "rekor", Index: 2, Kind: "k", LeafHash: leaf("y")}
}

func testSchemaVersion(t *testing.T, b backend) {
	cfg := b.fresh(t)
	s, err := index.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	b.raw(t, cfg, "UPDATE schema_version SET version = 99")
	s, err = index.Open(t.Context(), cfg)
	var ve *index.SchemaVersionError
	if !errors.As(err, &ve) || ve.Found != 99 || ve.Known != index.SchemaVersion {
		t.Fatalf("Open(newer schema) = %v, %v; want a SchemaVersionError", s, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "99") || !strings.Contains(msg, fmt.Sprint(index.SchemaVersion)) {
		t.Errorf("error %q does not name both versions", msg)
	}
}

func testReopen(t *testing.T, b backend) {
	cfg := b.fresh(t)
	s, err := index.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := sample()
	add(t, s, recs...)
	want := keys(all(t, s, index.Query{Subject: "alice@example.com"}))
	s.Close()
	s = open(t, cfg)
	if got := keys(all(t, s, index.Query{Subject: "alice@example.com"})); !slices.Equal(got, want) || len(got) == 0 {
		t.Errorf("after reopening: %v, want %v", got, want)
	}
	got, err := s.Entry(t.Context(), "rekor", 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&recs[1], got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Entry after reopening (-want +got):\n%s", diff)
	}
	if n, _ := s.Next(t.Context(), "rekor-v2"); n != 3 {
		t.Errorf("Next after reopening = %d", n)
	}
	// Adding after reopening reuses the dictionary.
	add(t, s, index.Record{Log: "rekor", Index: 3, Kind: "hashedrekord:0.0.1", LeafHash: leaf("3"),
		Identities: []index.Identity{recs[0].Identities[0]}})
	if got := count(t, s, index.Query{Subject: "alice@example.com"}); got != len(want)+1 {
		t.Errorf("after adding: %d results, want %d", got, len(want)+1)
	}
}

// testConcurrent: readers search while one writer adds; results are always
// consistent and in order.
func testConcurrent(t *testing.T, b backend) {
	s := open(t, b.fresh(t))
	g := &indextest.Generator{Log: "rekor", Subjects: 10, Keys: 3, Start: t0}
	add(t, s, g.Records(0, 100)...)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var last uint64
			for i := 0; ctx.Err() == nil; i++ {
				n, err := s.Next(ctx, "rekor")
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				if n < last {
					errs <- fmt.Errorf("reader %d: Next went back from %d to %d", r, last, n)
					return
				}
				last = n
				q := index.Query{Subject: indextest.Email(i % 10), Limit: 20}
				if i%3 == 1 {
					q = index.Query{Fingerprint: g.Key(i % 3)}
				}
				p, err := s.Search(ctx, q)
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				for j := 1; j < len(p.Results); j++ {
					if p.Results[j].Index >= p.Results[j-1].Index {
						errs <- fmt.Errorf("reader %d: results out of order", r)
						return
					}
				}
			}
		}()
	}
	for from := uint64(100); from < 1100; from += 50 {
		if err := s.Add(t.Context(), g.Records(from, 50)); err != nil {
			t.Errorf("Add: %v", err)
			break
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, _ := s.Next(t.Context(), "rekor"); n != 1100 {
		t.Errorf("Next = %d, want 1100", n)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, cfg := range []index.Config{
		{Driver: "mysql"},
		{Driver: index.DriverSQLite},
		{Driver: index.DriverPostgres},
		{Driver: index.DriverPostgres, DSN: "postgres://u:secret@[bad"},
	} {
		s, err := index.Open(t.Context(), cfg)
		if err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", cfg)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%+v) = %v: the error shows the password", cfg, err)
		}
	}
}

func TestIdentityFrom(t *testing.T) {
	id := &identity.Identity{
		EntryKind:       "hashedrekord:0.0.1",
		KeyType:         identity.KeyX509,
		Emails:          []string{"a@example.com"},
		URIs:            []string{"https://example.com/wf"},
		DNSNames:        []string{"example.com"},
		OtherNames:      []string{"alice!example.com"},
		Issuer:          "https://issuer",
		Extensions:      map[string]string{indextest.OIDIssuer: "https://issuer"},
		CertFingerprint: hexSum("c"),
		KeyFingerprint:  hexSum("k"),
	}
	want := index.Identity{
		Subjects:        []string{"a@example.com", "https://example.com/wf", "example.com", "alice!example.com"},
		Issuer:          "https://issuer",
		Extensions:      map[string]string{indextest.OIDIssuer: "https://issuer"},
		CertFingerprint: hexSum("c"),
		KeyFingerprint:  hexSum("k"),
	}
	got := index.IdentityFrom(id)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("IdentityFrom mismatch (-want +got):\n%s", diff)
	}
	got.Extensions["x"] = "y"
	if _, ok := id.Extensions["x"]; ok {
		t.Error("IdentityFrom shares the extensions map")
	}
}

// TestSQLiteSize holds SQLite to the size target of issue 14: at most 300
// bytes per Fulcio-signed hashedrekord entry (file size after VACUUM over
// entries; tools/indexbench measures 100,000 and a million).
func TestSQLiteSize(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	cfg := sqliteBackend.fresh(t)
	s, err := index.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := &indextest.Generator{Log: "rekor", Profile: indextest.FulcioEmail, Start: t0}
	for from := 0; from < n; from += 5000 {
		add(t, s, g.Records(uint64(from), min(5000, n-from))...)
	}
	s.Close()
	sqliteBackend.raw(t, cfg, "VACUUM")
	fi, err := os.Stat(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfg.Path + "-wal"); err == nil {
		t.Fatalf("a WAL file remains after VACUUM: the size is not all in %s", cfg.Path)
	}
	per := float64(fi.Size()) / float64(n)
	t.Logf("%d entries: %d bytes, %.1f bytes per entry", n, fi.Size(), per)
	if per > 300 {
		t.Errorf("%.1f bytes per entry, want at most 300", per)
	}
}

// TestCloseTwice: a second Close returns at once (it used to wait forever
// for the writer the first one took).
func TestCloseTwice(t *testing.T) {
	s, err := index.Open(t.Context(), index.Config{Path: filepath.Join(t.TempDir(), "ix.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("second Close did not return")
	}
}
