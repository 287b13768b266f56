package alert

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// fastRetry keeps retries quick in tests; it does not make any assertion
// depend on timing.
var fastRetry = OutboxConfig{RetryInitial: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond}

func openOutbox(t *testing.T, dir string, sinks []Sink, cfg OutboxConfig) (*Outbox, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o, err := Open(dir, sinks, reg, discardLogger(), cfg)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { o.Close() })
	return o, reg
}

// run starts o.Run and returns a function that stops it and waits.
func run(t *testing.T, o *Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run() = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (float64, bool) {
	t.Helper()
	return testenv.MetricValue(t, reg, name, labels...)
}

// eventually polls cond; the deadline only stops a hung test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func numbered(n int) []Event {
	var evs []Event
	for i := range n {
		evs = append(evs, Event{Kind: KindIdentityMatch, Severity: SeverityWarning, Log: "rekor",
			Evidence: Evidence{Rule: "release-signer", Entry: &Entry{Index: int64(i)}}})
	}
	return evs
}

func ids(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func uniqueSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// queuedIDs lists the queued events, in order.
func queuedIDs(t *testing.T, o *Outbox) []string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, q := range o.order {
		if !q.done {
			out = append(out, q.id)
		}
	}
	return out
}

// scriptSink delivers what ok accepts and fails the rest, and counts
// deliveries by entry index (-1: no entry).
type scriptSink struct {
	name string
	mu   sync.Mutex
	ok   func(Event) bool
	got  map[int64]int // entry index -> deliveries
}

func newScriptSink(name string, ok func(Event) bool) *scriptSink {
	return &scriptSink{name: name, ok: ok, got: map[int64]int{}}
}

func (s *scriptSink) Name() string { return s.name }

func (s *scriptSink) Send(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := int64(-1) // events without an entry
	if e.Evidence.Entry != nil {
		i = e.Evidence.Entry.Index
	}
	if !s.ok(e) {
		return fmt.Errorf("refusing entry %d", i)
	}
	s.got[i]++
	return nil
}

func (s *scriptSink) delivered() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for i := range s.got {
		out = append(out, i)
	}
	slices.Sort(out)
	return out
}

func even(e Event) bool { return e.Evidence.Entry.Index%2 == 0 }

type funcSink struct {
	name string
	send func(Event) error
}

func (s *funcSink) Name() string                          { return s.name }
func (s *funcSink) Send(_ context.Context, e Event) error { return s.send(e) }

// rawRecord renders one event file line.
func rawRecord(t *testing.T, version int, e Event) []byte {
	t.Helper()
	if e.DedupeKey == "" {
		e.DedupeKey = DefaultDedupeKey(e)
	}
	b, err := json.Marshal(record{Version: version, Enqueued: time.Now().UTC(), Event: e})
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func writeRaw(t *testing.T, dir, name string, parts ...[]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), slices.Concat(parts...), 0o600); err != nil {
		t.Fatal(err)
	}
}

func withID(e Event, id string) Event { e.ID = id; return e }

func TestOutboxLocked(t *testing.T) {
	dir := t.TempDir()
	openOutbox(t, dir, nil, OutboxConfig{})
	_, err := Open(dir, nil, nil, nil, OutboxConfig{})
	if !errors.Is(err, ErrOutboxLocked) {
		t.Fatalf("second Open() = %v, want ErrOutboxLocked", err)
	}
}

// The SIGKILL test runs the outbox in a child process (this test binary,
// re-executed), kills it while events are queued and a delivery is in flight,
// and checks that a new process delivers every event.

const childEnv = "VIGIL_ALERT_OUTBOX_CHILD"

func TestOutboxSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	// The first receiver accepts the connection and never answers, so the
	// child is inside Send when it is killed.
	hung := make(chan struct{}, 10)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice when the killed
		// child's connection closes.
		io.Copy(io.Discard, r.Body)
		select {
		case hung <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	defer hang.Close()

	const n = 5
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=1", "CHILD_DIR="+dir, "CHILD_URL="+hang.URL, "CHILD_N="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var enqueued []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "ENQUEUED "); ok {
			enqueued = strings.Fields(rest)
			break
		}
	}
	if len(enqueued) != n {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child reported %d enqueued events, want %d", len(enqueued), n)
	}
	select {
	case <-hung:
	case <-time.After(60 * time.Second):
		t.Fatal("child never tried to deliver")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child exit = %v, want killed by SIGKILL", err)
	}

	// Restart: a new outbox on the same directory, receiver up.
	r := newReceiver(t)
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: r.srv.URL}}}, nil)
	o, _ := openOutbox(t, dir, sinks, fastRetry)
	if st := o.Stats(); st.Queued != n {
		t.Fatalf("after the crash %d events are queued, want %d", st.Queued, n)
	}
	run(t, o)
	r.waitFor(n)
	if got := uniqueSorted(ids(r.events())); !slices.Equal(got, enqueued) {
		t.Errorf("delivered after restart %v, want %v", got, enqueued)
	}
}

// TestMain runs outboxChild instead of the tests when this binary is the
// child process of TestOutboxSurvivesSIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(outboxChild())
	}
	os.Exit(m.Run())
}

// outboxChild opens the outbox, enqueues CHILD_N events, reports their IDs
// only once Enqueue returned (as the monitor would before saving its state),
// then delivers until it is killed.
func outboxChild() int {
	n, _ := strconv.Atoi(os.Getenv("CHILD_N"))
	sinks, err := NewSinks(Config{Sinks: []SinkConfig{{Name: "hook", Type: TypeWebhook, URL: os.Getenv("CHILD_URL"), Timeout: 10 * time.Minute}}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	o, err := Open(os.Getenv("CHILD_DIR"), sinks, prometheus.NewRegistry(), discardLogger(), OutboxConfig{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	stored, err := o.Enqueue(ctx, numbered(n)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ENQUEUED " + strings.Join(ids(stored), " "))
	go o.Run(ctx)
	time.Sleep(5 * time.Minute) // killed long before
	fmt.Fprintln(os.Stderr, "child was not killed")
	return 1
}
