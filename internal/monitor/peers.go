package monitor

// Peers: other Vigil instances, or any C2SP witness, that serve the latest
// checkpoint they verified of a log on the C2SP monitoring read path,
//
//	GET <peer url>/<hex(sha256(origin))>/checkpoint
//
// cosigned with their cosignature/v1 key. Each peer's checkpoint of each
// log with plain C2SP checkpoints of one tree (Rekor v2, static-ct) is
// proven consistent with this monitor's verified state, every peer
// interval:
//
//	fetch -> peer's cosignature -> log's signature -> archive (same size) -> saved state -> proof from the log
//	  |             |                    |                   |                   |                   |
//	  +-------------+---- no verdict ----+                   +------- split_view (both notes) -------+
//
// A checkpoint that the log signed and that no single history with this
// monitor's explains is a split view: the log showed the peer one tree and
// this monitor another. It is an integrity violation (reason split_view),
// raised once per log and peer until an operator acknowledges it (monitor
// ack). Everything else, a peer that is down, answers garbage, does not
// know the log, has not cosigned what it serves, or serves a note the log
// did not sign, is no verdict: a warning and a metric, never a page. The
// peer is broken then, not the log.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// maxPeerBody bounds a peer's checkpoint response: a checkpoint with a few
// dozen signatures fits many times over.
const maxPeerBody = 64 << 10

// Peer check results, the result label of vigil_peer_checks_total.
const (
	peerConsistent = "consistent"
	peerSplitView  = "split_view"
	peerNoVerdict  = "no_verdict"
)

// PeerOrigins returns the origins of cfg's logs that peers are asked
// about, by log name: those with plain C2SP checkpoints of one tree
// (Rekor v2, static-ct). It is the origins argument of [Monitor.RunPeers].
func PeerOrigins(cfg *config.Config) map[string]string {
	out := map[string]string{}
	for _, lc := range cfg.Logs {
		if lc.Kind == config.KindRekorV2 || lc.Kind == config.KindStaticCT {
			out[lc.Name] = lc.Origin
		}
	}
	return out
}

// peerMetrics are the collectors of the peer checks.
type peerMetrics struct {
	checks         *prometheus.CounterVec
	fetchErrors    *prometheus.CounterVec
	lastConsistent *prometheus.GaugeVec
}

// newPeerMetrics registers the peer collectors with reg. Registering twice
// (RunPeers called again on the same registry) reuses the collectors.
func newPeerMetrics(reg prometheus.Registerer) (*peerMetrics, error) {
	m := &peerMetrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_peer_checks_total", Help: "Checks of a peer's checkpoint of a log against this monitor's, by result (consistent, split_view, no_verdict).",
		}, []string{"peer", "log", "result"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_peer_fetch_errors_total", Help: "Fetches of a peer's checkpoint that failed: the peer was unreachable or answered an error or garbage.",
		}, []string{"peer", "log"}),
		lastConsistent: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_peer_last_consistent_timestamp_seconds", Help: "When a peer's checkpoint of the log was last proven consistent with this monitor's (Unix time).",
		}, []string{"peer", "log"}),
	}
	var err error
	m.checks, err = register(reg, m.checks)
	if err != nil {
		return nil, err
	}
	if m.fetchErrors, err = register(reg, m.fetchErrors); err != nil {
		return nil, err
	}
	if m.lastConsistent, err = register(reg, m.lastConsistent); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c with reg, or returns the collector registered
// before under the same description.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if prev, ok := are.ExistingCollector.(C); ok {
			return prev, nil
		}
	}
	return c, err
}

func (m *peerMetrics) init(peer, log string) {
	for _, r := range []string{peerConsistent, peerSplitView, peerNoVerdict} {
		m.checks.WithLabelValues(peer, log, r)
	}
	m.fetchErrors.WithLabelValues(peer, log)
}

// peerLog is a log that peers are asked about.
type peerLog struct {
	log    *Log
	origin string
}

// peerWatch checks one peer's checkpoints of the logs. Its rounds run one
// after another (RunPeers gives each peer one goroutine).
type peerWatch struct {
	mon      *Monitor
	peer     config.Peer
	client   *http.Client
	verifier note.Verifier // the peer's cosignature/v1 key
	logs     []peerLog
	m        *peerMetrics
}

