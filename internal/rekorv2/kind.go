package rekorv2

import (
	"context"
	"crypto"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Verifier returns a verifier of checkpoints signed by key under the log's
// origin (C2SP signed-note key IDs cover the name).
func (l *Log) Verifier(key crypto.PublicKey) (note.Verifier, error) {
	return checkpoint.NewVerifier(l.origin, key)
}

// KeyID is the log's checkpoint key ID (checkpoint.NoteKeyID under its
// origin), which trusted_root.json gives a Rekor v2 log as its log ID.
func (l *Log) KeyID(key crypto.PublicKey) (string, error) { return checkpoint.NoteKeyID(l.origin, key) }

// Checkpoint verifies raw as a checkpoint with the log's origin; treeID is
// ignored (a Rekor v2 log is one tree; a new tree is a new log, a shard of
// its own).
func (l *Log) Checkpoint(raw []byte, _ string, vs []note.Verifier) (*checkpoint.Checkpoint, error) {
	return checkpoint.Parse(raw, l.origin, vs...)
}

// Identities parses a Rekor v2 entry (a TransparencyLogEntry's body).
func (l *Log) Identities(p *identity.Parser, e tlog.Entry) ([]identity.Identity, error) {
	return p.ParseV2(e.Data)
}

// Digests returns the artifact digests of a Rekor v2 entry
// (identity.DigestsV2).
func (l *Log) Digests(e tlog.Entry) ([]string, error) { return identity.DigestsV2(e.Data) }

// ExplainNotFound says whether the URL serves the Rekor v1 API, or only
// Rekor v2's write API, instead of tiles.
func (l *Log) ExplainNotFound(ctx context.Context) string {
	switch {
	case tlog.Probe(ctx, l.c, l.base+"api/v1/log"):
		return "the URL serves the Rekor v1 API: set kind: rekor-v1 (--log-kind rekor-v1)"
	case tlog.Probe(ctx, l.c, l.base+"healthz"):
		return "the server answers but serves no checkpoint: is this Rekor v2's write API? Give the URL its tiles are read from (the read side)"
	}
	return ""
}

// ExplainSignature finds a signature by one of keys under another name
// than the configured origin: key hashes cover the name, so the origin is
// wrong, not the key.
func (l *Log) ExplainSignature(raw []byte, keys []crypto.PublicKey) string {
	origin, sigs := checkpoint.Signatures(raw)
	for _, s := range sigs {
		for _, pub := range keys {
			v, err := checkpoint.NewVerifier(s.Name, pub)
			if err == nil && v.KeyHash() == s.KeyHash {
				return fmt.Sprintf("the checkpoint is signed by the configured key under the name %q (origin %q), but the configured origin is %q: set origin (--origin) to %q",
					s.Name, origin, l.origin, s.Name)
			}
		}
	}
	return ""
}
