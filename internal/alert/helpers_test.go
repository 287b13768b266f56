package alert

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// receiver is a real HTTP server on loopback that records what it is sent.
// Its status can be switched to simulate an outage.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex // guards the fields below
	status   int
	requests []request
	arrived  chan struct{}
}

type request struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	r := &receiver{t: t, status: http.StatusOK, arrived: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	status := r.status
	if status >= 200 && status < 300 {
		r.requests = append(r.requests, request{Path: req.URL.Path, Header: req.Header.Clone(), Body: body})
	}
	r.mu.Unlock()
	w.WriteHeader(status)
	if status >= 200 && status < 300 {
		select {
		case r.arrived <- struct{}{}:
		default:
		}
	}
}

func (r *receiver) setStatus(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = code
}

func (r *receiver) got() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

// waitFor waits until the receiver holds at least n accepted requests. The
// deadline only stops a hung test; nothing asserts on timing.
func (r *receiver) waitFor(n int) []request {
	r.t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if got := r.got(); len(got) >= n {
			return got
		}
		select {
		case <-r.arrived:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			r.t.Fatalf("receiver got %d requests, want %d", len(r.got()), n)
		}
	}
}

// events decodes webhook bodies.
func (r *receiver) events() []Event {
	r.t.Helper()
	var out []Event
	for _, req := range r.got() {
		var e Event
		if err := json.Unmarshal(req.Body, &e); err != nil {
			r.t.Fatalf("decoding webhook body %q: %v", req.Body, err)
		}
		out = append(out, e)
	}
	return out
}

func writeSecret(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustSinks(t testing.TB, c Config, logger *slog.Logger) []Sink {
	t.Helper()
	sinks, err := NewSinks(c, logger)
	if err != nil {
		t.Fatalf("NewSinks: %v", err)
	}
	return sinks
}

// forkEvent is an integrity violation as the monitor reports a forged fork:
// two checkpoints of the same size with different roots.
func forkEvent() Event {
	return Event{
		Kind:     KindIntegrityViolation,
		Severity: SeverityCritical,
		Log:      "rekor",
		Reason:   "fork",
		Time:     time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		Evidence: Evidence{
			KeyID:         "c0d23d6a",
			OldCheckpoint: "rekor.local - 1\n8\nq7PfXkMmYwBJdwU3hbkUKTPFT6DNKZcvI7OYTp3qlMk=\n\n— rekor.local wNI9ajBFAiEA\n",
			NewCheckpoint: "rekor.local - 1\n8\nZmFrZSByb290IGZvciBhIGZvcmsgdGVzdCAxMjM0NTY=\n\n— rekor.local wNI9ajBGAiEA\n",
			Proof:         []string{"5f4d1c", "a1b2c3"},
			Detail:        "same tree size 8, different root hash",
		},
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer is a concurrency-safe writer for a text slog handler.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func slogTo(w *logBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
