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
	"net/url"
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

// GroupSink is implemented by sinks that deliver a [Group] of events as one
// notification. The outbox hands such a sink, at once, the due events it
// holds for it that share a non-empty Event.Group (see [Kind.Groupable]), at
// most GroupLimit of them; a single event still goes through Send. Sinks
// without it get every event through Send.
//
// SendGroup returns nil only when the receiver accepted the notification
// for all events; after an error the outbox retries every one of them
// (at-least-once: a partly delivered group is sent again whole, and
// receivers drop repeats by each event's DedupeKey).
type GroupSink interface {
	Sink
	// GroupLimit is the most events one SendGroup call takes; below 2 the
	// sink gets every event through Send.
	GroupLimit() int
	// SendGroup delivers events (two or more, in enqueue order, of one
	// Event.Group) as one notification, built with [NewGroup].
	SendGroup(ctx context.Context, events []Event) error
}

// textSink is a GroupSink whose notification of a group names only its
// first entries (log, Slack, Alertmanager): the outbox reads only the first
// listed() events of a group from disk, and hands it a [Group] with the
// Count, severity and index range of all of them, from its memory. This
// keeps delivering a catch-up's thousands of events cheap.
type textSink interface {
	GroupSink
	listed() int
	sendText(ctx context.Context, g Group) error
}

// grouping implements GroupSink's GroupLimit from alerts.group, for the
// sinks NewSinks builds.
type grouping struct{ group GroupConfig }

// GroupLimit implements [GroupSink].
func (g grouping) GroupLimit() int { return g.group.MaxEvents }

func (g grouping) listed() int { return max(g.group.MaxListed, 1) }

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
	g := grouping{c.Group.withDefaults()}
	for i, sc := range c.Sinks {
		s, err := newSink(sc, g, logger)
		if err != nil {
			return nil, fmt.Errorf("building alert sink alerts.sinks[%d] (%s): %w", i, sc.Name, err)
		}
		sinks = append(sinks, s)
	}
	return sinks, nil
}

func newSink(sc SinkConfig, g grouping, logger *slog.Logger) (Sink, error) {
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
		return &Webhook{cfg: sc, client: client, filter: f, grouping: g}, nil
	case TypeSlack:
		return &Slack{cfg: sc, client: client, filter: f, grouping: g}, nil
	case TypeAlertmanager:
		a := newAlertmanager(sc, client, f)
		a.grouping = g
		return a, nil
	case TypeExec:
		return &Exec{cfg: sc, filter: f, grouping: g}, nil
	case TypeLog:
		return &Log{name: sc.Name, logger: logger, filter: f, grouping: g}, nil
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

// post sends body to target and checks for a 2xx answer. shown is the form
// of the URL that errors may carry ([redactURL], or a file name for url_file
// sinks); the transport's own errors name the full URL, so every error
// returned is scrubbed of the secret parts of target as well.
func post(ctx context.Context, client *http.Client, target, shown string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return scrubbed(fmt.Errorf("building request for %s: %w", shown, err), target, shown)
	}
	req.Header = header
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// net/http strips only the password: the query, the user
			// name and a Slack URL's path are in ue.URL.
			err = &url.Error{Op: ue.Op, URL: shown, Err: ue.Err}
		}
		return scrubbed(fmt.Errorf("posting to %s: %w", shown, err), target, shown)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The receiver may echo the request (a 404 page naming the path).
		body := scrub(strings.TrimSpace(string(snippet)), secretParts(target, shown))
		return &StatusError{URL: shown, StatusCode: resp.StatusCode, Body: body}
	}
	return nil
}

// redactURL returns raw as it may appear in errors and logs: without user
// info, query and fragment (each replaced by "REDACTED"), and for secretPath
// (Slack incoming webhooks, whose path is the secret) without the path.
func redactURL(raw string, secretPath bool) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<unparsable URL, hidden>"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if u.User != nil {
		r.User = url.User("REDACTED")
	}
	if u.RawQuery != "" || u.ForceQuery {
		r.RawQuery = "REDACTED"
	}
	if u.Fragment != "" {
		r.Fragment = "REDACTED"
	}
	if secretPath && u.Path != "" && u.Path != "/" {
		r.Path = "/REDACTED"
	}
	return r.String()
}

// secretParts returns the substrings of target that must not appear in an
// error: the URL itself in its raw and parsed spellings, its user info,
// query and fragment, their decoded values, and its path unless shown keeps
// it. Parts shorter than 3 bytes are left: they would blank out unrelated
// text and hide little.
func secretParts(target, shown string) []string {
	parts := []string{target}
	u, err := url.Parse(target)
	if err != nil {
		return parts
	}
	add := func(ss ...string) {
		for _, s := range ss {
			if len(s) >= 3 {
				parts = append(parts, s)
			}
		}
	}
	add(u.String(), u.Redacted())
	if u.User != nil {
		pw, _ := u.User.Password()
		add(u.User.String(), u.User.Username(), pw)
	}
	add(u.RawQuery, u.Fragment, u.EscapedFragment())
	for _, vs := range u.Query() {
		add(vs...)
	}
	if !strings.Contains(shown, u.EscapedPath()) {
		add(u.EscapedPath(), u.Path)
		for _, seg := range strings.Split(u.Path, "/") {
			add(seg)
		}
	}
	// Longest first, so a part never leaves pieces of a longer one.
	sort.Slice(parts, func(i, j int) bool { return len(parts[i]) > len(parts[j]) })
	return parts
}

// scrub replaces every secret part in s.
func scrub(s string, parts []string) string {
	for _, p := range parts {
		if p != "" && strings.Contains(s, p) {
			s = strings.ReplaceAll(s, p, "REDACTED")
		}
	}
	return s
}

// scrubbed returns err with every secret part of target removed from its
// message, keeping err for errors.Is and errors.As; nil for nil.
func scrubbed(err error, target, shown string) error {
	if err == nil {
		return nil
	}
	msg := scrub(err.Error(), secretParts(target, shown))
	switch {
	case errors.Is(err, context.DeadlineExceeded) && !strings.Contains(msg, "deadline") && !strings.Contains(msg, "timeout"):
		msg += " (timed out)"
	case errors.Is(err, context.Canceled) && !strings.Contains(msg, "cancel"):
		msg += " (canceled)"
	}
	return redactedError{msg: msg, err: err}
}

// redactedError is an error whose message was scrubbed of a secret URL; the
// original stays reachable for errors.Is/As (its message must not be
// printed).
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
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
