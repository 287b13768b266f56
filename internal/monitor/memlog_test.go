package monitor

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// memLog is an in-memory log: Merkle trees of leaves and checkpoints signed
// with an Ed25519 note key, Rekor v2-style, or Rekor v1-style with shards
// (origin "<name> - <treeID>", inactive trees listed in the head). It serves
// what a real Rekor never will on request: entries that are in the signed
// tree but cannot be parsed, and tree rotations. It implements tlog.Log.
type memLog struct {
	origin string
	signer note.Signer
	v1     bool
	trees  []*memTree // the last is active
	extra  string     // extension lines of the checkpoint text
}

type memTree struct {
	id     string
	tree   *testonly.Tree
	leaves [][]byte
}

func newMemLog(t *testing.T) (*memLog, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "mem.log.example")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	m := &memLog{origin: "mem.log.example", signer: s}
	m.rotate("1")
	return m, v
}

func (m *memLog) active() *memTree { return m.trees[len(m.trees)-1] }

// rotate freezes the active tree and starts tree id.
func (m *memLog) rotate(id string) {
	m.trees = append(m.trees, &memTree{id: id, tree: testonly.New(rfc6962.DefaultHasher)})
}

func (m *memLog) add(leaves ...[]byte) {
	t := m.active()
	t.leaves = append(t.leaves, leaves...)
	t.tree.AppendData(leaves...)
}

func (m *memLog) note(t *memTree) ([]byte, error) {
	origin := m.origin
	if m.v1 {
		origin += " - " + t.id
	}
	text := fmt.Sprintf("%s\n%d\n%s\n%s", origin, t.tree.Size(), b64(t.tree.Hash()), m.extra)
	return note.Sign(&note.Note{Text: text}, m.signer)
}

func (m *memLog) Head(context.Context) (*tlog.Head, error) {
	t := m.active()
	raw, err := m.note(t)
	if err != nil || !m.v1 {
		return &tlog.Head{Note: raw}, err
	}
	h := &tlog.Head{Note: raw, TreeID: t.id, Size: t.tree.Size(), Root: t.tree.Hash(), HasClaims: true}
	for _, old := range m.trees[:len(m.trees)-1] {
		n, err := m.note(old)
		if err != nil {
			return nil, err
		}
		h.Inactive = append(h.Inactive, tlog.Shard{TreeID: old.id, Note: n, Size: old.tree.Size(), Root: old.tree.Hash()})
	}
	return h, nil
}

func (m *memLog) byID(id string) *memTree {
	for _, t := range m.trees {
		if t.id == id || (!m.v1 && id == "") {
			return t
		}
	}
	return nil
}

func (m *memLog) ConsistencyProof(_ context.Context, treeID string, from, to uint64) ([][]byte, error) {
	return m.byID(treeID).tree.ConsistencyProof(from, to)
}

func (m *memLog) Entries(_ context.Context, tree tlog.Tree, from, to uint64, _ tlog.EntriesOptions, fn func(tlog.Entry) error) error {
	t := m.byID(tree.ID)
	for i := from; i < to; i++ {
		if err := fn(tlog.Entry{Index: i, LogIndex: tree.Offset + i, Data: t.leaves[i]}); err != nil {
			return err
		}
	}
	return nil
}

// RangeNodes computes the compact range [0, size) from the tree's leaves.
func (m *memLog) RangeNodes(_ context.Context, tree tlog.Tree, size uint64) ([][]byte, error) {
	t := m.byID(tree.ID)
	r := rangeFactory.NewEmptyRange(0)
	for i := range size {
		if err := r.Append(t.tree.LeafHash(i), nil); err != nil {
			return nil, err
		}
	}
	return r.Hashes(), nil
}

// InclusionProof computes the audit path from the tree's leaves.
func (m *memLog) InclusionProof(_ context.Context, tree tlog.Tree, index, size uint64, leaf []byte) ([][]byte, error) {
	t := m.byID(tree.ID)
	if t == nil || index >= size || size > t.tree.Size() || !bytes.Equal(t.tree.LeafHash(index), leaf) {
		return nil, fmt.Errorf("no leaf %x at %d of tree %q size %d: %w", leaf, index, tree.ID, size, os.ErrNotExist)
	}
	return t.tree.InclusionProof(index, size)
}

