package archive_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-tlog/vigil/internal/archive"
)

func entry(size uint64, root string) archive.Entry {
	return archive.Entry{Size: size, Root: []byte(root), Note: []byte(fmt.Sprintf("origin\n%d\n%s\n", size, root))}
}

func TestAddGetAround(t *testing.T) {
	dir := t.TempDir()
	a, err := archive.Open(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, s := range []uint64{10, 30, 20} {
		if err := a.Add("log", entry(s, fmt.Sprint("r", s))); err != nil {
			t.Fatal(err)
		}
	}
	// Idempotent.
	if err := a.Add("log", entry(20, "r20")); err != nil {
		t.Fatalf("re-adding the same checkpoint: %v", err)
	}
	e, ok, err := a.Get("log", "", 20)
	if err != nil || !ok || string(e.Root) != "r20" || string(e.Note) != "origin\n20\nr20\n" {
		t.Fatalf("Get(20) = %+v, %v, %v", e, ok, err)
	}
	if _, ok, _ := a.Get("log", "", 25); ok {
		t.Fatal("Get(25) found something")
	}
	if _, ok, _ := a.Get("log", "other-tree", 20); ok {
		t.Fatal("Get of another tree found something")
	}
	below, above, err := a.Around("log", "", 25)
	if err != nil || below == nil || above == nil || below.Size != 20 || above.Size != 30 {
		t.Fatalf("Around(25) = %v, %v, %v", below, above, err)
	}
	below, above, _ = a.Around("log", "", 20)
	if below.Size != 20 || above.Size != 20 {
		t.Fatalf("Around(20) = %d, %d", below.Size, above.Size)
	}
	below, above, _ = a.Around("log", "", 5)
	if below != nil || above.Size != 10 {
		t.Fatalf("Around(5) = %v, %v", below, above)
	}
	below, above, _ = a.Around("log", "", 99)
	if below.Size != 30 || above != nil {
		t.Fatalf("Around(99) = %v, %v", below, above)
	}
	latest, ok, _ := a.Latest("log", "")
	if !ok || latest.Size != 30 {
		t.Fatalf("Latest = %v, %v", latest.Size, ok)
	}

	// Same size, another root: a fork, refused with both.
	err = a.Add("log", entry(20, "forked"))
	var ce *archive.ConflictError
	if !errors.As(err, &ce) || string(ce.Existing.Root) != "r20" || string(ce.New.Root) != "forked" {
		t.Fatalf("Add of a fork = %v, want a ConflictError with both roots", err)
	}

	// A reader sees it all, and what is added later.
	r := archive.OpenReader(dir)
	if n, err := r.Len("log"); err != nil || n != 3 {
		t.Fatalf("reader Len = %d, %v", n, err)
	}
	if err := a.Add("log", entry(40, "r40")); err != nil {
		t.Fatal(err)
	}
	if e, ok, err := r.Get("log", "", 40); err != nil || !ok || string(e.Root) != "r40" {
		t.Fatalf("reader Get(40) = %+v, %v, %v", e, ok, err)
	}
	if err := r.Add("log", entry(50, "x")); err == nil {
		t.Fatal("a reader added a checkpoint")
	}
}

// TestTornRecord: a crash mid-append leaves a torn line; reopening drops it
// and appends after the last whole record.
func TestTornRecord(t *testing.T) {
	dir := t.TempDir()
	a, _ := archive.Open(dir, 0)
	if err := a.Add("log", entry(1, "a")); err != nil {
		t.Fatal(err)
	}
	a.Close()
	f, err := os.OpenFile(filepath.Join(dir, "log.ckpts"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"tree":"","size":2,"ro`)
	f.Close()

	a, _ = archive.Open(dir, 0)
	defer a.Close()
	if n, _ := a.Len("log"); n != 1 {
		t.Fatalf("Len after a torn record = %d, want 1", n)
	}
	if err := a.Add("log", entry(3, "c")); err != nil {
		t.Fatal(err)
	}
	r := archive.OpenReader(dir)
	if n, _ := r.Len("log"); n != 2 {
		t.Fatalf("Len after appending past the torn record = %d, want 2", n)
	}
	if e, ok, _ := r.Get("log", "", 3); !ok || string(e.Root) != "c" {
		t.Fatalf("Get(3) = %+v, %v", e, ok)
	}
}

// TestBounded: the archive keeps the newest max checkpoints.
func TestBounded(t *testing.T) {
	dir := t.TempDir()
	a, _ := archive.Open(dir, 32)
	defer a.Close()
	for s := uint64(1); s <= 200; s++ {
		if err := a.Add("log", entry(s, fmt.Sprint(s))); err != nil {
			t.Fatal(err)
		}
	}
	n, _ := a.Len("log")
	if n < 32 || n > 34 {
		t.Fatalf("Len = %d, want 32 to 34", n)
	}
	if _, ok, _ := a.Get("log", "", 1); ok {
		t.Fatal("the oldest checkpoint survived compaction")
	}
	if e, ok, _ := a.Get("log", "", 200); !ok || string(e.Root) != "200" {
		t.Fatal("the newest checkpoint is gone")
	}
	if n, _ := archive.OpenReader(dir).Len("log"); n < 32 || n > 34 {
		t.Fatalf("reader Len = %d", n)
	}
}

func TestInvalidName(t *testing.T) {
	a, _ := archive.Open(t.TempDir(), 0)
	if err := a.Add("../x", entry(1, "a")); err == nil {
		t.Fatal("Add with a path as log name succeeded")
	}
}

func BenchmarkAdd(b *testing.B) {
	a, _ := archive.Open(b.TempDir(), 0)
	defer a.Close()
	for i := 0; i < b.N; i++ {
		if err := a.Add("log", entry(uint64(i+1), "0123456789abcdef0123456789abcdef")); err != nil {
			b.Fatal(err)
		}
	}
}