// RunPeers checks, every peer's interval until ctx is done, that each peer's
// latest checkpoint of each log in origins (log name -> checkpoint origin,
// see [PeerOrigins]) is consistent with this monitor's verified state; a
// split view raises an integrity violation (split_view) with both
// checkpoints. Logs not in origins, and names in origins that are not the
// monitor's logs, are not checked. It returns an error only for a peer that
// cannot be set up (its key or CA file), before checking anything, and nil
// once ctx is done.
func (mon *Monitor) RunPeers(ctx context.Context, peers []config.Peer, origins map[string]string) error {
	ws, err := mon.peerWatches(peers, origins)
	if err != nil || len(ws) == 0 {
		return err
	}
	g, ctx := errgroup.WithContext(ctx)
	for _, w := range ws {
		g.Go(func() error {
			w.loop(ctx)
			return nil
		})
	}
	return g.Wait()
}

// peerWatches sets up the checks of peers.
func (mon *Monitor) peerWatches(peers []config.Peer, origins map[string]string) ([]*peerWatch, error) {
	var logs []peerLog
	for _, l := range mon.cfg.Logs {
		if o, ok := origins[l.Name]; ok && o != "" {
			logs = append(logs, peerLog{log: l, origin: o})
		}
	}
	if len(peers) == 0 || len(logs) == 0 {
		return nil, nil
	}
	m, err := newPeerMetrics(mon.cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("registering peer metrics: %w", err)
	}
	var ws []*peerWatch
	for _, p := range peers {
		v, err := fnote.NewVerifierForCosignatureV1(p.Key)
		if err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("peers: %s: key: %w", p.Name, err)}
		}
		if p.Interval <= 0 {
			p.Interval = config.Duration(config.DefaultInterval)
		}
		hc, err := tlog.NewHTTPClient(tlog.ClientConfig{CAFile: p.CAFile, Timeout: time.Duration(p.Timeout), MaxBody: maxPeerBody,
			UserAgent: "vigil-monitor/" + Version()})
		if err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("peers: %s: ca_file: %w", p.Name, err)}
		}
		for _, pl := range logs {
			m.init(p.Name, pl.log.Name)
		}
		ws = append(ws, &peerWatch{mon: mon, peer: p, client: hc, verifier: v, logs: logs, m: m})
	}
	return ws, nil
}

