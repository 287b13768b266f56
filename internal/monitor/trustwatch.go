package monitor

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/state"
	"github.com/vigil-tlog/vigil/internal/tlog"
	"github.com/vigil-tlog/vigil/internal/trust"
)

// The trust watch
//
// Beside the log tasks, one task watches what the logs are trusted with
// (trust.watch), every interval:
//
//	TUF mirror --trust.TUF.Update--> snapshot (roles, trusted_root.json, signing config)
//	    |                  |              |
//	    |  failure: trust_update_failed   +--Diff(previous)--> trust_changed (info when the baseline has it)
//	    |  (last good material stays)     +--Diff(baseline)--> vigil_trust_unapproved_changes
//	    |                                 +--role expiry-----> trust_expiring
//	TLS endpoints, CAs and log keys of the material, CA files --> certificate_expiring
//
// The baseline is the material `monitor trust approve` recorded (at first
// start, the material then distributed, trusted on first use). A change
// the baseline does not have is critical: a new key nobody approved is the
// signal. Conditions (expiring, update failed) fire once and resolve when
// they clear; the set that fired is kept in the state directory.

// trustSource is the name trust events carry in Event.Log.
const trustSource = "trust"

// trustWatch watches the trust material and what expires.
type trustWatch struct {
	cfg       config.TrustWatch
	tuf       *trust.TUF // nil without a TUF mirror
	mirror    string
	rootFile  string // trusted_root_file, without TUF
	scFile    string
	endpoints []watchedEndpoint
	// material verifies the endpoints the trust material names (Fulcio,
	// CT logs, TSAs): the TUF mirror's CAs (a private deployment's one
	// CA), else the system roots.
	material *x509.CertPool
	caFiles  []string
	baseline string // path of the approved baseline
	firing   string // path of the fired conditions
	events   Notifier
	m        *trustMetrics
	logger   *slog.Logger
	now      func() time.Time

	mu       sync.Mutex // guards the fields below; one check at a time
	prev     *trust.Snapshot
	fired    map[string]alert.Event
	certKeys map[[2]string]bool // label pairs of vigil_certificate_expiry_timestamp_seconds set
	roleSeen map[string]roleSeen
}

// roleSeen is when a version of a TUF role was first seen.
type roleSeen struct {
	Version int64     `json:"version"`
	At      time.Time `json:"at"`
}

// watchedEndpoint is an https URL whose certificate is watched, with the
// CAs that verify it (nil: the system roots).
type watchedEndpoint struct {
	url   string
	roots *x509.CertPool
}

// BaselineFile is the path of the approved trust material of cfg.
func BaselineFile(cfg *config.Config) string {
	if cfg.Trust.Watch.BaselineFile != "" {
		return cfg.Trust.Watch.BaselineFile
	}
	return state.TrustBaselineFile(cfg.StateDir)
}

