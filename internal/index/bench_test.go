package index_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/index/indextest"
)

// BenchmarkAdd measures adding generated entries (the Mixed profile) in
// batches of 1000 to an index that grows with b.N. tools/indexbench
// measures a million.
func BenchmarkAdd(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.fresh(b))
			g := &indextest.Generator{Log: "rekor", Start: t0}
			const batch = 1000
			next := uint64(0)
			start := time.Now()
			for b.Loop() {
				b.StopTimer()
				recs := g.Records(next, batch)
				b.StartTimer()
				if err := s.Add(b.Context(), recs); err != nil {
					b.Fatal(err)
				}
				next += batch
			}
			b.ReportMetric(float64(next)/time.Since(start).Seconds(), "entries/s")
			b.ReportMetric(0, "ns/op")
		})
	}
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
