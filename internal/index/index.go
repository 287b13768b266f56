// Package index keeps what the monitor learns about each entry it verifies
// (who signed it, what artifact, in which log, when) and answers the search
// that Rekor v2 does not serve: "what else did this identity sign" and "who
// signed this digest".
//
// # Model
//
// A [Record] is one log entry: its log and index, its kind, the digests of
// the artifacts it is about, its RFC 6962 leaf hash, the time the log gives
// it (if any) and one [Identity] per signer (subject alternative names,
// OIDC issuer, Fulcio extensions, certificate and key fingerprints; see
// [IdentityFrom]). The monitor adds records in the order it verifies
// entries, never ahead of its verified state: [Store.Next] tells it where
// the index of a log ends, and a re-add after a crash is harmless
// ([Store.Add] is idempotent). [Store.Truncate] drops the end of a log for a
// rebuild.
//
// A [Query] matches exactly (the index is for lookups, not patterns). Every
// field that is set must hold: Digest, Log, Since and Until for the entry;
// Subject, Issuer, Extensions and Fingerprint all for one and the same
// signer of it. Values take the forms the identity rules take: fingerprints
// as hex with or without "sha256:", digests as "sha256:<hex>" (or sha384,
// sha512, sha1) or bare hex. Results come newest first within a log: ordered
// by log, then by index, both descending (logs in the order the index first
// saw them, the latest first), which is stable and needs no clock. A page
// holds at most Limit results (default [DefaultLimit], at most [MaxLimit]);
// [Page.Next] is an opaque keyset cursor: the next page starts strictly
// after the last entry this one looked at, so inserts between pages neither
// repeat nor skip what was there. A page may be short, even empty, with a
// non-empty Next when a query's filters reject most of what it scans: each
// call scans a bounded number of candidate entries ([MaxScan]).
//
// # Storage
//
// Two backends share one schema and one query engine ([Open]): SQLite
// (modernc.org/sqlite, pure Go) in a file of the state directory, the
// default, and PostgreSQL (jackc/pgx) for large logs and for monitor
// replicas sharing an index. SQL is built only from fixed fragments, and
// every value travels as a parameter.
//
// The schema is shaped for size, since an index holds every entry of a
// log (in SQLite about 225 bytes per Fulcio-signed hashedrekord entry, from
// 100,000 entries on; tools/indexbench measures it):
//
//	names(id, ns, name)              log names, entry kinds, attribute names
//	terms(id, attr, value)           one row per distinct (attribute, value):
//	                                 attr "subject", "issuer" or a Fulcio OID
//	principals(id, terms, n)         a distinct set of terms, i.e. a signer
//	                                 minus its fingerprints; n counts entries
//	principal_terms(term, principal) which principals hold a term
//	entries(log, idx, kind, ts, leaf, data)
//	                                 one row per entry; data holds the digests
//	                                 and, per signer, its principal and raw
//	                                 fingerprints (see encodeData)
//	entry_principals(principal, log, idx)   postings: a principal's entries
//	entry_hashes(log, seg, h, idx)   postings: the first 4 bytes of every
//	                                 digest and fingerprint of an entry, by
//	                                 segment (seg: idx / 2^16) first
//	hash_segs(log, seg)              the segments entry_hashes holds
//	schema_version(version)
//
// Repeated strings (subjects, issuers, extension values, which recur across
// many entries) are stored once; an entry carries one small principal id
// per signer. Digests and fingerprints, unique per entry, are stored once
// as raw bytes in the entry and found through a 4-byte prefix; the engine
// compares the full value before it returns an entry. The Fulcio
// extensions whose values change with every CI run or commit (the run
// invocation URI 1.3.6.1.4.1.57264.1.21 and the commit digests .1.3, .1.10,
// .1.13 and .1.19) are kept the same way, in the entry with a hash
// posting each, so that they do not make every signer a new principal (a
// GitHub Actions entry takes about 380 bytes). In SQLite the postings and
// entries are WITHOUT ROWID tables keyed by what is searched.
//
// The hash postings are keyed by segment first (2^16 consecutive indexes
// of a log), then by hash: keyed by hash first, an Add of a few thousand
// entries, whose hashes are random, would touch nearly every page of the
// table, and a database writes each page it touches (SQLite to its WAL and
// back, about 10 kB per entry at a million entries); in the current
// segment it touches the same few hundred pages batch after batch. A
// search for a hash seeks once per segment of a log, newest first, and
// stops when its page is full.
//
// A search resolves its terms to a set of principals, then reads one
// source of candidate entries in (log, index) descending order: the hash
// postings of its digest or fingerprint, segment by segment; the postings
// of its principals
// (merged in SQL when they are few, sorted when their entries are few);
// or, when the principals are many and common, the entries themselves.
// Postings are read alone (index-only) and joined to the entries a
// statement returns, not to all it merges or sorts, unless the query
// filters on time. Each candidate is checked in full against the query.
//
// # Concurrency
//
// A [Store] is safe for concurrent use. SQLite runs in WAL mode with one
// writing connection and a pool of readers: searches never wait for Add.
// The writing connection is pinned, and the statements of Add are
// prepared on it once; an Add finds which of its entries are stored with
// one range read per log (none, when the monitor adds past the end), then
// inserts the rest and their postings, sorted by key, many rows a
// statement (PostgreSQL: COPY).
// On PostgreSQL, writers (several monitor replicas) take a transaction
// advisory lock, so adds are serialised and cannot deadlock each other.
// Dictionary rows (names, terms, principals) are never deleted, so their
// ids, cached in memory, never change meaning.
package index

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigil-tlog/vigil/internal/identity"
)

