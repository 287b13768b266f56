package monitor

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/rekor"
	"github.com/vigil-tlog/vigil/internal/state"
)

// Source is a log's read API, as package rekor implements it for Rekor v1
// (REST) and Rekor v2 (tiles). Implementations must be safe for concurrent
// use; errors mean "no verdict", never "the log misbehaved".
type Source interface {
	// Head returns the log's current signed checkpoint (and, for Rekor v1,
	// the API's unsigned claims and inactive shards).
	Head(ctx context.Context) (*rekor.Head, error)
	// ConsistencyProof returns the proof that tree treeID at size from is a
	// prefix of the same tree at size to; empty when from is 0 or from == to.
	ConsistencyProof(ctx context.Context, treeID string, from, to uint64) ([][]byte, error)
}

// Log is one log to watch, with its key and source resolved.
type Log struct {
	Name string
	Kind string // config.KindRekorV1 or config.KindRekorV2
	URL  string
	// Origin is the checkpoint origin for Rekor v2, and the signer hostname
	// for Rekor v1, whose origin is "<Origin> - <treeID>".
	Origin string
	// Keys are the log's keys. Read them with keys(): Rekey replaces them.
	Keys Keys
	// Rekey, when set, resolves the log's keys again: re-reads the key
	// file or trusted_root.json, refreshes TUF. A check that meets a
	// checkpoint whose signature does not verify calls it, at most once
	// per RekeyEvery (default 10 minutes), and verifies again with the
	// keys it returns: a key rotation that the trust material announces
	// after the monitor started is not a false alarm.
	Rekey      func(context.Context) (Keys, error)
	RekeyEvery time.Duration
	Source     Source
	// Client, when set, is the HTTP client of Source, used to explain a
	// checkpoint fetch that failed (what the URL serves instead).
	Client *http.Client
	// Staleness and MaxUnchanged: see config.Log.
	Staleness    time.Duration
	MaxUnchanged time.Duration
	// Start, when set, is a signed checkpoint to trust instead of trusting
	// the first one fetched.
	Start []byte
	// Schedule decides when the next check runs.
	Schedule Schedule
	// Scan, when set, scans new entries after each verified checkpoint,
	// reading them through Entries.
	Scan    *ScanConfig
	Entries EntrySource
	// parser caches parsed certificates across checks of this log.
	parser *identity.Parser

	keyMu   sync.Mutex // guards Keys after New, and rekeyed
	rekeyed time.Time  // last call of Rekey
}

// Keys are the keys of a log.
type Keys struct {
	// Verifiers verify new checkpoints: the log's key, or during a key
	// rotation each key the trust material lists as valid now.
	Verifiers []note.Verifier
	// Saved verify the saved checkpoint and the checkpoints of a Rekor v1
	// log's inactive shards: Verifiers and the keys whose validity ended
	// (nil: Verifiers). A frozen shard keeps the key it was signed with
	// while it was active (rekor-server's sharding_config gives each shard
	// its signingConfig); the active tree must use a key valid now.
	Saved []note.Verifier
	// Public are the public keys of Saved, for explaining a checkpoint
	// that does not verify.
	Public []crypto.PublicKey
	// KeyID is the hex key ID of each of Verifiers, comma-separated, for
	// evidence.
	KeyID string
}

// keys returns the log's current keys.
func (l *Log) keys() Keys {
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	k := l.Keys
	if k.Saved == nil {
		k.Saved = k.Verifiers
	}
	return k
}

// activeKeys picks the keys that verify the active tree's checkpoints.
func activeKeys(k Keys) []note.Verifier { return k.Verifiers }

// shardKeys picks the keys that verify an inactive shard's checkpoints.
func shardKeys(k Keys) []note.Verifier { return k.Saved }

// parse verifies raw as a checkpoint of tree treeID (Rekor v1; ignored for
// other kinds) signed by one of vs. A Rekor v1 signature counts whatever
// hostname it was made under (see checkpoint.ParseRekorV1); a Rekor v2
// checkpoint must carry the configured origin.
func (l *Log) parse(raw []byte, treeID string, vs []note.Verifier) (*checkpoint.Checkpoint, error) {
	if l.Kind == kindV1 {
		return checkpoint.ParseRekorV1(raw, treeID, vs...)
	}
	return checkpoint.Parse(raw, l.Origin, vs...)
}

