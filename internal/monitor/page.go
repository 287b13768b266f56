package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/search"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/web"
)

// What the search API and the page read from the monitor: proofs of
// search results against the latest verified checkpoints (search.Prover),
// and the logs' health and recent alerts (web.Source, with App).

// logNamed returns the configured log called name.
func (mon *Monitor) logNamed(name string) (*Log, error) {
	for _, l := range mon.cfg.Logs {
		if l.Name == name {
			return l, nil
		}
	}
	return nil, fmt.Errorf("the monitor watches no log named %q", name)
}

// treeOf returns the verified tree of log that holds log index idx, and
// the entry's index in it.
func (mon *Monitor) treeOf(log string, idx uint64) (*Log, verifiedTree, uint64, error) {
	l, err := mon.logNamed(log)
	if err != nil {
		return nil, verifiedTree{}, 0, err
	}
	v, ok := mon.proofs.get(log)
	if !ok {
		return nil, verifiedTree{}, 0, fmt.Errorf("log %s has not been verified since the monitor started; try again after its first check", log)
	}
	if idx < v.tree.Offset {
		return nil, verifiedTree{}, 0, fmt.Errorf("entry %d is in an inactive shard of %s (the active tree starts at %d): proofs are against the active tree's checkpoint only", idx, log, v.tree.Offset)
	}
	ti := idx - v.tree.Offset
	if ti >= v.cp.Size {
		return nil, verifiedTree{}, 0, fmt.Errorf("entry %d is past the latest verified checkpoint of %s (size %d)", idx, log, v.cp.Size)
	}
	return l, v, ti, nil
}

// Prove returns the inclusion proof of entry idx of log, whose leaf hash is
// leaf, in the latest checkpoint the monitor verified, fetched from the log
// and checked against the checkpoint's root.
func (mon *Monitor) Prove(ctx context.Context, log string, idx uint64, leaf []byte) (*search.Proof, error) {
	l, v, ti, err := mon.treeOf(log, idx)
	if err != nil {
		return nil, err
	}
	hashes, err := l.Source.InclusionProof(ctx, v.tree, ti, v.cp.Size, leaf)
	if err != nil {
		return nil, fmt.Errorf("fetching the inclusion proof of entry %d from %s: %w", idx, log, err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ti, v.cp.Size, leaf, hashes, v.cp.Hash); err != nil {
		return nil, fmt.Errorf("the inclusion proof %s served for entry %d does not verify against its checkpoint of size %d: %w", log, idx, v.cp.Size, err)
	}
	p := &search.Proof{LeafIndex: ti, TreeSize: v.cp.Size, RootHash: hex.EncodeToString(v.cp.Hash),
		Hashes: make([]string, len(hashes)), Checkpoint: string(v.cp.Raw)}
	for i, h := range hashes {
		p.Hashes[i] = hex.EncodeToString(h)
	}
	return p, nil
}

// Fetch returns entry idx of log as the log serves it, checked against
// leaf, and the DER certificates of its signers.
func (mon *Monitor) Fetch(ctx context.Context, log string, idx uint64, leaf []byte) ([]byte, [][]byte, error) {
	l, v, ti, err := mon.treeOf(log, idx)
	if err != nil {
		return nil, nil, err
	}
	var got *tlog.Entry
	err = l.Source.Entries(ctx, v.tree, ti, ti+1, tlog.EntriesOptions{Workers: 1}, func(e tlog.Entry) error {
		e.Data = bytes.Clone(e.Data)
		e.Extra = bytes.Clone(e.Extra)
		got = &e
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("fetching entry %d from %s: %w", idx, log, err)
	}
	if got == nil {
		return nil, nil, fmt.Errorf("%s served no entry %d", log, idx)
	}
	h := got.LeafHash
	if h == nil {
		h = rfc6962.DefaultHasher.HashLeaf(got.Data)
	}
	if !bytes.Equal(h, leaf) {
		return nil, nil, fmt.Errorf("%s serves entry %d with leaf hash %x, not the indexed (and proven) %x", log, idx, h, leaf)
	}
	ids, err := l.Source.Identities(l.parser, *got)
	if err != nil {
		return got.Data, nil, nil // the body stands; the index says it was malformed
	}
	var certs [][]byte
	for i := range ids {
		if der := ids[i].CertDER(); der != nil {
			certs = append(certs, der)
		}
	}
	return got.Data, certs, nil
}

// Logs returns the health of each log, for the page.
func (mon *Monitor) Logs(ctx context.Context) []web.Log {
	now := mon.cfg.Now()
	mon.mu.Lock()
	defer mon.mu.Unlock()
	out := make([]web.Log, 0, len(mon.cfg.Logs))
	for _, l := range mon.cfg.Logs {
		st := mon.status[l.Name]
		wl := web.Log{Name: l.Name, URL: l.URL, Kind: l.Kind, Size: st.size, VerifiedAt: st.lastVerified}
		if v, ok := mon.proofs.get(l.Name); ok {
			wl.Checkpoint = string(v.cp.Raw)
			if l.Scan != nil {
				if saved, err := mon.cfg.Store.Load(l.Name); err == nil && saved != nil && saved.Scan != nil && saved.Scan.TreeID == v.tree.ID {
					wl.ScanLag = v.cp.Size - min(saved.Scan.Next, v.cp.Size)
				}
			}
		}
		switch {
		case st.lastErr != nil:
			wl.Status = st.lastErr.Error()
		case st.lastVerified.IsZero():
			wl.Status = "not verified yet"
		case st.stale:
			wl.Status = fmt.Sprintf("stale: last grew %s ago", now.Sub(st.advancedAt).Round(time.Second))
		default:
			wl.Status, wl.Healthy = "verified", true
		}
		out = append(out, wl)
	}
	return out
}

// recentEvents keeps the latest events the monitor queued, for the page:
// at most maxRecent, and at most maxRecentBytes of entry bodies.
type recentEvents struct {
	Notifier
	mu     sync.Mutex
	events []alert.Event // oldest first
	bytes  int
}

const (
	maxRecent      = 500
	maxRecentBytes = 8 << 20
)

// Enqueue queues events with the notifier and remembers those it took.
func (r *recentEvents) Enqueue(ctx context.Context, events ...alert.Event) ([]alert.Event, error) {
	queued, err := r.Notifier.Enqueue(ctx, events...)
	if len(queued) == 0 {
		return queued, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range queued {
		r.events = append(r.events, ev)
		r.bytes += bodySize(ev)
	}
	for len(r.events) > maxRecent || (r.bytes > maxRecentBytes && len(r.events) > 1) {
		r.bytes -= bodySize(r.events[0])
		r.events[0] = alert.Event{}
		r.events = r.events[1:]
	}
	return queued, err
}

func bodySize(ev alert.Event) int {
	if ev.Evidence.Entry != nil {
		return len(ev.Evidence.Entry.Body)
	}
	return 0
}

// recent returns up to limit events, newest first.
func (r *recentEvents) recent(limit int) []alert.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(limit, len(r.events))
	out := make([]alert.Event, 0, n)
	for i := len(r.events) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, r.events[i])
	}
	return out
}

// alertsFor merges the firing conditions (kept across restarts) and the
// recent events, newest first, without repeats, at most limit.
func alertsFor(firing, recent []alert.Event, limit int) []alert.Event {
	seen := map[string]bool{}
	var out []alert.Event
	for _, evs := range [][]alert.Event{firing, recent} {
		for _, ev := range evs {
			if ev.ID != "" && seen[ev.ID] {
				continue
			}
			seen[ev.ID] = true
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b alert.Event) int { return b.Time.Compare(a.Time) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out
}
