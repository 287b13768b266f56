// Package monitor runs the checks of every watched log on its schedule:
//
//	Log.Source.Head -> Source.Checkpoint -> consistency proof -> scanner.chunk... -> state.Update
//	                          |                   |                  |
//	                          +----- IntegrityError / ConfigError / no verdict --> verdict --> events (outbox), metrics, log
//
// One goroutine per log runs its checks one after another; a check that finds
// a violation or reaches no verdict changes no saved state, records the
// failure (metrics, log line, event) and the log is checked again at its next
// tick. Events describing a condition (an integrity violation, a stale log)
// are sent once when the condition starts. A stale log's "recovered" event
// is sent when a later check verifies; an integrity violation stays firing
// until an operator acknowledges it (monitor ack, see ack.go): a proven
// fork stays proven, even if the log behaves afterwards.
package monitor

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/state"
)

// Notifier takes events; *alert.Outbox is one. Enqueue returns once the
// events are durable (the outbox fsyncs them), so the monitor may then move
// past their cause.
type Notifier interface {
	Enqueue(ctx context.Context, events ...alert.Event) ([]alert.Event, error)
}

// Schedule says when a log's next check is due; robfig/cron/v3 schedules
// satisfy it.
type Schedule interface {
	Next(time.Time) time.Time
}

// Config wires a Monitor.
type Config struct {
	Logs       []*Log
	Store      *state.Store
	Events     Notifier // nil: events are only logged
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// MaxJitter caps the random delay added to each wait (default 30s; the
	// jitter is at most a tenth of the wait).
	MaxJitter time.Duration
	// FiringFile, when set, keeps the conditions that have fired and not
	// recovered (by log) across restarts, so that a condition that clears
	// while the monitor is down is still resolved. It is alert
	// bookkeeping, separate from the verified state.
	FiringFile string
	// AckDir, when set, is where `monitor ack` leaves acknowledgement
	// requests (see AckDir); they are applied before each check.
	AckDir string
	// Pairs hold CT logs against Rekor logs (pairs.go); both logs of each
	// must be in Logs, scanned.
	Pairs []*Pair
	// Index, when set, is the search index every scanned entry is added
	// to (index.go).
	Index indexStore
	// RebuildDir, when set, is where `monitor index rebuild` leaves its
	// requests (state.IndexRebuildDir).
	RebuildDir string
	// Archive, when set, keeps every verified checkpoint.
	Archive *archive.Archive
	// Cosigner, when set, verifies this monitor's witness cosignatures:
	// the heads of Witnessed logs must carry one.
	Cosigner note.Verifier
}

// Monitor checks logs. It is safe for concurrent use.
type Monitor struct {
	cfg     Config
	m       *metrics
	logger  *slog.Logger
	started time.Time

	mu     sync.Mutex // guards status
	status map[string]*logStatus
	// observers are the logs' parts in pairs, by log name; set by New.
	observers map[string]*observer
	// indexes are the logs' parts of the search index, by log name; set
	// by New when Config.Index is.
	indexes map[string]*logIndex
	// proofs holds each log's latest verified tree, for search proofs.
	proofs proofs

	ackMu sync.Mutex // serialises applyAcks
	extMu sync.Mutex // serialises externalViolation
}

// logStatus is what the monitor knows of a log in memory.
type logStatus struct {
	log          *Log
	lastVerified time.Time // zero until verified by this process
	advancedAt   time.Time // when the tree last grew (from state at start)
	headTime     time.Time // the timestamp of the latest verified head, where it carries one
	size         uint64
	stale        bool
	lastErr      error
	// firing holds the conditions alerted and not yet recovered, by dedupe key.
	firing map[string]alert.Event
}