func (w *peerWatch) loop(ctx context.Context) {
	every := time.Duration(w.peer.Interval)
	for {
		w.round(ctx)
		t := time.NewTimer(every + jitter(every, w.mon.cfg.MaxJitter))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// round checks the peer's checkpoint of every log once.
func (w *peerWatch) round(ctx context.Context) {
	for _, pl := range w.logs {
		if ctx.Err() != nil {
			return
		}
		w.checkLog(ctx, pl)
	}
}

// peerOutcome is what one check of a peer's checkpoint found.
type peerOutcome struct {
	result string
	// ie is the split view, for result split_view.
	ie *checkpoint.IntegrityError
	// For no verdict: why, how loud, and whether the peer's fetch failed.
	msg   string
	level slog.Level
	fetch bool
	err   error
	// size is the peer's checkpoint size, when it verified.
	size uint64
}

func noVerdict(level slog.Level, msg string, err error) peerOutcome {
	return peerOutcome{result: peerNoVerdict, level: level, msg: msg, err: err}
}

// checkLog checks the peer's checkpoint of pl once and records the outcome.
func (w *peerWatch) checkLog(ctx context.Context, pl peerLog) peerOutcome {
	out := w.check(ctx, pl)
	if out.result == peerNoVerdict && ctx.Err() != nil {
		return out // shutting down: no verdict, and no failure either
	}
	name, log := w.peer.Name, pl.log.Name
	w.m.checks.WithLabelValues(name, log, out.result).Inc()
	logger := w.mon.logger
	switch out.result {
	case peerConsistent:
		w.m.lastConsistent.WithLabelValues(name, log).Set(float64(w.mon.cfg.Now().Unix()))
		logger.DebugContext(ctx, "peer's checkpoint is consistent with this monitor's", "peer", name, "log", log, "size", out.size)
	case peerSplitView:
		w.mon.peerViolation(ctx, pl.log, name, out.ie)
	default:
		if out.fetch {
			w.m.fetchErrors.WithLabelValues(name, log).Inc()
		}
		logger.Log(ctx, out.level, "peer check reached no verdict: "+out.msg, "peer", name, "log", log, "url", w.url(pl), "err", out.err)
	}
	return out
}

// url is where the peer serves its checkpoint of pl.
func (w *peerWatch) url(pl peerLog) string {
	return strings.TrimSuffix(w.peer.URL, "/") + "/" + witness.OriginHash(pl.origin) + "/checkpoint"
}

// check fetches the peer's checkpoint of pl, verifies it and proves it
// consistent with the monitor's saved state.
func (w *peerWatch) check(ctx context.Context, pl peerLog) peerOutcome {
	l := pl.log
	raw, status, err := w.fetch(ctx, pl)
	switch {
	case err != nil:
		o := noVerdict(slog.LevelWarn, "fetching the peer's checkpoint failed", err)
		o.fetch = true
		return o
	case status == http.StatusNotFound:
		return noVerdict(slog.LevelDebug, "the peer does not serve this log (404)", nil)
	case status != http.StatusOK:
		o := noVerdict(slog.LevelWarn, "the peer answered an error", fmt.Errorf("HTTP %d: %q", status, trimBody(raw)))
		o.fetch = true
		return o
	}
	// SPEC (c2sp.org/tlog-witness, read path): the peer's checkpoint carries
	// its cosignature; without one, it is not the peer's word.
	if _, err := note.Open(raw, note.VerifierList(w.verifier)); err != nil {
		var unverified *note.UnverifiedNoteError
		if errors.As(err, &unverified) {
			return noVerdict(slog.LevelWarn, "the checkpoint carries no cosignature by the peer's key (is peers[].key the peer's cosignature/v1 verifier key?)", err)
		}
		var bad *note.InvalidSignatureError
		if errors.As(err, &bad) {
			return noVerdict(slog.LevelWarn, "the peer's cosignature does not verify", err)
		}
		o := noVerdict(slog.LevelWarn, "the peer answered something that is not a signed note", fmt.Errorf("%w: %q", err, trimBody(raw)))
		o.fetch = true
		return o
	}
	theirs, err := l.Source.Checkpoint(raw, "", activeKeys(l.Keys()))
	if err != nil {
		return noVerdict(slog.LevelWarn, "the peer serves a checkpoint the log's keys do not verify (the peer is broken, not the log)", err)
	}
	saved, err := w.mon.cfg.Store.Load(l.Name)
	if err != nil {
		return noVerdict(slog.LevelWarn, "loading this monitor's state", err)
	}
	if saved == nil {
		return noVerdict(slog.LevelDebug, "nothing verified of the log yet", nil)
	}
	ours, err := l.Source.Checkpoint(saved.Checkpoint, saved.TreeID, shardKeys(l.Keys()))
	if err != nil {
		return noVerdict(slog.LevelWarn, "this monitor's saved checkpoint does not verify", err)
	}
	split := func(old []byte, p [][]byte, cause error) peerOutcome {
		return peerOutcome{result: peerSplitView, size: theirs.Size, ie: &checkpoint.IntegrityError{
			Reason: checkpoint.ReasonSplitView, Old: old, New: raw, Proof: p,
			Err: fmt.Errorf("peer %s (%s) holds checkpoint %s of the log, which no single history with this monitor's %s explains: %w",
				w.peer.Name, w.peer.URL, theirs, ours, cause)}}
	}
	// A checkpoint this monitor verified at the same size settles it
	// without asking the log.
	if a := w.mon.cfg.Archive; a != nil && theirs.Size != ours.Size {
		e, ok, err := a.Get(l.Name, saved.TreeID, theirs.Size)
		switch {
		case err != nil:
			w.mon.logger.WarnContext(ctx, "reading the checkpoint archive", "log", l.Name, "size", theirs.Size, "err", err)
		case ok && bytes.Equal(e.Root, theirs.Hash):
			return peerOutcome{result: peerConsistent, size: theirs.Size}
		case ok:
			return split(e.Note, nil, fmt.Errorf("two roots for tree size %d: %x, archived %s, and %x",
				theirs.Size, e.Root, e.Time.UTC().Format(time.RFC3339), theirs.Hash))
		}
	}
	older, newer := ours, theirs
	if theirs.Size < ours.Size {
		older, newer = theirs, ours
	}
	var p [][]byte
	if newer.Size > older.Size && older.Size > 0 {
		p, err = l.Source.ConsistencyProof(ctx, saved.TreeID, older.Size, newer.Size)
		if err != nil {
			return noVerdict(slog.LevelWarn, "fetching the consistency proof from the log failed",
				fmt.Errorf("fetching consistency proof %d->%d of %s: %w", older.Size, newer.Size, l.Name, err))
		}
	}
	if err := checkpoint.CheckConsistency(older, newer, p); err != nil {
		var ie *checkpoint.IntegrityError
		if !errors.As(err, &ie) {
			return noVerdict(slog.LevelWarn, "checking consistency", err)
		}
		return split(saved.Checkpoint, p, ie.Err)
	}
	return peerOutcome{result: peerConsistent, size: theirs.Size}
}

// fetch GETs the peer's checkpoint of pl: the body (at most maxPeerBody)
// and the status, or an error when no answer came.
func (w *peerWatch) fetch(ctx context.Context, pl peerLog) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url(pl), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPeerBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the peer's answer: %w", err)
	}
	if len(body) > maxPeerBody {
		return nil, 0, fmt.Errorf("the peer's answer exceeds %d bytes", maxPeerBody)
	}
	return body, resp.StatusCode, nil
}

