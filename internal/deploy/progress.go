package deploy

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress prints the bootstrap's steps, one line per step with its result and
// how long it took:
//
//	[1/7] cluster      ok       vigil-test at https://127.0.0.1:6443: Kubernetes v1.37.2, 1/1 nodes ready (0.1s)
//	[4/7] rollouts     waiting  fulcio-system/fulcio-server: 0/1 replicas available (12s)
//
// On a terminal a running step redraws its line with a spinner and its latest
// status; elsewhere (CI logs, tests) a running step prints its status at most
// every 10 seconds. It is safe for concurrent use.
type progress struct {
	mu    sync.Mutex // guards everything below
	w     io.Writer
	tty   bool
	total int
	n     int
	cur   *step
}

// newProgress writes to w; tty turns on the spinner. total is the number of
// steps, shown as [n/total]; 0 leaves it out.
func newProgress(w io.Writer, tty bool, total int) *progress {
	return &progress{w: w, tty: tty, total: total}
}

// step is one running step.
type step struct {
	p       *progress
	label   string
	start   time.Time
	status  string
	printed time.Time
	stop    chan struct{}
	done    chan struct{}
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Start begins step name; end it with Done or Fail.
func (p *progress) Start(name string) *step {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	label := name
	if p.total > 0 {
		label = fmt.Sprintf("[%d/%d] %s", p.n, p.total, name)
	}
	s := &step{p: p, label: label, start: time.Now(), printed: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	p.cur = s
	if p.tty {
		go s.spin()
	} else {
		close(s.done)
	}
	return s
}

func (s *step) spin() {
	defer close(s.done)
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		s.p.mu.Lock()
		fmt.Fprintf(s.p.w, "\r\033[K%s %-30s %s (%s)", spinner[i%len(spinner)], s.label, s.status, since(s.start))
		s.p.mu.Unlock()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Update sets the status a running step shows (what it waits for).
func (s *step) Update(format string, args ...any) {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	s.status = oneLine(fmt.Sprintf(format, args...))
	if !s.p.tty && time.Since(s.printed) >= 10*time.Second {
		s.printed = time.Now()
		fmt.Fprintf(s.p.w, "  %-30s ...      %s (%s)\n", s.label, s.status, since(s.start))
	}
}

// Done ends the step with its result.
func (s *step) Done(format string, args ...any) { s.end("ok", fmt.Sprintf(format, args...)) }

// Skip ends the step as skipped, saying why.
func (s *step) Skip(format string, args ...any) { s.end("skipped", fmt.Sprintf(format, args...)) }

// Fail ends the step with an error, which it returns.
func (s *step) Fail(err error) error {
	s.end("FAILED", firstLine(err.Error()))
	return err
}

func (s *step) end(mark, msg string) {
	close(s.stop)
	<-s.done
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	prefix := ""
	if s.p.tty {
		prefix = "\r\033[K"
	}
	fmt.Fprintf(s.p.w, "%s  %-30s %-8s %s (%s)\n", prefix, s.label, mark, oneLine(msg), since(s.start))
	s.p.cur = nil
}

// Println prints an indented detail line under the steps.
func (p *progress) Println(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(fmt.Sprintf(format, args...), "\n"), "\n") {
		fmt.Fprintf(p.w, "      %s\n", l)
	}
}

func since(t time.Time) string {
	d := time.Since(t)
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
