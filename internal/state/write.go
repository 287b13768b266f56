package state

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteOption changes how [WriteFileAtomic] puts a file in place. Options
// combine: pass several, or or them together.
type WriteOption uint8

const (
	// NoReplace makes WriteFileAtomic create path rather than replace it:
	// the temp file is linked into place, which fails with an error
	// wrapping [io/fs.ErrExist] when path exists, and then removed. If the
	// directory cannot be synced after the link, path is removed again:
	// on any error, path is as it was.
	NoReplace WriteOption = 1 << iota
	// NoDirSync skips the fsync of the directory after the rename (or
	// link). The file is still synced before it is put in place, so a
	// crash never leaves a torn file; but a power failure soon after may
	// undo the rename, leaving the old file (or none). For files whose
	// loss costs little, written often.
	NoDirSync
)

// tempInfix marks WriteFileAtomic's temp files: .<name>.tmp-<random>, in
// the directory of <name>.
const tempInfix = ".tmp-"

// WriteFileAtomic replaces path with data: temp file in the same directory,
// fsync, rename, fsync of the directory. The temp file is removed on failure;
// one left by a crash is removed by [RemoveTempFiles]. opts change what it
// does: [NoReplace], [NoDirSync].
func WriteFileAtomic(path string, data []byte, perm os.FileMode, opts ...WriteOption) (err error) {
	var o WriteOption
	for _, opt := range opts {
		o |= opt
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+tempInfix+"*")
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", path, err)
	}
	name := tmp.Name()
	closed, placed := false, false
	defer func() {
		if !closed {
			tmp.Close()
		}
		// Renamed, the temp name is gone (and may be another writer's
		// by now); linked, it is a second name of path.
		if !placed || o&NoReplace != 0 {
			os.Remove(name)
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", name, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", name, err)
	}
	closed = true
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", name, err)
	}
	if o&NoReplace != 0 {
		if err = os.Link(name, path); err != nil {
			return fmt.Errorf("linking %s to %s: %w", name, path, err)
		}
	} else if err = os.Rename(name, path); err != nil {
		return fmt.Errorf("renaming %s to %s: %w", name, path, err)
	}
	placed = true
	if o&NoDirSync != 0 {
		return nil
	}
	if err = syncDir(dir); err != nil {
		if o&NoReplace != 0 {
			os.Remove(path)
		}
		return err
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// isTempFile reports whether name, a file name in a directory, is a temp
// file of WriteFileAtomic. It also matches the ".tmp-<random>" names the
// alert outbox gave its temp files before it used WriteFileAtomic.
func isTempFile(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempInfix)
}

// RemoveTempFiles deletes the temp files that calls of [WriteFileAtomic]
// cut short by a crash left in dir: garbage, since the rename that would
// have made them anything never happened. Call it only while no
// WriteFileAtomic into dir can be under way, as when dir has just been
// locked ([Lock]). It returns the first error listing or removing files.
func RemoveTempFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("removing temp files: %w", err)
	}
	var first error
	for _, de := range ents {
		if de.Type().IsRegular() && isTempFile(de.Name()) {
			if err := os.Remove(filepath.Join(dir, de.Name())); err != nil && first == nil {
				first = fmt.Errorf("removing temp files: %w", err)
			}
		}
	}
	return first
}
