package monitor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vigil-tlog/vigil/internal/config"
)

// TestFollowShards: with trust.follow_shards, every transparency log of the
// trust material that is valid now and not configured becomes a Rekor v2
// log whose origin is its host.
func TestFollowShards(t *testing.T) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tl := func(url string, start, end time.Time) *root.TransparencyLog {
		return &root.TransparencyLog{BaseURL: url, ValidityPeriodStart: start, ValidityPeriodEnd: end, PublicKey: key.Public()}
	}
	trust := trustedLogs{
		"a": tl("https://rekor.example.com", now.Add(-time.Hour), time.Time{}),                      // configured as v1
		"b": tl("https://log2026-1.rekor.example.com", now.Add(-time.Hour), time.Time{}),            // a shard
		"c": tl("https://log2026-2.rekor.example.com/", now.Add(-time.Minute), time.Time{}),         // another
		"d": tl("https://log2025-1.rekor.example.com", now.Add(-48*time.Hour), now.Add(-time.Hour)), // retired
		"e": tl("https://log2027-1.rekor.example.com", now.Add(time.Hour), time.Time{}),             // not yet
	}
	configured := []config.Log{{Name: "rekor", Kind: config.KindRekorV1, URL: "https://rekor.example.com", Origin: "rekor.example.com"}}
	got := trust.shards(configured, now)
	want := []string{
		"rekor-v2-log2026-1-rekor-example-com rekor-v2 https://log2026-1.rekor.example.com log2026-1.rekor.example.com",
		"rekor-v2-log2026-2-rekor-example-com rekor-v2 https://log2026-2.rekor.example.com/ log2026-2.rekor.example.com",
	}
	if len(got) != len(want) {
		t.Fatalf("shards = %v, want %d", got, len(want))
	}
	for i, l := range got {
		if s := fmt.Sprintf("%s %s %s %s", l.Name, l.Kind, l.URL, l.Origin); s != want[i] {
			t.Errorf("shard %d = %s, want %s", i, s, want[i])
		}
	}

}
