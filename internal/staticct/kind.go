package staticct

import (
	"context"
	"crypto"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// Verifier returns a verifier of checkpoints signed by key with an
// RFC6962NoteSignature under the log's origin (the key ID covers the name
// and the RFC 6962 log ID).
func (l *Log) Verifier(key crypto.PublicKey) (note.Verifier, error) {
	return ctleaf.NewVerifier(l.origin, key)
}

// KeyID is the log's RFC 6962 log ID in hex (ctleaf.KeyID), as
// trusted_root.json and SCTs name a CT log.
func (l *Log) KeyID(key crypto.PublicKey) (string, error) { return ctleaf.KeyID(key) }

// Checkpoint verifies raw as a checkpoint with the log's origin
// (ctleaf.Parse); treeID is ignored (a static-ct log is one tree; a new
// tree is a new log, a shard of its own).
func (l *Log) Checkpoint(raw []byte, _ string, vs []note.Verifier) (*checkpoint.Checkpoint, error) {
	return ctleaf.Parse(raw, l.origin, vs...)
}

// Identities returns the signer of a static-ct entry: e.Data is its
// MerkleTreeLeaf, e.Extra its chain (see SplitExtra), whose issuers it
// fetches by fingerprint (GET <base>/issuer/<hex>, cached; the bytes must
// hash to the fingerprint) to hand ctleaf.Identities the chain: for a
// precert entry the precertificate then its issuers, for an x509 entry the
// issuers.
//
// This is the only network use of Identities. The interface gives it no
// context: the fetches of one call are bounded together by the HTTP
// client's timeout. A failure to get an issuer is a *tlog.UnavailableError
// (no verdict: the entry is scanned again at the next check) wrapping an
// *IssuerError (remembered for issuerRetry, so that entries naming an
// issuer the log does not serve fail fast). A chain of more than
// maxIssuers issuers is an error too.
func (l *Log) Identities(p *identity.Parser, e tlog.Entry) ([]identity.Identity, error) {
	typ, err := entryType(e.Data)
	if err != nil {
		return nil, fmt.Errorf("static-ct entry %d: %w", e.LogIndex, err)
	}
	precert, fps, err := SplitExtra(e.Data, e.Extra)
	if err != nil {
		return nil, fmt.Errorf("static-ct entry %d: chain: %w", e.LogIndex, err)
	}
	if len(fps) > maxIssuers {
		return nil, fmt.Errorf("static-ct entry %d: chain names %d issuers, more than the %d this monitor fetches", e.LogIndex, len(fps), maxIssuers)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	chain := make([][]byte, 0, 1+len(fps))
	if typ == precertEntry {
		chain = append(chain, precert)
	}
	for _, fp := range fps {
		der, err := l.issuer(ctx, fp)
		if err != nil {
			return nil, &tlog.UnavailableError{Err: fmt.Errorf("static-ct entry %d: %w", e.LogIndex, err)}
		}
		chain = append(chain, der)
	}
	return ctleaf.Identities(p, e.Data, chain)
}

// Digests returns nil: a CT entry is about a certificate, which its
// identity names by fingerprint.
func (l *Log) Digests(tlog.Entry) ([]string, error) { return nil, nil }

// ExplainNotFound says whether the URL serves the RFC 6962 API, a CT log's
// submission API only (TesseraCT's write side) or the Rekor v1 API,
// instead of a checkpoint.
func (l *Log) ExplainNotFound(ctx context.Context) string {
	switch {
	case tlog.Probe(ctx, l.c, l.base+"ct/v1/get-sth"):
		return "the URL serves the RFC 6962 CT API (ct/v1/get-sth), not the static-ct-api: set kind: ct (--log-kind ct)"
	case tlog.Probe(ctx, l.c, l.base+"ct/v1/get-roots"):
		return "the URL serves a CT log's submission API (ct/v1/get-roots) but no checkpoint: is this the log's write side? Give its monitoring prefix, the URL its checkpoint and tiles are read from"
	case tlog.Probe(ctx, l.c, l.base+"api/v1/log"):
		return "the URL serves the Rekor v1 API: set kind: rekor-v1 (--log-kind rekor-v1)"
	}
	return ""
}

// ExplainSignature finds a signature by one of keys that does not verify
// under the configured origin: an RFC6962NoteSignature under another name
// (ctleaf.ExplainSignature: the key ID covers the name, so the origin is
// wrong, not the key; a static-ct log's origin is its submission prefix,
// which may differ from the URL it is read at), or a plain signed-note
// signature (a tlog-tiles log such as Rekor v2, not a CT log).
func (l *Log) ExplainSignature(raw []byte, keys []crypto.PublicKey) string {
	if s := ctleaf.ExplainSignature(raw, l.origin, keys); s != "" {
		return s + " (a static-ct log's origin is its submission prefix without https:// and trailing slash)"
	}
	_, sigs := checkpoint.Signatures(raw)
	for _, s := range sigs {
		for _, pub := range keys {
			if v, err := checkpoint.NewVerifier(s.Name, pub); err == nil && v.KeyHash() == s.KeyHash {
				return fmt.Sprintf("the checkpoint is signed by the configured key as a plain signed note under the name %q, not with a CT log's RFC6962NoteSignature: is this a Rekor v2 log? Set kind: rekor-v2 (--log-kind rekor-v2)", s.Name)
			}
		}
	}
	return ""
}
