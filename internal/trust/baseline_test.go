package trust

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

// TestNewShard follows a new Rekor shard from the TUF repository to the
// trust_changed decision: reported, unapproved, approved once the operator
// approves the new material.
func TestNewShard(t *testing.T) {
	repo := tuftest.New(t)
	w := newWatcher(t, repo, t.TempDir())
	old := mustUpdate(t, w)
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := SaveBaseline(path, old); err != nil {
		t.Fatalf("SaveBaseline: %v", err)
	}

	tr := repo.TrustedRoot()
	shard := tr.AddRekorV2("https://log2026-1.rekor.example.test", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	repo.SetTarget(tuftest.TrustedRootTarget, tr.JSON())
	repo.Publish()
	cur := mustUpdate(t, w)

	changes, err := Diff(old, cur)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}
	if len(changes) != 1 {
		t.Fatalf("Diff = %v, want one change", changes)
	}
	c := changes[0]
	if c.Op != OpAdded || c.Instance != InstanceRekorLog || c.ID != shard || c.After["base_url"] != "https://log2026-1.rekor.example.test" {
		t.Fatalf("Diff = %v, want rekor_log %s added", c, shard)
	}

	b, err := LoadBaseline(path)
	if err != nil {
		t.Fatalf("LoadBaseline: %v", err)
	}
	if b.Approved(c) {
		t.Errorf("the baseline from before the shard approves %v", c)
	}

	if err := SaveBaseline(path, cur); err != nil {
		t.Fatalf("SaveBaseline: %v", err)
	}
	b, err = LoadBaseline(path)
	if err != nil {
		t.Fatalf("LoadBaseline: %v", err)
	}
	if !b.Approved(c) {
		t.Errorf("the baseline with the shard does not approve %v", c)
	}
	if d, err := Diff(b.Snapshot(), cur); err != nil || len(d) != 0 {
		t.Errorf("Diff(baseline, current) = %v, %v; want none", d, err)
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	repo := tuftest.New(t)
	s := mustUpdate(t, newWatcher(t, repo, t.TempDir()))
	path := filepath.Join(t.TempDir(), "baseline.json")
	before := time.Now().Add(-time.Second)
	if err := SaveBaseline(path, s); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("baseline mode = %v, want 0600", fi.Mode().Perm())
	}
	b, err := LoadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.TrustedRoot, s.TrustedRoot) || !bytes.Equal(b.SigningConfig, s.SigningConfig) {
		t.Errorf("baseline material differs from the snapshot's raw bytes")
	}
	if diff := cmp.Diff(s.Roles, b.Roles); diff != "" {
		t.Errorf("baseline roles (-snapshot +baseline):\n%s", diff)
	}
	if b.ApprovedAt.Before(before) || b.ApprovedAt.After(time.Now()) {
		t.Errorf("ApprovedAt = %v, want about now", b.ApprovedAt)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("baseline directory holds %d files, want 1 (no temp files)", len(entries))
	}
}

func TestLoadBaselineMissing(t *testing.T) {
	b, err := LoadBaseline(filepath.Join(t.TempDir(), "nope.json"))
	if b != nil || err != nil {
		t.Errorf("LoadBaseline(missing) = %v, %v; want nil, nil", b, err)
	}
	var none *Baseline
	if none.Approved(Change{Op: OpRemoved, Instance: InstanceRekorLog, ID: "x"}) {
		t.Errorf("a nil baseline approves a change")
	}
}

func TestLoadBaselineBad(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"not json":      "{",
		"wrong format":  `{"format": 2, "trusted_root": "e30="}`,
		"no root":       `{"format": 1}`,
		"unparseable":   `{"format": 1, "trusted_root": "bm90IGpzb24="}`,
		"bad signing":   `{"format": 1, "trusted_root": "e30=", "signing_config": "W10="}`,
		"wrong base64 ": `{"format": 1, "trusted_root": "!!"}`,
	} {
		path := filepath.Join(dir, "b.json")
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if b, err := LoadBaseline(path); err == nil {
			t.Errorf("%s: LoadBaseline = %+v, want error", name, b)
		}
	}
	if err := SaveBaseline(filepath.Join(dir, "x.json"), nil); err == nil {
		t.Errorf("SaveBaseline(nil) succeeded")
	}
	if err := SaveBaseline(filepath.Join(dir, "x.json"), &Snapshot{TrustedRoot: []byte("garbage")}); err == nil {
		t.Errorf("SaveBaseline(garbage) succeeded")
	}
	if err := SaveBaseline(filepath.Join(dir, "missing", "x.json"), snapshotOf(tuftest.NewTrustedRoot(t), nil)); err == nil {
		t.Errorf("SaveBaseline into a missing directory succeeded")
	}
}

func TestBaselineApproved(t *testing.T) {
	tr, sc := tuftest.NewTrustedRoot(t), tuftest.NewSigningConfig(t)
	orig := snapshotOf(tr, sc)
	pre, err := orig.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	var v1ID string
	for id, l := range pre.RekorLogs() {
		if l.BaseURL == tuftest.RekorV1URL {
			v1ID = id
		}
	}

	// The operator approves the end of the v1 log's validity...
	tr.EndLog(v1ID, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	approvedSnap := snapshotOf(tr, sc)
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := SaveBaseline(path, approvedSnap); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBaseline(path)
	if err != nil {
		t.Fatal(err)
	}

	// ...and the mirror then publishes that, or something else.
	changes, err := Diff(orig, approvedSnap)
	if err != nil || len(changes) != 1 {
		t.Fatalf("Diff = %v, %v; want one change", changes, err)
	}
	if !b.Approved(changes[0]) {
		t.Errorf("approved validity change %v is not approved", changes[0])
	}

	tr.EndLog(v1ID, time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC))
	other := snapshotOf(tr, sc)
	changes, err = Diff(orig, other)
	if err != nil || len(changes) != 1 {
		t.Fatalf("Diff = %v, %v; want one change", changes, err)
	}
	if b.Approved(changes[0]) {
		t.Errorf("validity change %v to another end than the approved one is approved", changes[0])
	}

	// Removals: approved when the baseline lacks the instance.
	tr.RemoveLog(v1ID)
	removed := snapshotOf(tr, sc)
	changes, err = Diff(approvedSnap, removed)
	if err != nil || len(changes) != 1 || changes[0].Op != OpRemoved {
		t.Fatalf("Diff = %v, %v; want one removal", changes, err)
	}
	if b.Approved(changes[0]) {
		t.Errorf("removal %v of a log the baseline has is approved", changes[0])
	}
	if err := SaveBaseline(path, removed); err != nil {
		t.Fatal(err)
	}
	if b, err = LoadBaseline(path); err != nil {
		t.Fatal(err)
	}
	if !b.Approved(changes[0]) {
		t.Errorf("removal %v is not approved by a baseline without the log", changes[0])
	}
	literal := &Baseline{Format: 1, TrustedRoot: removed.TrustedRoot, SigningConfig: removed.SigningConfig}
	if !literal.Approved(changes[0]) {
		t.Errorf("a Baseline literal does not approve removal %v", changes[0])
	}
	if (&Baseline{TrustedRoot: []byte("garbage")}).Approved(changes[0]) {
		t.Errorf("a Baseline with unparseable material approves %v", changes[0])
	}
	if b.Approved(Change{Op: "renamed", Instance: InstanceRekorLog, ID: v1ID}) {
		t.Errorf("an unknown op is approved")
	}
}
