package monitor

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/robfig/cron/v3"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/archive"
	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/search"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/web"
	"github.com/vigil-tlog/vigil/internal/witness"
)

// App is a monitor process built from a configuration: its logs, state
// store, metrics registry, alert outbox and monitor. Close releases the
// state directory.
type App struct {
	cfg      *config.Config
	monitor  *Monitor
	trust    *trustWatch // nil: nothing to watch
	registry *prometheus.Registry
	store    *state.Store
	outbox   *alert.Outbox
	sinks    []alert.Sink
	logger   *slog.Logger
	// index is the search index (nil: index disabled or scanning off),
	// search runs queries on it, recent keeps the latest events for the
	// page, and token guards the API and the page ("" for none).
	index  *index.Store
	search *search.Service
	recent *recentEvents
	token  string
	// archive keeps every verified or cosigned checkpoint; witness is the
	// C2SP witness (nil without witness.listen).
	archive *archive.Archive
	witness *witness.Witness
	// auditor audits Sigstore bundles against what the monitor verified
	// (POST /api/v1/audit-bundle).
	auditor *audit.Auditor

	closeOnce sync.Once
	closeErr  error
}

// NewApp resolves cfg (keys, trust material, sources, schedules), opens and
// locks the state directory and builds the monitor.
func NewApp(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	ua := "vigil-monitor/" + Version()
	var scan *ScanConfig
	if !cfg.Scan.Disabled {
		matcher, err := identity.Compile(cfg.Identities)
		if err != nil {
			return nil, err
		}
		scan = &ScanConfig{Matcher: matcher, WatchSeverity: alert.Severity(cfg.Scan.WatchSeverity), StartIndex: cfg.Scan.StartIndex,
			StartAtEnd: cfg.Scan.StartAtEnd, Workers: cfg.Scan.Workers, Chunk: cfg.Scan.Chunk,
			MemoryBudget: cfg.Scan.MemoryBudget.Int64()}
	}
	cfg, trust, logs, err := resolveLogs(ctx, cfg, logger, scan)
	if err != nil {
		return nil, err
	}
	sinks, err := alert.NewSinks(cfg.Alerts, logger)
	if err != nil {
		return nil, err
	}
	store, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	outbox, err := alert.Open(state.OutboxDir(cfg.StateDir), sinks, reg, logger, cfg.Alerts.Outbox)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("opening alert outbox: %w", err)
	}
	recent := &recentEvents{Notifier: outbox}
	tw, err := newTrustWatch(cfg, recent, reg, logger, ua)
	if err != nil {
		// The logs are still checked: the trust watch is beside them.
		logger.ErrorContext(ctx, "the trust watch cannot start; the logs are checked without it", "err", err)
		tw = nil
	}
	pairs, err := newPairs(cfg, logs, trust, logger)
	if err != nil {
		outbox.Close()
		store.Close()
		return nil, err
	}
	var token string
	if cfg.API.TokenFile != "" {
		if token, err = search.ReadToken(cfg.API.TokenFile); err != nil {
			outbox.Close()
			store.Close()
			return nil, &ConfigError{Err: fmt.Errorf("api.token_file: %w", err)}
		}
	}
	var ix *index.Store
	if !cfg.Index.Disabled && scan != nil {
		if ix, err = openIndex(ctx, cfg.Index); err != nil {
			outbox.Close()
			store.Close()
			return nil, err
		}
	}
	closeAll := func() {
		if ix != nil {
			ix.Close()
		}
		outbox.Close()
		store.Close()
	}
	arch, err := archive.Open(state.ArchiveDir(cfg.StateDir), cfg.Witness.ArchiveMax)
	if err != nil {
		closeAll()
		return nil, err
	}
	var wkey *witness.Key
	if cfg.Witness.KeyFile != "" {
		if wkey, err = witness.LoadKey(cfg.Witness.KeyFile); err != nil {
			arch.Close()
			closeAll()
			return nil, &ConfigError{Err: fmt.Errorf("witness.key_file: %w", err)}
		}
	}
	mcfg := Config{Logs: logs, Store: store, Events: recent, Registerer: reg, Logger: logger,
		FiringFile: state.FiringFile(cfg.StateDir), AckDir: state.AckDir(cfg.StateDir), Pairs: pairs,
		RebuildDir: state.IndexRebuildDir(cfg.StateDir), Archive: arch}
	if ix != nil {
		mcfg.Index = ix
	}
	if wkey != nil {
		mcfg.Cosigner = wkey.Signer.Verifier()
	}
	mon, err := New(mcfg)
	if err != nil {
		arch.Close()
		closeAll()
		return nil, err
	}
	a := &App{cfg: cfg, monitor: mon, trust: tw, registry: reg, store: store, outbox: outbox, sinks: sinks, logger: logger,
		index: ix, recent: recent, token: token, archive: arch}
	if wkey != nil {
		if a.witness, err = newWitness(cfg, logs, store, arch, wkey, reg, logger, mon.WitnessFork); err != nil {
			a.Close()
			return nil, err
		}
	}
	var prover search.Prover
	if cfg.API.ProofsOn() {
		prover = mon
	}
	a.search = search.New(ix, prover, logger)
	// No logs yet (trust.follow_shards found none): no audit endpoint.
	if len(logs) > 0 {
		if a.auditor, err = audit.New(audit.Config{Logs: auditLogs(logs), StateDir: cfg.StateDir, Archive: arch}); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// openIndex opens the search index cfg names.
func openIndex(ctx context.Context, cfg config.Index) (*index.Store, error) {
	ic := index.Config{Driver: cfg.Driver, Path: cfg.Path}
	if cfg.Driver == index.DriverPostgres {
		b, err := os.ReadFile(cfg.DSNFile)
		if err != nil {
			return nil, &ConfigError{Err: fmt.Errorf("index.dsn_file: %w", err)}
		}
		if ic.DSN = strings.TrimSpace(string(b)); ic.DSN == "" {
			return nil, &ConfigError{Err: fmt.Errorf("index.dsn_file: %s is empty", cfg.DSNFile)}
		}
	}
	ix, err := index.Open(ctx, ic)
	if err != nil {
		where := cfg.Path
		if cfg.Driver == index.DriverPostgres {
			where = "the database of index.dsn_file"
		}
		return nil, fmt.Errorf("opening the search index (%s, %s; set index.disabled to run without it): %w", cfg.Driver, where, err)
	}
	return ix, nil
}

// Close closes the index and the outbox and releases the state directory.
// Closing again does nothing.
func (a *App) Close() error {
	a.closeOnce.Do(func() {
		var err error
		if a.index != nil {
			err = a.index.Close()
		}
		a.closeErr = errors.Join(err, a.archive.Close(), a.outbox.Close(), a.store.Close())
	})
	return a.closeErr
}

// Search runs a search of the index (nil without one: search.ErrNoIndex).
func (a *App) Search(ctx context.Context, q index.Query) (*search.Response, error) {
	return a.search.Search(ctx, q)
}

// Entry returns one indexed entry, fetched again from its log.
func (a *App) Entry(ctx context.Context, log string, idx uint64) (*search.Entry, error) {
	return a.search.Entry(ctx, log, idx)
}

// Logs returns each log's health for the page, with the earliest expiry
// the trust watch knows of its key or TLS certificate.
func (a *App) Logs(ctx context.Context) []web.Log {
	logs := a.monitor.Logs(ctx)
	if a.trust == nil {
		return logs
	}
	exps := a.trust.Expiries()
	for i := range logs {
		host := hostPort(logs[i].URL)
		for _, e := range exps {
			if e.Name == strings.TrimSuffix(logs[i].URL, "/") || e.Name == host {
				if logs[i].TrustExpiry.IsZero() || e.NotAfter.Before(logs[i].TrustExpiry) {
					logs[i].TrustExpiry = e.NotAfter
				}
			}
		}
	}
	return logs
}

// Alerts returns the firing conditions and the latest events, newest
// first, at most limit.
func (a *App) Alerts(_ context.Context, limit int) []alert.Event {
	firing := a.monitor.Firing()
	if a.trust != nil {
		firing = append(firing, a.trust.Firing()...)
	}
	return alertsFor(firing, a.recent.recent(limit), limit)
}

// Handler serves /metrics, /healthz and /readyz, and, unless api.listen
// gives them a listener of their own, the page and the API (APIHandler).
func (a *App) Handler() http.Handler {
	if a.cfg.API.Listen != "" {
		return a.monitor.Handler(a.registry)
	}
	mux := http.NewServeMux()
	mh := a.monitor.Handler(a.registry)
	mux.Handle("GET /metrics", mh)
	mux.Handle("GET /healthz", mh)
	mux.Handle("GET /readyz", mh)
	mux.Handle("/", a.APIHandler())
	return mux
}

// APIHandler serves the page and the search API, behind the API token
// when one is configured.
func (a *App) APIHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", a.search.Handler())
	if a.auditor != nil {
		mux.Handle(audit.Path, a.auditor.Handler())
	}
	mux.Handle("/", web.Handler(a, web.Options{}))
	return search.Authorize(a.token, mux)
}

