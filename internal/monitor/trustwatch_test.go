package monitor

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/trust"
	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

// trustWatchConfig is a monitor configuration watching repo's trust
// material, with state in a new directory.
func trustWatchConfig(t *testing.T, repo *tuftest.Repo) *config.Config {
	t.Helper()
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.json")
	if err := os.WriteFile(rootFile, repo.RootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{StateDir: filepath.Join(dir, "state"),
		Trust: config.Trust{TUF: config.TUF{Mirror: repo.URL(), RootFile: rootFile}}}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg.Trust.Watch = config.TrustWatch{Interval: config.Duration(time.Hour),
		Warning: config.Duration(config.DefaultTrustWarning), Critical: config.Duration(config.DefaultTrustCritical)}
	return cfg
}

func newTestTrustWatch(t *testing.T, cfg *config.Config, rec Notifier) (*trustWatch, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	w, err := newTrustWatch(cfg, rec, reg, discardLogger(), "test")
	if err != nil || w == nil {
		t.Fatalf("newTrustWatch = %v, %v", w, err)
	}
	return w, reg
}

// kinds returns the kinds and severities of events, as "kind:severity"
// (recovered events as "recovered:<kind of what they resolve>").
func eventKinds(evs []alert.Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == alert.KindRecovered {
			out = append(out, "recovered:"+string(e.Resolves.Kind))
			continue
		}
		out = append(out, string(e.Kind)+":"+string(e.Severity))
	}
	return out
}

// TestTrustWatch follows a real TUF repository through what a trust watch
// must see: a first update that records the baseline, a new Rekor shard
// nobody approved (critical, until monitor trust approve), an approved
// state, and a rollback the mirror serves (update failed, the last good
// material kept, resolved once the mirror is fixed).
func TestTrustWatch(t *testing.T) {
	repo := tuftest.New(t)
	cfg := trustWatchConfig(t, repo)
	rec := &recorder{}
	w, _ := newTestTrustWatch(t, cfg, rec)

	w.check(t.Context())
	if len(rec.events) != 0 {
		t.Fatalf("first check raised %v, want nothing (the baseline is recorded)", eventKinds(rec.events))
	}
	if _, err := os.Stat(BaselineFile(cfg)); err != nil {
		t.Fatalf("no baseline after the first check: %v", err)
	}
	if got := testutil.ToFloat64(w.m.up); got != 1 {
		t.Errorf("vigil_trust_update_up = %v, want 1", got)
	}
	_, tsV, _, _ := repo.Versions()
	if got := testutil.ToFloat64(w.m.roleVersion.WithLabelValues("timestamp")); got != float64(tsV) {
		t.Errorf("timestamp version = %v, want %d", got, tsV)
	}
	// The sample timestamp lives 7 days: under the 7-day warning, but a
	// role renewed on time is not "expiring".
	if got := testutil.ToFloat64(w.m.roleLevel.WithLabelValues("timestamp")); got != 0 {
		t.Errorf("timestamp expiry level = %v, want 0 (ok)", got)
	}

	// A new Rekor shard appears in trusted_root.json.
	repo.TrustedRoot().AddRekorV2("https://log2027-1.rekor.example.test", time.Now().Add(-time.Minute))
	repo.SetTarget(tuftest.TrustedRootTarget, repo.TrustedRoot().JSON())
	repo.Publish()
	rec.events = nil
	w.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "trust_changed:critical" {
		t.Fatalf("after a new shard: events %v, want one critical trust_changed", got)
	}
	ev := rec.events[0]
	if ev.Evidence.After["base_url"] != "https://log2027-1.rekor.example.test" || !strings.Contains(ev.Summary, "not in the approved baseline") {
		t.Errorf("trust_changed event %q after %v: want the new shard's URL", ev.Summary, ev.Evidence.After)
	}
	if got := testutil.ToFloat64(w.m.unapproved); got != 1 {
		t.Errorf("vigil_trust_unapproved_changes = %v, want 1", got)
	}

	// The same material again: nothing new; approved: the gauge drops.
	rec.events = nil
	w.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("unchanged material raised %v", eventKinds(rec.events))
	}
	if _, err := ApproveTrust(t.Context(), cfg, discardLogger(), strings.Repeat("00", 32)); err == nil || !strings.Contains(err.Error(), "not the") {
		t.Fatalf("ApproveTrust with the hash of other material = %v, want a refusal", err)
	}
	changes, err := ApproveTrust(t.Context(), cfg, discardLogger(), materialSHA256(w.tuf.Last()))
	if err != nil || len(changes) != 1 {
		t.Fatalf("ApproveTrust = %v, %v; want the one change", changes, err)
	}
	w.check(t.Context())
	if got := testutil.ToFloat64(w.m.unapproved); got != 0 {
		t.Errorf("after approve: vigil_trust_unapproved_changes = %v, want 0", got)
	}

	// The mirror serves an older timestamp: a rollback. The last good
	// material stays, the failure is an event and a metric.
	repo.Publish()
	w.check(t.Context())
	_, tsV, _, _ = repo.Versions()
	repo.ServeOld(tsV - 1)
	rec.events = nil
	w.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "trust_update_failed:critical" || rec.events[0].Reason != string(trust.ReasonRollback) {
		t.Fatalf("rollback: events %v (reason %q), want trust_update_failed rollback", got, rec.events[0].Reason)
	}
	if got := testutil.ToFloat64(w.m.failures.WithLabelValues("rollback")); got != 1 {
		t.Errorf("failures{rollback} = %v, want 1", got)
	}
	if w.tuf.Last() == nil || testutil.ToFloat64(w.m.up) != 0 {
		t.Error("after a failed update: want the last good material kept and vigil_trust_update_up 0")
	}
	rec.events = nil
	w.check(t.Context()) // still failing: no repeat
	if len(rec.events) != 0 {
		t.Errorf("a failure that holds raised %v again", eventKinds(rec.events))
	}
	repo.ServeOld(0)
	rec.events = nil
	w.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "recovered:trust_update_failed" {
		t.Errorf("mirror fixed: events %v, want the failure resolved", got)
	}

	// A restart keeps what fired: nothing is raised twice.
	w2, _ := newTestTrustWatch(t, cfg, rec)
	rec.events = nil
	w2.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("check after a restart raised %v", eventKinds(rec.events))
	}

	// The mirror unreachable once (a rollout) is no alert; twice is.
	repo.Down(true)
	rec.events = nil
	w2.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("mirror unreachable once: events %v, want none yet", eventKinds(rec.events))
	}
	w2.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "trust_update_failed:warning" {
		t.Errorf("mirror unreachable twice: events %v, want trust_update_failed warning", got)
	}
	repo.Down(false)

	// A check cut short by shutdown raises nothing.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rec.events = nil
	w2.check(ctx)
	if len(rec.events) != 0 {
		t.Errorf("check during shutdown raised %v", eventKinds(rec.events))
	}
}