func trimBody(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// peerSplitKey is the dedupe key of a split view between a log's checkpoint
// at a peer and this monitor's: one per log and peer, so a peer that keeps
// serving a fork (even one that grows, or while this monitor's own
// checkpoint advances) pages once, until acknowledged.
func peerSplitKey(log, peer string) string {
	return alert.Key(alert.KindIntegrityViolation, log, string(checkpoint.ReasonSplitView), "peer", peer)
}

// peerViolation records a split view between peer's checkpoint of l and this
// monitor's (see externalViolation).
func (mon *Monitor) peerViolation(ctx context.Context, l *Log, peer string, ie *checkpoint.IntegrityError) {
	mon.externalViolation(ctx, l, peerSplitKey(l.Name, peer), ie, "peer", peer)
}

// externalViolation records an integrity violation of l found outside its
// checks (a peer's checkpoint, a log's add-checkpoint request to the
// witness): metrics and a log line each time, an integrity violation event
// under dedupe key when that condition is not firing yet. As in record, the
// condition is marked firing only once its event is queued; extMu keeps two
// findings of one condition from both paging.
func (mon *Monitor) externalViolation(ctx context.Context, l *Log, key string, ie *checkpoint.IntegrityError, attrs ...any) {
	now := mon.cfg.Now()
	mon.m.integrityFailures.WithLabelValues(l.Name, string(ie.Reason)).Inc()
	// A security event: logged with its evidence.
	mon.logger.ErrorContext(ctx, "LOG INTEGRITY VIOLATION", append([]any{"log", l.Name, "reason", string(ie.Reason), "err", ie,
		"old_checkpoint", string(ie.Old), "new_checkpoint", string(ie.New), "proof", strings.Join(ie.ProofHex(), ",")}, attrs...)...)
	ev := integrityEvent(l.Name, l.Keys().KeyID, ie, now)
	ev.DedupeKey = key

	mon.extMu.Lock()
	defer mon.extMu.Unlock()
	mon.mu.Lock()
	st := mon.status[l.Name]
	fired := st == nil || st.firing[ev.DedupeKey].Kind != ""
	mon.mu.Unlock()
	if fired {
		return
	}
	// Queue even while shutting down: this event is the point.
	if !mon.notify(context.WithoutCancel(ctx), []alert.Event{ev}) {
		return
	}
	mon.mu.Lock()
	defer mon.mu.Unlock()
	st.firing[ev.DedupeKey] = ev
	mon.setUnacknowledged(st)
	if err := mon.saveFiring(); err != nil {
		mon.logger.ErrorContext(ctx, "could not save the firing alert conditions", "err", err)
	}
}

// WitnessFork records that log asked the witness to cosign a checkpoint
// whose root differs from one this monitor verified or cosigned at the
// same size: both signed by the log, a fork. It pages once per log until
// acknowledged (monitor ack); the witness refused to cosign.
func (mon *Monitor) WitnessFork(ctx context.Context, log string, ie *checkpoint.IntegrityError) {
	mon.mu.Lock()
	st := mon.status[log]
	mon.mu.Unlock()
	if st == nil {
		return
	}
	mon.externalViolation(ctx, st.log, alert.Key(alert.KindIntegrityViolation, log, string(ie.Reason), "witness"), ie, "via", "witness add-checkpoint")
}
