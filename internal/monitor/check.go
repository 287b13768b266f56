package monitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// A check, top to bottom:
//
//	check
//	  load the saved state                                  (state)
//	  fetch and verify the head                             (Log.Source, checkpoint)
//	  parse the saved or starting checkpoint: trusted
//	  extend: prove the head extends trusted                (consistency proof; an old shard's final head)
//	  scan: per chunk, scanner.chunk then save progress     (scan.go)
//	  save the new state                                    (state)
//
// Each step returns to check; none calls back into it. Nothing is saved
// unless everything before it verified. verdict.go judges the error.

// checker runs the checks of one log. Methods are called from one goroutine.
type checker struct {
	log    *Log
	store  *state.Store
	events Notifier
	m      *metrics
	logger *slog.Logger
	now    func() time.Time
	obs    *observer // the log's part in CT/Rekor pairs; nil for none
	index  *logIndex // the log's part of the search index; nil for none
	proofs *proofs   // where the latest verified tree is published for search proofs
	// rebuildDir holds index rebuild requests (RequestRebuild); "" for none.
	rebuildDir string
	// archive keeps every verified checkpoint; nil for none.
	archive *archive.Archive
	// cosigner verifies this monitor's witness cosignatures; nil when it
	// is no witness.
	cosigner note.Verifier

	// base is the saved checkpoint this check believes is on disk: what
	// it loaded, then what it wrote. The log's witness may move it (commit).
	base []byte
	// cosigned is whether the verified head carried this monitor's
	// cosignature (witnessed logs).
	cosigned bool
}

// check fetches the log's checkpoint, verifies it and its consistency with
// the saved one, scans new entries, and only then saves the new state.
func (c *checker) check(ctx context.Context) Outcome {
	out := Outcome{Log: c.log.Name}
	out.Checkpoint, out.TOFU, out.Err = c.run(ctx)
	if out.Err != nil {
		out.Checkpoint = nil
	}
	if out.Checkpoint != nil && c.log.Witnessed && c.cosigner != nil {
		out.Witnessed, out.Cosigned = true, c.cosigned
	}
	return out
}

func (c *checker) run(ctx context.Context) (cp *checkpoint.Checkpoint, tofu bool, err error) {
	l := c.log
	start := c.now()
	prev, err := c.store.Load(l.Name)
	if err != nil {
		return nil, false, err
	}
	if prev != nil {
		c.base = prev.Checkpoint
	}
	head, err := timed(c, func() (*tlog.Head, error) { return l.Source.Head(ctx) })
	if err != nil {
		return nil, false, c.explainFetch(ctx, fmt.Errorf("fetching checkpoint of %s: %w", l.Name, err))
	}
	cp, err = c.verifyHead(ctx, head.Note, head.TreeID, head.HasClaims, head.Size, head.Root, activeKeys)
	if err != nil {
		if prev == nil && !c.startVerifies(head.TreeID) {
			// Nothing of this log was ever verified with the configured
			// key (no saved state; no starting checkpoint that it
			// verifies): a note that the key and origin do not verify
			// says the configuration is wrong, not that the log is.
			err = c.firstContact(head.Note, err)
		}
		return nil, false, err
	}
	if c.cosigner != nil && l.Witnessed {
		c.cosigned = witness.HasCosignature(head.Note, c.cosigner)
	}

	trusted, trustedTree, err := c.trusted(ctx, prev, head)
	if err != nil {
		return nil, false, err
	}
	if trusted != nil {
		if err := c.extend(ctx, trusted, trustedTree, cp, head); err != nil {
			return nil, false, err
		}
		c.noteRename(ctx, trusted, trustedTree, cp, head.TreeID)
	}
	if c.proofs != nil {
		// Verified (and, from the saved state, proven consistent): search
		// results of this log are proven against it, including those the
		// scan below indexes.
		c.proofs.set(l.Name, verifiedTree{tree: head.Tree(head.TreeID, cp.Size), cp: cp})
	}

	var scan *state.Scan
	if prev != nil {
		scan = prev.Scan
	}
	// The tree head is the saved one (Rekor v1 signs afresh on every
	// request, so the head is compared, not the bytes).
	same := prev != nil && prev.TreeID == head.TreeID && trusted.Size == cp.Size
	if l.Scan != nil {
		if scan, err = c.scan(ctx, progress{saved: prev, same: same, head: head, cp: cp}); err != nil {
			return nil, false, err
		}
	}
	if err := c.save(ctx, prev, c.newState(head, cp, scan), same, cp); err != nil {
		return nil, false, err
	}
	if c.obs != nil && scan != nil {
		c.obs.scanned(ctx, cp, head.Tree(head.TreeID, cp.Size), start, c.events, c.logger)
	}
	return cp, trusted == nil, nil
}

