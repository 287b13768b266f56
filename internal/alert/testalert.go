package alert

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// SinkError is a delivery failure of one sink in [TestAlert].
type SinkError struct {
	Sink string
	Err  error
}

func (e *SinkError) Error() string { return fmt.Sprintf("sink %s: %v", e.Sink, e.Err) }
func (e *SinkError) Unwrap() error { return e.Err }

// TestAlert sends [SampleEvent] directly (not through the outbox) to every
// sink at once and waits for all of them. It is what `monitor test-alert`
// runs to check the wiring. It returns nil when every sink accepted the
// event, else the errors.Join of one [*SinkError] per failed sink; a failing
// sink does not stop the others. Sink filters (min_severity, kinds) are
// ignored: the point is to reach every receiver.
func TestAlert(ctx context.Context, sinks []Sink) error {
	e := SampleEvent(time.Now())
	errs := make([]error, len(sinks))
	var wg sync.WaitGroup
	for i, s := range sinks {
		wg.Go(func() {
			if err := s.Send(ctx, e); err != nil {
				errs[i] = &SinkError{Sink: s.Name(), Err: err}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