// newTrustWatch builds the watch of cfg, or returns nil when there is
// nothing to watch.
func newTrustWatch(cfg *config.Config, events Notifier, reg prometheus.Registerer, logger *slog.Logger, ua string) (*trustWatch, error) {
	tc, wc := cfg.Trust, cfg.Trust.Watch
	if wc.Disabled || (tc.TrustedRootFile == "" && tc.TUF.Mirror == "" && len(wc.Endpoints) == 0 && len(wc.CAFiles) == 0) {
		return nil, nil
	}
	w := &trustWatch{cfg: wc, rootFile: tc.TrustedRootFile, scFile: tc.SigningConfigFile, caFiles: wc.CAFiles,
		baseline: BaselineFile(cfg), firing: state.TrustFiringFile(cfg.StateDir),
		events: events, m: newTrustMetrics(reg, tc.TUF.Mirror != "" || tc.TrustedRootFile != ""), logger: logger, now: time.Now,
		fired: map[string]alert.Event{}, certKeys: map[[2]string]bool{}, roleSeen: map[string]roleSeen{}}
	if tc.TUF.Mirror != "" {
		rootJSON, err := os.ReadFile(tc.TUF.RootFile)
		if err != nil {
			return nil, fmt.Errorf("trust.tuf.root_file: %w", err)
		}
		hc, err := tlog.NewHTTPClient(tlog.ClientConfig{CAFile: tc.TUF.CAFile, UserAgent: ua})
		if err != nil {
			return nil, fmt.Errorf("trust.tuf.ca_file: %w", err)
		}
		cache := tc.TUF.CacheDir
		if cache == "" {
			cache = state.TUFCacheDir(cfg.StateDir)
		}
		// A cache of its own: the log keys are read (and re-read after a
		// rotation) by sigstore-go's TUF client from the other one, and two
		// updaters must not write one cache at once.
		cache = filepath.Join(cache, "watch")
		if w.tuf, err = trust.NewTUF(trust.TUFConfig{Mirror: tc.TUF.Mirror, Root: rootJSON, CacheDir: cache, Client: hc, UserAgent: ua}); err != nil {
			return nil, err
		}
		w.mirror = tc.TUF.Mirror
	}
	// The endpoints: the logs, the TUF mirror and the configured ones,
	// each verified with the CAs configured for it.
	add := func(raw, caFile string) error {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" {
			return nil // plain http has no certificate to watch
		}
		for _, e := range w.endpoints {
			if e.url == raw {
				return nil
			}
		}
		var roots *x509.CertPool
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return err
			}
			roots = x509.NewCertPool()
			roots.AppendCertsFromPEM(pem)
		}
		w.endpoints = append(w.endpoints, watchedEndpoint{url: raw, roots: roots})
		return nil
	}
	for _, l := range cfg.Logs {
		if err := add(l.URL, l.CAFile); err != nil {
			return nil, fmt.Errorf("logs %s ca_file: %w", l.Name, err)
		}
	}
	if err := add(tc.TUF.Mirror, tc.TUF.CAFile); err != nil {
		return nil, fmt.Errorf("trust.tuf.ca_file: %w", err)
	}
	if len(w.endpoints) > 0 && tc.TUF.CAFile != "" {
		w.material = w.endpoints[len(w.endpoints)-1].roots
	}
	for _, e := range wc.Endpoints {
		if err := add(e, ""); err != nil {
			return nil, err
		}
	}
	if err := w.loadFired(); err != nil {
		return nil, err
	}
	b, err := trust.LoadBaseline(w.baseline)
	if err != nil {
		return nil, err
	}
	if b != nil {
		// Changes since the approved material are reported at the first
		// check (receivers drop repeats by dedupe key).
		w.prev = b.Snapshot()
	}
	return w, nil
}