// trusted returns the checkpoint the head must extend, and its tree: the
// saved one, else the configured starting checkpoint, else none (trust on
// first use).
func (c *checker) trusted(ctx context.Context, prev *state.State, head *tlog.Head) (*checkpoint.Checkpoint, string, error) {
	l := c.log
	switch {
	case prev != nil:
		trusted, err := c.verify(ctx, prev.Checkpoint, prev.TreeID, shardKeys)
		if err != nil {
			// The saved note verified when it was saved: a failure now
			// means the configured key or origin changed, which needs a
			// human.
			return nil, "", &ConfigError{Err: fmt.Errorf("saved checkpoint of %s no longer verifies with the configured key and origin (was the key or origin changed?): %w", l.Name, err)}
		}
		return trusted, prev.TreeID, nil
	case l.Start != nil:
		trusted, err := l.Source.Checkpoint(l.Start, head.TreeID, l.Keys().Verifiers)
		if err != nil {
			return nil, "", &ConfigError{Err: fmt.Errorf("starting checkpoint of %s: %w", l.Name, err)}
		}
		return trusted, head.TreeID, nil
	}
	return nil, "", nil
}

// newState is the state after a check that verified cp.
func (c *checker) newState(head *tlog.Head, cp *checkpoint.Checkpoint, scan *state.Scan) *state.State {
	now := c.now()
	return &state.State{Origin: cp.Origin, TreeID: head.TreeID, Checkpoint: cp.Raw, VerifiedAt: now, AdvancedAt: now, Scan: scan}
}

// save writes next, the state after a verified check. When the tree head is
// the saved one (same) it keeps the saved note, and writes only when the
// scan moved or VerifiedAt is due a refresh.
func (c *checker) save(ctx context.Context, prev, next *state.State, same bool, cp *checkpoint.Checkpoint) error {
	if same {
		next.Checkpoint, next.AdvancedAt = prev.Checkpoint, prev.AdvancedAt
		if scanEqual(prev.Scan, next.Scan) && next.VerifiedAt.Sub(prev.VerifiedAt) < verifiedRefresh {
			return nil
		}
	} else if err := c.archiveCheckpoint(next.TreeID, cp); err != nil {
		return err
	}
	if err := c.commit(ctx, next, cp); err != nil {
		return fmt.Errorf("saving state of %s: %w", c.log.Name, err)
	}
	return nil
}

// archiveCheckpoint adds a verified checkpoint to the archive, before the
// state that records it (so the archive holds every saved checkpoint). A
// checkpoint whose size the archive holds with another root is a fork the
// log signed: a violation with both.
func (c *checker) archiveCheckpoint(treeID string, cp *checkpoint.Checkpoint) error {
	if c.archive == nil {
		return nil
	}
	err := c.archive.Add(c.log.Name, archive.Entry{TreeID: treeID, Size: cp.Size, Root: cp.Hash, Note: cp.Raw, Time: c.now()})
	var ce *archive.ConflictError
	if errors.As(err, &ce) {
		return &checkpoint.IntegrityError{Reason: checkpoint.ReasonFork, Old: ce.Existing.Note, New: cp.Raw,
			Err: fmt.Errorf("two roots for tree size %d: %x, archived %s, and %x", cp.Size, ce.Existing.Root, ce.Existing.Time.Format(time.RFC3339), cp.Hash)}
	}
	if err != nil {
		return fmt.Errorf("archiving checkpoint of %s: %w", c.log.Name, err)
	}
	return nil
}

