package alert

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOutboxDrain: delivering a backlog of 10,000 queued events (20
// batches of 500, as a flooded catch-up scan queues them) to one sink that
// takes each at once: the outbox's own cost per delivery.
func BenchmarkOutboxDrain(b *testing.B) {
	const batches, per = 20, 500
	for b.Loop() {
		b.StopTimer()
		var n atomic.Int64
		s := &funcSink{name: "s", send: func(Event) error { n.Add(1); return nil }}
		o, err := Open(b.TempDir(), []Sink{s}, nil, nil, OutboxConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for range batches {
			if _, err := o.Enqueue(b.Context(), numbered(per)...); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan struct{})
		go func() { o.Run(ctx); close(done) }()
		for deadline := time.Now().Add(5 * time.Minute); n.Load() < batches*per; {
			if time.Now().After(deadline) {
				b.Fatalf("delivered %d of %d events in 5 minutes", n.Load(), batches*per)
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		b.StopTimer()
		o.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(batches*per*b.N)/b.Elapsed().Seconds(), "events/s")
}
