// Package audit checks Sigstore bundles against what the monitor verified:
// the split-view check a release pipeline runs before it deploys.
//
// A bundle's transparency log entry carries an inclusion proof and the
// checkpoint it was made against: the log's signed word, given to the
// client that signed. A log showing clients one history and monitors
// another (a split view) can only be caught by comparing the two. For each
// entry of a bundle [Auditor.Audit]:
//
//  1. finds the configured log by the entry's log ID (tlog.Log.KeyID of
//     one of the log's keys);
//  2. verifies the entry's checkpoint with the log's keys
//     (tlog.Log.Checkpoint), checks that the proof's tree size and root
//     hash are the checkpoint's, and verifies the RFC 6962 inclusion proof
//     of the entry's leaf against that root;
//  3. proves the checkpoint consistent with what the monitor verified: the
//     log's saved state and the checkpoint archive. A verified checkpoint of
//     the same size with another root is a split view without asking the
//     log. Otherwise the log must prove, with a consistency proof, that
//     the bundle's tree and a verified tree are one history; a proof that
//     does not verify, or a log whose current tree is smaller than the
//     bundle's, is a split view. A log that cannot be reached, when
//     nothing verified decides, is no verdict.
//
// A split view is a *checkpoint.IntegrityError with reason split_view, Old
// the checkpoint the monitor verified and New the bundle's: both signed by
// the log, which is what a third party needs to check the claim.
package audit