// errMoved: the saved state is not the one the check started from.
var errMoved = errors.New("state moved")

// commit saves next, which records cp, the checkpoint this check verified
// (or, for scan progress, the one it scans under). The saved state is
// c.base unless the log's witness cosigned a checkpoint meanwhile: then cp
// and the cosigned checkpoint are proven consistent (the log showed the
// witness one and this check the other: a split view when they are not),
// and the larger of the two is saved, with next's scan progress. The proof
// is fetched outside the state's lock, and the write retried.
func (c *checker) commit(ctx context.Context, next *state.State, cp *checkpoint.Checkpoint) error {
	for range 4 {
		var moved *state.State
		err := c.store.Update(c.log.Name, func(cur *state.State) (*state.State, error) {
			if cur == nil || bytes.Equal(cur.Checkpoint, c.base) || cur.TreeID != next.TreeID {
				return next, nil
			}
			moved = cur
			return nil, errMoved
		})
		if err == nil {
			c.base = next.Checkpoint
			return nil
		}
		if !errors.Is(err, errMoved) {
			return err
		}
		other, err := c.verify(ctx, moved.Checkpoint, moved.TreeID, shardKeys)
		if err != nil {
			return fmt.Errorf("the saved checkpoint, written during this check, does not verify: %w", err)
		}
		older, newer := other, cp
		if other.Size > cp.Size {
			older, newer = cp, other
		}
		if err := c.prove(ctx, next.TreeID, older, newer); err != nil {
			var ie *checkpoint.IntegrityError
			if errors.As(err, &ie) {
				ie.Reason = checkpoint.ReasonSplitView
				ie.Old, ie.New = other.Raw, cp.Raw
				ie.Err = fmt.Errorf("the log gave this monitor's witness checkpoint %s and its reader %s, which no single history explains: %w", other, cp, ie.Err)
			}
			return err
		}
		if other.Size > cp.Size {
			// The witness is ahead: keep its checkpoint, take the scan.
			next.Checkpoint, next.AdvancedAt, next.Origin = moved.Checkpoint, moved.AdvancedAt, moved.Origin
		}
		c.base = moved.Checkpoint
	}
	return fmt.Errorf("the saved state of %s kept changing during the save", c.log.Name)
}

// startVerifies reports whether the log has a starting checkpoint that its
// configured keys verify: then the keys are known right, and a served note
// they do not verify is evidence even before anything was saved.
func (c *checker) startVerifies(treeID string) bool {
	if c.log.Start == nil {
		return false
	}
	_, err := c.log.Source.Checkpoint(c.log.Start, treeID, c.log.Keys().Verifiers)
	return err == nil
}

// verify verifies raw, a note of tree treeID, with the keys pick chooses
// ([activeKeys] or [shardKeys]); after a signature failure it resolves the
// keys again (at most once per RekeyEvery) and retries.
func (c *checker) verify(ctx context.Context, raw []byte, treeID string, pick func(Keys) []note.Verifier) (*checkpoint.Checkpoint, error) {
	cp, err := c.log.Source.Checkpoint(raw, treeID, pick(c.log.Keys()))
	if badSignature(err) && c.log.rekey(ctx, c.now(), c.logger) {
		cp, err = c.log.Source.Checkpoint(raw, treeID, pick(c.log.Keys()))
	}
	return cp, err
}

// verifyHead verifies a served note of tree treeID and that the API's
// unsigned claims, where it makes any, agree with it.
func (c *checker) verifyHead(ctx context.Context, raw []byte, treeID string, hasClaims bool, size uint64, root []byte, pick func(Keys) []note.Verifier) (*checkpoint.Checkpoint, error) {
	cp, err := c.verify(ctx, raw, treeID, pick)
	if err != nil {
		return nil, fmt.Errorf("checkpoint of %s: %w", c.log.Name, err)
	}
	if hasClaims && (cp.Size != size || !bytes.Equal(cp.Hash, root)) {
		return nil, &checkpoint.IntegrityError{Reason: checkpoint.ReasonMalformed, New: raw,
			Err: fmt.Errorf("API claims tree size %d root %x, but the signed checkpoint says size %d root %x", size, root, cp.Size, cp.Hash)}
	}
	return cp, nil
}

