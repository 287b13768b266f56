package web

import (
	"context"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/search"
)

// Source is what the page shows. The monitor implements it; every method
// is safe for concurrent use.
type Source interface {
	// Logs returns the watched logs, in configuration order.
	Logs(ctx context.Context) []Log
	// Alerts returns the conditions firing now and the most recent
	// events, newest first, at most limit.
	Alerts(ctx context.Context, limit int) []alert.Event
	// Search runs q. A malformed query is an *index.QueryError; a nil
	// Searcher (no index configured) is ErrNoIndex.
	Search(ctx context.Context, q index.Query) (*search.Response, error)
	// Entry returns one indexed entry, fetched again from its log;
	// os.ErrNotExist (wrapped) when the index does not hold it.
	Entry(ctx context.Context, log string, idx uint64) (*search.Entry, error)
}

// Log is one watched log's health.
type Log struct {
	Name string
	Kind string // config kind: rekor-v1, rekor-v2, ct, static-ct
	URL  string
	// Healthy: the last check verified the log (no integrity violation,
	// reachable, not stale). Status is the last check's outcome in words
	// ("verified", "unreachable: ...", "integrity violation: ...").
	Healthy bool
	Status  string
	// Size is the tree size of Checkpoint, the last verified checkpoint
	// (a signed note; "" before the first verification), verified at
	// VerifiedAt.
	Size       uint64
	Checkpoint string
	VerifiedAt time.Time
	// ScanLag is the number of verified entries not yet scanned.
	ScanLag uint64
	// TrustExpiry is the earliest expiry of the log's keys, CAs and
	// certificates the monitor watches; zero when none is known.
	TrustExpiry time.Time
}
