package tlog

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/vigil-tlog/vigil/internal/config"
)

// ClientConfig configures HTTP access to a log.
type ClientConfig struct {
	// CAFile is a PEM bundle of CAs to trust for the log's TLS certificate,
	// in addition to nothing else: private deployments use their own CA.
	// Empty means the system roots.
	CAFile string
	// Timeout bounds each request (default config.DefaultTimeout).
	Timeout time.Duration
	// MaxBody bounds each response body (default 32 MiB).
	MaxBody int64
	// UserAgent is sent with every request.
	UserAgent string
}

// ErrBodyTooLarge is matched (errors.Is) by every [BodyTooLargeError].
var ErrBodyTooLarge = errors.New("response body too large")

// BodyTooLargeError is a response larger than the limit set for it. It is
// no evidence against the log: the monitor did not read the answer.
type BodyTooLargeError struct {
	URL   string
	Limit int64
	// Size is the announced Content-Length, or -1 when the body ran over
	// the limit while it was read.
	Size int64
	// Setting says which setting raises Limit; "" when the limit is fixed.
	Setting string
}

func (e *BodyTooLargeError) Error() string {
	var s string
	if e.Size >= 0 {
		s = fmt.Sprintf("response from %s has %d bytes, over its limit of %d bytes", e.URL, e.Size, e.Limit)
	} else {
		s = fmt.Sprintf("response from %s is over its limit of %d bytes", e.URL, e.Limit)
	}
	if e.Setting != "" {
		s += "; raise " + e.Setting
	}
	return s
}

// Is makes errors.Is(err, ErrBodyTooLarge) true.
func (e *BodyTooLargeError) Is(target error) bool { return target == ErrBodyTooLarge }

// bodyLimit is a request's own body limit, carried in its context to
// limitTransport (which otherwise applies ClientConfig.MaxBody).
type bodyLimit struct {
	n       int64
	setting string
}

type bodyLimitKey struct{}

func withBodyLimit(ctx context.Context, n int64, setting string) context.Context {
	return context.WithValue(ctx, bodyLimitKey{}, bodyLimit{n, setting})
}

// NewHTTPClient returns an HTTP client for cfg: TLS verification on, the
// given CA bundle, a per-request timeout, a response size limit and the
// User-Agent header.
func NewHTTPClient(cfg ClientConfig) (*http.Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = config.DefaultTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 32 << 20
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.Timeout,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		// HTTP/2 buffers what the server sends ahead of the reader, 4 MiB
		// per stream by default: bound it per connection, since scans
		// read bodies only once they have their share of the budget.
		HTTP2: &http.HTTP2Config{MaxReceiveBufferPerConnection: 4 << 20, MaxReceiveBufferPerStream: 1 << 20},
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", cfg.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &limitTransport{next: tr, max: cfg.MaxBody, ua: cfg.UserAgent},
	}, nil
}

// limitTransport sets the User-Agent and caps response bodies, so a hostile
// or broken server cannot make the monitor buffer without bound: at the
// request's own limit (withBodyLimit), else at max.
type limitTransport struct {
	next http.RoundTripper
	max  int64
	ua   string
}

func (t *limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.ua != "" {
		req = req.Clone(req.Context())
		req.Header.Set("User-Agent", t.ua)
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	lim := bodyLimit{n: t.max}
	if l, ok := req.Context().Value(bodyLimitKey{}).(bodyLimit); ok {
		lim = l
	}
	tooLarge := &BodyTooLargeError{URL: req.URL.Redacted(), Limit: lim.n, Size: -1, Setting: lim.setting}
	if resp.ContentLength > lim.n {
		resp.Body.Close()
		tooLarge.Size = resp.ContentLength
		return nil, tooLarge
	}
	resp.Body = &limitedBody{rc: resp.Body, left: lim.n, err: tooLarge}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
	err  *BodyTooLargeError
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: a body of exactly the limit is fine.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, b.err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// StatusError is a non-2xx answer from the log.
type StatusError struct {
	URL  string
	Code int
	Body string // first bytes of the body, for the log line
}

func (e *StatusError) Error() string {
	if e.Body != "" {
		return fmt.Sprintf("GET %s: HTTP %d: %s", e.URL, e.Code, e.Body)
	}
	return fmt.Sprintf("GET %s: HTTP %d", e.URL, e.Code)
}

// Get fetches url and returns its body, bounded by max bytes.
func Get(ctx context.Context, c *http.Client, url string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(withBodyLimit(ctx, max, ""), http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json, text/plain")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp, url); err != nil {
		return nil, err
	}
	return readBody(resp, url, max, "")
}

// checkStatus turns a non-2xx answer into a *StatusError (wrapping
// os.ErrNotExist for a 404).
func checkStatus(resp *http.Response, url string) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	err := &StatusError{URL: url, Code: resp.StatusCode, Body: string(snippet)}
	if resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%w: %w", err, os.ErrNotExist)
	}
	return err
}