// shard finds tree id among the head's inactive shards and verifies its
// final checkpoint.
func (c *checker) shard(ctx context.Context, head *tlog.Head, id string) (*checkpoint.Checkpoint, bool, error) {
	for _, sh := range head.Inactive {
		if sh.TreeID != id {
			continue
		}
		final, err := c.verifyHead(ctx, sh.Note, sh.TreeID, true, sh.Size, sh.Root, shardKeys)
		if err != nil {
			return nil, true, fmt.Errorf("verifying final checkpoint of inactive shard %s: %w", sh.TreeID, err)
		}
		return final, true, nil
	}
	return nil, false, nil
}

// extend proves that cp (in head.TreeID) extends trusted (in trustedTree).
// When the log moved to a new tree, the old tree must be listed as an
// inactive shard whose final checkpoint extends trusted; the new tree is then
// trusted from its first checkpoint.
func (c *checker) extend(ctx context.Context, trusted *checkpoint.Checkpoint, trustedTree string, cp *checkpoint.Checkpoint, head *tlog.Head) error {
	if trustedTree == head.TreeID {
		return c.prove(ctx, head.TreeID, trusted, cp)
	}
	final, listed, err := c.shard(ctx, head, trustedTree)
	if err != nil {
		return err
	}
	if !listed {
		return &checkpoint.IntegrityError{Reason: checkpoint.ReasonConsistency, Old: trusted.Raw, New: cp.Raw,
			Err: fmt.Errorf("log switched from tree %s to tree %s without listing %s as an inactive shard", trustedTree, head.TreeID, trustedTree)}
	}
	if err := c.prove(ctx, trustedTree, trusted, final); err != nil {
		return err
	}
	c.logger.InfoContext(ctx, "log moved to a new tree; old shard verified, following the new one",
		"log", c.log.Name, "old_tree", trustedTree, "old_size", final.Size, "new_tree", head.TreeID, "size", cp.Size)
	return nil
}

// prove fetches and checks the consistency proof from trusted to cp.
func (c *checker) prove(ctx context.Context, treeID string, trusted, cp *checkpoint.Checkpoint) error {
	var p [][]byte
	if cp.Size > trusted.Size && trusted.Size > 0 {
		var err error
		p, err = c.consistencyProof(ctx, treeID, trusted.Size, cp.Size)
		if err != nil {
			return err
		}
	}
	return checkpoint.CheckConsistency(trusted, cp, p)
}

// consistencyProof fetches a consistency proof, timed.
func (c *checker) consistencyProof(ctx context.Context, treeID string, from, to uint64) ([][]byte, error) {
	p, err := timed(c, func() ([][]byte, error) { return c.log.Source.ConsistencyProof(ctx, treeID, from, to) })
	if err != nil {
		return nil, fmt.Errorf("fetching consistency proof %d->%d of %s: %w", from, to, c.log.Name, err)
	}
	return p, nil
}

