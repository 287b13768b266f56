package identity_test

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// benchRules returns 20 rules of the usual shapes: subjects, issuers,
// fingerprints, extensions. None matches the benchmark entries, which is
// the common case (every rule is evaluated).
func benchRules() identity.Config {
	var cfg identity.Config
	for i := range 5 {
		cfg.Watch = append(cfg.Watch,
			identity.Rule{Name: fmt.Sprintf("subject-%d", i), Subject: fmt.Sprintf(`release-%d@example\.org`, i)},
			identity.Rule{Name: fmt.Sprintf("domain-%d", i), Subject: fmt.Sprintf(`.*@corp%d\.example\.net`, i), Issuer: `https://accounts\.example\.com`},
			identity.Rule{Name: fmt.Sprintf("fp-%d", i), Fingerprint: fmt.Sprintf("sha256:%064x", i)},
			identity.Rule{Name: fmt.Sprintf("repo-%d", i), Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": fmt.Sprintf(`https://github\.com/acme%d/.*`, i)}},
		)
	}
	return cfg
}

const (
	benchKeys  = 64   // distinct signing keys (repeated keys are common)
	benchCerts = 4096 // distinct Fulcio certificates, more than the cache holds
	benchCache = 1024
)

func BenchmarkMatchKeySigned(b *testing.B) {
	runMatchBench(b, keySigned(b, identitytest.HashedRekordV1), (*identity.Parser).ParseV1)
}

func BenchmarkMatchFulcioCert(b *testing.B) {
	runMatchBench(b, fulcioSigned(b, identitytest.HashedRekordV1), (*identity.Parser).ParseV1)
}

func BenchmarkMatchKeySignedV2(b *testing.B) {
	runMatchBench(b, keySigned(b, identitytest.HashedRekordV2), (*identity.Parser).ParseV2)
}

func BenchmarkMatchFulcioCertV2(b *testing.B) {
	runMatchBench(b, fulcioSigned(b, identitytest.HashedRekordV2), (*identity.Parser).ParseV2)
}

// entryBuilder builds a v1 body or v2 leaf of a hashedrekord entry.
type entryBuilder func(identitytest.TB, identitytest.Signer, []byte) []byte

// keySigned returns entries signed by benchKeys keys, four each.
func keySigned(b *testing.B, build entryBuilder) [][]byte {
	var out [][]byte
	for range benchKeys {
		k := identitytest.NewKey(b)
		for j := range 4 {
			out = append(out, build(b, k, fmt.Appendf(nil, "artifact %d", j)))
		}
	}
	return out
}

// fulcioSigned returns entries each signed with its own Fulcio-style
// certificate (benchCerts of them).
func fulcioSigned(b *testing.B, build entryBuilder) [][]byte {
	ca := identitytest.NewCA(b, "bench")
	var out [][]byte
	for i := range benchCerts {
		s := ca.Issue(b, identitytest.CertOptions{
			Emails: []string{fmt.Sprintf("dev%d@example.com", i)},
			Extensions: map[string]string{
				identity.OIDIssuer:       "https://accounts.example.com",
				"1.3.6.1.4.1.57264.1.9":  "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main",
				"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app",
				"1.3.6.1.4.1.57264.1.13": "0123456789abcdef0123456789abcdef01234567",
			},
		})
		// cosign uploads the leaf certificate alone.
		s.Chain = nil
		out = append(out, build(b, s, fmt.Appendf(nil, "artifact %d", i)))
	}
	return out
}

func runMatchBench(b *testing.B, bodies [][]byte, parse func(*identity.Parser, []byte) ([]identity.Identity, error)) {
	runMatchBenchN(b, len(bodies), func(p *identity.Parser, i int) ([]identity.Identity, error) { return parse(p, bodies[i]) })
}

// runMatchBenchN parses entry i mod n of a set of n entries with parse and
// matches it against benchRules, in parallel, and reports entries/s and
// entries/cpu-s.
func runMatchBenchN(b *testing.B, n int, parse func(p *identity.Parser, i int) ([]identity.Identity, error)) {
	m, err := identity.Compile(benchRules())
	if err != nil {
		b.Fatal(err)
	}
	p := identity.NewParser(benchCache)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	// One shared cursor: the goroutines walk the bodies in a single
	// cyclic order, so the cache sees each distinct certificate as often
	// as a scanner reading the log would.
	var next atomic.Uint64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			ids, err := parse(p, int(i%uint64(n)))
			if err != nil {
				b.Error(err)
				return
			}
			if r := m.Match(ids); len(r.Watched) != 0 {
				b.Errorf("unexpected hit %+v", r.Watched)
				return
			}
		}
	})
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	// CPU time is robust against other load on the machine: on an idle
	// machine with k cores, throughput is about k times entries/cpu-s.
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "entries/cpu-s")
}

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