// failingNotifier refuses every event.
type failingNotifier struct{}

func (failingNotifier) Enqueue(context.Context, ...alert.Event) ([]alert.Event, error) {
	return nil, errors.New("outbox full")
}

// TestTrustWatchChangesNotLost: a change whose event could not be queued is
// reported at the next check; one that was is not reported again after a
// restart.
func TestTrustWatchChangesNotLost(t *testing.T) {
	repo := tuftest.New(t)
	cfg := trustWatchConfig(t, repo)
	rec := &recorder{}
	w, _ := newTestTrustWatch(t, cfg, rec)
	w.check(t.Context())
	repo.TrustedRoot().AddRekorV2("https://log2027-1.rekor.example.test", time.Now().Add(-time.Minute))
	repo.SetTarget(tuftest.TrustedRootTarget, repo.TrustedRoot().JSON())
	repo.Publish()
	w.events = failingNotifier{}
	w.check(t.Context())
	w.events = rec
	rec.events = nil
	w.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "trust_changed:critical" {
		t.Fatalf("after a change that could not be queued: events %v, want it reported now", got)
	}
	w2, _ := newTestTrustWatch(t, cfg, rec)
	rec.events = nil
	w2.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("after a restart the change was reported again: %v", eventKinds(rec.events))
	}
}

// TestTrustWatchExpiry: TUF metadata that is not renewed in time and a CA
// file near its end raise trust_expiring and certificate_expiring, once,
// and resolve when renewed.
func TestTrustWatchExpiry(t *testing.T) {
	repo := tuftest.New(t)
	cfg := trustWatchConfig(t, repo)
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	writeCert(t, caFile, time.Now().Add(-30*24*time.Hour), time.Now().Add(12*time.Hour))
	cfg.Trust.Watch.CAFiles = []string{caFile}
	rec := &recorder{}
	w, _ := newTestTrustWatch(t, cfg, rec)
	w.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "certificate_expiring:critical" {
		t.Fatalf("CA file 12h from its end: events %v, want certificate_expiring critical", got)
	}
	if got := testutil.ToFloat64(w.m.certLevel.WithLabelValues(trust.KindCAFile, caFile)); got != float64(trust.LevelCritical) {
		t.Errorf("certificate level = %v, want critical", got)
	}

	// The timestamp is re-signed with only 20 hours left of a week-long
	// life once seen: critical.
	w.roleSeen["timestamp"] = roleSeen{Version: -1}
	repo.SetTimestampExpiry(time.Now().Add(20 * time.Hour))
	w.now = func() time.Time { return time.Now() }
	rec.events = nil
	w.check(t.Context())
	// Seen now for the first time, a 20-hour life is not late yet; make it
	// a version seen six days ago.
	_, tsV, _, _ := repo.Versions()
	w.roleSeen["timestamp"] = roleSeen{Version: tsV, At: time.Now().Add(-6 * 24 * time.Hour)}
	rec.events = nil
	w.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "trust_expiring:critical" || rec.events[0].Reason != "timestamp" {
		t.Fatalf("timestamp 20h from expiry, seen 6 days ago: events %v, want trust_expiring critical for timestamp", got)
	}

	// A restart keeps when the version was first seen: the late
	// re-signing does not look young, and nothing fires twice.
	w2, _ := newTestTrustWatch(t, cfg, rec)
	if seen := w2.roleSeen["timestamp"]; seen.Version != tsV || time.Since(seen.At) < 5*24*time.Hour {
		t.Errorf("after a restart the timestamp version was first seen %v ago, want 6 days", time.Since(seen.At))
	}
	rec.events = nil
	w2.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("check after a restart raised %v again", eventKinds(rec.events))
	}

	// The CA file unreadable for a while: its condition holds (nothing is
	// known), it is not "renewed".
	if err := os.Rename(caFile, caFile+".away"); err != nil {
		t.Fatal(err)
	}
	rec.events = nil
	w2.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("CA file unreadable: events %v, want the condition kept", eventKinds(rec.events))
	}
	if err := os.Rename(caFile+".away", caFile); err != nil {
		t.Fatal(err)
	}

	// Renewed: both resolve.
	writeCert(t, caFile, time.Now(), time.Now().Add(365*24*time.Hour))
	repo.SetTimestampExpiry(time.Now().Add(7 * 24 * time.Hour))
	rec.events = nil
	w2.check(t.Context())
	got := strings.Join(eventKinds(rec.events), " ")
	for _, want := range []string{"recovered:certificate_expiring", "recovered:trust_expiring"} {
		if !strings.Contains(got, want) {
			t.Errorf("after renewal: events %s, want %s", got, want)
		}
	}
}

