package identity_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

func mustCompile(t *testing.T, cfg identity.Config) *identity.Matcher {
	t.Helper()
	m, err := identity.Compile(cfg)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return m
}

func parse(t *testing.T, body []byte) []identity.Identity {
	t.Helper()
	ids, err := identity.ParseV1(body)
	if err != nil {
		t.Fatalf("ParseV1: %v", err)
	}
	return ids
}

func hitRules(r identity.Result) []string {
	var names []string
	for _, h := range r.Watched {
		names = append(names, h.Rule)
	}
	return names
}

func TestMatchWatch(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	ghExts := map[string]string{
		identity.OIDIssuer:       "https://token.actions.githubusercontent.com",
		"1.3.6.1.4.1.57264.1.9":  "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
		"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app",
	}
	gh := ca.Issue(t, identitytest.CertOptions{URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}, Extensions: ghExts})
	alice := ca.Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}, Extensions: map[string]string{identity.OIDIssuer: "https://accounts.example.com"}})
	malice := ca.Issue(t, identitytest.CertOptions{Emails: []string{"malice@example.com.evil"}, Extensions: map[string]string{identity.OIDIssuer: "https://accounts.example.com"}})
	bob := ca.Issue(t, identitytest.CertOptions{Username: "bob"})
	key := identitytest.NewKey(t)

	entries := map[string][]identity.Identity{
		"gh":     parse(t, identitytest.HashedRekordV1(t, gh, []byte("a"))),
		"alice":  parse(t, identitytest.HashedRekordV1(t, alice, []byte("a"))),
		"malice": parse(t, identitytest.HashedRekordV1(t, malice, []byte("a"))),
		"bob":    parse(t, identitytest.HashedRekordV1(t, bob, []byte("a"))),
		"key":    parse(t, identitytest.HashedRekordV1(t, key, []byte("a"))),
	}
	tests := []struct {
		name string
		rule identity.Rule
		hits []string // entries the rule must hit; all others must not
	}{
		{"literal subject is anchored", identity.Rule{Subject: `alice@example\.com`}, []string{"alice"}},
		{"unescaped dot still anchored", identity.Rule{Subject: `alice@example.com`}, []string{"alice"}},
		{"domain regex", identity.Rule{Subject: `.*@example\.com`}, []string{"alice"}},
		{"explicit unanchored", identity.Rule{Subject: `.*example\.com.*`}, []string{"alice", "malice"}},
		{"alternation is anchored as a whole", identity.Rule{Subject: `alice@example\.com|bob`}, []string{"alice", "bob"}},
		{"URI subject", identity.Rule{Subject: `https://github\.com/acme/.*`}, []string{"gh"}},
		{"username subject", identity.Rule{Subject: `bob`}, []string{"bob"}},
		{"issuer", identity.Rule{Issuer: `https://accounts\.example\.com`}, []string{"alice", "malice"}},
		{"issuer prefix does not match", identity.Rule{Issuer: `https://accounts\.example`}, nil},
		{"subject AND issuer", identity.Rule{Subject: `.*@example\.com`, Issuer: `https://token\.actions\.githubusercontent\.com`}, nil},
		{"extension", identity.Rule{Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme/.*`}}, []string{"gh"}},
		{"extension anchored", identity.Rule{Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme`}}, nil},
		{"extensions AND-ed", identity.Rule{Extensions: map[string]string{
			"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme/app`,
			"1.3.6.1.4.1.57264.1.9":  `.*@refs/tags/.*`,
		}}, nil},
		{"absent extension", identity.Rule{Extensions: map[string]string{"1.3.6.1.4.1.57264.1.21": `.*`}}, nil},
		{"key fingerprint", identity.Rule{Fingerprint: key.KeyFingerprint(t)}, []string{"key"}},
		{"key fingerprint upper case sha256: prefix", identity.Rule{Fingerprint: "SHA256:" + strings.ToUpper(key.KeyFingerprint(t))}, []string{"key"}},
		{"cert fingerprint", identity.Rule{Fingerprint: "sha256:" + alice.CertFingerprint()}, []string{"alice"}},
		{"fingerprint of cert key", identity.Rule{Fingerprint: gh.KeyFingerprint(t)}, []string{"gh"}},
		{"CA bundle", identity.Rule{CAFile: writeFile(t, "ca.pem", ca.PEM())}, []string{"gh", "alice", "malice", "bob"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rule.Name = "r"
			m := mustCompile(t, identity.Config{Watch: []identity.Rule{tt.rule}})
			for name, ids := range entries {
				res := m.Match(ids)
				want := contains(tt.hits, name)
				if got := len(res.Watched) > 0; got != want {
					t.Errorf("Match(%s) hit = %v, want %v", name, got, want)
				}
				if !res.Expected {
					t.Errorf("Match(%s).Expected = false with no expect rules", name)
				}
			}
		})
	}
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatchHitFields(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	s := ca.Issue(t, identitytest.CertOptions{
		Emails:     []string{"ops@example.com", "alice@example.com"},
		Extensions: map[string]string{identity.OIDIssuer: "https://accounts.example.com", "1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app"},
	})
	ids := parse(t, identitytest.HashedRekordV1(t, s, []byte("a")))
	m := mustCompile(t, identity.Config{Watch: []identity.Rule{
		{Name: "no", Subject: `mallory@.*`},
		{Name: "alice", Subject: `alice@.*`, Issuer: `https://accounts\.example\.com`, Fingerprint: s.CertFingerprint(),
			Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme/.*`}, CAFile: writeFile(t, "ca.pem", ca.RootPEM())},
	}})
	res := m.Match(ids)
	want := []identity.Hit{{Rule: "alice", Identity: &ids[0], Fields: map[string]string{
		"subject":                "alice@example.com",
		"issuer":                 "https://accounts.example.com",
		"fingerprint":            s.CertFingerprint(),
		"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app",
		"ca_file":                s.CertFingerprint(),
	}}}
	if diff := cmp.Diff(want, res.Watched, cmpIdentity); diff != "" {
		t.Errorf("Match hits mismatch (-want +got):\n%s", diff)
	}
	if res.Watched[0].Identity != &ids[0] {
		t.Errorf("Hit.Identity does not point into the input slice")
	}
}

func TestMatchExpect(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	other := identitytest.NewCA(t, "other")
	releaser := ca.Issue(t, identitytest.CertOptions{URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}})
	intruder := other.Issue(t, identitytest.CertOptions{URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}})
	ciKey := identitytest.NewKey(t)
	strayKey := identitytest.NewKey(t)
	caFile := writeFile(t, "ca.pem", ca.PEM())
	cfg := identity.Config{Expect: []identity.Rule{
		{Name: "release-workflow", Subject: `https://github\.com/acme/app/\.github/workflows/release\.yml@refs/heads/main`, CAFile: caFile},
		{Name: "ci-key", Fingerprint: ciKey.KeyFingerprint(t)},
	}}
	m := mustCompile(t, cfg)
	tests := []struct {
		name       string
		ids        []identity.Identity
		expected   bool
		expectedBy string
	}{
		{"release cert", parse(t, identitytest.HashedRekordV1(t, releaser, []byte("a"))), true, "release-workflow"},
		{"same SAN from another CA", parse(t, identitytest.HashedRekordV1(t, intruder, []byte("a"))), false, ""},
		{"ci key", parse(t, identitytest.HashedRekordV1(t, ciKey, []byte("a"))), true, "ci-key"},
		{"stray key", parse(t, identitytest.HashedRekordV1(t, strayKey, []byte("a"))), false, ""},
		{"dsse with one expected signer", parse(t, identitytest.DSSEV1(t, []byte("{}"), strayKey, ciKey)), true, "ci-key"},
		{"no identities", nil, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // second round uses the verification cache
				res := m.Match(tt.ids)
				if res.Expected != tt.expected || res.ExpectedBy != tt.expectedBy {
					t.Errorf("Match(%s) = Expected %v by %q, want %v by %q", tt.name, res.Expected, res.ExpectedBy, tt.expected, tt.expectedBy)
				}
			}
		})
	}
}