func (m *memLog) Identities(p *identity.Parser, e tlog.Entry) ([]identity.Identity, error) {
	return p.ParseV2(e.Data)
}

func (m *memLog) Digests(e tlog.Entry) ([]string, error) { return identity.DigestsV2(e.Data) }

// Verifier is not used: tests give the log's verifiers.
func (m *memLog) Verifier(crypto.PublicKey) (note.Verifier, error) {
	return nil, fmt.Errorf("not needed")
}

// KeyID is the SHA-256 of the DER key.
func (m *memLog) KeyID(key crypto.PublicKey) (string, error) { return checkpoint.KeyID(key) }

// Checkpoint verifies as the kind memLog plays does: Rekor v1 by key
// whatever the hostname, with the tree ID in the origin; else with the
// origin.
func (m *memLog) Checkpoint(raw []byte, treeID string, vs []note.Verifier) (*checkpoint.Checkpoint, error) {
	if m.v1 {
		return checkpoint.ParseRekorV1(raw, treeID, vs...)
	}
	return checkpoint.Parse(raw, m.origin, vs...)
}

// recorder is a Notifier that keeps the events.
type recorder struct{ events []alert.Event }

func (r *recorder) Enqueue(_ context.Context, evs ...alert.Event) ([]alert.Event, error) {
	r.events = append(r.events, evs...)
	return evs, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestScanMalformedEntry: an entry that is in the signed tree but cannot be
// parsed is reported (event, metric), never dropped, and the scan goes on.
func TestScanMalformedEntry(t *testing.T) {
	ml, v := newMemLog(t)
	alice := identitytest.NewCA(t, "test").Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}})
	ml.add(identitytest.HashedRekordV2(t, alice, []byte("one")))
	matcher, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "alice", Subject: `alice@example\.com`}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	mon, store := newMemMonitor(t, ml, v, rec, &ScanConfig{Matcher: matcher, Chunk: 2}, t.TempDir())
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("first check: %v", o.Err)
	}
	ml.add([]byte(`{"kind":"hashedrekord","apiVersion":"0.0.2","spec":{"garbage":`), identitytest.HashedRekordV2(t, alice, []byte("two")))
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("check with a malformed entry: %v", o.Err)
	}
	var kinds []string
	for _, e := range rec.events {
		kinds = append(kinds, fmt.Sprintf("%s@%d", e.Kind, e.Evidence.Entry.Index))
	}
	want := "identity_match@0 malformed_entry@1 identity_match@2"
	if got := fmt.Sprint(kinds); got != "["+want+"]" {
		t.Errorf("events = %v, want [%s]", kinds, want)
	}
	if got := testutil.ToFloat64(mon.m.malformedEntries.WithLabelValues("mem")); got != 1 {
		t.Errorf("vigil_log_malformed_entries_total = %v, want 1", got)
	}
	st, err := store.Load("mem")
	if err != nil || st.Scan == nil || st.Scan.Next != 3 {
		t.Fatalf("saved scan = %+v, %v; want next 3", st, err)
	}
	cp, err := checkpoint.Parse(st.Checkpoint, ml.origin, v)
	if err != nil || cp.Size != 3 {
		t.Errorf("saved checkpoint = %v, %v; want size 3", cp, err)
	}
}

type everySecond struct{}

func (everySecond) Next(t time.Time) time.Time { return t.Add(time.Second) }

