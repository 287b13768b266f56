package monitor

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// TestFollowShards: with trust.follow_shards, every transparency log of the
// trust material that is valid now and not configured is followed, as the
// kind the signing config's API version gives its URL; a log without one is
// not followed, never guessed.
func TestFollowShards(t *testing.T) {
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tl := func(url string, start, end time.Time) *root.TransparencyLog {
		return &root.TransparencyLog{BaseURL: url, ValidityPeriodStart: start, ValidityPeriodEnd: end, PublicKey: key.Public()}
	}
	logs := trustedLogs{
		"a": tl("https://rekor.example.com", now.Add(-time.Hour), time.Time{}),                      // configured as v1
		"b": tl("https://log2026-1.rekor.example.com", now.Add(-time.Hour), time.Time{}),            // a shard
		"c": tl("https://log2026-2.rekor.example.com/", now.Add(-time.Minute), time.Time{}),         // another
		"d": tl("https://log2025-1.rekor.example.com", now.Add(-48*time.Hour), now.Add(-time.Hour)), // retired
		"e": tl("https://log2027-1.rekor.example.com", now.Add(time.Hour), time.Time{}),             // not yet
		"f": tl("https://rekor.other.example", now.Add(-time.Hour), time.Time{}),                    // a v1 log
		"g": tl("https://unlisted.example", now.Add(-time.Hour), time.Time{}),                       // not in the signing config
	}
	versions := map[string]uint32{
		"https://rekor.example.com": 1, "https://log2026-1.rekor.example.com": 2, "https://log2026-2.rekor.example.com": 2,
		"https://log2025-1.rekor.example.com": 2, "https://log2027-1.rekor.example.com": 2, "https://rekor.other.example": 1,
	}
	configured := []config.Log{{Name: "rekor", Kind: config.KindRekorV1, URL: "https://rekor.example.com", Origin: "rekor.example.com"}}
	got, skipped := (&trustMaterial{logs: logs, apiVersions: versions}).shards(configured, now)
	want := []string{
		"rekor-v2-log2026-1-rekor-example-com rekor-v2 https://log2026-1.rekor.example.com log2026-1.rekor.example.com",
		"rekor-v2-log2026-2-rekor-example-com rekor-v2 https://log2026-2.rekor.example.com/ log2026-2.rekor.example.com",
		"rekor-v1-rekor-other-example rekor-v1 https://rekor.other.example rekor.other.example",
	}
	if len(got) != len(want) {
		t.Fatalf("shards = %v, want %d", got, len(want))
	}
	for i, l := range got {
		if s := fmt.Sprintf("%s %s %s %s", l.Name, l.Kind, l.URL, l.Origin); s != want[i] {
			t.Errorf("shard %d = %s, want %s", i, s, want[i])
		}
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "https://unlisted.example") || !strings.Contains(skipped[0], "does not list it") {
		t.Errorf("skipped = %q, want the unlisted log with the reason", skipped)
	}

	// Without a signing config nothing is followed.
	got, skipped = (&trustMaterial{logs: logs}).shards(configured, now)
	if len(got) != 0 || len(skipped) != 4 {
		t.Errorf("shards without a signing config = %v, skipped %q; want none followed, 4 skipped", got, skipped)
	}
}

