package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

func snapshotOf(tr *tuftest.TrustedRoot, sc *tuftest.SigningConfig) *Snapshot {
	s := &Snapshot{TrustedRoot: tr.JSON()}
	if sc != nil {
		s.SigningConfig = sc.JSON()
	}
	return s
}

func TestDiffUnchanged(t *testing.T) {
	tr, sc := tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t)
	a, b := snapshotOf(tr, sc), snapshotOf(tr, sc)
	changes, err := Diff(a, b)
	if err != nil || len(changes) != 0 {
		t.Errorf("Diff(same material) = %v, %v, want none", changes, err)
	}
	changes, err = Diff(nil, nil)
	if err != nil || len(changes) != 0 {
		t.Errorf("Diff(nil, nil) = %v, %v, want none", changes, err)
	}
}

func TestDiffFromNothing(t *testing.T) {
	tr, sc := tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t)
	changes, err := Diff(nil, snapshotOf(tr, sc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		if c.Op != OpAdded || c.Before != nil || c.After == nil {
			t.Errorf("change %v from nothing is not an addition", c)
		}
		got = append(got, c.Instance+" "+c.service())
	}
	want := []string{
		"rekor_log ", "rekor_log ", "fulcio_ca ",
		// Signing config URLs by service, then URL.
		"signing_config_url ca", "signing_config_url oidc", "signing_config_url rekor", "signing_config_url rekor",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff(nil, sample) kinds (-want +got):\n%s", diff)
	}
	// And back: everything removed.
	changes, err = Diff(snapshotOf(tr, sc), nil)
	if err != nil || len(changes) != len(want) {
		t.Fatalf("Diff(sample, nil) = %d changes, %v; want %d", len(changes), err, len(want))
	}
	for _, c := range changes {
		if c.Op != OpRemoved || c.After != nil {
			t.Errorf("change %v to nothing is not a removal", c)
		}
	}
}

func TestDiffTrustedRoot(t *testing.T) {
	tr, sc := tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t)
	before := snapshotOf(tr, sc)
	// The Rekor v1 log is first in the sample; find its ID.
	pre, err := before.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	var v1ID string
	for id, l := range pre.RekorLogs() {
		if l.BaseURL == tuftest.RekorV1URL {
			v1ID = id
		}
	}

	end := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shard := tr.AddRekorV2("https://log2026-1.rekor.example.test", start)
	tr.EndLog(v1ID, end)
	ct := tr.AddCTLog("https://ctfe.example.test", start)
	tsa := tr.AddTSA("https://tsa.example.test", start)
	after := snapshotOf(tr, sc)

	changes, err := Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	tsaSum := sha256.Sum256(tsa.Raw)
	tsaID := "CN=tsa,O=example.test sha256:" + hex.EncodeToString(tsaSum[:])
	type brief struct{ Op, Instance, ID string }
	var got []brief
	for _, c := range changes {
		got = append(got, brief{c.Op, c.Instance, c.ID})
	}
	want := []brief{
		{OpChanged, InstanceRekorLog, v1ID},
		{OpAdded, InstanceRekorLog, shard},
		{OpAdded, InstanceCTLog, ct},
		{OpAdded, InstanceTSA, tsaID},
	}
	// Rekor logs are ordered by ID.
	if shard < v1ID {
		want[0], want[1] = want[1], want[0]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Diff (-want +got):\n%s", diff)
	}

	for _, c := range changes {
		switch c.ID {
		case v1ID:
			if c.Before["valid_until"] != "" || c.After["valid_until"] != "2026-06-01T00:00:00Z" {
				t.Errorf("changed log valid_until %q -> %q, want \"\" -> 2026-06-01T00:00:00Z", c.Before["valid_until"], c.After["valid_until"])
			}
			if s := c.String(); s != "rekor_log changed "+v1ID+`: valid_until "" -> "2026-06-01T00:00:00Z"` {
				t.Errorf("String() = %q", s)
			}
		case shard:
			wantFields := map[string]string{
				"key_id":            shard,
				"base_url":          "https://log2026-1.rekor.example.test",
				"valid_from":        "2026-01-01T00:00:00Z",
				"public_key_sha256": c.After["public_key_sha256"],
			}
			if diff := cmp.Diff(wantFields, c.After); diff != "" || len(c.After["public_key_sha256"]) != 64 {
				t.Errorf("added shard fields (-want +got):\n%s", diff)
			}
			if s := c.String(); !strings.HasPrefix(s, "rekor_log added "+shard+": base_url=https://log2026-1.rekor.example.test key_id=") {
				t.Errorf("String() = %q", s)
			}
		case tsaID:
			if c.After["subject"] != "CN=tsa,O=example.test" || c.After["url"] != "https://tsa.example.test" {
				t.Errorf("TSA fields = %v", c.After)
			}
		}
	}
}