// CheckOnce checks every log once and returns the outcomes in
// configuration order; the alerts it queues are delivered by Run, or by a
// later Check.
func (a *App) CheckOnce(ctx context.Context) []Outcome { return a.monitor.CheckOnce(ctx) }

// Deliver delivers queued alerts until ctx is done (what Run does beside
// the checks).
func (a *App) Deliver(ctx context.Context) error { return a.outbox.Run(ctx) }

// Gatherer is the app's metrics registry.
func (a *App) Gatherer() prometheus.Gatherer { return a.registry }

// Queued is the number of alerts in the outbox not yet delivered to every
// sink.
func (a *App) Queued() int { return a.outbox.Stats().Queued }

// Ready reports whether every log was verified within its staleness limit,
// and names the ones that were not.
func (a *App) Ready() (bool, []string) { return a.monitor.Ready() }

// Firing returns the alert conditions that fired and are not resolved,
// integrity violations first.
func (a *App) Firing() []alert.Event { return a.monitor.Firing() }

// SinkResult is the result of sending the test alert through one sink.
type SinkResult struct {
	Sink string
	Err  error // nil: sent
}

// TestAlert sends the sample event through every sink and returns each
// sink's result, in configuration order.
func (a *App) TestAlert(ctx context.Context) []SinkResult {
	err := alert.TestAlert(ctx, a.sinks)
	var failed []*alert.SinkError
	for _, e := range unwrapAll(err) {
		var se *alert.SinkError
		if errors.As(e, &se) {
			failed = append(failed, se)
		}
	}
	out := make([]SinkResult, len(a.sinks))
	for i, s := range a.sinks {
		out[i].Sink = s.Name()
		for _, se := range failed {
			if se.Sink == s.Name() {
				out[i].Err = se.Err
			}
		}
	}
	return out
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// Check checks every log once (and the trust material, when it is
// watched), then gives the alert outbox up to flush to deliver what the
// checks queued (what is left is delivered by the next run
// or check).
func (a *App) Check(ctx context.Context, flush time.Duration) []Outcome {
	outs := a.monitor.CheckOnce(ctx)
	if a.trust != nil {
		a.trust.check(ctx)
	}
	if a.outbox.Stats().Queued == 0 {
		return outs
	}
	fctx, cancel := context.WithTimeout(ctx, flush)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.outbox.Run(fctx)
	}()
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for a.outbox.Stats().Queued > 0 && fctx.Err() == nil {
		select {
		case <-fctx.Done():
		case <-t.C:
		}
	}
	cancel()
	<-done
	if n := a.outbox.Stats().Queued; n > 0 {
		a.logger.WarnContext(ctx, "alerts still queued after check; the next run delivers them", "queued", n)
	}
	return outs
}