// New returns a Monitor for cfg.Logs. It reads each log's saved state to
// seed metrics, and fails when a state file is unreadable.
func New(cfg Config) (*Monitor, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.MaxJitter == 0 {
		cfg.MaxJitter = 30 * time.Second
	}
	mon := &Monitor{cfg: cfg, m: newMetrics(cfg.Registerer), logger: cfg.Logger, started: cfg.Now(), status: map[string]*logStatus{}}
	for _, l := range cfg.Logs {
		if _, dup := mon.status[l.Name]; dup {
			return nil, fmt.Errorf("log %q configured twice", l.Name)
		}
		st := &logStatus{log: l, firing: map[string]alert.Event{}}
		mon.m.initLog(l.Name)
		prev, err := cfg.Store.Load(l.Name)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			if cp, err := l.Source.Checkpoint(prev.Checkpoint, prev.TreeID, l.Keys().Saved); err == nil {
				st.size, st.advancedAt = cp.Size, prev.AdvancedAt
				mon.m.treeSize.WithLabelValues(l.Name).Set(float64(cp.Size))
				mon.m.lastVerified.WithLabelValues(l.Name).Set(float64(prev.VerifiedAt.Unix()))
			}
		}
		mon.status[l.Name] = st
	}
	if err := mon.loadFiring(); err != nil {
		return nil, err
	}
	if cfg.Index != nil {
		ic := newIndexCollectors(cfg.Registerer)
		mon.indexes = map[string]*logIndex{}
		for _, l := range cfg.Logs {
			if l.Scan != nil {
				mon.indexes[l.Name] = &logIndex{store: cfg.Index, log: l.Name, m: ic.forLog(l.Name)}
			}
		}
	}
	mon.observers = map[string]*observer{}
	for _, p := range cfg.Pairs {
		if p.Rekor.Scan == nil || p.CT.Scan == nil {
			return nil, fmt.Errorf("pair %s: both logs must be scanned (scan is disabled)", p.Name())
		}
		if err := p.open(mon.m); err != nil {
			return nil, err
		}
		for _, side := range []struct {
			l  *Log
			ct bool
		}{{p.Rekor, false}, {p.CT, true}} {
			o := mon.observers[side.l.Name]
			if o == nil {
				o = &observer{ct: side.ct}
				mon.observers[side.l.Name] = o
			}
			o.pairs = append(o.pairs, p)
		}
	}
	for _, p := range cfg.Pairs {
		for _, q := range cfg.Pairs {
			if q.CT == p.CT {
				p.siblings = append(p.siblings, q)
			}
		}
	}
	for _, st := range mon.status {
		mon.setUnacknowledged(st)
	}
	return mon, nil
}

// CheckOnce checks every log once, concurrently, and returns the outcomes in
// configuration order.
func (mon *Monitor) CheckOnce(ctx context.Context) []Outcome {
	out := make([]Outcome, len(mon.cfg.Logs))
	var wg sync.WaitGroup
	for i, l := range mon.cfg.Logs {
		wg.Go(func() { out[i] = mon.checkLog(ctx, l) })
	}
	wg.Wait()
	return out
}

// Run checks every log on its schedule until ctx is done. It returns nil on
// cancellation.
func (mon *Monitor) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	for _, l := range mon.cfg.Logs {
		g.Go(func() error {
			mon.loop(ctx, l)
			return nil
		})
	}
	return g.Wait()
}