// TestCheckpointTimestampMetric: a checkpoint with a "Timestamp:" extension
// line (older Rekor v1 servers) sets vigil_log_checkpoint_timestamp_seconds.
func TestCheckpointTimestampMetric(t *testing.T) {
	ml, v := newMemLog(t)
	ml.add([]byte("a"), []byte("b"))
	ts := time.Unix(1700000000, 500_000_000)
	ml.extra = fmt.Sprintf("Timestamp: %d\n", ts.UnixNano())
	mon, _ := newMemMonitor(t, ml, v, nil, nil, t.TempDir())
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	if got := testutil.ToFloat64(mon.m.checkpointTime.WithLabelValues("mem")); got != 1700000000.5 {
		t.Errorf("vigil_log_checkpoint_timestamp_seconds = %v, want 1700000000.5", got)
	}
}

// TestShardRotation: a Rekor v1-style log freezes its tree and starts a new
// one. The monitor verifies the old shard's final checkpoint against what it
// saved, scans the rest of the old shard, then the new tree from its start;
// a log that drops the old tree instead is an integrity violation.
func TestShardRotation(t *testing.T) {
	ml, v := newMemLog(t)
	ml.v1 = true
	alice := identitytest.NewCA(t, "test").Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}})
	entry := func(s string) []byte { return identitytest.HashedRekordV2(t, alice, []byte(s)) }
	ml.add(entry("a0"), entry("a1"))
	matcher, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "alice", Subject: `alice@example\.com`}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	mon, store := newMemMonitor(t, ml, v, rec, &ScanConfig{Matcher: matcher}, t.TempDir())
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("first check: %v", o.Err)
	}
	ml.add(entry("a2"))
	ml.rotate("2")
	ml.add(entry("b0"), entry("b1"))
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("check after rotation: %v", o.Err)
	}
	var got []int64
	for _, e := range rec.events {
		got = append(got, e.Evidence.Entry.Index)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("reported log indexes %v, want [0 1 2 3 4] (old shard's tail, then the new tree)", got)
	}
	st, err := store.Load("mem")
	if err != nil || st.TreeID != "2" || st.Scan == nil || st.Scan.TreeID != "2" || st.Scan.Next != 2 {
		t.Fatalf("state after rotation = %+v, %v; want tree 2 scanned to 2", st, err)
	}

	// A log that moves to a third tree without listing tree 2 rewrote
	// its history.
	ml.trees = ml.trees[:1]
	ml.rotate("3")
	ml.add(entry("c0"))
	o := mon.CheckOnce(t.Context())[0]
	var ie *checkpoint.IntegrityError
	if !errors.As(o.Err, &ie) || ie.Reason != checkpoint.ReasonConsistency {
		t.Errorf("check of a log that dropped its tree = %v, want a consistency violation", o.Err)
	}
}

// flakyRecorder fails the first fails Enqueue calls, then records.
type flakyRecorder struct {
	recorder
	fails   int
	batches []int
}

func (r *flakyRecorder) Enqueue(ctx context.Context, evs ...alert.Event) ([]alert.Event, error) {
	r.batches = append(r.batches, len(evs))
	if r.fails > 0 {
		r.fails--
		return nil, fmt.Errorf("disk full")
	}
	return r.recorder.Enqueue(ctx, evs...)
}

func newMemMonitor(t *testing.T, ml *memLog, v note.Verifier, events Notifier, scan *ScanConfig, dir string) (*Monitor, *state.Store) {
	t.Helper()
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: ml, Staleness: time.Hour,
		Schedule: everySecond{}, Scan: scan, parser: identity.NewParser(16)}
	return startMonitor(t, dir, l, Config{Events: events})
}

// startMonitor opens the state in dir (closed at the end of the test, or
// earlier by the caller) and builds a monitor of log l with c's other
// settings.
func startMonitor(t *testing.T, dir string, l *Log, c Config) (*Monitor, *state.Store) {
	t.Helper()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c.Logs, c.Store, c.Registerer = []*Log{l}, store, prometheus.NewRegistry()
	mon, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return mon, store
}