// run checks every interval until ctx is done.
func (w *trustWatch) run(ctx context.Context) {
	for {
		w.check(ctx)
		t := time.NewTimer(time.Duration(w.cfg.Interval))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// check runs one update of the trust material and one expiry check, and
// queues the events they call for.
func (w *trustWatch) check(ctx context.Context) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	var events []alert.Event
	snap, failed := w.update(ctx)
	events = append(events, w.updateEvents(failed, now)...)
	if snap != nil {
		events = append(events, w.materialEvents(snap, now)...)
	}
	events = append(events, w.expiryEvents(ctx, snap, now)...)
	if len(events) == 0 || w.events == nil {
		if err := w.saveFired(); err != nil {
			w.logger.ErrorContext(ctx, "could not save the trust watch's state", "err", err)
		}
		return
	}
	if _, err := w.events.Enqueue(context.WithoutCancel(ctx), events...); err != nil {
		w.logger.ErrorContext(ctx, "could not queue trust alerts; the next check tries again", "err", err)
		// Forget what was not queued, so that it fires again.
		for _, ev := range events {
			if ev.Kind.Condition() {
				delete(w.fired, ev.DedupeKey)
			}
		}
		return
	}
	for _, ev := range events {
		if ev.Kind == alert.KindRecovered {
			delete(w.fired, ev.Resolves.DedupeKey)
		}
	}
	if err := w.saveFired(); err != nil {
		w.logger.ErrorContext(ctx, "could not save the fired trust conditions", "err", err)
	}
}

// update fetches the trust material: a TUF update, or the files. It returns
// the material to check (the last good one when the update failed) and the
// failure, if any.
func (w *trustWatch) update(ctx context.Context) (*trust.Snapshot, *trust.UpdateError) {
	if w.tuf != nil {
		snap, err := w.tuf.Update(ctx)
		if err == nil {
			w.m.up.Set(1)
			w.m.lastUpdate.Set(float64(w.now().Unix()))
			return snap, nil
		}
		var ue *trust.UpdateError
		if !errors.As(err, &ue) {
			ue = &trust.UpdateError{Reason: trust.ReasonOther, Mirror: w.mirror, Err: err}
		}
		w.m.up.Set(0)
		w.m.failures.WithLabelValues(string(ue.Reason)).Inc()
		w.logger.ErrorContext(ctx, "TUF update failed; the logs are still verified with the last good trust material", "mirror", w.mirror, "reason", string(ue.Reason), "err", err)
		return w.tuf.Last(), ue
	}
	if w.rootFile == "" {
		return nil, nil
	}
	snap := &trust.Snapshot{FetchedAt: w.now()}
	var err error
	if snap.TrustedRoot, err = os.ReadFile(w.rootFile); err == nil && w.scFile != "" {
		snap.SigningConfig, err = os.ReadFile(w.scFile)
	}
	if err == nil {
		_, err = snap.Parsed()
	}
	if err != nil {
		w.m.up.Set(0)
		w.m.failures.WithLabelValues(string(trust.ReasonTarget)).Inc()
		w.logger.ErrorContext(ctx, "reading the trust material failed", "file", w.rootFile, "err", err)
		return w.prev, &trust.UpdateError{Reason: trust.ReasonTarget, Err: err}
	}
	w.m.up.Set(1)
	w.m.lastUpdate.Set(float64(w.now().Unix()))
	return snap, nil
}

// updateEvents fires trust_update_failed for a failure (one condition per
// reason) and resolves every fired one once an update succeeds.
func (w *trustWatch) updateEvents(failed *trust.UpdateError, now time.Time) []alert.Event {
	if w.tuf == nil && w.rootFile == "" {
		return nil
	}
	var want map[string]alert.Event
	if failed != nil {
		ev := alert.Event{Kind: alert.KindTrustUpdateFailed, Severity: alert.SeverityWarning, Log: trustSource, Reason: string(failed.Reason), Time: now,
			DedupeKey: alert.Key(alert.KindTrustUpdateFailed, trustSource, string(failed.Reason)),
			Summary:   fmt.Sprintf("trust material update failed (%s); logs are verified with the last good material", failed.Reason),
			Evidence:  alert.Evidence{Detail: failed.Error()}}
		want = map[string]alert.Event{ev.DedupeKey: ev}
	}
	return w.reconcile(alert.KindTrustUpdateFailed, want, now, "trust material updates again")
}

// materialEvents reports changes of the material since the previous check
// (trust_changed), sets the unapproved-change gauge against the baseline,
// and fires trust_expiring for TUF roles near expiry.
func (w *trustWatch) materialEvents(snap *trust.Snapshot, now time.Time) []alert.Event {
	var events []alert.Event
	b, err := trust.LoadBaseline(w.baseline)
	if err != nil {
		w.logger.Error("reading the approved trust baseline", "file", w.baseline, "err", err)
	}
	if b == nil && err == nil {
		// First use: the material distributed now is the baseline.
		if err := trust.SaveBaseline(w.baseline, snap); err != nil {
			w.logger.Error("recording the trust baseline", "file", w.baseline, "err", err)
		} else {
			w.logger.Warn("no approved trust baseline: recording the trust material distributed now as approved (monitor trust approve records it again after a reviewed change)", "file", w.baseline)
			b, _ = trust.LoadBaseline(w.baseline)
		}
	}
	if w.prev != nil {
		changes, err := trust.Diff(w.prev, snap)
		if err != nil {
			w.logger.Error("comparing the trust material with the previous one", "err", err)
		}
		for _, c := range changes {
			approved := b != nil && b.Approved(c)
			events = append(events, trustChangedEvent(c, approved, snap, now))
			w.logger.Warn("trust material changed", "change", c.String(), "approved", approved)
		}
	}
	w.prev = snap
	unapproved := 0
	if b != nil {
		changes, err := trust.Diff(b.Snapshot(), snap)
		if err != nil {
			w.logger.Error("comparing the trust material with the approved baseline", "err", err)
		}
		unapproved = len(changes)
	}
	w.m.unapproved.Set(float64(unapproved))

	want := map[string]alert.Event{}
	for _, r := range snap.Roles {
		w.m.roleExpiry.WithLabelValues(r.Name).Set(float64(r.Expires.Unix()))
		w.m.roleVersion.WithLabelValues(r.Name).Set(float64(r.Version))
		// A role's lifetime counts from when this version was first seen
		// (TUF metadata does not say when it was signed).
		seen, ok := w.roleSeen[r.Name]
		if !ok || seen.Version != r.Version {
			seen = roleSeen{r.Version, now}
			w.roleSeen[r.Name] = seen
		}
		lvl := trust.ClassifyLifetime(seen.At, r.Expires, now, time.Duration(w.cfg.Warning), time.Duration(w.cfg.Critical))
		w.m.roleLevel.WithLabelValues(r.Name).Set(float64(lvl))
		if lvl == trust.LevelOK {
			continue
		}
		ev := alert.Event{Kind: alert.KindTrustExpiring, Severity: levelSeverity(lvl), Log: trustSource, Reason: r.Name, Time: now,
			DedupeKey: alert.Key(alert.KindTrustExpiring, trustSource, r.Name, lvl.String()),
			Summary:   fmt.Sprintf("TUF %s metadata (version %d) %s: expires %s", r.Name, r.Version, lvl, r.Expires.UTC().Format(time.RFC3339)),
			Evidence:  alert.Evidence{Detail: fmt.Sprintf("mirror %s; role %s version %d expires %s", w.mirror, r.Name, r.Version, r.Expires.UTC().Format(time.RFC3339))}}
		want[ev.DedupeKey] = ev
	}
	return append(events, w.reconcile(alert.KindTrustExpiring, want, now, "TUF metadata re-signed")...)
}

// trustChangedEvent is the event of one change of the trust material.
func trustChangedEvent(c trust.Change, approved bool, snap *trust.Snapshot, now time.Time) alert.Event {
	sev, note := alert.SeverityCritical, "not in the approved baseline"
	if approved {
		sev, note = alert.SeverityInfo, "approved"
	}
	h := sha256.Sum256([]byte(c.String()))
	var versions []string
	for _, r := range snap.Roles {
		versions = append(versions, fmt.Sprintf("%s v%d", r.Name, r.Version))
	}
	detail := c.String()
	if len(versions) > 0 {
		detail += "; TUF " + strings.Join(versions, ", ")
	}
	return alert.Event{Kind: alert.KindTrustChanged, Severity: sev, Log: trustSource, Reason: c.Instance + "_" + c.Op, Time: now,
		DedupeKey: alert.Key(alert.KindTrustChanged, trustSource, hex.EncodeToString(h[:16])),
		Summary:   fmt.Sprintf("trust material: %s %s %s (%s)", c.Instance, c.Op, c.ID, note),
		Evidence:  alert.Evidence{KeyID: c.ID, Detail: detail, Before: c.Before, After: c.After}}
}

// expiryEvents checks what expires: the CAs and log keys of the material,
// the endpoints' TLS certificates and the CA files.
func (w *trustWatch) expiryEvents(ctx context.Context, snap *trust.Snapshot, now time.Time) []alert.Event {
	var all []trust.Expiry
	endpoints := slices.Clone(w.endpoints)
	if snap != nil {
		if tr, err := snap.Parsed(); err == nil {
			for _, e := range trust.TrustedRootExpiries(tr) {
				if !e.Retired(now) {
					all = append(all, e)
				}
			}
			// The services the material names, valid now.
			var urls []string
			for _, ca := range tr.FulcioCertificateAuthorities() {
				if f, ok := ca.(*root.FulcioCertificateAuthority); ok && (f.ValidityPeriodEnd.IsZero() || now.Before(f.ValidityPeriodEnd)) {
					urls = append(urls, f.URI)
				}
			}
			for _, l := range tr.CTLogs() {
				if l.ValidityPeriodEnd.IsZero() || now.Before(l.ValidityPeriodEnd) {
					urls = append(urls, l.BaseURL)
				}
			}
			for _, u := range urls {
				if strings.HasPrefix(u, "https://") && !slices.ContainsFunc(endpoints, func(e watchedEndpoint) bool { return e.url == u }) {
					endpoints = append(endpoints, watchedEndpoint{url: u, roots: w.material})
				}
			}
		}
	}
	for _, ep := range endpoints {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		e, err := trust.EndpointCertificate(cctx, ep.url, ep.roots)
		cancel()
		switch {
		case err == nil, errors.Is(err, trust.ErrCertificateExpired):
			all = append(all, e)
		default:
			w.logger.WarnContext(ctx, "could not read the TLS certificate of an endpoint", "url", ep.url, "err", err)
		}
	}
	for _, f := range w.caFiles {
		es, err := trust.CertificateFile(f)
		if err != nil {
			w.logger.WarnContext(ctx, "could not read a CA file", "file", f, "err", err)
			continue
		}
		all = append(all, es...)
	}
	seen := map[[2]string]bool{}
	want := map[string]alert.Event{}
	for _, e := range all {
		k := [2]string{e.Kind, e.Name}
		if seen[k] {
			continue
		}
		seen[k] = true
		w.m.certExpiry.WithLabelValues(e.Kind, e.Name).Set(float64(e.NotAfter.Unix()))
		lvl := trust.ClassifyLifetime(e.NotBefore, e.NotAfter, now, time.Duration(w.cfg.Warning), time.Duration(w.cfg.Critical))
		w.m.certLevel.WithLabelValues(e.Kind, e.Name).Set(float64(lvl))
		if lvl == trust.LevelOK {
			continue
		}
		ev := alert.Event{Kind: alert.KindCertificateExpiring, Severity: levelSeverity(lvl), Log: trustSource, Reason: e.Kind, Time: now,
			DedupeKey: alert.Key(alert.KindCertificateExpiring, trustSource, e.Kind, e.Name, lvl.String()),
			Summary:   fmt.Sprintf("%s %s %s: not after %s", e.Kind, e.Name, lvl, e.NotAfter.UTC().Format(time.RFC3339)),
			Evidence:  alert.Evidence{Detail: e.Detail}}
		want[ev.DedupeKey] = ev
	}
	for k := range w.certKeys {
		if !seen[k] {
			w.m.certExpiry.DeleteLabelValues(k[0], k[1])
			w.m.certLevel.DeleteLabelValues(k[0], k[1])
		}
	}
	w.certKeys = seen
	return w.reconcile(alert.KindCertificateExpiring, want, now, "renewed")
}

// reconcile returns the events that take the fired conditions of kind to
// want: new ones fire, those no longer wanted are resolved.
func (w *trustWatch) reconcile(kind alert.Kind, want map[string]alert.Event, now time.Time, why string) []alert.Event {
	var out []alert.Event
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := w.fired[k]; !ok {
			w.fired[k] = want[k]
			out = append(out, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(w.fired)) {
		ev := w.fired[k]
		if ev.Kind != kind {
			continue
		}
		if _, ok := want[k]; !ok {
			out = append(out, alert.Recovered(ev, now, fmt.Sprintf("%s resolved: %s", ev.Summary, why)))
		}
	}
	return out
}

// levelSeverity maps an expiry level to an event severity.
func levelSeverity(l trust.Level) alert.Severity {
	if l >= trust.LevelCritical {
		return alert.SeverityCritical
	}
	return alert.SeverityWarning
}

// firedFile is what the trust watch keeps across restarts: the conditions
// that fired, and when each TUF role's version was first seen (a restart
// must not make a late re-signing look young).
type firedFile struct {
	Fired    map[string]alert.Event `json:"fired"`
	RoleSeen map[string]roleSeen    `json:"role_seen"`
}

func (w *trustWatch) loadFired() error {
	b, err := os.ReadFile(w.firing)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var f firedFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("reading %s: %w", w.firing, err)
	}
	maps.Copy(w.fired, f.Fired)
	maps.Copy(w.roleSeen, f.RoleSeen)
	return nil
}

func (w *trustWatch) saveFired() error {
	b, err := json.Marshal(firedFile{Fired: w.fired, RoleSeen: w.roleSeen})
	if err != nil {
		return err
	}
	return state.WriteFileAtomic(w.firing, b, 0o600)
}

// trustMetrics are the trust watch's collectors.
type trustMetrics struct {
	roleExpiry  *prometheus.GaugeVec
	roleVersion *prometheus.GaugeVec
	up          prometheus.Gauge
	failures    *prometheus.CounterVec
	lastUpdate  prometheus.Gauge
	unapproved  prometheus.Gauge
	certExpiry  *prometheus.GaugeVec
	roleLevel   *prometheus.GaugeVec
	certLevel   *prometheus.GaugeVec
}

// newTrustMetrics registers the collectors; those of the trust material
// only with material (a watch of CA files alone must not export
// vigil_trust_update_up 0, which the rules read as a failing update).
func newTrustMetrics(reg prometheus.Registerer, material bool) *trustMetrics {
	m := &trustMetrics{
		roleExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_trust_role_expiry_timestamp_seconds", Help: "Expiry of each TUF role's metadata last verified (Unix time).",
		}, []string{"role"}),
		roleVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_trust_role_version", Help: "Version of each TUF role's metadata last verified.",
		}, []string{"role"}),
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_trust_update_up", Help: "1 when the last update of the trust material succeeded, 0 when it failed (the last good material stays in use).",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_trust_update_failures_total", Help: "Failed updates of the trust material, by reason.",
		}, []string{"reason"}),
		lastUpdate: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_trust_last_update_timestamp_seconds", Help: "When the trust material was last updated successfully (Unix time).",
		}),
		unapproved: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_trust_unapproved_changes", Help: "Changes of the trust material since the approved baseline (monitor trust approve).",
		}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_certificate_expiry_timestamp_seconds", Help: "NotAfter of each watched certificate or key (Unix time).",
		}, []string{"kind", "name"}),
		roleLevel: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_trust_role_expiry_level", Help: "How near each TUF role's metadata is to expiry: 0 ok, 1 warning, 2 critical, 3 expired (trust.watch thresholds, scaled to the role's lifetime).",
		}, []string{"role"}),
		certLevel: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_certificate_expiry_level", Help: "How near each watched certificate or key is to expiry: 0 ok, 1 warning, 2 critical, 3 expired (trust.watch thresholds, scaled to its lifetime).",
		}, []string{"kind", "name"}),
	}
	reg.MustRegister(m.certExpiry, m.certLevel)
	if !material {
		return m
	}
	reg.MustRegister(m.roleExpiry, m.roleVersion, m.up, m.failures, m.lastUpdate, m.unapproved, m.roleLevel)
	for _, r := range []trust.Reason{trust.ReasonSignature, trust.ReasonThreshold, trust.ReasonRollback, trust.ReasonFreeze,
		trust.ReasonUnreachable, trust.ReasonTarget, trust.ReasonOther} {
		m.failures.WithLabelValues(string(r))
	}
	return m
}