func (mon *Monitor) loop(ctx context.Context, l *Log) {
	for {
		mon.checkLog(ctx, l)
		now := mon.cfg.Now()
		wait := l.Schedule.Next(now).Sub(now)
		if wait < 0 {
			wait = 0
		}
		wait += jitter(wait, mon.cfg.MaxJitter)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// jitter returns a random delay of up to a tenth of wait, capped at max, so
// replicas and logs do not poll in lockstep.
func jitter(wait, max time.Duration) time.Duration {
	j := wait / 10
	if j > max {
		j = max
	}
	if j <= 0 {
		return 0
	}
	return rand.N(j)
}

// checkLog runs one check of l and records its outcome.
func (mon *Monitor) checkLog(ctx context.Context, l *Log) Outcome {
	mon.applyAcks(ctx)
	c := &checker{log: l, store: mon.cfg.Store, events: mon.cfg.Events, m: mon.m, logger: mon.logger, now: mon.cfg.Now, obs: mon.observers[l.Name],
		index: mon.indexes[l.Name], proofs: &mon.proofs, rebuildDir: mon.cfg.RebuildDir, archive: mon.cfg.Archive, cosigner: mon.cfg.Cosigner}
	out := c.check(ctx)
	if ctx.Err() != nil && out.Result() == ResultError {
		return out // shutting down: not a log failure
	}
	mon.record(ctx, l, out)
	return out
}

// record updates metrics, status and events for one outcome.
//
// Alert bookkeeping (which conditions have fired) changes only once their
// events are durably queued: an event that could not be queued is produced
// again by the next check.
func (mon *Monitor) record(ctx context.Context, l *Log, out Outcome) {
	now := mon.cfg.Now()
	result, ie := verdict(out.Err)
	mon.m.checks.WithLabelValues(l.Name, result.metricLabel()).Inc()
	var events []alert.Event

	mon.mu.Lock()
	st := mon.status[l.Name]
	st.lastErr = out.Err
	switch result {
	case ResultVerified:
		cp := out.Checkpoint
		mon.m.up.WithLabelValues(l.Name).Set(1)
		mon.m.treeSize.WithLabelValues(l.Name).Set(float64(cp.Size))
		mon.m.lastVerified.WithLabelValues(l.Name).Set(float64(now.Unix()))
		if !cp.Timestamp.IsZero() {
			mon.m.checkpointTime.WithLabelValues(l.Name).Set(float64(cp.Timestamp.UnixNano()) / 1e9)
			st.headTime = cp.Timestamp
		}
		if cp.Size != st.size || st.advancedAt.IsZero() {
			st.advancedAt = now
		}
		st.size, st.lastVerified = cp.Size, now
		if out.Witnessed {
			events = append(events, uncosignedEvents(st, out, now)...)
		}
		// Integrity conditions stay firing: only monitor ack resolves them.
	case ResultViolation:
		mon.m.up.WithLabelValues(l.Name).Set(1)
		mon.m.integrityFailures.WithLabelValues(l.Name, string(ie.Reason)).Inc()
		if ev := integrityEvent(l.Name, l.Keys().KeyID, ie, now); st.firing[ev.DedupeKey].Kind == "" {
			events = append(events, ev)
		}
	default:
		mon.m.up.WithLabelValues(l.Name).Set(0)
		mon.m.fetchErrors.WithLabelValues(l.Name).Inc()
	}
	events = append(events, mon.staleEvents(st, now)...)
	mon.mu.Unlock()

	switch {
	case result == ResultVerified && out.TOFU:
		mon.logger.WarnContext(ctx, "first contact with log: trusting its checkpoint on first use (give start_checkpoint_file to pin one)",
			"log", l.Name, "origin", out.Checkpoint.Origin, "size", out.Checkpoint.Size, "root", hex.EncodeToString(out.Checkpoint.Hash))
	case result == ResultVerified:
		mon.logger.InfoContext(ctx, "checkpoint verified", "log", l.Name, "origin", out.Checkpoint.Origin,
			"size", out.Checkpoint.Size, "root", hex.EncodeToString(out.Checkpoint.Hash))
	case result == ResultViolation:
		// A security event: logged with its evidence even though it is
		// also returned, so the log alone is enough to act on.
		mon.logger.ErrorContext(ctx, "LOG INTEGRITY VIOLATION", "log", l.Name, "reason", string(ie.Reason), "err", out.Err,
			"old_checkpoint", string(ie.Old), "new_checkpoint", string(ie.New), "proof", strings.Join(ie.ProofHex(), ","))
	case result == ResultMisconfigured:
		mon.logger.ErrorContext(ctx, "configuration error: the log cannot be checked as configured", "log", l.Name, "err", out.Err)
	default:
		mon.logger.WarnContext(ctx, "check reached no verdict", "log", l.Name, "err", out.Err)
	}
	// Queue even while shutting down: these events are the point.
	if !mon.notify(context.WithoutCancel(ctx), events) {
		return
	}
	mon.mu.Lock()
	defer mon.mu.Unlock()
	changed := false
	for _, ev := range events {
		switch {
		case ev.Kind == alert.KindRecovered:
			delete(st.firing, ev.Resolves.DedupeKey)
			changed = true
		case ev.Kind.Condition():
			st.firing[ev.DedupeKey] = ev
			changed = true
		}
	}
	if changed {
		mon.setUnacknowledged(st)
		if err := mon.saveFiring(); err != nil {
			mon.logger.ErrorContext(ctx, "could not save the firing alert conditions", "err", err)
		}
	}
}

// loadFiring reads cfg.FiringFile into the logs' firing sets; conditions of
// logs no longer configured are dropped.
func (mon *Monitor) loadFiring() error {
	if mon.cfg.FiringFile == "" {
		return nil
	}
	byLog, err := ReadFiring(mon.cfg.FiringFile)
	if err != nil {
		return err
	}
	for name, firing := range byLog {
		if st, ok := mon.status[name]; ok {
			maps.Copy(st.firing, firing)
		}
	}
	return nil
}

// saveFiring writes every log's firing set to cfg.FiringFile atomically.
// Called with mon.mu held.
func (mon *Monitor) saveFiring() error {
	if mon.cfg.FiringFile == "" {
		return nil
	}
	byLog := map[string]map[string]alert.Event{}
	for name, st := range mon.status {
		if len(st.firing) > 0 {
			byLog[name] = st.firing
		}
	}
	b, err := json.Marshal(byLog)
	if err != nil {
		return err
	}
	return state.WriteFileAtomic(mon.cfg.FiringFile, b, 0o600)
}

// staleEvents updates the stale flag of st and returns the events its state
// calls for: a stale event when the log is stale and none has fired, a
// recovered event when it is fresh and one has. Called with mon.mu held.
func (mon *Monitor) staleEvents(st *logStatus, now time.Time) []alert.Event {
	l := st.log
	var why string
	// Until this process has verified the log, count from its start.
	ref := st.lastVerified
	if ref.IsZero() {
		ref = mon.started
	}
	switch {
	case now.Sub(ref) > l.Staleness:
		why = fmt.Sprintf("not verified for %s (limit %s)", now.Sub(ref).Round(time.Second), l.Staleness)
	case l.MaxUnchanged > 0 && !st.advancedAt.IsZero() && now.Sub(st.advancedAt) > l.MaxUnchanged:
		why = fmt.Sprintf("checkpoint has not advanced past size %d for %s (limit %s)", st.size, now.Sub(st.advancedAt).Round(time.Second), l.MaxUnchanged)
	case l.MaxUnchanged > 0 && !st.headTime.IsZero() && now.Sub(st.headTime) > l.MaxUnchanged:
		// A CT log signs a fresh tree head at least once per maximum
		// merge delay; one that keeps serving an old head is stuck.
		why = fmt.Sprintf("the newest signed tree head is dated %s, %s ago (limit %s)", st.headTime.UTC().Format(time.RFC3339), now.Sub(st.headTime).Round(time.Second), l.MaxUnchanged)
	}
	st.stale = why != ""
	if st.stale {
		mon.m.stale.WithLabelValues(l.Name).Set(1)
	} else {
		mon.m.stale.WithLabelValues(l.Name).Set(0)
	}
	firing, fired := st.firing[staleKey(l.Name)]
	switch {
	case !st.stale && fired:
		return []alert.Event{verifiedAgain(firing, now)}
	case st.stale && !fired:
		return []alert.Event{staleEvent(l.Name, l.Keys().KeyID, why, st.lastErr, now)}
	}
	return nil
}

// notify hands events to the notifier and reports whether they are queued.
// A failure is logged with the events and never stops verification.
func (mon *Monitor) notify(ctx context.Context, events []alert.Event) bool {
	if len(events) == 0 || mon.cfg.Events == nil {
		return true
	}
	if _, err := mon.cfg.Events.Enqueue(ctx, events...); err != nil {
		for _, ev := range events {
			mon.logger.ErrorContext(ctx, "could not queue alert; the next check tries again", "log", ev.Log, "kind", string(ev.Kind),
				"summary", ev.Summary, "err", err)
		}
		return false
	}
	return true
}

// Ready reports whether every log was verified within its staleness limit,
// and names the ones that were not.
func (mon *Monitor) Ready() (bool, []string) {
	now := mon.cfg.Now()
	mon.mu.Lock()
	defer mon.mu.Unlock()
	var bad []string
	for _, l := range mon.cfg.Logs {
		st := mon.status[l.Name]
		switch {
		case st.lastVerified.IsZero():
			bad = append(bad, l.Name+": not verified yet")
		case now.Sub(st.lastVerified) > l.Staleness:
			bad = append(bad, fmt.Sprintf("%s: last verified %s ago", l.Name, now.Sub(st.lastVerified).Round(time.Second)))
		}
	}
	return len(bad) == 0, bad
}
