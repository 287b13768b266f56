package ctleaf_test

import (
	"testing"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/identity"
)

// BenchmarkEntryIdentities measures the identity of a precertificate and
// of an X.509 entry as a log serves them, through a warm Parser.
func BenchmarkEntryIdentities(b *testing.B) {
	f := newFixture(b)
	p := identity.NewParser(64)
	for _, bc := range []struct {
		name  string
		index uint64
	}{{"precert", f.issued.Index}, {"x509", f.x509Index}} {
		leaf, extra := f.log.Entry(bc.index)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ctleaf.EntryIdentities(p, leaf, extra); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("LeafKey", func(b *testing.B) {
		leaf, _ := f.log.Entry(f.issued.Index)
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := ctleaf.LeafKey(leaf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