// Drivers for [Config.Driver].
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Limits of a [Query].
const (
	// DefaultLimit is the page size of a query that sets none.
	DefaultLimit = 50
	// MaxLimit is the largest page size a query may ask for.
	MaxLimit = 500
	// MaxScan bounds the candidate entries one [Store.Search] call reads
	// before it returns what it found, with a cursor to continue.
	MaxScan = 10000
)

// SchemaVersion is the version of the schema this code creates and reads.
const SchemaVersion = 1

// Config selects and locates an index.
type Config struct {
	// Driver is DriverSQLite (the default when empty) or DriverPostgres.
	Driver string
	// Path is the SQLite database file (typically in the state directory;
	// SQLite keeps Path-wal and Path-shm beside it).
	Path string
	// DSN is the PostgreSQL connection string (a URL or key=value list, as
	// pgx takes it), which the caller reads from a file. Give the index a
	// database, or a schema through search_path, of its own.
	DSN string
}

// Record is one indexed log entry.
type Record struct {
	// Log is the name of the log (the monitor's configured name).
	Log string
	// Index is the entry's index in the log, as clients see it.
	Index uint64
	// Kind is the entry kind, "kind:apiVersion" (e.g.
	// "hashedrekord:0.0.1") or a CT kind ("ct:x509", "ct:precert").
	Kind string
	// Digests are the digests of the artifacts the entry is about, as
	// "sha256:<hex>" (or sha384, sha512, sha1). Add also takes bare hex
	// (the algorithm told by its length); Search and Entry return the
	// prefixed lower-case form.
	Digests []string
	// LeafHash is the RFC 6962 leaf hash of the entry (32 bytes).
	LeafHash []byte
	// Time is when the log says it took the entry in (Rekor v1's
	// integrated time, a CT timestamp), stored to the millisecond, in UTC;
	// zero when the log gives none (Rekor v2).
	Time time.Time
	// Identities are the entry's signers.
	Identities []Identity
}

// Identity is what the index keeps of one signer of an entry.
type Identity struct {
	// Subjects are the subject alternative names of the certificate:
	// e-mail addresses, URIs, DNS names and Fulcio usernames, in that
	// order (for PGP keys the user IDs' e-mail addresses).
	Subjects []string
	// Issuer is the Fulcio OIDC issuer.
	Issuer string
	// Extensions maps the dotted OID of each Fulcio extension to its
	// value.
	Extensions map[string]string
	// CertFingerprint is the lower-case hex SHA-256 of the certificate;
	// "" for bare keys.
	CertFingerprint string
	// KeyFingerprint is the lower-case hex SHA-256 of the public key (or a
	// PGP key's hex fingerprint).
	KeyFingerprint string
}