const (
	kindV1 = "rekor-v1"

	resultVerified  = "verified"
	resultViolation = "violation"
	resultError     = "error"
)

// Outcome is the verdict of one check of one log.
type Outcome struct {
	Log string
	// Checkpoint is the verified checkpoint (nil unless Err is nil).
	Checkpoint *checkpoint.Checkpoint
	// TOFU is true when Checkpoint was trusted on first use.
	TOFU bool
	// Err is nil (verified), an *checkpoint.IntegrityError (violation), or
	// any other error (no verdict).
	Err error
}

// Result returns "verified", "violation" or "error".
func (o Outcome) Result() string {
	switch {
	case o.Err == nil:
		return resultVerified
	case violation(o.Err) != nil:
		return resultViolation
	default:
		return resultError
	}
}

// violation returns the integrity violation err reports, or nil when err
// is not evidence against the log (including a *ConfigError that wraps
// one).
func violation(err error) *checkpoint.IntegrityError {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return nil
	}
	var ie *checkpoint.IntegrityError
	if errors.As(err, &ie) {
		return ie
	}
	return nil
}

// ConfigError reports a check that cannot run as configured: the saved
// checkpoint or the starting checkpoint does not verify with the configured
// key and origin (a rotated key, a changed origin, a checkpoint of another
// log). It is never evidence against the log, even when it wraps a
// *checkpoint.IntegrityError.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// checker runs the checks of one log. Methods are called from one goroutine.
type checker struct {
	log    *Log
	store  *state.Store
	events Notifier
	m      *metrics
	logger *slog.Logger
	now    func() time.Time
}

// check fetches the log's checkpoint, verifies it and its consistency with
// the saved one, scans new entries, and only then saves the new state.
// Nothing is saved unless everything verified.
func (c *checker) check(ctx context.Context) Outcome {
	out := Outcome{Log: c.log.Name}
	prev, err := c.store.Load(c.log.Name)
	if err != nil {
		out.Err = err
		return out
	}
	head, err := timed(c, func() (*rekor.Head, error) { return c.log.Source.Head(ctx) })
	if err != nil {
		out.Err = c.explainFetch(ctx, fmt.Errorf("fetching checkpoint of %s: %w", c.log.Name, err))
		return out
	}
	cp, err := c.verifyHead(ctx, head.Note, head.TreeID, head.HasClaims, head.Size, head.Root, activeKeys)
	if err != nil {
		if prev == nil && !c.startVerifies(head.TreeID) {
			// Nothing of this log was ever verified with the configured
			// key (no saved state; no starting checkpoint that it
			// verifies): a note that the key and origin do not verify
			// says the configuration is wrong, not that the log is.
			err = c.firstContact(head.Note, err)
		}
		out.Err = err
		return out
	}

	var trusted *checkpoint.Checkpoint // what cp must extend
	trustedTree := head.TreeID
	switch {
	case prev != nil:
		trusted, err = c.log.parse(prev.Checkpoint, prev.TreeID, c.log.keys().Saved)
		if err != nil && violation(err) != nil && c.rekey(ctx) {
			trusted, err = c.log.parse(prev.Checkpoint, prev.TreeID, c.log.keys().Saved)
		}
		if err != nil {
			// The saved note verified when it was saved: a failure now means
			// the configured key or origin changed, which needs a human.
			out.Err = &ConfigError{Err: fmt.Errorf("saved checkpoint of %s no longer verifies with the configured key and origin (was the key or origin changed?): %w", c.log.Name, err)}
			return out
		}
		trustedTree = prev.TreeID
	case c.log.Start != nil:
		trusted, err = c.log.parse(c.log.Start, head.TreeID, c.log.keys().Verifiers)
		if err != nil {
			out.Err = &ConfigError{Err: fmt.Errorf("starting checkpoint of %s: %w", c.log.Name, err)}
			return out
		}
	default:
		out.TOFU = true
	}

	if trusted != nil {
		if err := c.extend(ctx, trusted, trustedTree, cp, head); err != nil {
			out.Err = err
			return out
		}
		c.noteHostname(ctx, trusted, trustedTree, cp, head.TreeID)
	}

	var scan *state.Scan
	if prev != nil {
		scan = prev.Scan
	}
	newState := func(sc *state.Scan) *state.State {
		now := c.now()
		return &state.State{Origin: cp.Origin, TreeID: head.TreeID, Checkpoint: cp.Raw, VerifiedAt: now, AdvancedAt: now, Scan: sc}
	}
	if c.log.Scan != nil {
		sc := &scanner{c: c, cfg: c.log.Scan, src: c.log.Entries, parser: c.log.parser}
		if scan != nil && scan.TreeID != head.TreeID {
			// The log moved to a new tree (extend proved the old shard's
			// final checkpoint): finish scanning the old shard, then scan
			// the new tree from its first entry. A crash in between
			// re-scans the old shard's tail (at-least-once).
			if err := c.finishShard(ctx, sc, scan, head); err != nil {
				out.Err = err
				return out
			}
			scan = &state.Scan{TreeID: head.TreeID}
		}
		scan, err = sc.scan(ctx, scan, head, cp, func(partial *state.Scan) error {
			if err := c.store.Update(c.log.Name, func(*state.State) (*state.State, error) { return newState(partial), nil }); err != nil {
				return fmt.Errorf("saving scan progress of %s: %w", c.log.Name, err)
			}
			return nil
		})
		if err != nil {
			out.Err = err
			return out
		}
	}

	next := newState(scan)
	if prev != nil && prev.TreeID == head.TreeID && trusted.Size == cp.Size {
		// Same tree head as saved (Rekor v1 signs afresh on every request,
		// so compare the head, not the bytes): keep the saved note and only
		// write when the scan moved.
		next.Checkpoint, next.AdvancedAt = prev.Checkpoint, prev.AdvancedAt
		if scanEqual(prev.Scan, scan) && next.VerifiedAt.Sub(prev.VerifiedAt) < verifiedRefresh {
			next = nil
		}
	}
	err = c.store.Update(c.log.Name, func(*state.State) (*state.State, error) { return next, nil })
	if err != nil {
		out.Err = fmt.Errorf("saving state of %s: %w", c.log.Name, err)
		return out
	}
	out.Checkpoint = cp
	return out
}