// Run serves HTTP on ln and checks every log on its schedule until ctx is
// done; cancellation is a clean exit.
func (a *App) Run(ctx context.Context, ln net.Listener) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return Serve(ctx, ln, a.Handler()) })
	if a.cfg.API.Listen != "" {
		api, err := net.Listen("tcp", a.cfg.API.Listen)
		if err != nil {
			return fmt.Errorf("api.listen: %w", err)
		}
		a.logger.InfoContext(ctx, "serving the page and the search API", "listen", api.Addr().String())
		g.Go(func() error { return Serve(ctx, api, a.APIHandler()) })
	}
	if a.witness != nil && a.cfg.Witness.Listen != "" {
		wl, err := net.Listen("tcp", a.cfg.Witness.Listen)
		if err != nil {
			return fmt.Errorf("witness.listen: %w", err)
		}
		a.logger.InfoContext(ctx, "serving the witness API (C2SP tlog-witness)", "listen", wl.Addr().String(), "verifier_key", a.witness.VerifierKey())
		g.Go(func() error { return Serve(ctx, wl, a.witness.Handler()) })
	}
	g.Go(func() error { return a.monitor.Run(ctx) })
	if len(a.cfg.Peers) > 0 {
		g.Go(func() error { return a.monitor.RunPeers(ctx, a.cfg.Peers, PeerOrigins(a.cfg)) })
	}
	g.Go(func() error { return a.outbox.Run(ctx) })
	if a.trust != nil {
		g.Go(func() error { a.trust.run(ctx); return nil })
	}
	a.logger.InfoContext(ctx, "monitor running", "listen", ln.Addr().String(), "logs", len(a.cfg.Logs), "state_dir", a.cfg.StateDir)
	return g.Wait()
}