// Sigstore's public-good trust material (trusted_root.json and signing
// config v0.2, as its TUF repository distributes them), cut to the Rekor
// logs: rekor.sigstore.dev is a Rekor v1 log, log2025-1 a Rekor v2 log.
const (
	publicGoodTrustedRoot = `{
  "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
  "tlogs": [
    {
      "baseUrl": "https://rekor.sigstore.dev",
      "hashAlgorithm": "SHA2_256",
      "publicKey": {
        "rawBytes": "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwrkBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==",
        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
        "validFor": {"start": "2021-01-12T11:53:27Z"}
      },
      "logId": {"keyId": "wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="}
    },
    {
      "baseUrl": "https://log2025-1.rekor.sigstore.dev",
      "hashAlgorithm": "SHA2_256",
      "publicKey": {
        "rawBytes": "MCowBQYDK2VwAyEAt8rlp1knGwjfbcXAYPYAkn0XiLz1x8O4t0YkEhie244=",
        "keyDetails": "PKIX_ED25519",
        "validFor": {"start": "2025-09-23T00:00:00Z"}
      },
      "logId": {"keyId": "zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A="}
    }
  ],
  "certificateAuthorities": [],
  "ctlogs": [],
  "timestampAuthorities": []
}`
	publicGoodSigningConfig = `{
  "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
  "caUrls": [{"url": "https://fulcio.sigstore.dev", "majorApiVersion": 1, "validFor": {"start": "2023-04-14T21:38:40Z"}, "operator": "sigstore.dev"}],
  "oidcUrls": [{"url": "https://oauth2.sigstore.dev/auth", "majorApiVersion": 1, "validFor": {"start": "2025-04-16T00:00:00Z"}, "operator": "sigstore.dev"}],
  "rekorTlogUrls": [
    {"url": "https://log2025-1.rekor.sigstore.dev", "majorApiVersion": 2, "validFor": {"start": "2025-09-23T00:00:00Z"}, "operator": "sigstore.dev"},
    {"url": "https://rekor.sigstore.dev", "majorApiVersion": 1, "validFor": {"start": "2021-01-12T11:53:27Z"}, "operator": "sigstore.dev"}
  ],
  "rekorTlogConfig": {"selector": "ANY"},
  "tsaUrls": [{"url": "https://timestamp.sigstore.dev/api/v1/timestamp", "majorApiVersion": 1, "validFor": {"start": "2025-07-04T00:00:00Z"}, "operator": "sigstore.dev"}],
  "tsaConfig": {"selector": "ANY"}
}`
)

// TestFollowShardsPublicGood: with the public-good trust material and no
// log configured, rekor.sigstore.dev is followed as the Rekor v1 log it is,
// never as a Rekor v2 log with origin rekor.sigstore.dev, and log2025-1 as
// Rekor v2 with the key ID its trusted root gives it.
func TestFollowShardsPublicGood(t *testing.T) {
	dir := t.TempDir()
	rootFile, scFile := filepath.Join(dir, "trusted_root.json"), filepath.Join(dir, "signing_config.json")
	if err := os.WriteFile(rootFile, []byte(publicGoodTrustedRoot), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(scFile, []byte(publicGoodSigningConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tm, err := loadTrust(config.Trust{TrustedRootFile: rootFile, SigningConfigFile: scFile, FollowShards: true}, dir, "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	got, skipped := tm.shards(nil, time.Now())
	if len(skipped) != 0 || len(got) != 2 {
		t.Fatalf("shards = %v, skipped %q; want both logs", got, skipped)
	}
	want := map[string]config.Kind{"https://log2025-1.rekor.sigstore.dev": config.KindRekorV2, "https://rekor.sigstore.dev": config.KindRekorV1}
	for _, l := range got {
		if want[l.URL] != l.Kind {
			t.Errorf("%s followed as %s, want %s", l.URL, l.Kind, want[l.URL])
		}
		src, err := kinds[l.Kind](tlog.Options{URL: l.URL, Origin: l.Origin, Client: http.DefaultClient})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := logKeys(l, src, tm.logs, time.Now())
		if err != nil {
			t.Fatalf("keys of %s: %v", l.URL, err)
		}
		wantID := map[string]string{"https://log2025-1.rekor.sigstore.dev": "cf1199155bddd051268d1f16ac5c0c75c009f6fb5a63f4177f8e18d7051e3fa0",
			"https://rekor.sigstore.dev": "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"}[l.URL]
		if keys.KeyID != wantID {
			t.Errorf("key ID of %s = %s, want the trusted root's log ID %s", l.URL, keys.KeyID, wantID)
		}
	}
}
