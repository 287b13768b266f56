package alert

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the outbox's collectors:
//
//	vigil_alerts_sent_total{sink}                  counter: deliveries accepted by the receiver
//	vigil_alert_failures_total{sink}               counter: failed delivery attempts
//	vigil_alert_queue_depth                        gauge: events not yet delivered everywhere
//	vigil_alert_oldest_queued_timestamp_seconds    gauge: enqueue time of the oldest of them, 0 when empty
//	vigil_alerts_dropped_total{reason}             counter: events dropped (queue_full, rejected, expired)
type metrics struct {
	sent, failures, dropped *prometheus.CounterVec
	depth, oldest           prometheus.GaugeFunc
}

func newMetrics(o *Outbox) *metrics {
	return &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_sent_total",
			Help: "Alert events delivered to a sink (accepted by the receiver), including Alertmanager re-sends.",
		}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alert_failures_total",
			Help: "Failed alert delivery attempts per sink; the event stays queued and is retried.",
		}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_alerts_dropped_total",
			Help: "Alert events dropped without delivery: queue_full (oldest dropped), rejected (enqueue refused), expired (older than max_age).",
		}, []string{"reason"}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_alert_queue_depth",
			Help: "Alert events in the outbox not yet delivered to every sink that takes them.",
		}, func() float64 { return float64(o.Stats().Queued) }),
		oldest: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigil_alert_oldest_queued_timestamp_seconds",
			Help: "Unix time at which the oldest undelivered alert event was enqueued; 0 when the outbox is empty.",
		}, func() float64 {
			st := o.Stats()
			if st.Oldest.IsZero() {
				return 0
			}
			return float64(st.Oldest.UnixNano()) / 1e9
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.sent, m.failures, m.dropped, m.depth, m.oldest} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("registering alert metrics: %w", err)
		}
	}
	for _, r := range []string{"queue_full", "rejected", "expired"} {
		m.dropped.WithLabelValues(r)
	}
	return nil
}