// startVerifies reports whether the log has a starting checkpoint that its
// configured keys verify: then the keys are known right, and a served note
// they do not verify is evidence even before anything was saved.
func (c *checker) startVerifies(treeID string) bool {
	if c.log.Start == nil {
		return false
	}
	_, err := c.log.parse(c.log.Start, treeID, c.log.keys().Verifiers)
	return err == nil
}

// verifyHead verifies a served note for tree treeID with the keys pick
// chooses ([activeKeys] or [shardKeys]) and, for Rekor v1, that the API's
// unsigned claims agree with it.
func (c *checker) verifyHead(ctx context.Context, raw []byte, treeID string, hasClaims bool, size uint64, root []byte, pick func(Keys) []note.Verifier) (*checkpoint.Checkpoint, error) {
	cp, err := c.log.parse(raw, treeID, pick(c.log.keys()))
	if ie := violation(err); ie != nil && ie.Reason == checkpoint.ReasonSignature && c.rekey(ctx) {
		cp, err = c.log.parse(raw, treeID, pick(c.log.keys()))
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint of %s: %w", c.log.Name, err)
	}
	if hasClaims && (cp.Size != size || !bytes.Equal(cp.Hash, root)) {
		return nil, &checkpoint.IntegrityError{Reason: checkpoint.ReasonMalformed, New: raw,
			Err: fmt.Errorf("API claims tree size %d root %x, but the signed checkpoint says size %d root %x", size, root, cp.Size, cp.Hash)}
	}
	return cp, nil
}

