package state_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/state"
)

// openStore opens a store in a fresh directory and closes it at the end of
// the test.
func openStore(t *testing.T) *state.Store {
	t.Helper()
	s, err := state.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// listDir returns the names in dir, sorted.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir(%s): %v", dir, err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// noTempFiles fails the test if dir holds a temp file of WriteFileAtomic.
func noTempFiles(t *testing.T, dir string) {
	t.Helper()
	for _, n := range listDir(t, dir) {
		if strings.Contains(n, ".tmp-") {
			t.Errorf("temp file %s left in %s", n, dir)
		}
	}
}

func sampleState(size int) *state.State {
	return &state.State{
		Origin:     "rekor.example.com - 42",
		TreeID:     "42",
		Checkpoint: []byte(fmt.Sprintf("rekor.example.com - 42\n%d\nAAAA\n\n— rekor.example.com sig\n", size)),
		VerifiedAt: time.Date(2026, 11, 24, 19, 0, 0, 123, time.UTC),
		AdvancedAt: time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC),
		Scan: &state.Scan{
			TreeID: "42",
			Next:   uint64(size),
			Range:  [][]byte{{1, 2, 3}, make([]byte, 32)},
		},
	}
}

func TestLoadMissing(t *testing.T) {
	s := openStore(t)
	st, err := s.Load("rekor")
	if st != nil || err != nil {
		t.Errorf("Load(missing) = %v, %v, want nil, nil", st, err)
	}
}

func TestRoundTrip(t *testing.T) {
	s := openStore(t)
	for _, want := range []*state.State{
		sampleState(7),
		{Origin: "log2025-1.rekor.example.com", Checkpoint: []byte("x")}, // Rekor v2, not scanning yet
	} {
		if err := s.Update("rekor", func(*state.State) (*state.State, error) { return want, nil }); err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, err := s.Load("rekor")
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		w := *want
		w.Log = "rekor"
		if diff := cmp.Diff(&w, got); diff != "" {
			t.Errorf("Load after Update mismatch (-want +got):\n%s", diff)
		}
	}
	fi, err := os.Stat(filepath.Join(s.Dir(), "rekor.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode = %v, want 0600", fi.Mode().Perm())
	}
	noTempFiles(t, s.Dir())
}

func TestUpdateGetsPreviousState(t *testing.T) {
	s := openStore(t)
	var seen []*state.State
	for i := range 3 {
		err := s.Update("rekor", func(prev *state.State) (*state.State, error) {
			seen = append(seen, prev)
			return sampleState(i), nil
		})
		if err != nil {
			t.Fatalf("Update %d: %v", i, err)
		}
	}
	if seen[0] != nil {
		t.Errorf("first Update got prev = %+v, want nil", seen[0])
	}
	for i, prev := range seen[1:] {
		if prev == nil || prev.Scan.Next != uint64(i) || prev.Log != "rekor" {
			t.Errorf("Update %d got prev = %+v, want the state of update %d", i+1, prev, i)
		}
	}
}

func TestUpdateSetsLogName(t *testing.T) {
	s := openStore(t)
	err := s.Update("rekor", func(*state.State) (*state.State, error) {
		st := sampleState(1)
		st.Log = "other"
		return st, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Load("rekor")
	if err != nil || got.Log != "rekor" {
		t.Errorf("Load = %+v, %v, want Log rekor", got, err)
	}
}

func TestUpdateWritesNothing(t *testing.T) {
	errBoom := errors.New("verification failed")
	for _, tc := range []struct {
		name    string
		f       func(*state.State) (*state.State, error)
		wantErr error
	}{
		{"error", func(*state.State) (*state.State, error) { return sampleState(99), errBoom }, errBoom},
		{"nil state", func(*state.State) (*state.State, error) { return nil, nil }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			// Without a previous state: no file appears.
			if err := s.Update("fresh", tc.f); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Update(fresh) = %v, want %v", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(s.Dir(), "fresh.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Stat(fresh.json) = %v, want not exist", err)
			}

			// With a previous state: the file is byte for byte the same.
			if err := s.Update("rekor", func(*state.State) (*state.State, error) { return sampleState(1), nil }); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), "rekor.json")
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Update("rekor", tc.f); !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Update(rekor) = %v, want %v", err, tc.wantErr)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				t.Errorf("Update with %s changed the state file:\n%s\nto\n%s", tc.name, before, after)
			}
			if got, want := listDir(t, s.Dir()), []string{".lock", "rekor.json"}; !slices.Equal(got, want) {
				t.Errorf("state directory holds %q, want %q", got, want)
			}
		})
	}
}

func TestLoadBadFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		wantIn  string // in the error besides the file name
	}{
		{"not JSON", "garbage", "decoding state file"},
		{"truncated", `{"log": "rekor", "checkpoint": "eA=`, "decoding state file"},
		{"empty", "", "decoding state file"},
		{"other log", `{"log": "other", "checkpoint": "eA=="}`, `is not a state for log "rekor"`},
		{"no checkpoint", `{"log": "rekor"}`, `is not a state for log "rekor"`},
		{"checkpoint not base64", `{"log": "rekor", "checkpoint": "***"}`, "decoding state file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			path := filepath.Join(s.Dir(), "rekor.json")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := s.Load("rekor")
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("Load(%s) = %+v, %v; want an error naming %s and saying %q", tc.name, st, err, path, tc.wantIn)
			}
			// Update must not fall back to trust on first use.
			called := false
			err = s.Update("rekor", func(*state.State) (*state.State, error) { called = true; return sampleState(1), nil })
			if err == nil || called {
				t.Errorf("Update over a bad state file = %v (f called: %v), want an error before f runs", err, called)
			}
			if b, _ := os.ReadFile(path); string(b) != tc.content {
				t.Errorf("Update replaced the bad state file with %q", b)
			}
		})
	}
}