import (
	"context"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	rekorpb "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Log is one log the monitor watches, as an audit needs it.
type Log struct {
	// Name is the configured name: the state file's and the archive's key.
	Name string
	// Kind is the configured kind; a Rekor v1 log's checkpoints name their
	// tree ("<hostname> - <treeID>").
	Kind config.Kind
	// Source reads the log.
	Source tlog.Log
	// Keys returns the log's keys now (the monitor may re-read them after
	// a rotation).
	Keys func() Keys
}

// Keys are the keys of a log.
type Keys struct {
	// Verifiers verify the log's current checkpoints.
	Verifiers []note.Verifier
	// Saved verify checkpoints signed earlier: Verifiers and keys whose
	// validity ended (a bundle outlives a key rotation). Nil: Verifiers.
	Saved []note.Verifier
	// Public are the public keys of Saved: their tlog.Log.KeyID are the
	// log IDs bundles carry.
	Public []crypto.PublicKey
}

// ArchiveEntry is a checkpoint of the archive.
type ArchiveEntry = archive.Entry

// Archive is what an audit reads of the checkpoint archive
// (an *archive.Archive): the checkpoints the monitor verified or cosigned,
// by log and tree. Both methods are safe for concurrent use.
type Archive interface {
	// Get returns the checkpoint of tree treeID of log at exactly size,
	// and false when there is none.
	Get(log, treeID string, size uint64) (ArchiveEntry, bool, error)
	// Around returns the archived checkpoints nearest size: the largest
	// at or below it and the smallest at or above it (nil when none).
	Around(log, treeID string, size uint64) (below, above *ArchiveEntry, err error)
}

// Config configures an Auditor.
type Config struct {
	// Logs are the logs the monitor watches.
	Logs []Log
	// StateDir is the monitor's state directory, read without its lock
	// (state.ReadState): a monitor may be running.
	StateDir string
	// Archive is the checkpoint archive (archive.OpenReader for a tool
	// beside a running monitor); nil when there is none.
	Archive Archive
	// Timeout bounds the log requests of one bundle (default 30s).
	Timeout time.Duration
}

// Auditor audits bundles. It is safe for concurrent use.
type Auditor struct {
	logs    []Log
	dir     string
	archive Archive
	timeout time.Duration
}

// New returns an Auditor for cfg.
func New(cfg Config) (*Auditor, error) {
	if len(cfg.Logs) == 0 {
		return nil, errors.New("no logs to audit bundles against")
	}
	for i, l := range cfg.Logs {
		if l.Name == "" || l.Source == nil || l.Keys == nil {
			return nil, fmt.Errorf("logs[%d]: name, source and keys are required", i)
		}
	}
	t := cfg.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	return &Auditor{logs: cfg.Logs, dir: cfg.StateDir, archive: cfg.Archive, timeout: t}, nil
}

// Verdict is the outcome of an audit, for a bundle and for each entry.
type Verdict string

const (
	// Consistent: every checkpoint is one history with what the monitor
	// verified.
	Consistent Verdict = "consistent"
	// SplitView: a checkpoint of the bundle and one the monitor verified
	// are two histories; Evidence holds both.
	SplitView Verdict = "split_view"
	// Invalid: the bundle is malformed, of a log the monitor does not
	// watch, or its checkpoint or inclusion proof does not verify.
	Invalid Verdict = "invalid"
	// NoVerdict: the log could not be asked and nothing verified decides.
	NoVerdict Verdict = "no_verdict"
)

// rank orders verdicts: a split view anywhere wins over an invalid entry,
// which wins over no verdict, which wins over consistent (as `monitor
// check` chooses its exit code).
func (v Verdict) rank() int {
	switch v {
	case SplitView:
		return 3
	case Invalid:
		return 2
	case NoVerdict:
		return 1
	}
	return 0
}

// Report is the audit of one bundle.
type Report struct {
	// Bundle names the bundle (its file name), when known.
	Bundle  string  `json:"bundle,omitempty"`
	Verdict Verdict `json:"verdict"`
	// Entries are the bundle's transparency log entries, in order.
	Entries []Entry `json:"entries,omitempty"`
	// Error says what is wrong when the verdict is not consistent.
	Error string `json:"error,omitempty"`
}

// Entry is the audit of one transparency log entry of a bundle.
type Entry struct {
	// Entry is the index in verificationMaterial.tlogEntries.
	Entry    int    `json:"entry"`
	Log      string `json:"log,omitempty"`
	LogID    string `json:"log_id"`
	LogIndex int64  `json:"log_index"`
	TreeID   string `json:"tree_id,omitempty"`
	TreeSize uint64 `json:"tree_size,omitempty"`
	RootHash string `json:"root_hash,omitempty"`
	// Checkpoint is the bundle's signed checkpoint.
	Checkpoint string  `json:"checkpoint,omitempty"`
	Verdict    Verdict `json:"verdict"`
	// ProvenAgainst is the verified checkpoint the bundle's was proven
	// consistent with (or conflicts with).
	ProvenAgainst *Reference `json:"proven_against,omitempty"`
	// Evidence is set for a split view.
	Evidence *Evidence `json:"evidence,omitempty"`
	Error    string    `json:"error,omitempty"`

	err error
}

// Err is the error behind a verdict other than consistent.
func (e *Entry) Err() error { return e.err }

// Reference is a checkpoint the monitor verified.
type Reference struct {
	// Source is where it came from: "archive", "state" (the monitor's last
	// verified checkpoint) or "log" (the log's current checkpoint, verified
	// now with the log's keys).
	Source     string `json:"source"`
	TreeSize   uint64 `json:"tree_size"`
	Checkpoint string `json:"checkpoint"`
}

// Evidence of a split view: two checkpoints signed by the log that no
// append-only history explains, and the proof the log gave, if any.
type Evidence struct {
	Reason        checkpoint.Reason `json:"reason"`
	OldCheckpoint string            `json:"old_checkpoint"`
	NewCheckpoint string            `json:"new_checkpoint"`
	Proof         []string          `json:"proof,omitempty"`
	Detail        string            `json:"detail"`
}

// UnavailableError is a failure to reach what an audit needs (the log, the
// state directory, the archive): no verdict.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Audit audits the bundle data (JSON) named name. The report's verdict is
// the worst of its entries'.
func (a *Auditor) Audit(ctx context.Context, name string, data []byte) *Report {
	r := &Report{Bundle: name, Verdict: Consistent}
	b, err := ParseBundle(data)
	if err != nil {
		r.Verdict, r.Error = Invalid, err.Error()
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	for i, tle := range b.VerificationMaterial.TlogEntries {
		e := a.entry(ctx, i, tle)
		if e.Verdict.rank() > r.Verdict.rank() {
			r.Verdict, r.Error = e.Verdict, e.Error
		}
		r.Entries = append(r.Entries, e)
	}
	return r
}

// Err returns the error of the report's first entry whose verdict is the
// report's, or nil when it is consistent. A split view is a
// *checkpoint.IntegrityError, an invalid bundle an *InputError, no verdict
// an *UnavailableError.
func (r *Report) Err() error {
	if r.Verdict == Consistent {
		return nil
	}
	for _, e := range r.Entries {
		if e.Verdict == r.Verdict && e.err != nil {
			return e.err
		}
	}
	return errors.New(r.Error)
}

// entry audits entry i of a bundle, whose fields ParseBundle checked.
func (a *Auditor) entry(ctx context.Context, i int, tle *rekorpb.TransparencyLogEntry) Entry {
	path := fmt.Sprintf("verificationMaterial.tlogEntries[%d]", i)
	e := Entry{Entry: i, LogID: hex.EncodeToString(tle.LogId.KeyId), LogIndex: tle.LogIndex,
		Checkpoint: tle.InclusionProof.Checkpoint.Envelope}
	fail := func(err error) Entry {
		e.err, e.Error = err, err.Error()
		var ie *checkpoint.IntegrityError
		var in *InputError
		// An invalid bundle may wrap the IntegrityError of a checkpoint
		// that does not verify: evidence against the bundle, not the log.
		switch {
		case errors.As(err, &in):
			e.Verdict = Invalid
		case errors.As(err, &ie):
			e.Verdict = SplitView
			e.Evidence = &Evidence{Reason: ie.Reason, OldCheckpoint: string(ie.Old), NewCheckpoint: string(ie.New),
				Proof: ie.ProofHex(), Detail: ie.Err.Error()}
		default:
			e.Verdict = NoVerdict
		}
		return e
	}
	l, keys, err := a.logFor(path, e.LogID)
	if err != nil {
		return fail(err)
	}
	e.Log = l.Name
	raw := []byte(tle.InclusionProof.Checkpoint.Envelope)
	treeID := ""
	if l.Kind == config.KindRekorV1 {
		treeID = v1TreeID(raw)
	}
	e.TreeID = treeID
	cp, err := l.Source.Checkpoint(raw, treeID, keys.Saved)
	if err != nil {
		return fail(&InputError{Field: path + ".inclusionProof.checkpoint.envelope",
			Err: fmt.Errorf("not a checkpoint of log %s signed with its key: %w", l.Name, err)})
	}
	e.TreeSize, e.RootHash = cp.Size, hex.EncodeToString(cp.Hash)
	if err := checkInclusion(path+".inclusionProof", tle, cp); err != nil {
		return fail(err)
	}
	ref, err := a.prove(ctx, l, keys, treeID, cp)
	e.ProvenAgainst = ref
	if err != nil {
		return fail(err)
	}
	e.Verdict = Consistent
	return e
}

// logFor finds the configured log whose key has log ID id.
func (a *Auditor) logFor(path, id string) (Log, Keys, error) {
	var watched []string
	for _, l := range a.logs {
		k := l.Keys()
		if k.Saved == nil {
			k.Saved = k.Verifiers
		}
		for _, pub := range k.Public {
			kid, err := l.Source.KeyID(pub)
			if err != nil {
				continue
			}
			if kid == id {
				return l, k, nil
			}
			watched = append(watched, l.Name+" "+kid)
		}
	}
	return Log{}, Keys{}, &InputError{Field: path + ".logId.keyId",
		Err: fmt.Errorf("log ID %s is not a log this monitor watches (it watches: %s)", id, strings.Join(watched, ", "))}
}

// v1TreeID returns the tree ID of a Rekor v1 checkpoint's origin
// "<hostname> - <treeID>", or "" (its verification then fails on the
// origin).
func v1TreeID(raw []byte) string {
	origin, _, _ := strings.Cut(string(raw), "\n")
	i := strings.LastIndex(origin, " - ")
	if i < 0 {
		return ""
	}
	id := origin[i+3:]
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		return ""
	}
	return id
}

// checkInclusion checks that the entry's inclusion proof is of the signed
// checkpoint cp and proves the entry's leaf in it.
func checkInclusion(path string, tle *rekorpb.TransparencyLogEntry, cp *checkpoint.Checkpoint) error {
	p := tle.InclusionProof
	if uint64(p.TreeSize) != cp.Size {
		return inputErr(path+".treeSize", "%d, but the signed checkpoint is of a tree of size %d", p.TreeSize, cp.Size)
	}
	if !slices.Equal(p.RootHash, cp.Hash) {
		return inputErr(path+".rootHash", "%x, but the signed checkpoint's root hash is %x", p.RootHash, cp.Hash)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(tle.CanonicalizedBody)
	// RFC 6962 section 2.1.1: the audit path of leaf logIndex in the tree
	// of size treeSize.
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(p.LogIndex), cp.Size, leaf, p.Hashes, cp.Hash); err != nil {
		return inputErr(path+".hashes", "the inclusion proof of the entry's canonicalizedBody does not verify against the signed root: %w", err)
	}
	return nil
}

// verified is a checkpoint the monitor verified, with where it came from.
type verified struct {
	source string
	cp     *checkpoint.Checkpoint
}

func (v *verified) ref() *Reference {
	return &Reference{Source: v.source, TreeSize: v.cp.Size, Checkpoint: string(v.cp.Raw)}
}

// prove proves b, a verified checkpoint of tree treeID of l, consistent
// with what the monitor verified. It returns the verified checkpoint it
// was compared with.
func (a *Auditor) prove(ctx context.Context, l Log, keys Keys, treeID string, b *checkpoint.Checkpoint) (*Reference, error) {
	refs, err := a.verifiedAround(l, keys, treeID, b.Size)
	if err != nil {
		return nil, err
	}
	// Same size: the roots decide, without asking the log.
	for _, v := range refs {
		if v.cp.Size == b.Size {
			if !slices.Equal(v.cp.Hash, b.Hash) {
				return v.ref(), splitView(v.cp, b, nil, fmt.Errorf("two roots for tree size %d: %x (verified, %s) and %x (the bundle's)",
					b.Size, v.cp.Hash, v.source, b.Hash))
			}
			return v.ref(), nil
		}
	}
	// A larger verified tree: the log proves the bundle's tree is its prefix.
	var above, below *verified
	for _, v := range refs {
		if v.cp.Size > b.Size && (above == nil || v.cp.Size < above.cp.Size) {
			above = v
		}
		if v.cp.Size < b.Size && (below == nil || v.cp.Size > below.cp.Size) {
			below = v
		}
	}
	if above != nil {
		return above.ref(), a.consistent(ctx, l, treeID, b, above)
	}
	if below == nil {
		return nil, &UnavailableError{Err: fmt.Errorf("nothing of log %s (tree %q) is verified yet: run the monitor first", l.Name, treeID)}
	}
	// The bundle's tree is newer than anything verified: the log proves
	// the verified tree is its prefix. A log that cannot may not have
	// that tree at all: its current checkpoint says.
	p, err := l.Source.ConsistencyProof(ctx, treeID, below.cp.Size, b.Size)
	if err == nil {
		if err := checkpoint.CheckConsistency(below.cp, b, p); err != nil {
			return below.ref(), asSplitView(err, below.cp, b, p)
		}
		return below.ref(), nil
	}
	head, herr := a.head(ctx, l, keys, treeID)
	if herr != nil {
		return below.ref(), &UnavailableError{Err: fmt.Errorf("fetching the consistency proof of log %s from size %d to %d: %w (and its checkpoint: %w)",
			l.Name, below.cp.Size, b.Size, err, herr)}
	}
	if head.cp.Size < b.Size {
		return head.ref(), splitView(head.cp, b, nil, fmt.Errorf("the log's checkpoint is of a tree of size %d, smaller than the bundle's (%d): a log never shrinks, so the bundle's tree is not in the history the log shows",
			head.cp.Size, b.Size))
	}
	return head.ref(), a.consistent(ctx, l, treeID, b, head)
}

// consistent fetches the proof that b's tree is a prefix of v's and
// verifies it.
func (a *Auditor) consistent(ctx context.Context, l Log, treeID string, b *checkpoint.Checkpoint, v *verified) error {
	if v.cp.Size == b.Size {
		if !slices.Equal(v.cp.Hash, b.Hash) {
			return splitView(v.cp, b, nil, fmt.Errorf("two roots for tree size %d", b.Size))
		}
		return nil
	}
	p, err := l.Source.ConsistencyProof(ctx, treeID, b.Size, v.cp.Size)
	if err != nil {
		return &UnavailableError{Err: fmt.Errorf("fetching the consistency proof of log %s from size %d to %d: %w", l.Name, b.Size, v.cp.Size, err)}
	}
	if err := checkpoint.CheckConsistency(b, v.cp, p); err != nil {
		return asSplitView(err, v.cp, b, p)
	}
	return nil
}

// head fetches and verifies the log's current checkpoint of tree treeID
// (a Rekor v1 log's inactive shard: its final checkpoint).
func (a *Auditor) head(ctx context.Context, l Log, keys Keys, treeID string) (*verified, error) {
	h, err := l.Source.Head(ctx)
	if err != nil {
		return nil, err
	}
	raw, vs := h.Note, keys.Verifiers
	if h.TreeID != treeID {
		raw = nil
		for _, s := range h.Inactive {
			if s.TreeID == treeID {
				raw, vs = s.Note, keys.Saved
			}
		}
		if raw == nil {
			return nil, fmt.Errorf("the log lists no tree %q", treeID)
		}
	}
	cp, err := l.Source.Checkpoint(raw, treeID, vs)
	if err != nil {
		return nil, fmt.Errorf("verifying the log's checkpoint: %w", err)
	}
	return &verified{source: "log", cp: cp}, nil
}

// verifiedAround returns the checkpoints of tree treeID the monitor
// verified nearest size: the saved state's, and the archive's at, below
// and above size.
func (a *Auditor) verifiedAround(l Log, keys Keys, treeID string, size uint64) ([]*verified, error) {
	var out []*verified
	if a.dir != "" {
		st, err := state.ReadState(a.dir, l.Name)
		if err != nil {
			return nil, &UnavailableError{Err: fmt.Errorf("reading the state of log %s: %w", l.Name, err)}
		}
		if st != nil && st.TreeID == treeID {
			cp, err := l.Source.Checkpoint(st.Checkpoint, st.TreeID, keys.Saved)
			if err != nil {
				return nil, &UnavailableError{Err: fmt.Errorf("the saved checkpoint of log %s does not verify with its keys: %w", l.Name, err)}
			}
			out = append(out, &verified{source: "state", cp: cp})
		}
	}
	if a.archive == nil {
		return out, nil
	}
	var entries []ArchiveEntry
	e, ok, err := a.archive.Get(l.Name, treeID, size)
	if err != nil {
		return nil, &UnavailableError{Err: fmt.Errorf("reading the checkpoint archive of log %s: %w", l.Name, err)}
	}
	if ok {
		entries = append(entries, e)
	} else {
		below, above, err := a.archive.Around(l.Name, treeID, size)
		if err != nil {
			return nil, &UnavailableError{Err: fmt.Errorf("reading the checkpoint archive of log %s: %w", l.Name, err)}
		}
		for _, e := range []*ArchiveEntry{below, above} {
			if e != nil {
				entries = append(entries, *e)
			}
		}
	}
	for _, e := range entries {
		cp, err := l.Source.Checkpoint(e.Note, treeID, keys.Saved)
		if err != nil {
			return nil, &UnavailableError{Err: fmt.Errorf("the archived checkpoint of log %s at size %d does not verify with its keys: %w", l.Name, e.Size, err)}
		}
		out = append(out, &verified{source: "archive", cp: cp})
	}
	return out, nil
}

// splitView is the evidence of a split view: old, verified by the monitor,
// and b, the bundle's.
func splitView(old, b *checkpoint.Checkpoint, p [][]byte, err error) error {
	return &checkpoint.IntegrityError{Reason: checkpoint.ReasonSplitView, Old: old.Raw, New: b.Raw, Proof: p,
		Err: fmt.Errorf("the bundle's checkpoint and the one the monitor verified are two histories: %w", err)}
}

// asSplitView turns a failed consistency check between a verified
// checkpoint and the bundle's into a split view.
func asSplitView(err error, old, b *checkpoint.Checkpoint, p [][]byte) error {
	var ie *checkpoint.IntegrityError
	if errors.As(err, &ie) {
		err = ie.Err
	}
	return splitView(old, b, p, err)
}