func TestDiffCAChanges(t *testing.T) {
	tr := tuftest.NewTrustedRoot(t)
	before := snapshotOf(tr, nil)
	tr2 := tuftest.NewTrustedRoot(t) // a different, fresh Fulcio CA (and logs)
	changes, err := Diff(before, snapshotOf(tr2, nil))
	if err != nil {
		t.Fatal(err)
	}
	var added, removed int
	for _, c := range changes {
		if c.Instance != InstanceFulcioCA {
			continue
		}
		switch c.Op {
		case OpAdded:
			added++
		case OpRemoved:
			removed++
		}
		if !strings.HasPrefix(c.ID, "CN=fulcio,O=example.test sha256:") {
			t.Errorf("CA ID = %q", c.ID)
		}
	}
	if added != 1 || removed != 1 {
		t.Errorf("a replaced CA is %d added, %d removed; want 1, 1", added, removed)
	}
}

func TestDiffSigningConfig(t *testing.T) {
	tr, sc := tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t)
	trJSON := tr.JSON()
	before := &Snapshot{TrustedRoot: trJSON, SigningConfig: sc.JSON()}
	sc.AddRekor("https://log2026-1.rekor.example.test", 2, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sc.EndRekor(tuftest.RekorV1URL, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	after := &Snapshot{TrustedRoot: trJSON, SigningConfig: sc.JSON()}

	changes, err := Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		got = append(got, c.String())
	}
	want := []string{
		"signing_config_url added https://log2026-1.rekor.example.test: api_version=2 operator=example.test service=rekor url=https://log2026-1.rekor.example.test valid_from=2026-01-01T00:00:00Z",
		`signing_config_url changed https://rekor.example.test: valid_until "" -> "2026-03-01T00:00:00Z"`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Diff of signing configs (-want +got):\n%s", diff)
	}

	// Dropping the signing config removes its services.
	changes, err = Diff(after, &Snapshot{TrustedRoot: trJSON})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 5 {
		t.Errorf("dropping the signing config: %d changes, want 5 removals", len(changes))
	}
}

func TestDiffDeterministic(t *testing.T) {
	tr, sc := tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	before := snapshotOf(tr, sc)
	for i := range 5 {
		tr.AddRekorV2("https://shard"+string(rune('a'+i))+".example.test", start)
		sc.AddRekor("https://shard"+string(rune('a'+i))+".example.test", 2, start)
	}
	after := snapshotOf(tr, sc)
	first, err := Diff(before, after)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		again, err := Diff(before, after)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, again); diff != "" {
			t.Fatalf("Diff is not deterministic (-first +again):\n%s", diff)
		}
	}
}

func TestDiffDuplicateIDs(t *testing.T) {
	tr := tuftest.NewTrustedRoot(t)
	sc := tuftest.NewSigningConfig(t)
	before := snapshotOf(tr, sc)
	sc.AddRekor(tuftest.RekorV1URL, 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	changes, err := Diff(before, snapshotOf(tr, sc))
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Op != OpAdded || changes[0].ID != tuftest.RekorV1URL+" #2" {
		t.Errorf("a second service at the same URL = %v, want one addition with ID %q", changes, tuftest.RekorV1URL+" #2")
	}
}

func TestDiffErrors(t *testing.T) {
	good := snapshotOf(tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t))
	for _, bad := range []*Snapshot{
		{TrustedRoot: []byte("not json")},
		{TrustedRoot: good.TrustedRoot, SigningConfig: []byte("[]")},
	} {
		if _, err := Diff(good, bad); err == nil {
			t.Errorf("Diff(good, %q/%q) succeeded, want error", bad.TrustedRoot, bad.SigningConfig)
		}
		if _, err := Diff(bad, good); err == nil {
			t.Errorf("Diff(%q/%q, good) succeeded, want error", bad.TrustedRoot, bad.SigningConfig)
		}
	}
}
