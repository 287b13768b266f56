package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/state"
)

func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := state.Lock(dir)
	if err != nil {
		t.Fatalf("Lock(%s) = %v", dir, err)
	}
	if got, want := listDir(t, dir), []string{state.LockName}; !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
	// Lock and Open take the same lock, even within one process.
	_, errLock := state.Lock(dir)
	_, errOpen := state.Open(dir)
	for _, err := range []error{errLock, errOpen} {
		if !errors.Is(err, state.ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "another monitor") {
			t.Errorf("locking a locked directory = %v, want ErrLocked naming %s", err, dir)
		}
	}
	// Another lock file name is another lock.
	other, err := state.LockFile(dir, "lock")
	if err != nil {
		t.Fatalf("LockFile(%s, lock) = %v", dir, err)
	}
	if _, err := state.LockFile(dir, "lock"); !errors.Is(err, state.ErrLocked) {
		t.Errorf("second LockFile(%s, lock) = %v, want ErrLocked", dir, err)
	}
	if err := other.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if err := (*state.DirLock)(nil).Close(); err != nil {
		t.Errorf("Close() of a nil DirLock = %v, want nil", err)
	}
	s, err := state.Open(dir)
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	s.Close()
}

func TestLockFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	if l, err := state.Lock(dir); err == nil || errors.Is(err, state.ErrLocked) {
		l.Close()
		t.Errorf("Lock(missing directory) = %v, want an error other than ErrLocked", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Lock created the directory: %v", err)
	}
}

func TestLayout(t *testing.T) {
	const dir = "/var/lib/vigil"
	for _, tc := range []struct{ got, want string }{
		{state.OutboxDir(dir), "/var/lib/vigil/outbox"},
		{state.FiringFile(dir), "/var/lib/vigil/.firing.json"},
		{state.AckDir(dir), "/var/lib/vigil/acks"},
		{state.TUFCacheDir(dir), "/var/lib/vigil/tuf"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q: existing deployments keep their data there", tc.got, tc.want)
		}
	}
	// None of them can be a log's state file.
	for _, p := range []string{state.OutboxDir(dir), state.FiringFile(dir), state.AckDir(dir), state.TUFCacheDir(dir)} {
		if name, ok := strings.CutSuffix(filepath.Base(p), ".json"); ok && state.ValidName(name) {
			t.Errorf("%s is the state file of log %q", p, name)
		}
	}
}
