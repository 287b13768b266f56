// Package rekor reads what a monitor needs from a Rekor log: the signed
// checkpoint, consistency proofs and entries, for both Rekor v1 (the REST API
// of rekor-server backed by Trillian) and Rekor v2 (rekor-tiles, a C2SP
// tlog-tiles log read from static files).
//
// Nothing here verifies anything: the package fetches bytes and decodes the
// API's JSON, and package checkpoint judges them. Errors from this package
// mean "no verdict" (the log was unreachable, slow, or answered something that
// is not a well-formed API response); they never mean the log misbehaved.
package rekor

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
)

// Head is what a log says about its current state.
type Head struct {
	// Note is the signed checkpoint exactly as served.
	Note []byte
	// TreeID is the Rekor v1 Trillian tree that Note describes; "" for v2.
	TreeID string
	// Size and Root are the unsigned claims of the Rekor v1 API response
	// (treeSize, rootHash), which must agree with Note. HasClaims is false
	// for Rekor v2, whose only answer is the note.
	Size      uint64
	Root      []byte
	HasClaims bool
	// Inactive lists the frozen shards of a Rekor v1 log, oldest first.
	Inactive []Shard
}

// Shard is a frozen Rekor v1 tree listed under inactiveShards.
type Shard struct {
	TreeID string
	Note   []byte
	Size   uint64
	Root   []byte
}

// ClientConfig configures HTTP access to a log.
type ClientConfig struct {
	// CAFile is a PEM bundle of CAs to trust for the log's TLS certificate,
	// in addition to nothing else: private deployments use their own CA.
	// Empty means the system roots.
	CAFile string
	// Timeout bounds each request (default 30s).
	Timeout time.Duration
	// MaxBody bounds each response body (default 32 MiB).
	MaxBody int64
	// UserAgent is sent with every request.
	UserAgent string
}

// ErrBodyTooLarge is returned when a response exceeds ClientConfig.MaxBody.
var ErrBodyTooLarge = errors.New("response body too large")

// NewHTTPClient returns an HTTP client for cfg: TLS verification on, the
// given CA bundle, a per-request timeout, a response size limit and the
// User-Agent header.
func NewHTTPClient(cfg ClientConfig) (*http.Client, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
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
// or broken server cannot make the monitor buffer without bound.
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
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w (%d bytes, limit %d)", req.URL.Redacted(), ErrBodyTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &limitedBody{rc: resp.Body, left: t.max}
	return resp, nil
}

type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: a body of exactly the limit is fine.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, ErrBodyTooLarge
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

// get fetches url and returns its body, bounded by max bytes.
func get(ctx context.Context, c *http.Client, url string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", url, err)
	}
	req.Header.Set("Accept", "application/json, text/plain")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	return readBody(resp, url, max)
}

func readBody(resp *http.Response, url string, max int64) ([]byte, error) {
	if resp.StatusCode/100 != 2 {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		err := &StatusError{URL: url, Code: resp.StatusCode, Body: string(snippet)}
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %w", err, os.ErrNotExist)
		}
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("reading %s: %w (limit %d bytes)", url, ErrBodyTooLarge, max)
	}
	return body, nil
}
