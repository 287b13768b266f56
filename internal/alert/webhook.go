package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Webhook POSTs each event as JSON: the [Event] itself, as stored in the
// outbox (evidence included, entry bodies base64). Headers:
//
//	Content-Type: application/json
//	User-Agent: vigil-monitor
//	X-Vigil-Event-Id: <event id>
//	X-Vigil-Dedupe-Key: <dedupe key>
//	X-Vigil-Signature-256: sha256=<hex HMAC-SHA256 of the body>   (hmac_secret_file)
//	Authorization: Bearer <token>                                 (bearer_token_file)
//
// Receivers should verify the signature over the raw body before parsing it,
// and drop events whose dedupe key they have seen.
//
// A [Group] of events is one POST of its [GroupBody] (every event, with its
// evidence), with X-Vigil-Event-Id the first event's ID, X-Vigil-Dedupe-Key
// the group's dedupe key, and X-Vigil-Event-Count and X-Vigil-Group added.
type Webhook struct {
	cfg    SinkConfig
	client *http.Client
	filter
	grouping
}

// Name implements [Sink].
func (w *Webhook) Name() string { return w.cfg.Name }

// Send implements [Sink].
func (w *Webhook) Send(ctx context.Context, e Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding event %s: %w", e.ID, err)
	}
	h := http.Header{}
	h.Set("X-Vigil-Event-Id", e.ID)
	h.Set("X-Vigil-Dedupe-Key", e.DedupeKey)
	return w.post(ctx, body, h)
}

// SendGroup implements [GroupSink].
func (w *Webhook) SendGroup(ctx context.Context, events []Event) error {
	g := NewGroup(events)
	body, err := json.Marshal(g.Body())
	if err != nil {
		return fmt.Errorf("encoding group of %d events from %s: %w", len(events), events[0].ID, err)
	}
	h := http.Header{}
	h.Set("X-Vigil-Event-Id", events[0].ID)
	h.Set("X-Vigil-Dedupe-Key", g.DedupeKey)
	h.Set("X-Vigil-Event-Count", strconv.Itoa(len(events)))
	h.Set("X-Vigil-Group", g.Key)
	return w.post(ctx, body, h)
}

// post signs and sends a body; h holds the event headers.
func (w *Webhook) post(ctx context.Context, body []byte, h http.Header) error {
	target, shown, err := sinkURL(w.cfg, false)
	if err != nil {
		return err
	}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "vigil-monitor")
	for k, v := range w.cfg.Headers {
		h.Set(k, v)
	}
	if w.cfg.HMACSecretFile != "" {
		key, err := readSecret(w.cfg.HMACSecretFile)
		if err != nil {
			return err
		}
		h.Set(SignatureHeader, "sha256="+Sign([]byte(key), body))
	}
	if err := setBearer(h, w.cfg.BearerTokenFile); err != nil {
		return err
	}
	ctx, cancel := withTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	return post(ctx, w.client, target, shown, body, h)
}

// SignatureHeader carries the webhook body's HMAC-SHA256, as "sha256=<hex>".
const SignatureHeader = "X-Vigil-Signature-256"

// Sign returns the hex HMAC-SHA256 of body under key, as sent in
// [SignatureHeader] after "sha256=".
func Sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// CheckSignature reports whether header (the value of [SignatureHeader]) is
// the signature of body under key, in constant time. Receivers written in Go
// can use it; it is what the tests use.
func CheckSignature(key, body []byte, header string) bool {
	want := "sha256=" + Sign(key, body)
	return hmac.Equal([]byte(want), []byte(header))
}

func setBearer(h http.Header, file string) error {
	if file == "" {
		return nil
	}
	tok, err := readSecret(file)
	if err != nil {
		return err
	}
	h.Set("Authorization", "Bearer "+tok)
	return nil
}

// sinkURL returns the URL to post to and the form of it that may appear in
// errors and logs: [redactURL] of it, or the file name for url_file, whose
// content is secret. secretPath hides the path too (Slack).
func sinkURL(c SinkConfig, secretPath bool) (target, shown string, err error) {
	if c.URLFile == "" {
		return c.URL, redactURL(c.URL, secretPath), nil
	}
	u, err := readSecret(c.URLFile)
	if err != nil {
		return "", "", err
	}
	return u, "<url from " + c.URLFile + ">", nil
}

// rfc3339 formats t for headers, annotations and environment variables;
// the zero time becomes "".
func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
