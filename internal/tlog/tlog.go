// Package tlog is what the monitor needs from a transparency log, whatever
// its kind: the [Log] interface that each log kind implements in a package
// of its own (rekorv1: Rekor v1's REST API; rekorv2: Rekor v2's tiles), the
// values it trades in ([Head], [Tree], [Entry]) and the HTTP machinery the
// kinds share (a bounded client, a memory budget for entry scans, ordered
// parallel fetching).
//
// Nothing here decides whether a log misbehaved. Kinds fetch bytes, decode
// them and hand signed notes to package checkpoint; errors from fetching
// mean "no verdict" (the log was unreachable, slow, or answered something
// that is not a well-formed response), never evidence against the log. The
// monitor proves what a kind serves: signatures, consistency, and that the
// entries hash to the signed root.
package tlog

import (
	"context"
	"crypto"
	"fmt"
	"net/http"
	"net/url"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
)

// Log is one transparency log as a log kind reads it. Implementations are
// safe for concurrent use.
type Log interface {
	// Head fetches the log's current signed head.
	Head(ctx context.Context) (*Head, error)
	// Verifier returns a note verifier for key, one of the log's keys,
	// under the log's configured origin.
	Verifier(key crypto.PublicKey) (note.Verifier, error)
	// KeyID returns the hex log ID of key, as Sigstore's trusted roots and
	// bundles name the log, and as evidence gives it.
	KeyID(key crypto.PublicKey) (string, error)
	// Checkpoint parses raw, a signed head of tree treeID, and verifies it
	// with one of vs. A note that does not verify is a
	// *checkpoint.IntegrityError.
	Checkpoint(raw []byte, treeID string, vs []note.Verifier) (*checkpoint.Checkpoint, error)
	// ConsistencyProof returns the proof that tree treeID at size from is
	// a prefix of the same tree at size to; empty when from is 0 or
	// equals to.
	ConsistencyProof(ctx context.Context, treeID string, from, to uint64) ([][]byte, error)
	// Entries calls fn for the entries [from, to) of tree t, in index
	// order, and stops at the first error (from the log or from fn).
	Entries(ctx context.Context, t Tree, from, to uint64, opts EntriesOptions, fn func(Entry) error) error
	// RangeNodes returns the compact range of the first size leaves of
	// tree t, as the log serves them: the caller proves it against a
	// signed root before building on it.
	RangeNodes(ctx context.Context, t Tree, size uint64) ([][]byte, error)
	// InclusionProof returns the RFC 6962 audit path (from the leaf up) of
	// the leaf at index (its index in tree t, as Entry.Index) in the tree of
	// size size of t, whose leaf hash is leaf. It is data from the log: the
	// caller verifies it against a root it trusts. A log that does not hold
	// the leaf is os.ErrNotExist (wrapped).
	InclusionProof(ctx context.Context, t Tree, index, size uint64, leaf []byte) ([][]byte, error)
	// Identities returns the signing identities of an entry: from its Data,
	// and for kinds whose leaf does not carry the whole signer (a CT
	// precertificate), from its Extra.
	Identities(p *identity.Parser, e Entry) ([]identity.Identity, error)
	// Digests returns the digests of the artifacts entry e is about, as
	// "<algorithm>:<lower-case hex>" ("sha256:...", also sha384, sha512
	// and sha1), sorted and without duplicates (identity.DigestsV1 and
	// DigestsV2 say which fields count). It is nil for an entry that names
	// no artifact, for an entry of a kind this monitor does not know, and
	// for the CT kinds (a certificate is named by its fingerprint, in its
	// identity). An entry whose digest fields are malformed is an error
	// (an *identity.MalformedError) naming the field.
	Digests(e Entry) ([]string, error)
}

// UnavailableError is a failure to fetch what naming an entry's signer
// needs (a static-ct log's issuer certificate) from Identities: no verdict
// on the entry, which the next check scans again; never a malformed entry.
type UnavailableError struct{ Err error }

func (e *UnavailableError) Error() string { return e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// Options are what every kind needs to open a log.
type Options struct {
	// URL is where the log is read.
	URL string
	// Origin is the configured checkpoint origin (for Rekor v1 the signer
	// hostname, which its checkpoints need not carry).
	Origin string
	// Client is the HTTP client, from [NewHTTPClient].
	Client *http.Client
}

// BaseURL parses the URL a log is read at, for a kind's New: an http(s)
// URL with a host. kind names the kind in the error.
func (o Options) BaseURL(kind string) (*url.URL, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%s URL %q: want http(s)://host[:port][/path]", kind, o.URL)
	}
	return u, nil
}

// Open opens a log of one kind.
type Open func(Options) (Log, error)

// Explainer is implemented by kinds that can tell a configuration mistake
// from what the log serves. Its answers are hints for an error message,
// never a verdict.
type Explainer interface {
	// ExplainNotFound says what the log's URL serves instead of the
	// kind's checkpoint (another kind's API, a write endpoint), or "".
	ExplainNotFound(ctx context.Context) string
	// ExplainSignature says which setting to change when raw, a note that
	// does not verify, is signed by one of keys after all (under another
	// origin, say), or "".
	ExplainSignature(raw []byte, keys []crypto.PublicKey) string
}

// Renamer is implemented by kinds whose signer name may change while the
// key and tree stay (Rekor v1 signs as the server's hostname). The monitor
// logs a rename for information; it is no evidence against the log.
type Renamer interface {
	// Renamed describes the change of signer name from trusted (of tree
	// trustedTree) to cp (of tree treeID), or returns "" when there is
	// none.
	Renamed(trusted *checkpoint.Checkpoint, trustedTree string, cp *checkpoint.Checkpoint, treeID string) string
}

// Head is what a log says about its current state.
type Head struct {
	// Note is the signed head exactly as served.
	Note []byte
	// TreeID names the tree Note describes, for logs of several trees
	// (Rekor v1's Trillian tree ID); "" for a single-tree log.
	TreeID string
	// Size and Root are the unsigned claims a log's API makes beside the
	// note (Rekor v1's treeSize and rootHash), which must agree with Note.
	// HasClaims is false for logs whose only answer is the note.
	Size      uint64
	Root      []byte
	HasClaims bool
	// Inactive lists the frozen trees (shards) of the log, oldest first.
	Inactive []Shard
}

// Shard is a frozen tree of a log, with its final signed head.
type Shard struct {
	TreeID string
	Note   []byte
	Size   uint64
	Root   []byte
}

// Tree names one tree of a log at a verified size: the active tree or a
// frozen shard.
type Tree struct {
	// ID is the tree's ID (Head.TreeID, Shard.TreeID).
	ID string
	// Size is the tree's verified size: entries are read below it.
	Size uint64
	// Offset is the log index of the tree's first entry: the sizes of the
	// shards before it.
	Offset uint64
}

// Tree returns tree id (the active tree or one of the inactive shards) at
// size, with its offset. A tree the head does not list gets the offset of
// the active tree.
func (h *Head) Tree(id string, size uint64) Tree {
	var off uint64
	for _, s := range h.Inactive {
		if s.TreeID == id {
			break
		}
		off += s.Size
	}
	return Tree{ID: id, Size: size, Offset: off}
}
