package audit_test

import (
	"testing"

	"github.com/vigil-tlog/vigil/internal/audit"
)

// BenchmarkAuditBundle audits 10,000 bundles per iteration: entries of an
// in-process Rekor v2 log (tiles over HTTP on loopback, read by the real
// rekorv2 reader), with checkpoints at every 100th size up to the
// monitor's verified one, so that each audit verifies a signature and an
// inclusion proof and fetches and verifies a consistency proof from tiles.
// It reports bundles/s.
func BenchmarkAuditBundle(b *testing.B) {
	const n = 10_000
	m := newMemLog(b)
	m.fill(b, n)
	head := m.publish(b)
	dir := b.TempDir()
	saveState(b, dir, "mem", m.origin, head)
	a := newAuditor(b, m, dir, nil)
	cps := map[int64][]byte{}
	bundles := make([][]byte, n)
	for i := range int64(n) {
		size := (i/100 + 1) * 100
		if cps[size] == nil {
			cps[size] = m.sign(b, size)
		}
		bundles[i] = m.bundle(b, i, size, cps[size])
	}
	b.ResetTimer()
	for b.Loop() {
		for _, bu := range bundles {
			if r := a.Audit(b.Context(), "b.json", bu); r.Verdict != audit.Consistent {
				b.Fatalf("verdict %s: %s", r.Verdict, r.Error)
			}
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "bundles/s")
}
