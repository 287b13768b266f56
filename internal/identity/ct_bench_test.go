package identity_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/ctleaf/ctleaftest"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// BenchmarkMatchCTPrecert measures the parse and match of a CT log's
// precertificate entries as get-entries serves them (the MerkleTreeLeaf and
// its extra data, a PrecertChainEntry: the precertificate and the root)
// through ctleaf.EntryIdentities and Matcher.Match with the 20 benchRules.
// The precertificates are those tools/loadgen adds to the stack's CT logs
// (identitytest.TestCA.IssueChain), each distinct, with the identities of
// loadgen's rotation: emails, and GitHub Actions workflows with their 19
// Fulcio extensions. Target (issue): >= 50,000 entries/cpu-s.
func BenchmarkMatchCTPrecert(b *testing.B) { runCTBench(b, true) }

// BenchmarkMatchCTX509 is BenchmarkMatchCTPrecert for x509_entry entries:
// the final certificate in the leaf, the root in the extra data.
func BenchmarkMatchCTX509(b *testing.B) { runCTBench(b, false) }

// benchCTEntries is the number of distinct entries of each kind.
const benchCTEntries = 1024

type ctEntry struct{ leaf, extra []byte }

// ctEntries builds the entries once per process: the benchmark function
// runs several times.
var ctEntries = sync.OnceValues(func() (map[bool][]ctEntry, error) {
	ca, err := identitytest.NewTestCA()
	if err != nil {
		return nil, err
	}
	l, err := ctleaftest.NewLog("ct.example.com/bench")
	if err != nil {
		return nil, err
	}
	const sha = "4f1c0b6f0a7f2d6c3e9b8a1d2c3e4f5a6b7c8d9e"
	ids := []struct {
		san, issuer string
		ext         identitytest.Extensions
	}{
		{"alice@example.com", "https://oidc.example.com", identitytest.Extensions{}},
		{"bob@example.org", "https://oidc.example.com", identitytest.Extensions{}},
		{"https://github.com/vigil-tlog/vigil/.github/workflows/release.yml@refs/tags/v1.2.3", identitytest.GitHubActionsIssuer,
			identitytest.GitHubActionsExtensions("vigil-tlog/vigil", "refs/tags/v1.2.3", ".github/workflows/release.yml", sha)},
		{"release-bot@example.com", "https://oidc.example.com", identitytest.Extensions{}},
		{"https://github.com/example/app/.github/workflows/build.yml@refs/heads/main", identitytest.GitHubActionsIssuer,
			identitytest.GitHubActionsExtensions("example/app", "refs/heads/main", ".github/workflows/build.yml", sha)},
	}
	out := map[bool][]ctEntry{}
	for _, precert := range []bool{true, false} {
		for i := range benchCTEntries {
			k, err := identitytest.NewSigner()
			if err != nil {
				return nil, err
			}
			id := ids[i%len(ids)]
			chain, err := ca.IssueChain(k.Public(), id.san, id.issuer, id.ext, precert)
			if err != nil {
				return nil, err
			}
			idx, _, err := l.AddChain(chain, precert, uint64(1_700_000_000_000+i))
			if err != nil {
				return nil, err
			}
			leaf, extra := l.Entry(idx)
			out[precert] = append(out[precert], ctEntry{leaf, extra})
		}
	}
	return out, nil
})

func runCTBench(b *testing.B, precert bool) {
	all, err := ctEntries()
	if err != nil {
		b.Fatal(err)
	}
	entries := all[precert]
	kind := identity.KindCTX509
	if precert {
		kind = identity.KindCTPrecert
	}
	runMatchBenchN(b, len(entries), func(p *identity.Parser, i int) ([]identity.Identity, error) {
		ids, err := ctleaf.EntryIdentities(p, entries[i].leaf, entries[i].extra)
		if err == nil && (len(ids) != 1 || ids[0].EntryKind != kind) {
			err = fmt.Errorf("entry %d: got %+v, want one identity of kind %s", i, ids, kind)
		}
		return ids, err
	})
}
