package witness

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the witness's Prometheus metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	size     *prometheus.GaugeVec
	archive  *prometheus.GaugeVec
	duration prometheus.Histogram
}

// NewMetrics creates the witness metrics and registers them with reg (nil:
// not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_witness_requests_total",
			Help: "add-checkpoint requests by log and result: cosigned, or the reason of a refusal (bad_request, unknown_log, signature, conflict, fork, proof, error).",
		}, []string{"log", "result"}),
		size: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_witness_cosigned_tree_size",
			Help: "Tree size of the latest checkpoint the witness cosigned, by log.",
		}, []string{"log"}),
		archive: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_witness_archive_checkpoints",
			Help: "Checkpoints in the archive, by log.",
		}, []string{"log"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigil_witness_request_duration_seconds",
			Help:    "Time to answer an add-checkpoint request.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.size, m.archive, m.duration)
	}
	return m
}

// results are every value of the result label, initialised per log so
// that rate() sees the first refusal.
var results = []string{ResultCosigned, ReasonBadRequest, ReasonSignature, ReasonConflict, ReasonFork, ReasonProof, ReasonError}

func (m *Metrics) init(log string) {
	for _, r := range results {
		m.requests.WithLabelValues(log, r)
	}
}

func (m *Metrics) refused(log, reason string) { m.requests.WithLabelValues(log, reason).Inc() }

func (m *Metrics) cosigned(log string, size uint64) {
	m.requests.WithLabelValues(log, ResultCosigned).Inc()
	m.size.WithLabelValues(log).Set(float64(size))
}

func (m *Metrics) archived(log string, n int) { m.archive.WithLabelValues(log).Set(float64(n)) }

// Archived sets the archive size of log, for the checkpoints the monitor
// archives itself.
func (m *Metrics) Archived(log string, n int) { m.archived(log, n) }
