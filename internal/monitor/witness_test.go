package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// witnessedLog serves a memLog's head at a chosen size (the log's readers
// see size), cosigned or not, and runs onHead first: a witness request
// that lands while a check is under way.
type witnessedLog struct {
	*memLog
	size   uint64
	cosign *witness.Witness // nil: heads carry no cosignature
	onHead func()
}

func (w *witnessedLog) Head(ctx context.Context) (*tlog.Head, error) {
	if w.onHead != nil {
		w.onHead()
		w.onHead = nil
	}
	raw := signAt(w.memLog, w.active().tree, w.size)
	if w.cosign != nil {
		return &tlog.Head{Note: must(w.cosign.Cosigned(raw))}, nil
	}
	return &tlog.Head{Note: raw}, nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// signAt signs the checkpoint of tree at size with the log's key.
func signAt(m *memLog, tree *testonly.Tree, size uint64) []byte {
	text := fmt.Sprintf("%s\n%d\n%s\n", m.origin, size, b64(tree.HashAt(size)))
	return must(note.Sign(&note.Note{Text: text}, m.signer))
}

// addRequest is an add-checkpoint request body from old to size of tree.
func addRequest(m *memLog, tree *testonly.Tree, old, size uint64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	if old > 0 && old < size {
		for _, h := range must(tree.ConsistencyProof(old, size)) {
			fmt.Fprintf(&b, "%s\n", b64(h))
		}
	}
	b.WriteString("\n")
	b.Write(signAt(m, tree, size))
	return b.Bytes()
}

type witnessFixture struct {
	ml      *memLog
	src     *witnessedLog
	mon     *Monitor
	store   *state.Store
	arch    *archive.Archive
	w       *witness.Witness
	rec     *recorder
	witness *witness.Key
}

func newWitnessFixture(t *testing.T) *witnessFixture {
	t.Helper()
	ml, v := newMemLog(t)
	for i := range 10 {
		ml.add([]byte(fmt.Sprintf("leaf %d", i)))
	}
	skey, _, err := witness.GenerateKey("vigil.test/witness")
	if err != nil {
		t.Fatal(err)
	}
	key, err := witness.ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	arch, err := archive.Open(state.ArchiveDir(dir), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { arch.Close() })
	src := &witnessedLog{memLog: ml, size: 2}
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: src, Staleness: time.Hour,
		Schedule: everySecond{}, Witnessed: true, WitnessSeverity: alert.SeverityWarning}
	rec := &recorder{}
	mon, store := startMonitor(t, dir, l, Config{Events: rec, Archive: arch, Cosigner: key.Signer.Verifier()})
	w, err := witness.New(witness.Config{Store: store, Archive: arch, Key: key, OnFork: mon.WitnessFork, Logs: []witness.Log{{
		Name: "mem", Origin: ml.origin, Witnessed: true,
		Verify: func(raw []byte) (*checkpoint.Checkpoint, error) { return ml.Checkpoint(raw, "", []note.Verifier{v}) },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	return &witnessFixture{ml: ml, src: src, mon: mon, store: store, arch: arch, w: w, rec: rec, witness: key}
}

func (f *witnessFixture) savedSize(t *testing.T) uint64 {
	t.Helper()
	st, err := f.store.Load("mem")
	if err != nil || st == nil {
		t.Fatalf("state: %v, %v", st, err)
	}
	cp, err := f.ml.Checkpoint(st.Checkpoint, "", f.mon.cfg.Logs[0].Keys().Verifiers)
	if err != nil {
		t.Fatal(err)
	}
	return cp.Size
}

func (f *witnessFixture) kinds() []alert.Kind {
	var ks []alert.Kind
	for _, e := range f.rec.events {
		ks = append(ks, e.Kind)
	}
	return ks
}

// TestWitnessSharesState: the witness's record of a log is the monitor's
// verified state. A checkpoint the witness cosigned is what the next check
// proves the head against; one the check verified is what the next
// add-checkpoint must start from.
func TestWitnessSharesState(t *testing.T) {
	f := newWitnessFixture(t)
	tree := f.ml.active().tree
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	// The witness knows size 2, which the monitor verified.
	_, err := f.w.Add(t.Context(), addRequest(f.ml, tree, 0, 4))
	var we *witness.Error
	if !errors.As(err, &we) || we.Known != 2 {
		t.Fatalf("add-checkpoint from 0 after the monitor verified 2 = %v, want a conflict at 2", err)
	}
	if _, err := f.w.Add(t.Context(), addRequest(f.ml, tree, 2, 4)); err != nil {
		t.Fatal(err)
	}
	if got := f.savedSize(t); got != 4 {
		t.Fatalf("saved size after cosigning 4 = %d", got)
	}
	// The log publishes 4, cosigned: verified from the cosigned state.
	f.src.size, f.src.cosign = 4, f.w
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil || !o.Witnessed || !o.Cosigned {
		t.Fatalf("check of the cosigned head: %+v", o)
	}
	if n, _ := f.arch.Len("mem"); n != 2 {
		t.Fatalf("archive holds %d checkpoints, want 2 (verified 2, cosigned 4)", n)
	}
}

// TestWitnessAheadOfCheck: the witness cosigns 8 while a check verifies
// 6: the check proves 6 consistent with 8 and keeps 8.
func TestWitnessAheadOfCheck(t *testing.T) {
	f := newWitnessFixture(t)
	tree := f.ml.active().tree
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	f.src.size, f.src.cosign = 6, f.w
	f.src.onHead = func() {
		if _, err := f.w.Add(context.Background(), addRequest(f.ml, tree, 2, 8)); err != nil {
			t.Errorf("witness add during the check: %v", err)
		}
	}
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("check racing the witness: %v", o.Err)
	}
	if got := f.savedSize(t); got != 8 {
		t.Fatalf("saved size = %d, want 8 (the witness's, which the check's 6 is a prefix of)", got)
	}
	// And the witness goes on from 8.
	if _, err := f.w.Add(t.Context(), addRequest(f.ml, tree, 8, 10)); err != nil {
		t.Fatal(err)
	}
}

// TestWitnessSplitView: the log gets the witness to cosign a fork (at 8,
// consistent with the 2 both saw) while showing its readers the real tree
// at 6: the check finds no history that explains both, a split_view with
// both checkpoints.
func TestWitnessSplitView(t *testing.T) {
	f := newWitnessFixture(t)
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	fork := testonly.New(rfc6962.DefaultHasher)
	for i := range 8 {
		leaf := fmt.Sprintf("leaf %d", i)
		if i >= 2 {
			leaf = "forked " + leaf
		}
		fork.AppendData([]byte(leaf))
	}
	f.src.size, f.src.cosign = 6, nil
	f.src.onHead = func() {
		if _, err := f.w.Add(context.Background(), addRequest(f.ml, fork, 2, 8)); err != nil {
			t.Errorf("witness add of the fork: %v", err)
		}
	}
	o := f.mon.CheckOnce(t.Context())[0]
	var ie *checkpoint.IntegrityError
	if !errors.As(o.Err, &ie) || ie.Reason != checkpoint.ReasonSplitView {
		t.Fatalf("check = %v, want a split_view", o.Err)
	}
	if !bytes.Contains(ie.Old, []byte("\n8\n")) || !bytes.Contains(ie.New, []byte("\n6\n")) {
		t.Fatalf("evidence: old %q new %q, want the cosigned 8 and the served 6", ie.Old, ie.New)
	}
	last := f.rec.events[len(f.rec.events)-1]
	if last.Kind != alert.KindIntegrityViolation || last.Reason != "split_view" {
		t.Fatalf("events %v, want an integrity violation (split_view) last", f.kinds())
	}
}

// TestUncosignedCheckpoint: a witnessed log's head without the monitor's
// cosignature raises uncosigned_checkpoint once; a cosigned head clears it.
func TestUncosignedCheckpoint(t *testing.T) {
	f := newWitnessFixture(t)
	for range 3 {
		if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil || o.Cosigned {
			t.Fatalf("check: %+v", o)
		}
	}
	if ks := f.kinds(); len(ks) != 1 || ks[0] != alert.KindUncosignedCheckpoint {
		t.Fatalf("events %v, want one uncosigned_checkpoint", ks)
	}
	if e := f.rec.events[0]; e.Severity != alert.SeverityWarning || !bytes.Contains([]byte(e.Evidence.NewCheckpoint), []byte("\n2\n")) {
		t.Fatalf("event %+v", e)
	}
	f.src.cosign = f.w
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil || !o.Cosigned {
		t.Fatalf("check of a cosigned head: %+v", o)
	}
	if ks := f.kinds(); len(ks) != 2 || ks[1] != alert.KindRecovered {
		t.Fatalf("events %v, want the condition recovered", ks)
	}
	// A cosignature by another witness key does not count.
	skey, _, _ := witness.GenerateKey("vigil.test/witness")
	other, _ := witness.ParseKey(skey)
	ow, _ := witness.New(witness.Config{Store: f.store, Key: other})
	f.src.cosign = ow
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil || o.Cosigned {
		t.Fatalf("check of a head cosigned by another key: %+v", o)
	}
}

// TestWitnessForkPages: a log asking the witness to cosign a second root at
// the size the monitor verified is a fork, signed by the log twice: refused
// (409) and paged once as an integrity violation (reason fork) with both
// checkpoints, however often the log asks.
func TestWitnessForkPages(t *testing.T) {
	f := newWitnessFixture(t)
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatal(o.Err)
	}
	fork := testonly.New(rfc6962.DefaultHasher)
	fork.AppendData([]byte("forked leaf 0"))
	fork.AppendData([]byte("forked leaf 1"))
	for range 3 {
		_, err := f.w.Add(t.Context(), addRequest(f.ml, fork, 2, 2))
		var we *witness.Error
		if !errors.As(err, &we) || we.Status != http.StatusConflict || we.Reason != witness.ReasonFork {
			t.Fatalf("add of a second root at size 2 = %v, want 409 fork", err)
		}
	}
	var forks []alert.Event
	for _, e := range f.rec.events {
		if e.Kind == alert.KindIntegrityViolation {
			forks = append(forks, e)
		}
	}
	if len(forks) != 1 || forks[0].Reason != "fork" {
		t.Fatalf("events %v, want one integrity violation (fork)", f.kinds())
	}
	if ev := forks[0]; !strings.Contains(ev.Evidence.OldCheckpoint, "\n2\n") || !strings.Contains(ev.Evidence.NewCheckpoint, "\n2\n") ||
		ev.Evidence.OldCheckpoint == ev.Evidence.NewCheckpoint {
		t.Errorf("evidence %+v, want the verified and the submitted checkpoints of size 2", ev.Evidence)
	}
	// The monitor's own view is unharmed: the next check verifies.
	if o := f.mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Errorf("check after the refused fork: %v", o.Err)
	}
}