// scan scans the entries the log added since the saved state, up to cp,
// saving the progress (with cp, which verified) after each chunk but the
// last, which the caller saves with the new state. When the log moved to a
// new tree (extend proved the old shard's final checkpoint), it first
// finishes the old shard, saving its progress too (the saved scan is then
// of the old tree, which the next check resumes), then scans the new tree
// from its first entry.
func (c *checker) scan(ctx context.Context, at progress) (*state.Scan, error) {
	head, cp := at.head, at.cp
	var prev *state.Scan
	if at.saved != nil {
		prev = at.saved.Scan
	}
	s := c.scanner()
	if prev != nil && prev.TreeID != head.TreeID {
		final, listed, err := c.shard(ctx, head, prev.TreeID)
		if err != nil {
			return nil, err
		}
		if !listed {
			return nil, fmt.Errorf("scan of %s stopped in tree %s, which the log no longer lists", c.log.Name, prev.TreeID)
		}
		if _, err := c.scanTree(ctx, s, prev, head.Tree(prev.TreeID, final.Size), final, at); err != nil {
			return nil, fmt.Errorf("scanning the rest of inactive shard %s: %w", prev.TreeID, err)
		}
		prev = &state.Scan{TreeID: head.TreeID}
	}
	tree := head.Tree(head.TreeID, cp.Size)
	sc, err := s.start(ctx, prev, tree, cp)
	if err != nil {
		return nil, err
	}
	if err := c.backfill(ctx, tree, cp, sc.Next, maxBackfillChunks); err != nil {
		// The index is behind; the check stands.
		c.logger.WarnContext(ctx, "search index backfill failed; the next check tries again", "log", c.log.Name, "err", err)
	}
	if c.index != nil {
		// Each chunk's index write overlaps the next chunk's fetch; the
		// check ends when the index holds what it scanned.
		c.index.startWriter()
		defer c.index.stopWriter()
	}
	return c.scanTree(ctx, s, sc, tree, cp, at)
}

// progress is what a scan's progress is saved with: the verified head and
// checkpoint of this check, the state saved before it, and whether the
// tree head is the saved one.
type progress struct {
	saved *state.State
	same  bool
	head  *tlog.Head
	cp    *checkpoint.Checkpoint
}

// state is the state that records sc with the check's verified checkpoint.
// On an unchanged tree head it keeps the saved note and AdvancedAt: a scan
// that catches up does not make the log look as if it grew.
func (p progress) state(c *checker, sc *state.Scan) *state.State {
	st := c.newState(p.head, p.cp, sc)
	if p.same {
		st.Checkpoint, st.AdvancedAt = p.saved.Checkpoint, p.saved.AdvancedAt
	}
	return st
}

// scanTree scans tree from sc up to treeCP (the verified size of the
// tree), saving each chunk's progress but the last with at.
func (c *checker) scanTree(ctx context.Context, s *scanner, sc *state.Scan, tree tlog.Tree, treeCP *checkpoint.Checkpoint, at progress) (*state.Scan, error) {
	if sc.Next > treeCP.Size {
		return nil, &checkpoint.IntegrityError{Reason: checkpoint.ReasonInclusion, New: treeCP.Raw,
			Err: fmt.Errorf("scanned %d entries of tree %q, but the verified checkpoint has only %d", sc.Next, sc.TreeID, treeCP.Size)}
	}
	s.begin(sc.Next, treeCP.Size)
	for sc.Next < treeCP.Size {
		var err error
		if sc, err = s.chunk(ctx, sc, tree, treeCP); err != nil {
			return nil, err
		}
		if sc.Next < treeCP.Size || tree.ID != at.head.TreeID {
			next := at.state(c, sc)
			if err := c.commit(ctx, next, at.cp); err != nil {
				return nil, fmt.Errorf("saving scan progress of %s: %w", c.log.Name, err)
			}
		}
	}
	return sc, nil
}

// scanner returns the scanner of this check, with what it needs and no
// more.
func (c *checker) scanner() *scanner {
	l := c.log
	return &scanner{log: l.Name, src: l.Source, cfg: l.Scan, parser: l.parser, events: c.events, keyID: l.Keys().KeyID,
		logger: c.logger, now: c.now, m: c.m.forScan(l.Name), obs: c.obs, ix: c.index}
}

// verifiedRefresh is how stale the saved VerifiedAt of an unchanged log may
// get: it seeds vigil_log_last_verified_timestamp_seconds after a restart.
const verifiedRefresh = 5 * time.Minute

// timed runs a fetch and records its duration.
func timed[T any](c *checker, f func() (T, error)) (T, error) {
	start := time.Now()
	defer func() { c.m.fetchDuration.WithLabelValues(c.log.Name).Observe(time.Since(start).Seconds()) }()
	return f()
}

func scanEqual(a, b *state.Scan) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.TreeID == b.TreeID && a.Next == b.Next
}