// newWitness builds the witness of the logs: those configured witness: true
// take add-checkpoint requests; every log with plain C2SP checkpoints of one
// tree (Rekor v2, static-ct) is served on the read path.
func newWitness(cfg *config.Config, logs []*Log, store *state.Store, arch *archive.Archive, key *witness.Key, reg prometheus.Registerer, logger *slog.Logger,
	onFork func(context.Context, string, *checkpoint.IntegrityError)) (*witness.Witness, error) {
	var wl []witness.Log
	for i, lc := range cfg.Logs {
		if lc.Kind != config.KindRekorV2 && lc.Kind != config.KindStaticCT {
			continue
		}
		l := logs[i]
		wl = append(wl, witness.Log{Name: l.Name, Origin: lc.Origin, Witnessed: lc.Witness,
			Verify: func(raw []byte) (*checkpoint.Checkpoint, error) {
				return l.Source.Checkpoint(raw, "", activeKeys(l.Keys()))
			},
			VerifySaved: func(raw []byte) (*checkpoint.Checkpoint, error) {
				return l.Source.Checkpoint(raw, "", shardKeys(l.Keys()))
			}})
	}
	return witness.New(witness.Config{Store: store, Archive: arch, Key: key, Logs: wl,
		Metrics: witness.NewMetrics(reg), Logger: logger, OnFork: onFork})
}

// Witness returns the monitor's witness, nil without witness.key_file.
func (a *App) Witness() *witness.Witness { return a.witness }

