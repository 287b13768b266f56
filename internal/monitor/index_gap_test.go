package monitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/index"
)

// failingIndex is a real SQLite index whose writes fail while failing is
// set: a full disk, PostgreSQL down.
type failingIndex struct {
	*index.Store
	mu      sync.Mutex
	failing bool
	adds    int
}

func (f *failingIndex) Add(ctx context.Context, recs []index.Record) error {
	f.mu.Lock()
	fail := f.failing
	f.adds++
	f.mu.Unlock()
	if fail {
		return errors.New("disk full")
	}
	return f.Store.Add(ctx, recs)
}

func (f *failingIndex) set(fail bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = fail
}

// TestIndexGapBackfilled: while index writes fail, checks go on and
// verify; the index never gets a hole, and once writes work again the
// next checks backfill what was missed, in order, without alerting twice.
func TestIndexGapBackfilled(t *testing.T) {
	ml, v := newMemLog(t)
	ca := identitytest.NewCA(t, "test")
	alice := ca.Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}})
	store, err := index.Open(t.Context(), index.Config{Path: filepath.Join(t.TempDir(), "index.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ix := &failingIndex{Store: store}
	matcher, err := identity.Compile(identity.Config{Watch: []identity.Rule{{Name: "alice", Subject: `alice@example\.com`}}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	l := &Log{Name: "mem", keys: Keys{Verifiers: []note.Verifier{v}}, Source: ml, Staleness: time.Hour,
		Schedule: everySecond{}, Scan: &ScanConfig{Matcher: matcher, Chunk: 2}, parser: identity.NewParser(16)}
	mon, _ := startMonitor(t, t.TempDir(), l, Config{Events: rec, Index: ix, Logger: slog.New(slog.NewTextHandler(tWriter{t}, nil))})
	search := func() []uint64 {
		t.Helper()
		p, err := store.Search(t.Context(), index.Query{Subject: "alice@example.com", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, r := range p.Results {
			out = append(out, r.Index)
		}
		return out
	}
	addN := func(n int) {
		for range n {
			ml.add(identitytest.HashedRekordV2(t, alice, []byte(fmt.Sprint(len(ml.active().leaves)))))
		}
	}
	addN(3)
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("first check: %v", o.Err)
	}
	if got := fmt.Sprint(search()); got != "[2 1 0]" {
		t.Fatalf("indexed %s, want [2 1 0]", got)
	}

	ix.set(true)
	addN(4)
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("check with index writes failing: %v (monitoring must go on)", o.Err)
	}
	if got := fmt.Sprint(search()); got != "[2 1 0]" {
		t.Fatalf("indexed %s while writes fail, want [2 1 0]", got)
	}
	if n := testutil.ToFloat64(mon.indexes["mem"].m.errors); n < 1 {
		t.Errorf("vigil_index_write_errors_total = %v, want > 0", n)
	}
	events := len(rec.events)
	if events != 7 {
		t.Errorf("%d identity events, want 7 (one per entry)", events)
	}

	ix.set(false)
	addN(2)
	if o := mon.CheckOnce(t.Context())[0]; o.Err != nil {
		t.Fatalf("check after writes recover: %v", o.Err)
	}
	if got := fmt.Sprint(search()); got != "[8 7 6 5 4 3 2 1 0]" {
		t.Fatalf("indexed %s after the backfill, want [8 ... 0]", got)
	}
	if len(rec.events) != 9 {
		t.Errorf("%d identity events after the backfill, want 9: backfilled entries must not alert again", len(rec.events))
	}
	if lag := testutil.ToFloat64(mon.indexes["mem"].m.lag); lag != 0 {
		t.Errorf("vigil_index_lag_entries = %v, want 0", lag)
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
