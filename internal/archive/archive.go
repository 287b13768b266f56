// Package archive keeps every checkpoint the monitor verified or cosigned,
// so that consistency with any earlier size can be shown later: a client's
// bundle, a peer's checkpoint or an old alert is compared with what the
// monitor saw at that size, even when the log no longer answers.
//
// Each log has one append-only file in the archive directory
// (state.ArchiveDir), <log>.ckpts, one JSON record per line:
//
//	{"tree":"","size":42,"root":"<base64>","note":"<base64>","time":"2026-12-03T21:00:00Z"}
//
// A record is appended and fsynced before Add returns. A crash mid-append
// leaves a torn last line, which the next Open of the log drops. The file is
// bounded: past max records (plus a sixteenth, so that compaction is rare)
// it is rewritten whole (state.WriteFileAtomic) with the newest max.
//
// Records are unique per tree and size: a second checkpoint of the same
// size and root is not stored again (Rekor v1 signs afresh on every
// request), and one of the same size with another root is refused with a
// *ConflictError carrying both, which is evidence of a fork.
package archive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/vigil-tlog/vigil/internal/state"
)

// Entry is one archived checkpoint.
type Entry struct {
	// TreeID is the tree of a log of several trees (Rekor v1 shards); ""
	// for a single-tree log.
	TreeID string `json:"tree"`
	Size   uint64 `json:"size"`
	Root   []byte `json:"root"`
	// Note is the signed checkpoint as verified, with whatever
	// cosignatures it carried.
	Note []byte `json:"note"`
	// Time is when it was archived.
	Time time.Time `json:"time"`
}

// ConflictError is an Add of a checkpoint whose size is archived with
// another root.
type ConflictError struct {
	Log      string
	Existing Entry
	New      Entry
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("archive of %s holds tree %q size %d with root %x, not %x", e.Log, e.New.TreeID, e.New.Size, e.Existing.Root, e.New.Root)
}

// DefaultMax is the default number of checkpoints kept per log.
const DefaultMax = 100000

// Archive is a directory of per-log checkpoint archives. It is safe for
// concurrent use.
type Archive struct {
	dir      string
	max      int
	readOnly bool

	mu   sync.Mutex
	logs map[string]*logFile
}

// logFile is the in-memory index of one log's file: where each record is,
// not the notes themselves.
type logFile struct {
	f     *os.File // for appending; nil when read-only
	size  int64    // bytes of whole records
	trees map[string][]rec
	order []key // records in file order, for compaction
}

type key struct {
	tree string
	size uint64
}

type rec struct {
	size uint64
	root []byte
	off  int64
	n    int
}

// Open opens the archive in dir (created if needed) for a monitor, keeping
// at most max checkpoints per log (DefaultMax when max <= 0). One process
// may write an archive: the state directory's lock guards it.
func Open(dir string, max int) (*Archive, error) {
	if max <= 0 {
		max = DefaultMax
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating checkpoint archive: %w", err)
	}
	return &Archive{dir: dir, max: max, logs: map[string]*logFile{}}, nil
}

// OpenReader opens the archive in dir for reading while a monitor may be
// writing it: each query reads what the file holds then.
func OpenReader(dir string) *Archive {
	return &Archive{dir: dir, readOnly: true, logs: map[string]*logFile{}}
}

// Close closes the files open for appending.
func (a *Archive) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for name, lf := range a.logs {
		if lf.f != nil {
			errs = append(errs, lf.f.Close())
		}
		delete(a.logs, name)
	}
	return errors.Join(errs...)
}

func (a *Archive) path(log string) string { return filepath.Join(a.dir, log+".ckpts") }

// load returns the index of log, reading its file when it is not loaded
// (or, read-only, always). A torn last line, left by a crash, is dropped
// (and, when writing, cut off the file).
func (a *Archive) load(log string) (*logFile, error) {
	if !state.ValidName(log) {
		return nil, fmt.Errorf("invalid log name %q", log)
	}
	if lf := a.logs[log]; lf != nil && !a.readOnly {
		return lf, nil
	}
	lf := &logFile{trees: map[string][]rec{}}
	f, err := os.Open(a.path(log))
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("opening checkpoint archive of %s: %w", log, err)
	default:
		err := lf.scan(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading checkpoint archive %s: %w", a.path(log), err)
		}
	}
	if !a.readOnly {
		f, err := os.OpenFile(a.path(log), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("opening checkpoint archive of %s: %w", log, err)
		}
		if err := f.Truncate(lf.size); err != nil {
			f.Close()
			return nil, fmt.Errorf("dropping the torn end of checkpoint archive of %s: %w", log, err)
		}
		if _, err := f.Seek(lf.size, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
		lf.f = f
	}
	a.logs[log] = lf
	return lf, nil
}

// scan indexes the records of r. A line that does not decode is the end:
// only the last line can be torn, and nothing after it was acknowledged.
func (lf *logFile) scan(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var off int64
	for {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 || line[len(line)-1] != '\n' {
			// EOF, possibly after a torn line.
			if err != nil && err != io.EOF {
				return err
			}
			return nil
		}
		var r Entry // the line format
		if json.Unmarshal(line, &r) != nil {
			return nil
		}
		lf.insert(r.TreeID, rec{size: r.Size, root: r.Root, off: off, n: len(line)})
		off += int64(len(line))
		lf.size = off
	}
}