// TestViolationRetriedUntilQueued: an integrity event the outbox could not
// take is produced again by the next check, and once queued is not repeated.
func TestViolationRetriedUntilQueued(t *testing.T) {
	ml, v := newMemLog(t)
	ml.add([]byte("a"), []byte("b"))
	rec := &flakyRecorder{}
	mon, _ := newMemMonitor(t, ml, v, rec, nil, t.TempDir())
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	// The log now signs with another key: a signature violation.
	other, _ := newMemLog(t)
	ml.signer = other.signer
	rec.fails = 1
	for i := range 3 {
		if o := mon.CheckOnce(t.Context())[0]; o.Result() != ResultViolation {
			t.Fatalf("check %d = %v, want a violation", i, o.Err)
		}
	}
	if len(rec.events) != 1 || rec.events[0].Kind != alert.KindIntegrityViolation {
		t.Errorf("queued events %v, want exactly one integrity violation (after one failed attempt)", rec.events)
	}
	if len(rec.batches) != 2 {
		t.Errorf("Enqueue called %d times, want 2 (a failure, then the retry)", len(rec.batches))
	}
}

// TestSavedCheckpointOfAnotherKey: a saved checkpoint that no longer
// verifies (the configured key changed) is a configuration error, not
// evidence against the log.
func TestSavedCheckpointOfAnotherKey(t *testing.T) {
	ml, v := newMemLog(t)
	ml.add([]byte("a"))
	dir := t.TempDir()
	mon, store := newMemMonitor(t, ml, v, nil, nil, dir)
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	store.Close()
	other, v2 := newMemLog(t)
	other.add([]byte("a"))
	mon, _ = newMemMonitor(t, other, v2, nil, nil, dir)
	o := mon.CheckOnce(t.Context())[0]
	var ce *ConfigError
	if o.Result() != ResultMisconfigured || !errors.As(o.Err, &ce) {
		t.Errorf("check with a saved checkpoint of another key = %s (%v), want a ConfigError and no verdict", o.Result(), o.Err)
	}
}

