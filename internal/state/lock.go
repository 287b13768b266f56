package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockName is the lock file [Lock] takes in a directory.
const LockName = ".lock"

// ErrLocked is returned by [Open] and [Lock] when another process holds the
// directory.
var ErrLocked = errors.New("state directory is in use by another monitor")

// DirLock is an exclusive flock on a directory's lock file, held until
// Close. flock conflicts between two open file descriptions, so a second
// lock of the same directory fails within one process too; the kernel
// releases the lock when the process dies.
type DirLock struct {
	f *os.File
}

// Lock takes an exclusive lock on dir, which must exist, by an flock on
// dir/.lock (created if needed). It does not wait: when another process (or
// another DirLock of this one) holds dir, it fails with an error that names
// dir and wraps [ErrLocked].
func Lock(dir string) (*DirLock, error) { return LockFile(dir, LockName) }

// LockFile is [Lock] with a lock file of another name, for a directory whose
// lock file has had that name since before Lock existed (the alert outbox's
// is "lock"): processes that lock the same directory must agree on the name.
func LockFile(dir, name string) (*DirLock, error) {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return &DirLock{f: f}, nil
}

// Close releases the lock. Closing the descriptor releases the flock; the
// lock file stays. Close of a nil or closed DirLock does nothing.
func (l *DirLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