// insert adds r to the index (replacing a record of the same size).
func (lf *logFile) insert(tree string, r rec) {
	rs := lf.trees[tree]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].size >= r.size })
	if i < len(rs) && rs[i].size == r.size {
		rs[i] = r
	} else {
		rs = append(rs, rec{})
		copy(rs[i+1:], rs[i:])
		rs[i] = r
		lf.order = append(lf.order, key{tree, r.size})
	}
	lf.trees[tree] = rs
}

func (lf *logFile) find(tree string, size uint64) (int, bool) {
	rs := lf.trees[tree]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].size >= size })
	return i, i < len(rs) && rs[i].size == size
}

// Add archives e for log. It is a no-op for a checkpoint already archived
// (same tree, size and root), and a *ConflictError for one archived with
// another root.
func (a *Archive) Add(log string, e Entry) error {
	if a.readOnly {
		return errors.New("checkpoint archive opened read-only")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	lf, err := a.load(log)
	if err != nil {
		return err
	}
	if i, ok := lf.find(e.TreeID, e.Size); ok {
		r := lf.trees[e.TreeID][i]
		if bytes.Equal(r.root, e.Root) {
			return nil
		}
		existing, err := a.read(log, e.TreeID, r)
		if err != nil {
			return err
		}
		return &ConflictError{Log: log, Existing: existing, New: e}
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := lf.f.Write(line); err != nil {
		// The file may hold part of the line: cut it off so that the next
		// record starts on a line of its own.
		_ = lf.f.Truncate(lf.size)
		_, _ = lf.f.Seek(lf.size, io.SeekStart)
		return fmt.Errorf("appending to checkpoint archive of %s: %w", log, err)
	}
	if err := lf.f.Sync(); err != nil {
		return fmt.Errorf("syncing checkpoint archive of %s: %w", log, err)
	}
	lf.insert(e.TreeID, rec{size: e.Size, root: e.Root, off: lf.size, n: len(line)})
	lf.size += int64(len(line))
	if len(lf.order) > a.max+a.max/16 {
		if err := a.compact(log, lf); err != nil {
			return err
		}
	}
	return nil
}

// compact rewrites log's file with its newest max records.
func (a *Archive) compact(log string, lf *logFile) error {
	keep := lf.order[len(lf.order)-a.max:]
	var buf bytes.Buffer
	for _, k := range keep {
		i, _ := lf.find(k.tree, k.size)
		r := lf.trees[k.tree][i]
		line := make([]byte, r.n)
		if _, err := lf.f.ReadAt(line, r.off); err != nil {
			return fmt.Errorf("compacting checkpoint archive of %s: %w", log, err)
		}
		buf.Write(line)
	}
	if err := state.WriteFileAtomic(a.path(log), buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("compacting checkpoint archive of %s: %w", log, err)
	}
	lf.f.Close()
	delete(a.logs, log)
	_, err := a.load(log)
	return err
}

// read returns the entry of record r.
func (a *Archive) read(log, tree string, r rec) (Entry, error) {
	f, err := os.Open(a.path(log))
	if err != nil {
		return Entry{}, fmt.Errorf("reading checkpoint archive of %s: %w", log, err)
	}
	defer f.Close()
	line := make([]byte, r.n)
	if _, err := f.ReadAt(line, r.off); err != nil {
		return Entry{}, fmt.Errorf("reading checkpoint archive of %s: %w", log, err)
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil || e.Size != r.size || e.TreeID != tree {
		return Entry{}, fmt.Errorf("checkpoint archive of %s changed while reading it", log)
	}
	return e, nil
}

// Get returns the archived checkpoint of log's tree treeID at size.
func (a *Archive) Get(log, treeID string, size uint64) (Entry, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lf, err := a.load(log)
	if err != nil {
		return Entry{}, false, err
	}
	i, ok := lf.find(treeID, size)
	if !ok {
		return Entry{}, false, nil
	}
	e, err := a.read(log, treeID, lf.trees[treeID][i])
	return e, err == nil, err
}

// Around returns the archived checkpoints of log's tree treeID nearest to
// size: the largest at or below it and the smallest at or above it (the
// same entry when size is archived), each nil when there is none.
func (a *Archive) Around(log, treeID string, size uint64) (below, above *Entry, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lf, err := a.load(log)
	if err != nil {
		return nil, nil, err
	}
	rs := lf.trees[treeID]
	i, ok := lf.find(treeID, size)
	get := func(j int) (*Entry, error) {
		if j < 0 || j >= len(rs) {
			return nil, nil
		}
		e, err := a.read(log, treeID, rs[j])
		if err != nil {
			return nil, err
		}
		return &e, nil
	}
	lo := i - 1
	if ok {
		lo = i
	}
	if below, err = get(lo); err != nil {
		return nil, nil, err
	}
	if above, err = get(i); err != nil {
		return nil, nil, err
	}
	return below, above, nil
}

// Latest returns the largest archived checkpoint of log's tree treeID.
func (a *Archive) Latest(log, treeID string) (Entry, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lf, err := a.load(log)
	if err != nil {
		return Entry{}, false, err
	}
	rs := lf.trees[treeID]
	if len(rs) == 0 {
		return Entry{}, false, nil
	}
	e, err := a.read(log, treeID, rs[len(rs)-1])
	return e, err == nil, err
}

// Len returns the number of checkpoints archived for log.
func (a *Archive) Len(log string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	lf, err := a.load(log)
	if err != nil {
		return 0, err
	}
	return len(lf.order), nil
}
