package state_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vigil-tlog/vigil/internal/state"
)

func TestWriteFileAtomicNoReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.jsonl")
	if err := state.WriteFileAtomic(path, []byte("first\n"), 0o600, state.NoReplace); err != nil {
		t.Fatalf("WriteFileAtomic(NoReplace) of a new file = %v", err)
	}
	for _, opts := range [][]state.WriteOption{{state.NoReplace}, {state.NoReplace, state.NoDirSync}, {state.NoReplace | state.NoDirSync}} {
		err := state.WriteFileAtomic(path, []byte("second\n"), 0o644, opts...)
		if !errors.Is(err, fs.ErrExist) {
			t.Errorf("WriteFileAtomic(%v) over a file = %v, want fs.ErrExist", opts, err)
		}
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "first\n" {
		t.Errorf("after refused writes, ReadFile = %q, %v, want the first content", b, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v, want 0600", fi.Mode().Perm(), err)
	}
	// Linked into place: the temp name goes in every case.
	if got, want := listDir(t, dir), []string{"f.jsonl"}; !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
}

func TestWriteFileAtomicNoDirSync(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "delivered.log")
	for _, content := range []string{"a\n", "a\nb\n", ""} {
		if err := state.WriteFileAtomic(path, []byte(content), 0o600, state.NoDirSync); err != nil {
			t.Fatalf("WriteFileAtomic(NoDirSync) = %v", err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != content {
			t.Errorf("ReadFile = %q, %v, want %q", b, err, content)
		}
	}
	if got, want := listDir(t, dir), []string{"delivered.log"}; !slices.Equal(got, want) {
		t.Errorf("directory holds %q, want %q", got, want)
	}
}

func TestRemoveTempFiles(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		".rekor.json.tmp-123", // WriteFileAtomic's
		".tmp-456",            // the alert outbox's, before it used WriteFileAtomic
		"rekor.json", ".firing.json", ".lock", "x.tmp-1", "tmp-2",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, ".d.tmp-3"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := state.RemoveTempFiles(dir); err != nil {
		t.Fatalf("RemoveTempFiles() = %v", err)
	}
	want := []string{".d.tmp-3", ".firing.json", ".lock", "rekor.json", "tmp-2", "x.tmp-1"}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("after RemoveTempFiles, directory holds %q, want %q", got, want)
	}
	// Open does the same.
	if err := os.WriteFile(filepath.Join(dir, ".rekor.json.tmp-789"), []byte("{half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Errorf("after Open, directory holds %q, want %q", got, want)
	}
	if err := state.RemoveTempFiles(filepath.Join(dir, "missing")); err == nil {
		t.Error("RemoveTempFiles(missing directory) = nil, want an error")
	}
}