// writeCert writes a self-signed CA certificate valid from notBefore to
// notAfter to path.
func writeCert(t *testing.T, path string, notBefore, notAfter time.Time) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bootstrap test CA"},
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestTrustWatchCAFilesOnly: a watch of CA files alone exports their expiry
// and none of the trust-material series: no vigil_trust_update_up 0 for
// the rules to read as an update that fails.
func TestTrustWatchCAFilesOnly(t *testing.T) {
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	writeCert(t, caFile, time.Now().Add(-time.Hour), time.Now().Add(365*24*time.Hour))
	cfg := &config.Config{StateDir: dir, Trust: config.Trust{Watch: config.TrustWatch{Interval: config.Duration(time.Hour),
		Warning: config.Duration(config.DefaultTrustWarning), Critical: config.Duration(config.DefaultTrustCritical), CAFiles: []string{caFile}}}}
	rec := &recorder{}
	w, reg := newTestTrustWatch(t, cfg, rec)
	w.check(t.Context())
	if len(rec.events) != 0 {
		t.Errorf("a CA file valid for a year raised %v", eventKinds(rec.events))
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	if got := strings.Join(names, " "); got != "vigil_certificate_expiry_level vigil_certificate_expiry_timestamp_seconds" {
		t.Errorf("series = %s, want only the certificate expiry ones", got)
	}
}

// TestTrustWatchPlannedRetirement: a log key whose validity window in the
// trusted root ends tomorrow, while other logs go on, is a planned
// rotation: no certificate_expiring page.
func TestTrustWatchPlannedRetirement(t *testing.T) {
	repo := tuftest.New(t)
	id := repo.TrustedRoot().AddRekorV1("https://rekor-old.example.test", time.Now().Add(-30*24*time.Hour))
	repo.TrustedRoot().EndLog(id, time.Now().Add(20*time.Hour))
	repo.SetTarget(tuftest.TrustedRootTarget, repo.TrustedRoot().JSON())
	repo.Publish()
	cfg := trustWatchConfig(t, repo)
	rec := &recorder{}
	w, _ := newTestTrustWatch(t, cfg, rec)
	w.check(t.Context())
	for _, e := range rec.events {
		if e.Kind == alert.KindCertificateExpiring {
			t.Errorf("a retiring log key with successors raised %s: %s", e.Severity, e.Summary)
		}
	}
}

// TestTrustWatchRollbackAfterCacheLoss: the versions verified before a
// restart stay a floor when the TUF cache is lost, so a mirror serving an
// older version is still a rollback.
func TestTrustWatchRollbackAfterCacheLoss(t *testing.T) {
	repo := tuftest.New(t)
	cfg := trustWatchConfig(t, repo)
	rec := &recorder{}
	w, _ := newTestTrustWatch(t, cfg, rec)
	w.check(t.Context())
	repo.Publish()
	w.check(t.Context())
	_, tsV, _, _ := repo.Versions()
	if err := os.RemoveAll(filepath.Join(cfg.StateDir, "tuf")); err != nil {
		t.Fatal(err)
	}
	repo.ServeOld(tsV - 1)
	w2, _ := newTestTrustWatch(t, cfg, rec)
	rec.events = nil
	w2.check(t.Context())
	if got := eventKinds(rec.events); len(got) != 1 || got[0] != "trust_update_failed:critical" || rec.events[0].Reason != string(trust.ReasonRollback) {
		t.Fatalf("older timestamp after the cache was lost: events %v, want a critical rollback", got)
	}
}
