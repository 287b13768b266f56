package monitor

import (
	"context"
	"crypto"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/ctlog"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/rekorv1"
	"github.com/vigil-tlog/vigil/internal/rekorv2"
	"github.com/vigil-tlog/vigil/internal/staticct"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// kinds are the log kinds the monitor can watch: each a package
// implementing tlog.Log. A new kind is one line here (and its name in
// config).
var kinds = map[config.Kind]tlog.Open{
	config.KindRekorV1:  rekorv1.Open,
	config.KindRekorV2:  rekorv2.Open,
	config.KindCT:       ctlog.Open,
	config.KindStaticCT: staticct.Open,
}

// Log is one log to watch, with its keys and reader resolved.
type Log struct {
	Name string
	URL  string
	// Kind is the configured kind (config.Kind), for the page.
	Kind string
	// Source reads the log, as its kind does.
	Source tlog.Log
	// Rekey, when set, resolves the log's keys again: re-reads the key
	// file or trusted_root.json, refreshes TUF. A check that meets a
	// checkpoint whose signature does not verify calls it, at most once
	// per RekeyEvery (default config.DefaultRekeyEvery), and verifies
	// again with the keys it returns: a key rotation that the trust
	// material announces after the monitor started is not a false alarm.
	Rekey      func(context.Context) (Keys, error)
	RekeyEvery time.Duration
	// Staleness and MaxUnchanged: see config.Log.
	Staleness    time.Duration
	MaxUnchanged time.Duration
	// Start, when set, is a signed checkpoint to trust instead of trusting
	// the first one fetched.
	Start []byte
	// Schedule decides when the next check runs.
	Schedule Schedule
	// Scan, when set, scans new entries after each verified checkpoint.
	Scan *ScanConfig
	// Witnessed: this monitor's witness cosigns the log's checkpoints, and
	// a verified head without that cosignature is an uncosigned_checkpoint
	// condition of severity WitnessSeverity (Config.Cosigner must be set).
	Witnessed       bool
	WitnessSeverity alert.Severity
	// parser caches parsed certificates across checks of this log.
	parser *identity.Parser

	keyMu   sync.Mutex // guards keys and rekeyed
	keys    Keys       // read with Keys(); set by NewLog, replaced by rekey
	rekeyed time.Time  // last call of Rekey
}

// NewLog returns a log to watch with its initial keys.
func NewLog(name, url string, src tlog.Log, keys Keys) *Log {
	return &Log{Name: name, URL: url, Source: src, keys: keys}
}

// Keys are the keys of a log.
type Keys struct {
	// Verifiers verify new checkpoints: the log's key, or during a key
	// rotation each key the trust material lists as valid now.
	Verifiers []note.Verifier
	// Saved verify the saved checkpoint and the checkpoints of a log's
	// inactive shards: Verifiers and the keys whose validity ended (nil:
	// Verifiers). A frozen shard keeps the key it was signed with while it
	// was active (rekor-server's sharding_config gives each shard its
	// signingConfig); the active tree must use a key valid now.
	Saved []note.Verifier
	// Public are the public keys of Saved, for explaining a checkpoint
	// that does not verify.
	Public []crypto.PublicKey
	// KeyID is the hex key ID of each of Verifiers, comma-separated, for
	// evidence.
	KeyID string
}

// Keys returns the log's current keys.
func (l *Log) Keys() Keys {
	l.keyMu.Lock()
	defer l.keyMu.Unlock()
	k := l.keys
	if k.Saved == nil {
		k.Saved = k.Verifiers
	}
	return k
}

// activeKeys picks the keys that verify the active tree's checkpoints.
func activeKeys(k Keys) []note.Verifier { return k.Verifiers }

// shardKeys picks the keys that verify an inactive shard's checkpoints and
// the saved checkpoint.
func shardKeys(k Keys) []note.Verifier { return k.Saved }

// rekey resolves the log's keys again after a signature failure, at most
// once per RekeyEvery, and reports whether they changed.
func (l *Log) rekey(ctx context.Context, now time.Time, logger *slog.Logger) bool {
	if l.Rekey == nil {
		return false
	}
	every := l.RekeyEvery
	if every <= 0 {
		every = config.DefaultRekeyEvery
	}
	l.keyMu.Lock()
	if !l.rekeyed.IsZero() && now.Sub(l.rekeyed) < every {
		l.keyMu.Unlock()
		return false
	}
	l.rekeyed = now
	old := l.keys
	l.keyMu.Unlock()

	k, err := l.Rekey(ctx)
	if err != nil {
		logger.WarnContext(ctx, "could not resolve the log's keys again after a signature failure", "log", l.Name, "err", err)
		return false
	}
	if k.KeyID == old.KeyID && len(k.Saved) == len(old.Saved) {
		return false
	}
	l.keyMu.Lock()
	l.keys = k
	l.keyMu.Unlock()
	logger.WarnContext(ctx, "the log's keys changed in the trust material; verifying again", "log", l.Name,
		"old_key_ids", old.KeyID, "new_key_ids", k.KeyID)
	return true
}
