package monitor

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
)

// metrics are the monitor's Prometheus collectors. Labels carry log names
// and reasons only: never identities or entry data.
type metrics struct {
	treeSize          *prometheus.GaugeVec
	lastVerified      *prometheus.GaugeVec
	checkpointTime    *prometheus.GaugeVec
	integrityFailures *prometheus.CounterVec
	fetchErrors       *prometheus.CounterVec
	fetchDuration     *prometheus.HistogramVec
	checks            *prometheus.CounterVec
	up                *prometheus.GaugeVec
	stale             *prometheus.GaugeVec

	entriesScanned   *prometheus.CounterVec
	scanLag          *prometheus.GaugeVec
	identityMatches  *prometheus.CounterVec
	unexpected       *prometheus.CounterVec
	malformedEntries *prometheus.CounterVec

	unacknowledged *prometheus.GaugeVec
	acknowledged   *prometheus.CounterVec

	reconcilePending  *prometheus.GaugeVec
	reconcileResolved *prometheus.CounterVec
	reconcileSkipped  *prometheus.CounterVec
	reconcileDropped  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		treeSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_tree_size", Help: "Size of the latest verified checkpoint.",
		}, []string{"log"}),
		lastVerified: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_last_verified_timestamp_seconds", Help: "When the log's checkpoint was last verified (Unix time).",
		}, []string{"log"}),
		checkpointTime: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_checkpoint_timestamp_seconds", Help: "Timestamp carried in the latest verified checkpoint, where the log writes one.",
		}, []string{"log"}),
		integrityFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_log_integrity_failures_total", Help: "Integrity violations found, by reason.",
		}, []string{"log", "reason"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_log_fetch_errors_total", Help: "Checks that reached no verdict: the log was unreachable or answered garbage.",
		}, []string{"log"}),
		fetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_log_fetch_duration_seconds", Help: "Time to fetch a checkpoint or proof from the log.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"log"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_log_checks_total", Help: "Checks run, by result (verified, violation, error).",
		}, []string{"log", "result"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_up", Help: "1 if the last check reached a verdict, 0 if the log was unreachable or answered garbage.",
		}, []string{"log"}),
		stale: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_stale", Help: "1 if the log was not verified within its staleness limit or its checkpoint stopped advancing.",
		}, []string{"log"}),
		entriesScanned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_log_entries_scanned_total", Help: "Entries scanned for identities and proven part of the verified tree.",
		}, []string{"log"}),
		scanLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_scan_lag_entries", Help: "Entries in the verified tree not yet scanned.",
		}, []string{"log"}),
		identityMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_identity_matches_total", Help: "Entries signed by a watched identity, by rule.",
		}, []string{"log", "rule"}),
		unexpected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_unexpected_identities_total", Help: "Entries signed by an identity no expect rule allows.",
		}, []string{"log"}),
		malformedEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_log_malformed_entries_total", Help: "Entries that could not be parsed.",
		}, []string{"log"}),
		unacknowledged: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_log_integrity_violations_unacknowledged",
			Help: "Integrity violations alerted and not yet acknowledged with monitor ack; they stay firing until then, even when the log verifies again.",
		}, []string{"log"}),
		acknowledged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_log_integrity_violations_acknowledged_total", Help: "Integrity violations acknowledged with monitor ack.",
		}, []string{"log"}),
	}
	m.reconcilePending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigil_reconcile_pending_certificates",
		Help: "Certificates a CT/Rekor pair holds pending: list sct awaits the CT entry its SCT promised, list unused awaits a Rekor entry using a watched identity's certificate.",
	}, []string{"pair", "list"})
	m.reconcileResolved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_reconcile_resolved_total", Help: "Certificates the other log of the pair showed too (reconciled), by list: sct (in the CT log), unused (used in Rekor).",
	}, []string{"pair", "list"})
	m.reconcileSkipped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_reconcile_skipped_total",
		Help: "Certificates not held pending because the other log's scan could not have seen them (older than its start or than it remembers), by list.",
	}, []string{"pair", "list"})
	m.reconcileDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_reconcile_dropped_total", Help: "Certificates a full pending list turned away (reconcile.max_pending): they are not reconciled.",
	}, []string{"pair"})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "vigil_build_info", Help: "Build information; always 1.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(Version(), runtime.Version()).Set(1)
	reg.MustRegister(m.treeSize, m.lastVerified, m.checkpointTime, m.integrityFailures, m.fetchErrors,
		m.fetchDuration, m.checks, m.up, m.stale, m.entriesScanned, m.scanLag, m.identityMatches,
		m.unexpected, m.malformedEntries, m.unacknowledged, m.acknowledged, buildInfo,
		m.reconcilePending, m.reconcileResolved, m.reconcileSkipped, m.reconcileDropped)
	return m
}

// initLog creates the series of one log at zero, so dashboards and
// increase() see them before the first event.
func (m *metrics) initLog(log string) {
	for _, r := range checkpoint.Reasons {
		m.integrityFailures.WithLabelValues(log, string(r))
	}
	for _, r := range metricResults {
		m.checks.WithLabelValues(log, r.metricLabel())
	}
	m.fetchErrors.WithLabelValues(log)
	m.fetchDuration.WithLabelValues(log)
	m.entriesScanned.WithLabelValues(log)
	m.scanLag.WithLabelValues(log)
	m.unexpected.WithLabelValues(log)
	m.malformedEntries.WithLabelValues(log)
	m.stale.WithLabelValues(log)
	m.up.WithLabelValues(log)
	m.unacknowledged.WithLabelValues(log)
	m.acknowledged.WithLabelValues(log)
}

// scanMetrics are the collectors a scan of one log updates.
type scanMetrics struct {
	fetchDuration   prometheus.Observer
	entriesScanned  prometheus.Counter
	scanLag         prometheus.Gauge
	identityMatches *prometheus.CounterVec // by rule
	unexpected      prometheus.Counter
	malformed       prometheus.Counter
}

// forScan returns the collectors of log's scans.
func (m *metrics) forScan(log string) scanMetrics {
	return scanMetrics{
		fetchDuration:   m.fetchDuration.WithLabelValues(log),
		entriesScanned:  m.entriesScanned.WithLabelValues(log),
		scanLag:         m.scanLag.WithLabelValues(log),
		identityMatches: m.identityMatches.MustCurryWith(prometheus.Labels{"log": log}),
		unexpected:      m.unexpected.WithLabelValues(log),
		malformed:       m.malformedEntries.WithLabelValues(log),
	}
}

// pairMetrics are the collectors of one CT/Rekor pair.
type pairMetrics struct {
	pendingSCT, pendingUnused   prometheus.Gauge
	resolvedSCT, resolvedUnused prometheus.Counter
	skippedSCT, skippedUnused   prometheus.Counter
	dropped                     prometheus.Counter
}

// forPair returns (and creates at zero) the collectors of pair.
func (m *metrics) forPair(pair string) pairMetrics {
	return pairMetrics{
		pendingSCT: m.reconcilePending.WithLabelValues(pair, "sct"), pendingUnused: m.reconcilePending.WithLabelValues(pair, "unused"),
		resolvedSCT: m.reconcileResolved.WithLabelValues(pair, "sct"), resolvedUnused: m.reconcileResolved.WithLabelValues(pair, "unused"),
		skippedSCT: m.reconcileSkipped.WithLabelValues(pair, "sct"), skippedUnused: m.reconcileSkipped.WithLabelValues(pair, "unused"),
		dropped: m.reconcileDropped.WithLabelValues(pair),
	}
}

// Version is the module version from the build info ("(devel)" for local
// builds).
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
