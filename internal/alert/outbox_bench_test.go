package alert

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"syscall"
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

// scanEvents returns n identity-match events as one catch-up scan queues
// them: one group, entries with a 1.5 KB body and the identity fields.
func scanEvents(n, from int) []Event {
	body := bytes.Repeat([]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord"}`), 35)
	evs := make([]Event, n)
	for i := range evs {
		idx := int64(from + i)
		evs[i] = Event{Kind: KindIdentityMatch, Severity: SeverityWarning, Log: "rekor",
			DedupeKey: fmt.Sprintf("identity_match/rekor/%d/0123456789abcdef/ci", idx),
			Group:     "identity_match/rekor/ci/0",
			Evidence: Evidence{KeyID: "c0d23d6a", Rule: "ci",
				Entry: &Entry{Index: idx, UUID: fmt.Sprintf("%064x", idx), LeafHash: fmt.Sprintf("%064x", idx+1), Body: body},
				Identity: map[string]string{"subject": "https://github.com/example/app/.github/workflows/build.yml@refs/heads/main",
					"issuer": "https://token.actions.githubusercontent.com", "entry_kind": "hashedrekord", "key_type": "ecdsa"}}}
	}
	return evs
}

// BenchmarkOutboxLogSink: a catch-up's backlog of 10,000 identity-match
// events of one scan (20 batches of 500) delivered through the outbox to
// the log sink, which writes JSON lines to io.Discard: the whole delivery
// path (reading the records back, grouping, the journal, the sink), in
// events/s.
func BenchmarkOutboxLogSink(b *testing.B) {
	const batches, per = 20, 500
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
		sinks, err := NewSinks(Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}}, logger)
		if err != nil {
			b.Fatal(err)
		}
		o, err := Open(b.TempDir(), sinks, nil, logger, OutboxConfig{})
		if err != nil {
			b.Fatal(err)
		}
		for i := range batches {
			if _, err := o.Enqueue(b.Context(), scanEvents(per, i*per)...); err != nil {
				b.Fatal(err)
			}
		}
		cpu0 := cpuTime(b)
		b.StartTimer()
		ctx, cancel := context.WithCancel(b.Context())
		done := make(chan struct{})
		go func() { o.Run(ctx); close(done) }()
		// Stats walks the queue under the outbox's lock: poll it sparingly.
		for deadline := time.Now().Add(5 * time.Minute); o.Stats().Queued > 0; {
			if time.Now().After(deadline) {
				b.Fatalf("%d events still queued after 5 minutes", o.Stats().Queued)
			}
			time.Sleep(2 * time.Millisecond)
		}
		cancel()
		<-done
		b.StopTimer()
		cpu += cpuTime(b) - cpu0
		o.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(batches*per*b.N)/b.Elapsed().Seconds(), "events/s")
	// The machine's other load slows the wall clock; CPU time less so.
	b.ReportMetric(float64(batches*per*b.N)/cpu.Seconds(), "events/cpu-s")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