// TestScanQueuesInBatches: a chunk whose entries cause more events than one
// outbox batch is queued in batches of at most maxQueueBatch.
func TestScanQueuesInBatches(t *testing.T) {
	ml, v := newMemLog(t)
	for i := range 1200 {
		ml.add([]byte(fmt.Sprintf("not an entry %d", i)))
	}
	matcher, err := identity.Compile(identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &flakyRecorder{}
	mon, _ := newMemMonitor(t, ml, v, rec, &ScanConfig{Matcher: matcher, Chunk: 5000}, t.TempDir())
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	if len(rec.events) != 1200 {
		t.Errorf("queued %d malformed-entry events, want 1200", len(rec.events))
	}
	for _, n := range rec.batches {
		if n > maxQueueBatch {
			t.Errorf("a batch of %d events, want at most %d", n, maxQueueBatch)
		}
	}
}

// TestFiringSurvivesRestart: an integrity violation that fired before a
// restart stays firing after it, although the log verifies again (a proven
// fork stays proven), until an operator acknowledges it; the
// acknowledgement resolves exactly that condition, once.
func TestFiringSurvivesRestart(t *testing.T) {
	ml, v := newMemLog(t)
	ml.add([]byte("a"))
	dir := t.TempDir()
	firing := filepath.Join(t.TempDir(), "firing.json")
	acks := filepath.Join(t.TempDir(), "acks")
	start := func(rec Notifier) (*Monitor, *state.Store) {
		l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: ml, Staleness: time.Hour, Schedule: everySecond{}}
		return startMonitor(t, dir, l, Config{Events: rec, FiringFile: firing, AckDir: acks})
	}
	rec := &recorder{}
	mon, store := start(rec)
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	good := ml.signer
	other, _ := newMemLog(t)
	ml.signer = other.signer
	if o := mon.CheckOnce(t.Context())[0]; o.Result() != ResultViolation {
		t.Fatalf("check = %v, want a violation", o.Err)
	}
	if len(rec.events) != 1 || rec.events[0].Kind != alert.KindIntegrityViolation {
		t.Fatalf("events %v, want one integrity violation", rec.events)
	}
	key := rec.events[0].DedupeKey
	store.Close()

	ml.signer = good
	rec2 := &recorder{}
	mon, store = start(rec2)
	defer store.Close()
	for range 2 {
		if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	if len(rec2.events) != 0 {
		t.Errorf("after restart, clean checks sent %v; want the violation to stay firing, unresolved", rec2.events)
	}
	if got := testutil.ToFloat64(mon.m.unacknowledged.WithLabelValues("mem")); got != 1 {
		t.Errorf("vigil_log_integrity_violations_unacknowledged = %v, want 1", got)
	}
	if f := mon.Firing(); len(f) != 1 || f[0].DedupeKey != key {
		t.Fatalf("Firing() = %v, want the violation %s", f, key)
	}

	if _, err := RequestAck(acks, Ack{DedupeKey: key, By: "oncall", Note: "INC-7: forged by the test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := RequestAck(acks, Ack{DedupeKey: "integrity_violation/mem/nothing", By: "oncall"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	if len(rec2.events) != 1 || rec2.events[0].Kind != alert.KindRecovered || rec2.events[0].Resolves.DedupeKey != key ||
		!strings.Contains(rec2.events[0].Summary, "acknowledged by oncall: INC-7") {
		t.Errorf("after the acknowledgement, events %v; want one recovered event resolving %s, naming who and why", rec2.events, key)
	}
	if f := mon.Firing(); len(f) != 0 {
		t.Errorf("Firing() = %v after the acknowledgement, want none", f)
	}
	if got := testutil.ToFloat64(mon.m.unacknowledged.WithLabelValues("mem")); got != 0 {
		t.Errorf("vigil_log_integrity_violations_unacknowledged = %v, want 0", got)
	}
	if got := testutil.ToFloat64(mon.m.acknowledged.WithLabelValues("mem")); got != 1 {
		t.Errorf("vigil_log_integrity_violations_acknowledged_total = %v, want 1", got)
	}
	if left, _ := filepath.Glob(filepath.Join(acks, "*.json")); len(left) != 0 {
		t.Errorf("requests left after they were applied: %v", left)
	}
	if done, _ := filepath.Glob(filepath.Join(acks, "done", "*.json")); len(done) != 2 {
		t.Errorf("%d acknowledgement records kept, want 2", len(done))
	}
	// The acknowledgement survives a restart: the condition is gone.
	b, err := os.ReadFile(firing)
	if err != nil || strings.Contains(string(b), key) {
		t.Errorf("firing file still holds %s (%v): %s", key, err, b)
	}
}

// TestKeyRotationSavedCheckpoint: after the log switches to a new key and
// the old key's validity ends, the checkpoint saved under the old key still
// anchors the next check through SavedVerifiers; without them it is a
// configuration error, and nothing is saved.
func TestKeyRotationSavedCheckpoint(t *testing.T) {
	ml, vOld := newMemLog(t)
	ml.add([]byte("a"), []byte("b"))
	dir := t.TempDir()
	check := func(verifiers, saved []note.Verifier) Outcome {
		t.Helper()
		l := &Log{Name: "mem", keys: Keys{Verifiers: verifiers, Saved: saved},
			Source: ml, Staleness: time.Hour, Schedule: everySecond{}}
		mon, store := startMonitor(t, dir, l, Config{})
		defer store.Close() // the next call opens dir again
		return mon.CheckOnce(t.Context())[0]
	}
	if o := check([]note.Verifier{vOld}, nil); o.Err != nil {
		t.Fatalf("first check: %v", o.Err)
	}

	skey, vkey, err := note.GenerateKey(rand.Reader, ml.origin)
	if err != nil {
		t.Fatal(err)
	}
	if ml.signer, err = note.NewSigner(skey); err != nil {
		t.Fatal(err)
	}
	vNew, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	ml.add([]byte("c"))

	o := check([]note.Verifier{vNew}, nil)
	var ce *ConfigError
	if !errors.As(o.Err, &ce) {
		t.Fatalf("check with only the new key = %v, want a *ConfigError (the saved checkpoint is under the old key)", o.Err)
	}
	o = check([]note.Verifier{vNew}, []note.Verifier{vNew, vOld})
	if o.Err != nil || o.Checkpoint.Size != 3 {
		t.Fatalf("check with the ended key for the saved checkpoint = %v, %v; want size 3 verified", o.Checkpoint, o.Err)
	}
}

// TestRekeyRateLimited: a log that keeps serving checkpoints signed by an
// unknown key makes the monitor resolve its keys again at most once per
// RekeyEvery, and every check stays a signature violation.
func TestRekeyRateLimited(t *testing.T) {
	ml, v := newMemLog(t)
	ml.add([]byte("a"))
	dir := t.TempDir()
	// A checkpoint verified before: from now on a bad signature is evidence.
	if mon, store := newMemMonitor(t, ml, v, nil, nil, dir); mon.CheckOnce(t.Context())[0].Err != nil {
		t.Fatal("first check failed")
	} else {
		store.Close()
	}
	skey, _, err := note.GenerateKey(rand.Reader, ml.origin)
	if err != nil {
		t.Fatal(err)
	}
	if ml.signer, err = note.NewSigner(skey); err != nil { // a key nobody trusts
		t.Fatal(err)
	}
	calls := 0
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}, KeyID: "old"},
		Source: ml, Staleness: time.Hour, Schedule: everySecond{}, RekeyEvery: time.Hour,
		Rekey: func(context.Context) (Keys, error) {
			calls++
			return Keys{Verifiers: []note.Verifier{v}, KeyID: "old"}, nil
		}}
	mon, _ := startMonitor(t, dir, l, Config{})
	for i := range 3 {
		o := mon.CheckOnce(t.Context())[0]
		if !badSignature(o.Err) {
			t.Fatalf("check %d = %v, want a signature violation", i, o.Err)
		}
	}
	if calls != 1 {
		t.Errorf("Rekey called %d times in three checks, want once an hour", calls)
	}
}

