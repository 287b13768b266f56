// Package state keeps what the monitor has verified about each log, one small
// JSON file per log in a state directory, so that a restart resumes where the
// last verified check ended.
//
// # Crash safety
//
// Files are only ever replaced whole: the new content is written to a temp
// file in the same directory, fsynced, renamed over the old file, and the
// directory is fsynced. A crash at any moment leaves either the old state or
// the new one, never a torn file. The monitor calls [Store.Update] only after
// everything a state records has been verified (and the alerts it caused are
// durably queued), so the file always holds a checkpoint that verified.
//
// # Locking
//
// [Open] takes an exclusive flock on <dir>/.lock: two monitors sharing a state
// directory would each trust the other's writes without having verified them.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"syscall"
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
// by one process as long as each log's state is updated by one goroutine
// at a time (the monitor runs one task per log).
type Store struct {
	dir  string
	lock *os.File
}

// ErrLocked is returned by Open when another process holds the directory.
var ErrLocked = errors.New("state directory is in use by another monitor")

// Open creates dir if needed and locks it.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening state lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("locking state directory %s: %w", dir, err)
	}
	// Temp files left by a crash mid-write are garbage: the rename that
	// would have made them state never happened.
	if leftovers, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*")); err == nil {
		for _, p := range leftovers {
			os.Remove(p)
		}
	}
	return &Store{dir: dir, lock: f}, nil
}

// Close releases the directory lock.
func (s *Store) Close() error { return s.lock.Close() }

// Dir returns the state directory.
func (s *Store) Dir() string { return s.dir }

func (s *Store) path(log string) string { return filepath.Join(s.dir, log+".json") }

// Load returns the state of log, or nil and no error when there is none yet.
// A file that exists but cannot be decoded is an error: the monitor must not
// silently fall back to trust on first use.
func (s *Store) Load(log string) (*State, error) {
	if !ValidName(log) {
		return nil, fmt.Errorf("invalid log name %q", log)
	}
	b, err := os.ReadFile(s.path(log))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading state of %s: %w", log, err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("decoding state file %s: %w", s.path(log), err)
	}
	if st.Log != log || len(st.Checkpoint) == 0 {
		return nil, fmt.Errorf("state file %s is not a state for log %q", s.path(log), log)
	}
	return &st, nil
}

// Update replaces the state of log with what f returns, given the current
// state (nil if none). When f returns an error or a nil state, nothing is
// written and the error is returned.
func (s *Store) Update(log string, f func(prev *State) (*State, error)) error {
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

// WriteFileAtomic replaces path with data: temp file in the same directory,
// fsync, rename, fsync of the directory. The temp file is removed on failure.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", tmp.Name(), path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
