package monitor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/state"
)

// A proven fork stays proven: an integrity violation stays firing, even when
// later checks verify, until an operator acknowledges it with `monitor ack`.
// Otherwise a log that forks once and then behaves would get the page closed
// for it. Staleness and delivery problems still clear by themselves.
//
// `monitor ack` runs beside a monitor that holds the state directory's lock
// (kubectl exec into its pod), so it does not take the lock: it writes an
// acknowledgement request, one file per request written atomically, into
// <state_dir>/acks/. The monitor applies requests before each check: it
// sends the "recovered" event that resolves the alert, forgets the
// condition, and moves the request to <state_dir>/acks/done/, which keeps
// the record of who acknowledged what, when and why.

// Ack is an operator's acknowledgement of a firing alert condition.
type Ack struct {
	DedupeKey string    `json:"dedupe_key"`
	By        string    `json:"by"`
	Note      string    `json:"note,omitempty"`
	At        time.Time `json:"at"`
}

// RequestAck records a in dir (see state.AckDir) and returns the request's
// path. It is safe while a monitor runs on the same state directory.
func RequestAck(dir string, a Ack) (string, error) {
	if strings.TrimSpace(a.DedupeKey) == "" {
		return "", errors.New("acknowledging: empty dedupe key")
	}
	if a.At.IsZero() {
		a.At = time.Now().UTC()
	}
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	sum := sha256.Sum256([]byte(a.DedupeKey))
	path := filepath.Join(dir, fmt.Sprintf("%d-%s.json", a.At.UnixNano(), hex.EncodeToString(sum[:6])))
	if err := state.WriteFileAtomic(path, append(b, '\n'), 0o600); err != nil {
		return "", fmt.Errorf("writing acknowledgement: %w", err)
	}
	return path, nil
}

// ReadFiring returns the firing conditions saved in path (see
// state.FiringFile) by log and dedupe key; none when the file does not exist.
func ReadFiring(path string) (map[string]map[string]alert.Event, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading firing conditions: %w", err)
	}
	var byLog map[string]map[string]alert.Event
	if err := json.Unmarshal(b, &byLog); err != nil {
		return nil, fmt.Errorf("decoding firing conditions in %s: %w", path, err)
	}
	return byLog, nil
}

// applyAcks applies the acknowledgement requests in cfg.AckDir. A request
// whose "recovered" event cannot be queued stays, and is tried again
// before the next check.
func (mon *Monitor) applyAcks(ctx context.Context) {
	dir := mon.cfg.AckDir
	if dir == "" {
		return
	}
	mon.ackMu.Lock()
	defer mon.ackMu.Unlock()
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			mon.logger.ErrorContext(ctx, "could not read acknowledgement requests", "dir", dir, "err", err)
		}
		return
	}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		var a Ack
		b, err := os.ReadFile(path)
		if err == nil {
			err = json.Unmarshal(b, &a)
		}
		if err != nil || a.DedupeKey == "" {
			mon.logger.ErrorContext(ctx, "ignoring an unreadable acknowledgement request", "file", path, "err", err)
			mon.retire(ctx, path, ".invalid")
			continue
		}
		if mon.applyAck(ctx, a) {
			mon.retire(ctx, path, "")
		}
	}
}

// applyAck resolves the condition a acknowledges and reports whether the
// request is done with (applied, or for no firing condition).
func (mon *Monitor) applyAck(ctx context.Context, a Ack) bool {
	now := mon.cfg.Now()
	mon.mu.Lock()
	var (
		st  *logStatus
		ev  alert.Event
		hit bool
	)
	for _, l := range mon.cfg.Logs {
		if ev, hit = mon.status[l.Name].firing[a.DedupeKey]; hit {
			st = mon.status[l.Name]
			break
		}
	}
	mon.mu.Unlock()
	if !hit {
		mon.logger.WarnContext(ctx, "acknowledgement for a condition that is not firing; nothing to resolve", "dedupe_key", a.DedupeKey, "by", a.By)
		return true
	}
	summary := fmt.Sprintf("%s acknowledged by %s", ev.Kind, a.By)
	if a.Note != "" {
		summary += ": " + a.Note
	}
	if !mon.notify(context.WithoutCancel(ctx), []alert.Event{acknowledged(ev, now, summary)}) {
		return false
	}
	mon.mu.Lock()
	defer mon.mu.Unlock()
	delete(st.firing, a.DedupeKey)
	if ev.Kind == alert.KindIntegrityViolation {
		mon.m.acknowledged.WithLabelValues(st.log.Name).Inc()
	}
	mon.setUnacknowledged(st)
	if err := mon.saveFiring(); err != nil {
		mon.logger.ErrorContext(ctx, "could not save the firing alert conditions", "err", err)
	}
	mon.logger.InfoContext(ctx, "alert condition acknowledged", "log", st.log.Name, "dedupe_key", a.DedupeKey, "kind", string(ev.Kind),
		"by", a.By, "note", a.Note, "requested_at", a.At)
	return true
}

// retire moves an applied request into the record of acknowledgements.
func (mon *Monitor) retire(ctx context.Context, path, suffix string) {
	done := filepath.Join(filepath.Dir(path), "done")
	err := os.MkdirAll(done, 0o700)
	if err == nil {
		err = os.Rename(path, filepath.Join(done, filepath.Base(path)+suffix))
	}
	if err != nil {
		mon.logger.ErrorContext(ctx, "could not move an applied acknowledgement request", "file", path, "err", err)
	}
}

// setUnacknowledged sets the gauge of st's firing integrity violations.
// Called with mon.mu held.
func (mon *Monitor) setUnacknowledged(st *logStatus) {
	n := 0
	for _, ev := range st.firing {
		if ev.Kind == alert.KindIntegrityViolation {
			n++
		}
	}
	mon.m.unacknowledged.WithLabelValues(st.log.Name).Set(float64(n))
}

// Firing lists the firing conditions of every log, integrity violations
// first, then by time.
func (mon *Monitor) Firing() []alert.Event {
	mon.mu.Lock()
	defer mon.mu.Unlock()
	var out []alert.Event
	for _, st := range mon.status {
		for _, ev := range st.firing {
			out = append(out, ev)
		}
	}
	SortFiring(out)
	return out
}

// SortFiring orders conditions for people: integrity violations first, then
// oldest first.
func SortFiring(evs []alert.Event) {
	slices.SortFunc(evs, func(a, b alert.Event) int {
		ai, bi := a.Kind == alert.KindIntegrityViolation, b.Kind == alert.KindIntegrityViolation
		switch {
		case ai && !bi:
			return -1
		case bi && !ai:
			return 1
		}
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.DedupeKey, b.DedupeKey)
	})
}
