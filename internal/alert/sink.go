package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Sink delivers events to one receiver.
//
// Send delivers e once and returns nil only when the receiver accepted it
// (a 2xx answer, exit status 0). It must honour ctx's deadline; the outbox
// gives every attempt one. Send may be called again with the same event after
// an error or a crash (delivery is at-least-once; e.DedupeKey and e.ID are
// stable), and must be safe for concurrent use: the outbox calls each sink
// from one goroutine, but [TestAlert] may run alongside it.
type Sink interface {
	// Name is the configured sink name (the sink label of the metrics).
	Name() string
	Send(ctx context.Context, e Event) error
}

// Filter is implemented by sinks that take only some events. The outbox does
// not queue an event for a sink whose Accepts returns false. Sinks built by
// [NewSinks] implement it from min_severity and kinds.
type Filter interface {
	Accepts(e Event) bool
}

// Runner is implemented by sinks with background work (the Alertmanager sink
// re-sends firing conditions). [Outbox.Run] runs it alongside delivery and
// counts what it reports: report(nil) after each successful background send,
// report(err) after each failed one (in vigil_alerts_sent_total and
// vigil_alert_failures_total of the sink). Run returns when ctx is done.
type Runner interface {
	Run(ctx context.Context, report func(error))
}

// stateful is implemented by sinks that keep state across restarts in a
// directory the outbox gives them (<outbox>/sinks/<name>).
type stateful interface {
	openState(dir string) error
}

// NewSinks builds the sinks c configures, in order. It validates c, reads and
// checks the CA files, and checks that secret files are readable (their
// content is read again on every send). logger is used by log sinks only.
func NewSinks(c Config, logger *slog.Logger) ([]Sink, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sinks := make([]Sink, 0, len(c.Sinks))
	for i, sc := range c.Sinks {
		s, err := newSink(sc, logger)
		if err != nil {
			return nil, fmt.Errorf("building alert sink alerts.sinks[%d] (%s): %w", i, sc.Name, err)
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

func newSink(sc SinkConfig, logger *slog.Logger) (Sink, error) {
	for _, f := range []string{sc.URLFile, sc.BearerTokenFile, sc.HMACSecretFile} {
		if f == "" {
			continue
		}
		if _, err := readSecret(f); err != nil {
			return nil, err
		}
	}
	var client *http.Client
	if sc.Type == TypeWebhook || sc.Type == TypeSlack || sc.Type == TypeAlertmanager {
		var err error
		if client, err = httpClient(sc.CAFile); err != nil {
			return nil, err
		}
	}
	f := filter{min: sc.MinSeverity, kinds: sc.Kinds}
	switch sc.Type {
	case TypeWebhook:
		return &Webhook{cfg: sc, client: client, filter: f}, nil
	case TypeSlack:
		return &Slack{cfg: sc, client: client, filter: f}, nil
	case TypeAlertmanager:
		return newAlertmanager(sc, client, f), nil
	case TypeExec:
		return &Exec{cfg: sc, filter: f}, nil
	case TypeLog:
		return &Log{name: sc.Name, logger: logger, filter: f}, nil
	}
	return nil, fmt.Errorf("unknown sink type %q", sc.Type)
}

// filter implements Filter from a sink's min_severity and kinds.
type filter struct {
	min   Severity
	kinds []Kind
}

func (f filter) Accepts(e Event) bool {
	kind, sev := e.Kind, e.Severity
	if e.Kind == KindRecovered && e.Resolves != nil {
		kind, sev = e.Resolves.Kind, e.Resolves.Severity
	}
	if kind == KindTest {
		return true
	}
	if f.min != "" && sev.Rank() < f.min.Rank() {
		return false
	}
	return len(f.kinds) == 0 || slices.Contains(f.kinds, kind)
}

// readSecret returns the trimmed content of a secret file.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("reading secret file %s: %w", path, ErrEmptySecret)
	}
	return s, nil
}

// ErrEmptySecret is returned when a configured secret file is empty.
var ErrEmptySecret = errors.New("secret file is empty")

func httpClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading CA file %s: no PEM certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	// Redirects are not followed: a webhook that moved should be
	// reconfigured, not silently chased with a signed body.
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// StatusError is returned by the HTTP sinks when the receiver answers with a
// status other than 2xx. Body holds the start of the answer.
type StatusError struct {
	URL        string
	StatusCode int
	Body       string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("%s answered %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// post sends body to url and checks for a 2xx answer. The URL in errors has
// its query and user info removed (Slack URLs carry their secret in the path,
// so for url_file sinks the caller passes a redacted name).
func post(ctx context.Context, client *http.Client, url, shownURL string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request for %s: %w", shownURL, err)
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		if shownURL != url {
			// The transport's error repeats the URL; do not leak it.
			return fmt.Errorf("posting to %s: %w", shownURL, redactedError{err})
		}
		return fmt.Errorf("posting to %s: %w", shownURL, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &StatusError{URL: shownURL, StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	}
	return nil
}

// redactedError hides the message of a transport error that contains a
// secret URL, keeping it for errors.Is/As.
type redactedError struct{ err error }

func (e redactedError) Error() string {
	switch {
	case errors.Is(e.err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(e.err, context.Canceled):
		return "canceled"
	}
	return "request failed (details hidden: the URL is secret)"
}
func (e redactedError) Unwrap() error { return e.err }

func timeoutOr(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultSinkTimeout
	}
	return d
}

// withTimeout bounds one attempt by the sink's own timeout, in addition to
// whatever deadline ctx already has.
func withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeoutOr(d))
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reservedLabels are the Alertmanager labels Vigil sets itself.
var reservedLabels = map[string]bool{
	"alertname": true, "severity": true, "log": true, "reason": true,
	"rule": true, "dedupe_key": true, "kind": true,
}
