// Package state keeps what the monitor has verified about each log, one small
// JSON file per log in a state directory, so that a restart resumes where the
// last verified check ended. It also owns the state directory as a whole:
// its lock ([Lock]), the one way files in it are written ([WriteFileAtomic])
// and the names of what other packages keep in it.
//
// # Layout
//
// A state directory holds:
//
//	Path          What                                         Written by
//	.lock         flock of the monitor using the directory     state: Open, Lock
//	<log>.json    what was verified of one log (State)         state: Store.Update
//	outbox/       the alert outbox, with its own lock file     internal/alert: Open
//	              outbox/lock
//	.firing.json  alert conditions fired and not resolved      internal/monitor
//	acks/         acknowledgement requests; applied ones are   `monitor ack`; internal/monitor
//	              moved to acks/done/                          moves them
//	tuf/          TUF metadata cache, unless the config names  sigstore-go's TUF client
//	              another (trust.tuf.cache_dir)
//	archive/      every checkpoint verified or cosigned, one   internal/archive
//	              append-only file per log (<log>.ckpts)
//	.*.tmp-*      temp files of WriteFileAtomic, left by a     removed by Open
//	              crash: garbage
//
// Other packages take these paths from [OutboxDir], [FiringFile], [AckDir]
// and [TUFCacheDir], never spell them out. Log names start with a letter or
// digit ([ValidName]), so no state file can have a name that starts with a
// dot, and a log named like a directory above gets <name>.json beside it.
//
// # Crash safety
//
// Files are only ever replaced whole: the new content is written to a temp
// file in the same directory, fsynced, renamed over the old file, and the
// directory is fsynced ([WriteFileAtomic]). A crash at any moment leaves
// either the old state or the new one, never a torn file. The monitor calls
// [Store.Update] only after everything a state records has been verified (and
// the alerts it caused are durably queued), so the file always holds a
// checkpoint that verified.
//
// # Locking
//
// [Open] takes an exclusive flock on <dir>/.lock ([Lock]): two monitors
// sharing a state directory would each trust the other's writes without
// having verified them.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// State is what the monitor has verified about one log.
type State struct {
	// Log is the configured log name.
	Log string `json:"log"`
	// Origin is the checkpoint origin of Checkpoint.
	Origin string `json:"origin"`
	// TreeID is the Rekor v1 tree Checkpoint belongs to; "" for Rekor v2.
	TreeID string `json:"tree_id,omitempty"`
	// Checkpoint is the last verified signed note, byte for byte as served.
	Checkpoint []byte `json:"checkpoint"`
	// VerifiedAt is when Checkpoint (or a checkpoint equal to it) was last
	// verified.
	VerifiedAt time.Time `json:"verified_at"`
	// AdvancedAt is when the log was first seen at Checkpoint's size: the
	// time the log last grew, as far as the monitor knows.
	AdvancedAt time.Time `json:"advanced_at"`
	// Scan is the entry scanner's progress; nil until scanning starts.
	Scan *Scan `json:"scan,omitempty"`
}

// Scan is the entry scanner's progress through one tree: entries [0, Next)
// of tree TreeID are accounted for, and Range is the compact Merkle range
// over exactly those leaves (the hashes of transparency-dev/merkle/compact's
// Range for [0, Next)), so the scanner can prove that the entries it sees
// next, appended to it, hash to the log's signed root. A scan that starts
// at a chosen index takes the range below it from the log, proven against
// the signed root.
type Scan struct {
	TreeID string   `json:"tree_id,omitempty"`
	Next   uint64   `json:"next"`
	Range  [][]byte `json:"range"`
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidName reports whether name can name a log's state file.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Store is a directory of per-log state files. It is safe for concurrent use
// by one process: [Store.Update] serialises the updates of each log.
type Store struct {
	dir  string
	lock *DirLock

	mu   sync.Mutex
	logs map[string]*sync.Mutex // per log: Update's read-modify-write is atomic
}

// Open creates dir if needed and locks it ([Lock]); a second Open of dir,
// from this process or another, fails with [ErrLocked] until Close.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	lock, err := Lock(dir)
	if err != nil {
		return nil, err
	}
	// Temp files left by a crash mid-write are garbage: the rename that
	// would have made them state never happened.
	_ = RemoveTempFiles(dir)
	return &Store{dir: dir, lock: lock, logs: map[string]*sync.Mutex{}}, nil
}

// logMu returns the mutex that serialises updates of log.
func (s *Store) logMu(log string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.logs[log]
	if m == nil {
		m = new(sync.Mutex)
		s.logs[log] = m
	}
	return m
}

// Close releases the directory lock.
func (s *Store) Close() error { return s.lock.Close() }

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(log string) string { return filepath.Join(s.dir, log+".json") }

// Load returns the state of log, or nil and no error when there is none yet.
// A file that exists but cannot be decoded is an error: the monitor must not
// silently fall back to trust on first use.
func (s *Store) Load(log string) (*State, error) { return ReadState(s.dir, log) }

// ReadState loads the state of log from the state directory dir without
// locking it: for tools that read what a running monitor verified (files
// are replaced whole, so a reader sees the old state or the new one). It
// returns nil and no error when there is none yet.
func ReadState(dir, log string) (*State, error) {
	if !ValidName(log) {
		return nil, fmt.Errorf("invalid log name %q", log)
	}
	path := filepath.Join(dir, log+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", log, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decoding state file %s: %w", path, err)
	}
	if st.Log != log || len(st.Checkpoint) == 0 {
		return nil, fmt.Errorf("state file %s is not a state for log %q", path, log)
	}
	return &st, nil
}

// Update replaces the state of log with what f returns, given the current
// state (nil if none). When f returns an error or a nil state, nothing is
// written and the error is returned. Updates of one log are serialised:
// the log's check and its witness, which share the state, each see the
// other's last write, never a state that changed under them.
func (s *Store) Update(log string, f func(prev *State) (*State, error)) error {
	m := s.logMu(log)
	m.Lock()
	defer m.Unlock()
	prev, err := s.Load(log)
	if err != nil {
		return err
	}
	next, err := f(prev)
	if err != nil {
		return err
	}
	if next == nil {
		return nil
	}
	next.Log = log
	b, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state of %s: %w", log, err)
	}
	return WriteFileAtomic(s.path(log), append(b, '\n'), 0o600)
}