func TestMatchCAChainAtNotBefore(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	// A Fulcio certificate that expired long ago still chains: it is
	// checked at its NotBefore.
	old := ca.Issue(t, identitytest.CertOptions{Emails: []string{"a@example.com"}, NotBefore: time.Now().AddDate(0, -6, 0)})
	// One issued before the CA existed does not.
	early := ca.Issue(t, identitytest.CertOptions{Emails: []string{"a@example.com"}, NotBefore: time.Now().AddDate(-2, 0, 0)})
	// rekor v1 refuses to log the early one, so it comes as a v2 leaf.
	earlyIDs, err := identity.ParseV2(identitytest.HashedRekordV2(t, early, []byte("a")))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		ids    []identity.Identity
		bundle []byte
		want   bool
	}{
		{"expired leaf, root+intermediate bundle", parse(t, identitytest.HashedRekordV1(t, old, []byte("a"))), ca.PEM(), true},
		{"expired leaf, root bundle, chain in entry", parse(t, identitytest.HashedRekordV1(t, old, []byte("a"))), ca.RootPEM(), true},
		{"leaf predates CA", earlyIDs, ca.PEM(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustCompile(t, identity.Config{Watch: []identity.Rule{{Name: "ca", CAFile: writeFile(t, "ca.pem", tt.bundle)}}})
			ids := tt.ids
			if got := len(m.Match(ids).Watched) == 1; got != tt.want {
				t.Errorf("chains = %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("leaf without chain needs intermediate in bundle", func(t *testing.T) {
		leafOnly := old
		leafOnly.Chain = nil
		ids := parse(t, identitytest.HashedRekordV1(t, leafOnly, []byte("a")))
		for _, c := range []struct {
			bundle []byte
			want   bool
		}{{ca.RootPEM(), false}, {ca.PEM(), true}} {
			m := mustCompile(t, identity.Config{Watch: []identity.Rule{{Name: "ca", CAFile: writeFile(t, "ca.pem", c.bundle)}}})
			if got := len(m.Match(ids).Watched) == 1; got != c.want {
				t.Errorf("chains = %v, want %v", got, c.want)
			}
		}
	})
}

func TestMatchSSHFingerprintForms(t *testing.T) {
	body, hexFP, opensshFP := rekordSSH(t, "", []byte("a"))
	ids := parse(t, body)
	for _, fp := range []string{hexFP, "sha256:" + hexFP, opensshFP} {
		m := mustCompile(t, identity.Config{Watch: []identity.Rule{{Name: "ssh", Fingerprint: fp}}})
		if len(m.Match(ids).Watched) != 1 {
			t.Errorf("fingerprint %q does not match the SSH key", fp)
		}
	}
}

func TestMatchPGPUserID(t *testing.T) {
	k := newPGPKey(t, "release@example.org")
	ids := parse(t, rekordPGP(t, k, []byte("a")))
	m := mustCompile(t, identity.Config{Watch: []identity.Rule{
		{Name: "uid", Subject: `release@example\.org`},
		{Name: "primary", Fingerprint: k.Fingerprints()[0]},
	}})
	if diff := cmp.Diff([]string{"uid", "primary", "uid"}, hitRules(m.Match(ids))); diff != "" {
		t.Errorf("hits (-want +got):\n%s", diff)
	}
}

// TestConcurrentUse shares one Parser and one Matcher (with a CA rule, so
// the verification cache is used) between goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	var bodies [][]byte
	for i := range 8 {
		s := ca.Issue(t, identitytest.CertOptions{Emails: []string{"dev@example.com"}})
		bodies = append(bodies, identitytest.HashedRekordV1(t, s, []byte{byte(i)}))
	}
	p := identity.NewParser(4)
	m := mustCompile(t, identity.Config{
		Watch:  []identity.Rule{{Name: "dev", Subject: `dev@example\.com`}},
		Expect: []identity.Rule{{Name: "ca", CAFile: writeFile(t, "ca.pem", ca.PEM())}},
	})
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 50 {
				ids, err := p.ParseV1(bodies[(g+i)%len(bodies)])
				if err != nil {
					done <- err
					return
				}
				if r := m.Match(ids); len(r.Watched) != 1 || !r.Expected {
					done <- fmt.Errorf("Match = %+v", r)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// TestMatchNoAllocs checks that matching an entry no watch rule hits does
// not allocate (allocation counts are deterministic, unlike timings).
func TestMatchNoAllocs(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	s := ca.Issue(t, identitytest.CertOptions{Emails: []string{"dev@example.com"}, Extensions: map[string]string{identity.OIDIssuer: "https://accounts.example.com"}})
	ids := parse(t, identitytest.HashedRekordV1(t, s, []byte("a")))
	m := mustCompile(t, identity.Config{
		Watch: []identity.Rule{
			{Name: "a", Subject: `.*@corp\.example\.net`},
			{Name: "b", Issuer: `https://other\.example\.com`},
			{Name: "c", Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/acme/.*`}},
		},
		Expect: []identity.Rule{{Name: "dev", Subject: `dev@example\.com`}},
	})
	if n := testing.AllocsPerRun(100, func() { m.Match(ids) }); n != 0 {
		t.Errorf("Match allocates %v times per call, want 0", n)
	}
}

func TestWatchRules(t *testing.T) {
	m := mustCompile(t, identity.Config{
		Watch:  []identity.Rule{{Name: "b", Subject: "x"}, {Name: "a", Issuer: "y"}},
		Expect: []identity.Rule{{Name: "c", Subject: "z"}},
	})
	if diff := cmp.Diff([]string{"b", "a"}, m.WatchRules()); diff != "" {
		t.Errorf("WatchRules (-want +got):\n%s", diff)
	}
}
