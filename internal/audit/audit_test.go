package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/state"
)

// saveState records cp as the verified checkpoint of log name in dir, as
// the monitor does.
func saveState(tb testing.TB, dir, name, origin string, cp []byte) {
	tb.Helper()
	st, err := state.Open(dir)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	if err := st.Update(name, func(*state.State) (*state.State, error) {
		return &state.State{Log: name, Origin: origin, Checkpoint: cp, VerifiedAt: now, AdvancedAt: now}, nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// fork returns a bundle for entry i of m whose checkpoint is a fork signed
// with the log's key: a tree of size whose leaf i is the real entry and
// whose other leaves differ from the log's.
func (m *memLog) fork(tb testing.TB, i, size int64) []byte {
	tb.Helper()
	t := testonly.New(rfc6962.DefaultHasher)
	m.mu.Lock()
	for j := range size {
		if j == i {
			t.AppendData(m.bodies[i])
			continue
		}
		t.AppendData([]byte("forked leaf " + string(rune('a'+j%26)) + time.Now().String()))
	}
	body := m.bodies[i]
	m.mu.Unlock()
	p, err := t.InclusionProof(uint64(i), uint64(size))
	if err != nil {
		tb.Fatal(err)
	}
	cp := m.signRoot(tb, size, t.Hash())
	return makeBundle(tb, m.keyID(tb), body, i, size, t.Hash(), p, cp)
}

func newAuditor(tb testing.TB, m *memLog, dir string, ar audit.Archive) *audit.Auditor {
	tb.Helper()
	a, err := audit.New(audit.Config{Logs: []audit.Log{m.auditLog(tb, "mem")}, StateDir: dir, Archive: ar, Timeout: 10 * time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestAuditConsistent(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 300)
	head := m.publish(t)
	dir := t.TempDir()
	saveState(t, dir, "mem", m.origin, head)
	a := newAuditor(t, m, dir, nil)

	cp100 := m.sign(t, 100)
	for _, tc := range []struct {
		name       string
		bundle     []byte
		source     string
		sourceSize uint64
	}{
		{"older tree, proven to the saved checkpoint", m.bundle(t, 5, 100, cp100), "state", 300},
		{"the saved checkpoint itself", m.bundle(t, 250, 300, head), "state", 300},
		{"last leaf", m.bundle(t, 299, 300, head), "state", 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.Audit(t.Context(), "b.json", tc.bundle)
			if r.Verdict != audit.Consistent {
				t.Fatalf("verdict %s: %s", r.Verdict, r.Error)
			}
			p := r.Entries[0].ProvenAgainst
			if p == nil || p.Source != tc.source || p.TreeSize != tc.sourceSize {
				t.Errorf("proven against %+v, want %s@%d", p, tc.source, tc.sourceSize)
			}
		})
	}

	// A bundle newer than what the monitor verified: the log proves the
	// saved tree a prefix of the bundle's.
	m.fill(t, 50)
	head350 := m.publish(t)
	r := a.Audit(t.Context(), "b.json", m.bundle(t, 320, 350, head350))
	if r.Verdict != audit.Consistent {
		t.Fatalf("newer bundle: verdict %s: %s", r.Verdict, r.Error)
	}
	if p := r.Entries[0].ProvenAgainst; p.Source != "state" || p.TreeSize != 300 {
		t.Errorf("newer bundle proven against %+v, want state@300", p)
	}
}

func TestAuditSplitView(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 300)
	head := m.publish(t)
	dir := t.TempDir()
	saveState(t, dir, "mem", m.origin, head)
	a := newAuditor(t, m, dir, nil)

	for _, tc := range []struct {
		name      string
		size      int64
		wantProof bool
	}{
		{"same size as verified", 300, false},
		{"smaller than verified: the log's proof fails", 100, true},
		{"larger than the log", 400, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.Audit(t.Context(), "fork.json", m.fork(t, 7, tc.size))
			if r.Verdict != audit.SplitView {
				t.Fatalf("verdict %s (%s), want split_view", r.Verdict, r.Error)
			}
			var ie *checkpoint.IntegrityError
			if err := r.Err(); !errors.As(err, &ie) || ie.Reason != checkpoint.ReasonSplitView {
				t.Fatalf("Err() = %v, want an IntegrityError with reason split_view", err)
			}
			ev := r.Entries[0].Evidence
			if ev == nil || ev.NewCheckpoint != r.Entries[0].Checkpoint || ev.OldCheckpoint == "" {
				t.Fatalf("evidence %+v: want the bundle's checkpoint as new and a verified one as old", ev)
			}
			if got := len(ev.Proof) > 0; got != tc.wantProof {
				t.Errorf("evidence has a proof: %v, want %v", got, tc.wantProof)
			}
		})
	}
}

func TestAuditArchiveDecidesWithoutTheLog(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 300)
	head := m.publish(t)
	dir := t.TempDir()
	saveState(t, dir, "mem", m.origin, head)
	ar, err := archive.Open(state.ArchiveDir(dir), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer ar.Close()
	cp100 := m.sign(t, 100)
	if err := ar.Add("mem", archive.Entry{Size: 100, Root: m.rootAt(t, 100), Note: cp100, Time: time.Now()}); err != nil {
		t.Fatal(err)
	}
	good, forked := m.bundle(t, 5, 100, cp100), m.fork(t, 5, 100)
	unproven := m.bundle(t, 5, 150, m.sign(t, 150))
	m.srv.Close() // the log is gone
	a := newAuditor(t, m, dir, archive.OpenReader(state.ArchiveDir(dir)))

	if r := a.Audit(t.Context(), "good.json", good); r.Verdict != audit.Consistent || r.Entries[0].ProvenAgainst.Source != "archive" {
		t.Errorf("archived size: verdict %s (%s), proven against %+v", r.Verdict, r.Error, r.Entries[0].ProvenAgainst)
	}
	if r := a.Audit(t.Context(), "fork.json", forked); r.Verdict != audit.SplitView {
		t.Errorf("fork of an archived size: verdict %s (%s), want split_view", r.Verdict, r.Error)
	}
	r := a.Audit(t.Context(), "unproven.json", unproven)
	var ue *audit.UnavailableError
	if r.Verdict != audit.NoVerdict || !errors.As(r.Err(), &ue) {
		t.Errorf("size nothing verified decides, log down: verdict %s (%v), want no_verdict", r.Verdict, r.Err())
	}
}

func TestAuditNothingVerified(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 10)
	head := m.publish(t)
	a := newAuditor(t, m, t.TempDir(), nil)
	r := a.Audit(t.Context(), "b.json", m.bundle(t, 1, 10, head))
	if r.Verdict != audit.NoVerdict || !strings.Contains(r.Error, "run the monitor first") {
		t.Errorf("verdict %s (%s), want no_verdict saying nothing is verified", r.Verdict, r.Error)
	}
}

func TestAuditInvalid(t *testing.T) {
	m := newMemLog(t)
	m.fill(t, 20)
	head := m.publish(t)
	dir := t.TempDir()
	saveState(t, dir, "mem", m.origin, head)
	a := newAuditor(t, m, dir, nil)
	other := newMemLog(t)
	other.fill(t, 20)
	otherHead := other.publish(t)

	// Another entry's proof: the inclusion proof does not verify.
	wrongProof := makeBundle(t, m.keyID(t), m.bodies[3], 3, 20, m.rootAt(t, 20), m.inclusion(t, 4, 20), head)
	// A checkpoint signed by another key under the log's ID.
	forgedSig := makeBundle(t, m.keyID(t), other.bodies[3], 3, 20, other.rootAt(t, 20), other.inclusion(t, 3, 20), otherHead)
	// The proof's claims disagree with the signed checkpoint.
	wrongSize := makeBundle(t, m.keyID(t), m.bodies[3], 3, 19, m.rootAt(t, 20), m.inclusion(t, 3, 20), head)

	for _, tc := range []struct {
		name, bundle, want string
	}{
		{"another log", string(other.bundle(t, 3, 20, otherHead)),
			"verificationMaterial.tlogEntries[0].logId.keyId: log ID " + hexID(t, other) + " is not a log this monitor watches"},
		{"inclusion proof of another leaf", string(wrongProof), "verificationMaterial.tlogEntries[0].inclusionProof.hashes: "},
		{"checkpoint not signed by the log", string(forgedSig), "verificationMaterial.tlogEntries[0].inclusionProof.checkpoint.envelope: not a checkpoint of log mem"},
		{"tree size not the checkpoint's", string(wrongSize), "verificationMaterial.tlogEntries[0].inclusionProof.treeSize: 19, but the signed checkpoint is of a tree of size 20"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := a.Audit(context.Background(), "b.json", []byte(tc.bundle))
			if r.Verdict != audit.Invalid || !strings.HasPrefix(r.Error, tc.want) {
				t.Errorf("verdict %s, error %q; want invalid, %q", r.Verdict, r.Error, tc.want)
			}
			var ie *audit.InputError
			if !errors.As(r.Err(), &ie) {
				t.Errorf("Err() = %T, want *audit.InputError", r.Err())
			}
		})
	}
}

func hexID(tb testing.TB, m *memLog) string {
	tb.Helper()
	id, err := checkpoint.NoteKeyID(m.origin, m.pub)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}