// ApproveTrust records the trust material distributed now as the approved
// baseline of cfg: it updates from the TUF mirror (verifying from the
// pinned root.json into a cache of its own, so that a running monitor's is
// left alone) or reads the files, and saves the result, which the running
// monitor reads at its next check. It returns the changes from the
// previous baseline that it approves.
func ApproveTrust(ctx context.Context, cfg *config.Config, logger *slog.Logger) ([]trust.Change, error) {
	tmp, err := os.MkdirTemp("", "vigil-trust-approve-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	c := *cfg
	c.Trust.TUF.CacheDir = tmp
	c.Trust.Watch.BaselineFile = BaselineFile(cfg)
	w, err := newTrustWatch(&c, nil, prometheus.NewRegistry(), logger, "vigil-monitor/"+Version())
	if err != nil {
		return nil, err
	}
	if w == nil || (w.tuf == nil && w.rootFile == "") {
		return nil, errors.New("no trust material configured (trust.trusted_root_file or trust.tuf)")
	}
	snap, failed := w.update(ctx)
	if failed != nil {
		return nil, failed
	}
	old, err := trust.LoadBaseline(w.baseline)
	if err != nil {
		return nil, err
	}
	var changes []trust.Change
	if old != nil {
		if changes, err = trust.Diff(old.Snapshot(), snap); err != nil {
			return nil, err
		}
	}
	if err := trust.SaveBaseline(w.baseline, snap); err != nil {
		return nil, err
	}
	return changes, nil
}