// IdentityFrom returns what the index keeps of id. Fingerprints are taken
// as given (identity's lower-case hex without prefix).
func IdentityFrom(id *identity.Identity) Identity {
	out := Identity{
		Issuer:          id.Issuer,
		CertFingerprint: id.CertFingerprint,
		KeyFingerprint:  id.KeyFingerprint,
	}
	id.Subjects(func(s string) bool {
		out.Subjects = append(out.Subjects, s)
		return true
	})
	if len(id.Extensions) > 0 {
		out.Extensions = make(map[string]string, len(id.Extensions))
		for k, v := range id.Extensions {
			out.Extensions[k] = v
		}
	}
	return out
}

// Query selects records. Zero fields do not filter; every field that is
// set must match exactly (see the package documentation).
type Query struct {
	// Subject is a subject alternative name of a signer.
	Subject string
	// Issuer is a signer's OIDC issuer.
	Issuer string
	// Digest is an artifact digest: "sha256:<hex>" (or sha384, sha512,
	// sha1) or bare hex, case-insensitive.
	Digest string
	// Fingerprint is a signer's certificate or key fingerprint: hex, with
	// or without "sha256:", case-insensitive.
	Fingerprint string
	// Extensions maps Fulcio extension OIDs to the value a signer's
	// extension must have.
	Extensions map[string]string
	// Log is the name of a log.
	Log string
	// Since and Until bound the entry's Time: Since <= Time < Until.
	// Entries without a time never match a query that sets either.
	Since, Until time.Time
	// Limit is the page size: 0 means DefaultLimit; above MaxLimit or
	// negative is an error.
	Limit int
	// Cursor is Page.Next of the previous page of the same query, or "".
	Cursor string
}

// Page is one page of search results.
type Page struct {
	// Results, newest first (see the package documentation).
	Results []Record
	// Next is the cursor of the next page, "" when the query has no more
	// results.
	Next string
}

// Store is an index. Its methods are safe for concurrent use.
type Store struct {
	db        *db
	cache     *cache
	closeOnce sync.Once
}

// QueryError is a query the index cannot run: a malformed value or a limit
// out of range. Field names the query field ("digest", "limit", "cursor",
// "extension.<oid>", ...).
type QueryError struct {
	Field  string
	Value  string
	Reason string
}

func (e *QueryError) Error() string {
	v := e.Value
	if len(v) > 80 {
		v = v[:80] + "..."
	}
	return fmt.Sprintf("%s %q: %s", e.Field, v, e.Reason)
}

// SchemaVersionError is an index whose schema is newer than this code
// knows: written by a newer monitor.
type SchemaVersionError struct {
	Found, Known int
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("index schema version %d is newer than version %d, the newest this monitor knows; upgrade the monitor or rebuild the index", e.Found, e.Known)
}

// Open opens the index cfg names, creating it and its schema (or migrating
// an older schema) when needed. A schema newer than [SchemaVersion] is a
// [*SchemaVersionError].
func Open(ctx context.Context, cfg Config) (*Store, error) {
	var (
		d   *db
		err error
	)
	switch cfg.Driver {
	case "", DriverSQLite:
		if cfg.Path == "" {
			return nil, errors.New("index: sqlite needs a path")
		}
		d, err = openSQLite(ctx, cfg.Path)
	case DriverPostgres:
		if cfg.DSN == "" {
			return nil, errors.New("index: postgres needs a DSN")
		}
		d, err = openPostgres(ctx, cfg.DSN)
	default:
		return nil, fmt.Errorf("index: unknown driver %q (want %q or %q)", cfg.Driver, DriverSQLite, DriverPostgres)
	}
	if err != nil {
		return nil, err
	}
	if err := d.migrate(ctx); err != nil {
		d.close()
		return nil, err
	}
	return &Store{db: d, cache: newCache()}, nil
}

// Close releases the index's connections; it waits for a write in
// progress. Calls in progress may fail. Closing again does nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(s.db.close)
	return nil
}