// newLog resolves one configured log. reload reads the trust material
// again, for Log.Rekey.
func newLog(lc config.Log, trust trustedLogs, reload func() (trustedLogs, error), ua string, scan *ScanConfig) (*Log, error) {
	open, ok := kinds[lc.Kind]
	if !ok {
		return nil, fmt.Errorf("kind %q: no such log kind", lc.Kind)
	}
	hc, err := tlog.NewHTTPClient(tlog.ClientConfig{CAFile: lc.CAFile, Timeout: time.Duration(lc.Timeout), UserAgent: ua})
	if err != nil {
		return nil, fmt.Errorf("ca_file: %w", err)
	}
	src, err := open(tlog.Options{URL: lc.URL, Origin: lc.Origin, Client: hc})
	if err != nil {
		return nil, err
	}
	keys, err := logKeys(lc, src, trust, time.Now())
	if err != nil {
		return nil, err
	}
	var sched Schedule = cron.Every(time.Duration(lc.Interval))
	if lc.Schedule != "" {
		if sched, err = config.ParseSchedule(lc.Schedule); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
	}
	l := NewLog(lc.Name, lc.URL, src, keys)
	l.Kind = string(lc.Kind)
	l.Witnessed, l.WitnessSeverity = lc.Witness, lc.WitnessSeverity
	l.Staleness, l.MaxUnchanged, l.Schedule = time.Duration(lc.Staleness), time.Duration(lc.MaxUnchanged), sched
	l.Rekey = func(context.Context) (Keys, error) {
		if lc.PublicKeyFile != "" {
			return logKeys(lc, src, nil, time.Now())
		}
		t, err := reload()
		if err != nil {
			return Keys{}, err
		}
		return logKeys(lc, src, t, time.Now())
	}
	if scan != nil {
		l.Scan, l.parser = scan, identity.NewParser(1024)
	}
	if lc.StartCheckpointFile != "" {
		if l.Start, err = os.ReadFile(lc.StartCheckpointFile); err != nil {
			return nil, fmt.Errorf("start_checkpoint_file: %w", err)
		}
	}
	return l, nil
}

// logKeys resolves the keys of log lc: its public_key_file, else the keys of
// the trust material valid at now (and those that ended, for the saved
// checkpoint).
func logKeys(lc config.Log, src tlog.Log, trust trustedLogs, now time.Time) (Keys, error) {
	var (
		keys, ended []crypto.PublicKey
		err         error
	)
	switch {
	case lc.PublicKeyFile != "":
		pub, err := readPublicKey(lc.PublicKeyFile)
		if err != nil {
			return Keys{}, fmt.Errorf("public_key_file: %w", err)
		}
		keys = []crypto.PublicKey{pub}
	case trust != nil:
		keys, ended, err = trust.keysFor(lc.URL, lc.Origin, now)
		if err != nil {
			return Keys{}, err
		}
	default:
		return Keys{}, fmt.Errorf("no public key: set public_key_file or trust")
	}
	vs, ids, err := verifiers(lc.Name, src, keys)
	if err != nil {
		return Keys{}, err
	}
	all, _, err := verifiers(lc.Name, src, append(slices.Clone(keys), ended...))
	if err != nil {
		return Keys{}, err
	}
	return Keys{Verifiers: vs, Saved: all, Public: slices.Concat(keys, ended), KeyID: strings.Join(ids, ",")}, nil
}

// verifiers builds a note verifier for each distinct key (a trust root may
// list one key twice, for two validity periods) and returns them with their
// key IDs.
func verifiers(name string, src tlog.Log, keys []crypto.PublicKey) ([]note.Verifier, []string, error) {
	var (
		vs  []note.Verifier
		ids []string
	)
	for _, k := range keys {
		id, err := src.KeyID(k)
		if err != nil {
			return nil, nil, err
		}
		if slices.Contains(ids, id) {
			continue
		}
		v, err := src.Verifier(k)
		if err != nil {
			return nil, nil, fmt.Errorf("origin: %w", err)
		}
		for i, o := range vs {
			if o.KeyHash() == v.KeyHash() {
				// note.VerifierList cannot tell them apart.
				return nil, nil, fmt.Errorf("keys %s and %s of log %s share the key hint %08x", ids[i], id, name, v.KeyHash())
			}
		}
		vs, ids = append(vs, v), append(ids, id)
	}
	return vs, ids, nil
}
