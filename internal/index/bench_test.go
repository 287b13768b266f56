package index_test

import (
	"flag"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/index/indextest"
)

var addPreload = flag.Int("add-preload", 100000, "BenchmarkAdd: entries in the index before it measures")

// BenchmarkAdd measures Add of generated entries (the Mixed profile) in
// batches of 1000, 5000 and 20000, as the monitor adds a scanned chunk, to
// an index that already holds -add-preload entries (tools/indexbench
// measures a million): entries per second and the CPU seconds this process
// spends per 100,000 entries (for PostgreSQL, the client's share).
func BenchmarkAdd(b *testing.B) {
	for _, be := range backends {
		for _, batch := range []int{1000, 5000, 20000} {
			b.Run(fmt.Sprintf("%s/batch=%d", be.name, batch), func(b *testing.B) {
				s := open(b, be.fresh(b))
				g := &indextest.Generator{Log: "rekor", Start: t0}
				next := uint64(0)
				for ; next < uint64(*addPreload); next += 20000 {
					if err := s.Add(b.Context(), g.Records(next, 20000)); err != nil {
						b.Fatal(err)
					}
				}
				var took, cpu time.Duration
				n := 0
				for b.Loop() {
					b.StopTimer()
					recs := g.Records(next, batch)
					b.StartTimer()
					start, cpu0 := time.Now(), cpuTime()
					if err := s.Add(b.Context(), recs); err != nil {
						b.Fatal(err)
					}
					took += time.Since(start)
					cpu += cpuTime() - cpu0
					next += uint64(batch)
					n += batch
				}
				b.ReportMetric(float64(n)/took.Seconds(), "entries/s")
				b.ReportMetric(cpu.Seconds()*1e5/float64(n), "cpu-s/100k")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSearch measures the first page of subject, digest, fingerprint
// and issuer queries over 100,000 generated entries.
func BenchmarkSearch(b *testing.B) {
	const n = 100000
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.fresh(b))
			g := &indextest.Generator{Log: "rekor", Start: t0}
			for from := uint64(0); from < n; from += 5000 {
				if err := s.Add(b.Context(), g.Records(from, 5000)); err != nil {
					b.Fatal(err)
				}
			}
			for _, k := range []struct {
				name string
				q    func(i int) index.Query
			}{
				{"subject", func(i int) index.Query { return index.Query{Subject: indextest.WorkflowSubject(i % 300)} }},
				{"digest", func(i int) index.Query { return index.Query{Digest: g.Digest(uint64(i*7919) % n)} }},
				{"fingerprint", func(i int) index.Query {
					return index.Query{Fingerprint: g.Record(uint64(i*7919) % n).Identities[0].KeyFingerprint}
				}},
				{"issuer", func(i int) index.Query { return index.Query{Issuer: indextest.EmailIssuer(i % 3)} }},
			} {
				b.Run(k.name, func(b *testing.B) {
					qs := make([]index.Query, 1000)
					for i := range qs {
						qs[i] = k.q(i)
					}
					i := 0
					for b.Loop() {
						p, err := s.Search(b.Context(), qs[i%len(qs)])
						if err != nil || len(p.Results) == 0 {
							b.Fatal(fmt.Sprint(p.Results, err))
						}
						i++
					}
				})
			}
		})
	}
}