func TestLoadUnreadable(t *testing.T) {
	s := openStore(t)
	// A directory where the state file should be: reading fails with
	// something other than "does not exist", even as root.
	if err := os.Mkdir(filepath.Join(s.Dir(), "rekor.json"), 0o700); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Load("rekor"); err == nil || !strings.Contains(err.Error(), "reading state of rekor") {
		t.Errorf("Load(directory) = %v, %v, want a reading error", st, err)
	}
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"rekor", true},
		{"a", true},
		{"0", true},
		{"Rekor-v2.prod_1", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"", false},
		{".", false},
		{"..", false},
		{"../etc/passwd", false},
		{"a/b", false},
		{`a\b`, false},
		{".lock", false},
		{"-rekor", false},
		{"_rekor", false},
		{"rekor log", false},
		{"rekor\n", false},
		{"rékor", false},
		{"rekor\x00", false},
	} {
		if got := state.ValidName(tc.name); got != tc.ok {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestInvalidNameRejected(t *testing.T) {
	s := openStore(t)
	for _, name := range []string{"", "../escape", "a/b", ".lock", "x y"} {
		if _, err := s.Load(name); err == nil || !strings.Contains(err.Error(), "invalid log name") {
			t.Errorf("Load(%q) error = %v, want invalid log name", name, err)
		}
		called := false
		err := s.Update(name, func(*state.State) (*state.State, error) { called = true; return sampleState(1), nil })
		if err == nil || called {
			t.Errorf("Update(%q) = %v (f called: %v), want an error before f runs", name, err, called)
		}
	}
	if got, want := listDir(t, s.Dir()), []string{".lock"}; !slices.Equal(got, want) {
		t.Errorf("state directory holds %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Dir()), "escape.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Update(../escape) wrote outside the state directory: %v", err)
	}
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	s, err := state.Open(dir)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("Stat(%s) = %v, %v, want a 0700 directory", dir, fi.Mode(), err)
	}

	// A second monitor on the same directory is refused; flock conflicts
	// between two open file descriptions even within one process.
	s2, err := state.Open(dir)
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("second Open(%s) = %v, want ErrLocked", dir, err)
	}
	if s2 != nil {
		t.Errorf("second Open returned a store with its error")
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("second Open error %q does not name the directory", err)
	}

	// Closing releases the lock.
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s3, err := state.Open(dir)
	if err != nil {
		t.Fatalf("Open after Close = %v", err)
	}
	s3.Close()
}

func TestOpenFails(t *testing.T) {
	// A file where the directory should be.
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := state.Open(f); err == nil {
		s.Close()
		t.Errorf("Open(regular file) = nil error")
	}
	if s, err := state.Open(filepath.Join(f, "sub")); err == nil {
		s.Close()
		t.Errorf("Open(under a regular file) = nil error")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for i, content := range []string{"first\n", "second, longer content\n", ""} {
		perm := []os.FileMode{0o600, 0o644, 0o640}[i]
		if err := state.WriteFileAtomic(path, []byte(content), perm); err != nil {
			t.Fatalf("WriteFileAtomic(%q) = %v", content, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("after WriteFileAtomic(%q): ReadFile = %q, %v", content, got, err)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != perm {
			t.Errorf("mode after WriteFileAtomic(%v) = %v, %v", perm, fi.Mode().Perm(), err)
		}
		if got, want := listDir(t, dir), []string{"f.json"}; !slices.Equal(got, want) {
			t.Errorf("directory holds %q, want %q", got, want)
		}
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	t.Run("parent missing", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "missing", "f.json")
		err := state.WriteFileAtomic(path, []byte("x"), 0o600)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("WriteFileAtomic(%s) = %v, want an error naming the path", path, err)
		}
		if got := listDir(t, dir); len(got) != 0 {
			t.Errorf("directory holds %q after a failed write, want nothing", got)
		}
	})
	t.Run("rename fails", func(t *testing.T) {
		// The target is a non-empty directory: the temp file is written,
		// the rename fails (even as root), and the temp file must go.
		dir := t.TempDir()
		path := filepath.Join(dir, "f.json")
		if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		err := state.WriteFileAtomic(path, []byte("x"), 0o600)
		if err == nil || !strings.Contains(err.Error(), "renaming") {
			t.Errorf("WriteFileAtomic(over a directory) = %v, want a renaming error", err)
		}
		if got, want := listDir(t, dir), []string{"f.json"}; !slices.Equal(got, want) {
			t.Errorf("directory holds %q after a failed write, want %q", got, want)
		}
	})
}

// TestConcurrentUpdates runs one goroutine per log, as the monitor does; run
// it with -race.
func TestConcurrentUpdates(t *testing.T) {
	s := openStore(t)
	const logs, updates = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, logs*updates)
	for l := range logs {
		name := fmt.Sprintf("log-%d", l)
		wg.Go(func() {
			for i := range updates {
				err := s.Update(name, func(prev *state.State) (*state.State, error) {
					next := sampleState(i + 1)
					if prev != nil && prev.Scan.Next != uint64(i) {
						return nil, fmt.Errorf("%s: update %d saw prev.Scan.Next = %d", name, i, prev.Scan.Next)
					}
					return next, nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for l := range logs {
		name := fmt.Sprintf("log-%d", l)
		st, err := s.Load(name)
		if err != nil || st.Log != name || st.Scan.Next != updates {
			t.Errorf("Load(%s) = %+v, %v, want the state of the last update", name, st, err)
		}
	}
	noTempFiles(t, s.Dir())
	if got := len(listDir(t, s.Dir())); got != logs+1 {
		t.Errorf("state directory holds %d files, want %d", got, logs+1)
	}
}