// readBody reads a body of at most max bytes into a buffer of its
// Content-Length when the server announces one (no reallocation, no
// garbage), else grown as it comes.
func readBody(resp *http.Response, url string, max int64, setting string) ([]byte, error) {
	tooLarge := &BodyTooLargeError{URL: url, Limit: max, Size: resp.ContentLength, Setting: setting}
	if resp.ContentLength > max {
		return nil, tooLarge
	}
	body, err := readAll(io.LimitReader(resp.Body, max+1), resp.ContentLength)
	var be *BodyTooLargeError
	if errors.As(err, &be) {
		be.Setting = setting
		return nil, be
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if int64(len(body)) > max {
		tooLarge.Size = -1
		return nil, tooLarge
	}
	return body, nil
}

// readAll reads r to the end into a buffer of size bytes (plus one, to see
// the end) when size >= 0. Otherwise it reads into blocks and copies them
// once into a buffer of the body's length: growing one buffer by append
// would allocate four times the body in garbage.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size >= 0 {
		b := make([]byte, size+1)
		n, err := io.ReadFull(r, b)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			err = nil
		}
		if err == nil && n == len(b) {
			// Longer than announced: read on, for the caller's limit.
			rest, err := readAll(r, -1)
			return append(b, rest...), err
		}
		return b[:n:n], err
	}
	var (
		blocks [][]byte
		total  int
		bsize  = 32 << 10
	)
	for {
		b := make([]byte, bsize)
		n, err := io.ReadFull(r, b)
		if n > 0 {
			blocks = append(blocks, b[:n])
			total += n
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		bsize = min(2*bsize, 1<<20)
	}
	if len(blocks) == 1 {
		return blocks[0], nil
	}
	out := make([]byte, 0, total)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out, nil
}

// FetchShared does req and reads its body of at most limit bytes, after
// taking the body's size (its Content-Length, else limit) from the budget
// through s. The share stays with s, shrunk to the body's length; it is
// given back on error. setting names what raises limit, for the error.
func FetchShared(ctx context.Context, c *http.Client, req *http.Request, s *Slot, limit int64, setting string) ([]byte, error) {
	u := req.URL.Redacted()
	// The client's timeout would count the wait for the budget: time the
	// request up to its headers, then the body, each with the timeout.
	hc := *c
	timeout := hc.Timeout
	hc.Timeout = 0
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	expire := func() *time.Timer {
		if timeout <= 0 {
			return time.NewTimer(time.Duration(1<<63 - 1))
		}
		return time.AfterFunc(timeout, func() { cancel(fmt.Errorf("%s: no answer within %s", u, timeout)) })
	}
	timer := expire()
	resp, err := hc.Do(req.WithContext(withBodyLimit(rctx, limit, setting)))
	timer.Stop()
	if err != nil {
		var be *BodyTooLargeError
		if errors.As(err, &be) {
			return nil, be
		}
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			err = cause
		}
		return nil, fmt.Errorf("fetching %s: %w", u, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp, u); err != nil {
		return nil, err
	}
	if resp.ContentLength > limit {
		return nil, &BodyTooLargeError{URL: u, Limit: limit, Size: resp.ContentLength, Setting: setting}
	}
	want := limit
	if resp.ContentLength >= 0 {
		want = resp.ContentLength
	}
	got, err := s.take(ctx, want)
	if err != nil {
		s.giveBack(got)
		return nil, err
	}
	timer = expire()
	defer timer.Stop()
	body, err := readBody(resp, u, limit, setting)
	if err != nil {
		s.giveBack(got)
		if cause := context.Cause(rctx); cause != nil && ctx.Err() == nil {
			return nil, cause
		}
		return nil, err
	}
	s.giveBack(got - int64(cap(body)))
	return body, nil
}

// Probe reports whether url answers a GET with 200 OK within 5 seconds: a
// kind uses it to say what a URL serves instead of what it expected. It
// reads at most 64 KiB of the answer.
func Probe(ctx context.Context, c *http.Client, url string) bool {
	if c == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode == http.StatusOK
}