// extend proves that cp (in head.TreeID) extends trusted (in trustedTree).
// When a Rekor v1 log moved to a new tree, the old tree must be listed as an
// inactive shard whose final checkpoint extends trusted; the new tree is then
// trusted from its first checkpoint.
func (c *checker) extend(ctx context.Context, trusted *checkpoint.Checkpoint, trustedTree string, cp *checkpoint.Checkpoint, head *rekor.Head) error {
	if trustedTree == head.TreeID {
		return c.prove(ctx, head.TreeID, trusted, cp)
	}
	for _, sh := range head.Inactive {
		if sh.TreeID != trustedTree {
			continue
		}
		final, err := c.verifyHead(ctx, sh.Note, sh.TreeID, true, sh.Size, sh.Root, shardKeys)
		if err != nil {
			return fmt.Errorf("verifying final checkpoint of inactive shard %s: %w", sh.TreeID, err)
		}
		if err := c.prove(ctx, sh.TreeID, trusted, final); err != nil {
			return err
		}
		c.logger.InfoContext(ctx, "log moved to a new tree; old shard verified, following the new one",
			"log", c.log.Name, "old_tree", sh.TreeID, "old_size", final.Size, "new_tree", head.TreeID, "size", cp.Size)
		return nil
	}
	return &checkpoint.IntegrityError{Reason: checkpoint.ReasonConsistency, Old: trusted.Raw, New: cp.Raw,
		Err: fmt.Errorf("log switched from tree %s to tree %s without listing %s as an inactive shard", trustedTree, head.TreeID, trustedTree)}
}

// finishShard scans the entries of the inactive shard scan.TreeID that the
// scan had not reached when the log moved on.
func (c *checker) finishShard(ctx context.Context, sc *scanner, scan *state.Scan, head *rekor.Head) error {
	for i, sh := range head.Inactive {
		if sh.TreeID != scan.TreeID {
			continue
		}
		final, err := c.verifyHead(ctx, sh.Note, sh.TreeID, true, sh.Size, sh.Root, shardKeys)
		if err != nil {
			return fmt.Errorf("verifying final checkpoint of inactive shard %s: %w", sh.TreeID, err)
		}
		old := &rekor.Head{TreeID: sh.TreeID, Inactive: head.Inactive[:i]}
		if _, err := sc.scan(ctx, scan, old, final, func(*state.Scan) error { return nil }); err != nil {
			return fmt.Errorf("scanning the rest of inactive shard %s: %w", sh.TreeID, err)
		}
		return nil
	}
	return fmt.Errorf("scan of %s stopped in tree %s, which the log no longer lists", c.log.Name, scan.TreeID)
}

// prove fetches and checks the consistency proof from trusted to cp.
func (c *checker) prove(ctx context.Context, treeID string, trusted, cp *checkpoint.Checkpoint) error {
	var p [][]byte
	if cp.Size > trusted.Size && trusted.Size > 0 {
		var err error
		p, err = timed(c, func() ([][]byte, error) {
			return c.log.Source.ConsistencyProof(ctx, treeID, trusted.Size, cp.Size)
		})
		if err != nil {
			return fmt.Errorf("fetching consistency proof %d->%d of %s: %w", trusted.Size, cp.Size, c.log.Name, err)
		}
	}
	return checkpoint.CheckConsistency(trusted, cp, p)
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

// rekeyEvery is the default of Log.RekeyEvery.
const rekeyEvery = 10 * time.Minute

// rekey resolves the log's keys again after a signature failure, at most
// once per RekeyEvery, and reports whether they changed.
func (c *checker) rekey(ctx context.Context) bool {
	l := c.log
	if l.Rekey == nil {
		return false
	}
	every := l.RekeyEvery
	if every <= 0 {
		every = rekeyEvery
	}
	now := c.now()
	l.keyMu.Lock()
	if !l.rekeyed.IsZero() && now.Sub(l.rekeyed) < every {
		l.keyMu.Unlock()
		return false
	}
	l.rekeyed = now
	old := l.Keys
	l.keyMu.Unlock()

	k, err := l.Rekey(ctx)
	if err != nil {
		c.logger.WarnContext(ctx, "could not resolve the log's keys again after a signature failure", "log", l.Name, "err", err)
		return false
	}
	if k.KeyID == old.KeyID && len(k.Saved) == len(old.Saved) {
		return false
	}
	l.keyMu.Lock()
	l.Keys = k
	l.keyMu.Unlock()
	c.logger.WarnContext(ctx, "the log's keys changed in the trust material; verifying again", "log", l.Name,
		"old_key_ids", old.KeyID, "new_key_ids", k.KeyID)
	return true
}