// proofSizes records the sizes consistency proofs are asked from: where the
// scan's chunks end.
type proofSizes struct {
	*memLog
	from []uint64
}

func (p *proofSizes) ConsistencyProof(ctx context.Context, treeID string, from, to uint64) ([][]byte, error) {
	p.from = append(p.from, from)
	return p.memLog.ConsistencyProof(ctx, treeID, from, to)
}

// TestScanChunkEndsAtMaxEvents: a backlog whose every entry raises an event
// is scanned in chunks that end once they hold maxChunkEvents events (plus
// the batches in flight), not at Chunk entries, so the events held until a
// chunk is proven stay bounded. Every entry is still reported once.
func TestScanChunkEndsAtMaxEvents(t *testing.T) {
	ml, v := newMemLog(t)
	const n = 3*maxChunkEvents + 100
	for i := range n {
		ml.add([]byte(fmt.Sprintf("not an entry %d", i)))
	}
	matcher, err := identity.Compile(identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	src := &proofSizes{memLog: ml}
	rec := &recorder{}
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: src,
		Staleness: time.Hour, Schedule: everySecond{}, Scan: &ScanConfig{Matcher: matcher, Chunk: 100000},
		parser: identity.NewParser(16)}
	mon, _ := startMonitor(t, t.TempDir(), l, Config{Events: rec})
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	seen := map[int64]int{}
	for _, e := range rec.events {
		seen[e.Evidence.Entry.Index]++
	}
	if len(seen) != n || len(rec.events) != n {
		t.Errorf("%d events for %d distinct entries, want one for each of %d", len(rec.events), len(seen), n)
	}
	// Batches not yet counted: those queued for the collector (2 per
	// worker), the one it waits for, and the one being filled.
	inFlight := uint64((2*runtime.GOMAXPROCS(0) + 2) * matchBatch)
	if len(src.from) < 2 {
		t.Fatalf("chunks ended at %v, want at least 2 ends before the tree size %d", src.from, n)
	}
	prev := uint64(0)
	for _, end := range append(src.from, n) {
		if end-prev > maxChunkEvents+inFlight {
			t.Errorf("a chunk of %d entries (%d-%d), each with an event; want at most %d", end-prev, prev, end, maxChunkEvents+inFlight)
		}
		prev = end
	}
}

