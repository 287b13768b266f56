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
	"net"
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
	// failStreak counts consecutive failed updates of one reason.
	failStreak map[trust.Reason]int

	// expMu guards copies, for the page, of what the last check found
	// expiring (the earliest of each kind and name) and left firing; w.mu
	// is held through a check, network calls included.
	expMu     sync.Mutex
	expiries  []trust.Expiry
	firingNow []alert.Event
}

// Firing returns the trust watch's conditions that fired and are not
// resolved.
func (w *trustWatch) Firing() []alert.Event {
	w.expMu.Lock()
	defer w.expMu.Unlock()
	return slices.Clone(w.firingNow)
}

// Expiries returns what the last check found expiring (the earliest of
// each kind and name), for the page.
func (w *trustWatch) Expiries() []trust.Expiry {
	w.expMu.Lock()
	defer w.expMu.Unlock()
	return slices.Clone(w.expiries)
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
			var err error
			if roots, err = certPool(caFile); err != nil {
				return err
			}
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
	if tc.TUF.CAFile != "" {
		var err error
		if w.material, err = certPool(tc.TUF.CAFile); err != nil {
			return nil, fmt.Errorf("trust.tuf.ca_file: %w", err)
		}
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
	if b != nil && w.prev == nil {
		// Changes since the approved material are reported at the first
		// check.
		w.prev = b.Snapshot()
	}
	if w.tuf != nil && w.prev != nil {
		// The versions verified before the restart stay a floor even if
		// the TUF cache is lost.
		w.tuf.SetFloor(w.prev.Roles)
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
	if ctx.Err() != nil {
		return
	}
	now := w.now()
	prev := w.prev
	var events []alert.Event
	snap, failed := w.update(ctx)
	if ctx.Err() != nil {
		// Shutting down: what failed now is the shutdown, not the
		// material or an endpoint.
		w.prev = prev
		return
	}
	events = append(events, w.updateEvents(failed, now)...)
	if snap != nil {
		events = append(events, w.materialEvents(snap, now)...)
	}
	events = append(events, w.expiryEvents(ctx, snap, now)...)
	if ctx.Err() != nil {
		w.prev = prev
		return
	}
	if len(events) > 0 && w.events != nil {
		if _, err := w.events.Enqueue(context.WithoutCancel(ctx), events...); err != nil {
			w.logger.ErrorContext(ctx, "could not queue trust alerts; the next check tries again", "err", err)
			// Forget what was not queued, so that it fires again, and
			// compare the next material with the same previous one.
			for _, ev := range events {
				if ev.Kind.Condition() {
					delete(w.fired, ev.DedupeKey)
				}
			}
			w.prev = prev
			return
		}
		for _, ev := range events {
			if ev.Kind == alert.KindRecovered {
				delete(w.fired, ev.Resolves.DedupeKey)
			}
		}
	}
	if err := w.saveFired(); err != nil {
		w.logger.ErrorContext(ctx, "could not save the trust watch's state", "err", err)
	}
	w.expMu.Lock()
	w.firingNow = slices.Collect(maps.Values(w.fired))
	w.expMu.Unlock()
}

// updateFailure is why the trust material could not be updated.
type updateFailure struct {
	reason trust.Reason
	err    error
}

// update fetches the trust material: a TUF update, or the files. It returns
// the material to check (the last good one when the update failed) and the
// failure, if any.
func (w *trustWatch) update(ctx context.Context) (*trust.Snapshot, *updateFailure) {
	fail := func(reason trust.Reason, err error) *updateFailure {
		w.m.up.Set(0)
		w.m.failures.WithLabelValues(string(reason)).Inc()
		return &updateFailure{reason, err}
	}
	if w.tuf != nil {
		snap, err := w.tuf.Update(ctx)
		if err == nil {
			w.m.up.Set(1)
			w.m.lastUpdate.Set(float64(w.now().Unix()))
			return snap, nil
		}
		reason := trust.ReasonOther
		var ue *trust.UpdateError
		if errors.As(err, &ue) {
			reason = ue.Reason
		}
		if ctx.Err() == nil {
			w.logger.ErrorContext(ctx, "TUF update failed; the logs are still verified with the last good trust material", "mirror", w.mirror, "reason", string(reason), "err", err)
		}
		return w.tuf.Last(), fail(reason, err)
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
		w.logger.ErrorContext(ctx, "reading the trust material failed; the last good material stays in use", "file", w.rootFile, "err", err)
		return w.prev, fail(trust.ReasonTarget, fmt.Errorf("reading the trust material (%s): %w", w.rootFile, err))
	}
	w.m.up.Set(1)
	w.m.lastUpdate.Set(float64(w.now().Unix()))
	return snap, nil
}

// transientReasons fail often for a moment (a rollout of the mirror, a
// network blip): they fire after failing twice in a row. The others are
// evidence (or an expired repository) and fire at once.
var transientReasons = map[trust.Reason]bool{trust.ReasonUnreachable: true, trust.ReasonTarget: true, trust.ReasonOther: true}

// updateEvents fires trust_update_failed for a failure (one condition per
// reason; critical for what may be an attack: a bad signature, an unmet
// threshold, a rollback, or frozen metadata) and resolves every fired one
// once an update succeeds.
func (w *trustWatch) updateEvents(failed *updateFailure, now time.Time) []alert.Event {
	if w.tuf == nil && w.rootFile == "" {
		return nil
	}
	want := map[string]alert.Event{}
	if failed == nil {
		w.failStreak = map[trust.Reason]int{}
	} else {
		streak := w.failStreak[failed.reason] + 1
		w.failStreak = map[trust.Reason]int{failed.reason: streak}
		if !transientReasons[failed.reason] || streak >= 2 {
			sev := alert.SeverityCritical
			if transientReasons[failed.reason] {
				sev = alert.SeverityWarning
			}
			ev := alert.Event{Kind: alert.KindTrustUpdateFailed, Severity: sev, Log: trustSource, Reason: string(failed.reason), Time: now,
				DedupeKey: alert.Key(alert.KindTrustUpdateFailed, trustSource, string(failed.reason)),
				Summary:   fmt.Sprintf("trust material update failed (%s); logs are verified with the last good material", failed.reason),
				Evidence:  alert.Evidence{Detail: failed.err.Error()}}
			want[ev.DedupeKey] = ev
		}
	}
	// While an update fails, a condition of another reason is not over:
	// only a successful update resolves them.
	evaluated := func(alert.Event) bool { return failed == nil }
	return w.reconcile(alert.KindTrustUpdateFailed, want, evaluated, now, func(alert.Event) string { return "trust material updates again" })
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
		changes, err := diffMaterial(w.prev, snap)
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
	if b != nil {
		// A baseline that cannot be read or compared leaves the gauge as
		// it was: an error is logged, and no count is made up.
		changes, err := diffMaterial(b.Snapshot(), snap)
		if err != nil {
			w.logger.Error("comparing the trust material with the approved baseline", "err", err)
		} else {
			w.m.unapproved.Set(float64(len(changes)))
		}
	}

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
	roles := map[string]bool{}
	for _, r := range snap.Roles {
		roles[r.Name] = true
	}
	evaluated := func(ev alert.Event) bool { return roles[ev.Reason] }
	return append(events, w.reconcile(alert.KindTrustExpiring, want, evaluated, now, levelWhy(want, "re-signed"))...)
}

// diffMaterial is trust.Diff, but without the signing config's services
// when either side has no signing config: one that was not read before
// (signing_config_file newly set, a switch to TUF) is no change of the
// material.
func diffMaterial(prev, next *trust.Snapshot) ([]trust.Change, error) {
	changes, err := trust.Diff(prev, next)
	if err != nil || (len(prev.SigningConfig) > 0 && len(next.SigningConfig) > 0) {
		return changes, err
	}
	return slices.DeleteFunc(changes, func(c trust.Change) bool { return c.Instance == trust.InstanceSigningConfigURL }), nil
}

// materialSHA256 is the hex SHA-256 of the trusted_root.json of snap, by
// which `monitor trust approve --expect-sha256` names what was reviewed.
func materialSHA256(snap *trust.Snapshot) string {
	sum := sha256.Sum256(snap.TrustedRoot)
	return hex.EncodeToString(sum[:])
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
	detail := c.String() + "; trusted_root.json sha256:" + materialSHA256(snap)
	if len(versions) > 0 {
		detail += "; TUF " + strings.Join(versions, ", ")
	}
	return alert.Event{Kind: alert.KindTrustChanged, Severity: sev, Log: trustSource, Reason: c.Instance + "_" + c.Op, Time: now,
		DedupeKey: alert.Key(alert.KindTrustChanged, trustSource, hex.EncodeToString(h[:16])),
		Summary:   fmt.Sprintf("trust material: %s %s %s (%s)", c.Instance, c.Op, c.ID, note),
		Evidence:  alert.Evidence{KeyID: c.ID, Detail: detail, Before: c.Before, After: c.After}}
}

// expiryEvents checks what expires: the CAs and log keys of the material,
// the endpoints' TLS certificates and the CA files. What could not be read
// this time keeps its series and conditions: nothing is known of it.
func (w *trustWatch) expiryEvents(ctx context.Context, snap *trust.Snapshot, now time.Time) []alert.Event {
	var all []trust.Expiry
	keep := map[[2]string]bool{} // series of what could not be read now
	endpoints := slices.Clone(w.endpoints)
	tr, err := snapshotRoot(snap)
	if err != nil || tr == nil {
		for k := range w.certKeys {
			if k[0] != trust.KindTLS && k[0] != trust.KindCAFile {
				keep[k] = true
			}
		}
	} else {
		for _, e := range trust.TrustedRootExpiries(tr) {
			if !e.Retired(now) && !succeeded(tr, e) {
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
	for _, ep := range endpoints {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		e, err := trust.EndpointCertificate(cctx, ep.url, ep.roots)
		cancel()
		switch {
		case err == nil, errors.Is(err, trust.ErrCertificateExpired):
			all = append(all, e)
		default:
			keep[[2]string{trust.KindTLS, hostPort(ep.url)}] = true
			w.logger.WarnContext(ctx, "could not read the TLS certificate of an endpoint", "url", ep.url, "err", err)
		}
	}
	for _, f := range w.caFiles {
		es, err := trust.CertificateFile(f)
		if err != nil {
			keep[[2]string{trust.KindCAFile, f}] = true
			w.logger.WarnContext(ctx, "could not read a CA file", "file", f, "err", err)
			continue
		}
		all = append(all, es...)
	}
	// One series per kind and name: the earliest expiry (a CA file holds
	// a root and an intermediate; the first to expire is what breaks).
	first := map[[2]string]trust.Expiry{}
	for _, e := range all {
		k := [2]string{e.Kind, e.Name}
		if f, ok := first[k]; !ok || e.NotAfter.Before(f.NotAfter) {
			first[k] = e
		}
	}
	w.expMu.Lock()
	w.expiries = w.expiries[:0]
	for _, e := range first {
		w.expiries = append(w.expiries, e)
	}
	w.expMu.Unlock()
	want := map[string]alert.Event{}
	for _, k := range slices.SortedFunc(maps.Keys(first), func(a, b [2]string) int { return strings.Compare(a[0]+"\x00"+a[1], b[0]+"\x00"+b[1]) }) {
		e := first[k]
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
	next := map[[2]string]bool{}
	for k := range w.certKeys {
		if keep[k] {
			next[k] = true
			continue
		}
		if _, ok := first[k]; !ok {
			w.m.certExpiry.DeleteLabelValues(k[0], k[1])
			w.m.certLevel.DeleteLabelValues(k[0], k[1])
		}
	}
	for k := range first {
		next[k] = true
	}
	w.certKeys = next
	evaluated := func(ev alert.Event) bool {
		for k := range first {
			if strings.HasPrefix(ev.DedupeKey, alert.Key(alert.KindCertificateExpiring, trustSource, k[0], k[1])+"/") {
				return true
			}
		}
		return false
	}
	return w.reconcile(alert.KindCertificateExpiring, want, evaluated, now, levelWhy(want, "renewed"))
}

// snapshotRoot parses the trusted root of snap (nil without one).
func snapshotRoot(snap *trust.Snapshot) (*root.TrustedRoot, error) {
	if snap == nil || len(snap.TrustedRoot) == 0 {
		return nil, nil
	}
	return snap.Parsed()
}

// succeeded reports whether the trusted root has a successor for e, a CA
// or log key whose validity window ends: another of its kind whose window
// lasts longer. Then the end is a planned rotation, not an expiry to page
// for.
func succeeded(tr *root.TrustedRoot, e trust.Expiry) bool {
	if e.WindowEnd.IsZero() {
		return false
	}
	outlives := func(end time.Time) bool { return end.IsZero() || end.After(e.WindowEnd) }
	switch e.Kind {
	case trust.KindRekorLogKey:
		for _, l := range tr.RekorLogs() {
			if outlives(l.ValidityPeriodEnd) {
				return true
			}
		}
	case trust.KindCTLogKey:
		for _, l := range tr.CTLogs() {
			if outlives(l.ValidityPeriodEnd) {
				return true
			}
		}
	case trust.KindFulcioCA:
		for _, ca := range tr.FulcioCertificateAuthorities() {
			if f, ok := ca.(*root.FulcioCertificateAuthority); ok && outlives(f.ValidityPeriodEnd) {
				return true
			}
		}
	case trust.KindTSACA:
		for _, ta := range tr.TimestampingAuthorities() {
			if t, ok := ta.(*root.SigstoreTimestampingAuthority); ok && outlives(t.ValidityPeriodEnd) {
				return true
			}
		}
	}
	return false
}

// certPool reads the PEM certificates of file into a pool.
func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// hostPort is the host:port an https URL is dialled at, as
// trust.EndpointCertificate names it.
func hostPort(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "443")
}

// reconcile returns the events that take the fired conditions of kind to
// want: new ones fire; fired ones no longer wanted are resolved, with why,
// but only if evaluated says this check looked at their subject (an
// endpoint that did not answer, a file that could not be read, material
// not fetched: nothing is known, so nothing is resolved).
func (w *trustWatch) reconcile(kind alert.Kind, want map[string]alert.Event, evaluated func(alert.Event) bool, now time.Time, why func(alert.Event) string) []alert.Event {
	var out []alert.Event
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, ok := w.fired[k]; !ok {
			w.fired[k] = want[k]
			out = append(out, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(w.fired)) {
		ev := w.fired[k]
		if ev.Kind != kind || !evaluated(ev) {
			continue
		}
		if _, ok := want[k]; !ok {
			out = append(out, alert.Recovered(ev, now, fmt.Sprintf("%s: %s", ev.Summary, why(ev))))
		}
	}
	return out
}

// levelWhy says why an expiry condition of subject prefix (its dedupe key
// without the level) ended: renewed, or at another level now.
func levelWhy(want map[string]alert.Event, renewed string) func(alert.Event) string {
	return func(ev alert.Event) string {
		prefix := ev.DedupeKey[:strings.LastIndex(ev.DedupeKey, "/")+1]
		for k, w := range want {
			if strings.HasPrefix(k, prefix) {
				return "now " + strings.TrimPrefix(k, prefix) + " (" + string(w.Severity) + ")"
			}
		}
		return renewed
	}
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
	// Prev is the material the last check saw, whose changes are
	// reported: a restart does not report them again.
	Prev *trust.Snapshot `json:"prev,omitempty"`
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
	w.prev = f.Prev
	return nil
}

func (w *trustWatch) saveFired() error {
	b, err := json.Marshal(firedFile{Fired: w.fired, RoleSeen: w.roleSeen, Prev: w.prev})
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
//
// expectSHA256, when set, is the hex SHA-256 of the trusted_root.json that
// was reviewed (trust_changed events carry it): what is fetched now must
// be exactly that, so that a change published after the review is not
// approved with it.
func ApproveTrust(ctx context.Context, cfg *config.Config, logger *slog.Logger, expectSHA256 string) ([]trust.Change, error) {
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
		if ue := (*trust.UpdateError)(nil); errors.As(failed.err, &ue) {
			return nil, ue
		}
		return nil, &trust.UpdateError{Reason: failed.reason, Mirror: w.rootFile, Err: failed.err}
	}
	if got := materialSHA256(snap); expectSHA256 != "" && !strings.EqualFold(got, strings.TrimPrefix(expectSHA256, "sha256:")) {
		return nil, fmt.Errorf("the trusted_root.json distributed now has SHA-256 %s, not the %s that was reviewed: review what changed since (nothing approved)", got, expectSHA256)
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