// TestFirstContactWithStartCheckpoint: before anything was saved, a head
// whose signature the configured key does not verify is a configuration
// error, unless a starting checkpoint proves the key right; and a starting
// checkpoint the key does not verify leaves it a configuration error too
// (the key is wrong for both), never an integrity violation.
func TestFirstContactWithStartCheckpoint(t *testing.T) {
	ml, v := newMemLog(t)
	ml.add([]byte("a"), []byte("b"))
	start, err := ml.note(ml.active())
	if err != nil {
		t.Fatal(err)
	}
	stranger, vStranger := newMemLog(t)
	check := func(key note.Verifier, startCP []byte) Outcome {
		t.Helper()
		l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{key}}, Source: ml,
			Staleness: time.Hour, Schedule: everySecond{}, Start: startCP}
		mon, _ := startMonitor(t, t.TempDir(), l, Config{})
		return mon.CheckOnce(t.Context())[0]
	}
	if o := check(vStranger, start); !errors.As(o.Err, new(*ConfigError)) {
		t.Errorf("a key that verifies neither the starting checkpoint nor the head = %s (%v), want a ConfigError", o.Result(), o.Err)
	}
	if o := check(v, start); o.Err != nil {
		t.Fatalf("the right key with its starting checkpoint = %v", o.Err)
	}
	ml.signer = stranger.signer // the log now signs with a key nobody configured
	if o := check(v, start); o.Result() != ResultViolation {
		t.Errorf("a head the key does not sign, after a starting checkpoint it does = %s (%v), want a violation", o.Result(), o.Err)
	}
}

// failTree is a memLog whose entries of one tree cannot be fetched.
type failTree struct {
	*memLog
	fail string
}

func (f *failTree) Entries(ctx context.Context, tree tlog.Tree, from, to uint64, opts tlog.EntriesOptions, fn func(tlog.Entry) error) error {
	if tree.ID == f.fail {
		return errors.New("tree unavailable")
	}
	return f.memLog.Entries(ctx, tree, from, to, opts, fn)
}

// TestShardRotationSavesOldTail: the old shard's tail is scanned with its
// progress saved, so a failure in the new tree afterwards neither loses it
// nor scans it again; the next check goes on with the new tree.
func TestShardRotationSavesOldTail(t *testing.T) {
	ml, v := newMemLog(t)
	ml.v1 = true
	alice := identitytest.NewCA(t, "test").Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}})
	entry := func(s string) []byte { return identitytest.HashedRekordV2(t, alice, []byte(s)) }
	ml.add(entry("a0"))
	matcher, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "alice", Subject: `alice@example\.com`}}})
	if err != nil {
		t.Fatal(err)
	}
	src := &failTree{memLog: ml}
	rec := &recorder{}
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: src, Staleness: time.Hour,
		Schedule: everySecond{}, Scan: &ScanConfig{Matcher: matcher, Chunk: 2}, parser: identity.NewParser(16)}
	mon, store := startMonitor(t, t.TempDir(), l, Config{Events: rec})
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	ml.add(entry("a1"), entry("a2"), entry("a3"), entry("a4"))
	ml.rotate("2")
	ml.add(entry("b0"))
	src.fail = "2"
	if o := mon.CheckOnce(t.Context())[0]; o.Err == nil {
		t.Fatal("check with the new tree unavailable verified")
	}
	st, err := store.Load("mem")
	if err != nil || st.TreeID != "2" || st.Scan == nil || st.Scan.TreeID != "1" || st.Scan.Next != 5 {
		t.Fatalf("state after the old tail = %+v, %v; want the new tree's checkpoint and the old shard scanned to 5", st, err)
	}
	src.fail = ""
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	var got []int64
	for _, e := range rec.events {
		got = append(got, e.Evidence.Entry.Index)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5]" {
		t.Errorf("reported log indexes %v, want each once: [0 1 2 3 4 5]", got)
	}
}
