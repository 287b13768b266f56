package monitor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/rekor"
)

// This file turns what a misconfigured monitor meets on first contact into
// errors that say what to change. Before anything of a log was verified, a
// checkpoint the configured key does not verify is far more likely a wrong
// key, origin, URL or kind than an attack, and it is reported as such: a
// *ConfigError (monitor check exits 2) or no verdict (exit 3), never as a
// LOG INTEGRITY VIOLATION. Once a checkpoint of the log verified, the same
// failure is evidence and is reported as a violation.

// firstContact explains a checkpoint that does not verify at first contact.
// Only a signature failure is a configuration mistake here: a note that the
// configured key did sign and that is still wrong (malformed, contradicting
// the API) is evidence even at first contact.
func (c *checker) firstContact(raw []byte, err error) error {
	ie := violation(err)
	if ie == nil || ie.Reason != checkpoint.ReasonSignature {
		return err
	}
	return &ConfigError{Err: fmt.Errorf("the log's checkpoint does not verify with the configured key and origin; "+
		"nothing of this log was verified before, so this is reported as a configuration error, not as evidence against the log: %s: %w",
		c.diagnose(raw), ie.Err)}
}

// diagnose compares the signature lines of raw with the configured keys and
// says what to change.
func (c *checker) diagnose(raw []byte) string {
	origin, sigs := checkpoint.Signatures(raw)
	k := c.log.keys()
	if c.log.Kind != kindV1 {
		// Rekor v2 key hashes cover the name: a key that verifies under
		// another name means the origin is wrong, not the key.
		for _, s := range sigs {
			for _, pub := range k.Public {
				v, err := checkpoint.NewVerifier(s.Name, pub)
				if err == nil && v.KeyHash() == s.KeyHash {
					return fmt.Sprintf("the checkpoint is signed by the configured key under the name %q (origin %q), but the configured origin is %q: set origin (--origin) to %q",
						s.Name, origin, c.log.Origin, s.Name)
				}
			}
		}
	}
	seen := make([]string, len(sigs))
	for i, s := range sigs {
		seen[i] = fmt.Sprintf("%s key %08x", s.Name, s.KeyHash)
	}
	want := make([]string, len(k.Verifiers))
	for i, v := range k.Verifiers {
		want[i] = fmt.Sprintf("key %08x", v.KeyHash())
		if c.log.Kind != kindV1 {
			want[i] = v.Name() + " " + want[i]
		}
	}
	return fmt.Sprintf("the checkpoint (origin %q) is signed by %s; the configured key is %s (key ID %s): is public_key_file (or the trust material's entry for %s) the key of this log, and is %s the right log?",
		origin, orNone(strings.Join(seen, ", ")), strings.Join(want, " or "), k.KeyID, c.log.URL, c.log.URL)
}

func orNone(s string) string {
	if s == "" {
		return "no key"
	}
	return s
}

// explainFetch adds to a failed checkpoint fetch what a user can change:
// the CA bundle for an unknown TLS authority, plain HTTP for a server that
// does not speak TLS, and the log kind or read URL when the log answers 404
// where its kind serves the checkpoint. The result is still no verdict.
func (c *checker) explainFetch(ctx context.Context, err error) error {
	var (
		unknownCA x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		recErr    tls.RecordHeaderError
		status    *rekor.StatusError
	)
	hint := ""
	switch {
	case errors.As(err, &unknownCA):
		hint = "the log's TLS certificate is not signed by a CA this machine trusts: set ca_file (--ca-file) to the PEM bundle of the CA that issued it"
	case errors.As(err, &hostErr):
		hint = fmt.Sprintf("the log's TLS certificate is not valid for %s: check url, or the certificate's names", hostErr.Host)
	case errors.As(err, &recErr):
		hint = "the server does not speak TLS here: check the url's scheme and port"
	case errors.As(err, &status) && status.Code == http.StatusNotFound:
		hint = c.probeKind(ctx)
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w (hint: %s)", err, hint)
}

// probeKind asks the log's URL for what the other kind serves, to explain a
// 404. It returns "" when nothing answers.
func (c *checker) probeKind(ctx context.Context) string {
	if c.log.Client == nil {
		return ""
	}
	base := strings.TrimSuffix(c.log.URL, "/")
	ok := func(path string) bool {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return false
		}
		resp, err := c.log.Client.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return resp.StatusCode == http.StatusOK
	}
	switch {
	case c.log.Kind == kindV1 && ok("/checkpoint"):
		return "the URL serves a tlog-tiles checkpoint, not the Rekor v1 API: set kind: rekor-v2 (--log-kind rekor-v2)"
	case c.log.Kind != kindV1 && ok("/api/v1/log"):
		return "the URL serves the Rekor v1 API: set kind: rekor-v1 (--log-kind rekor-v1)"
	case c.log.Kind != kindV1 && ok("/healthz"):
		return "the server answers but serves no checkpoint: is this Rekor v2's write API? Give the URL its tiles are read from (the read side)"
	}
	return ""
}

// noteHostname logs, for information only, that a Rekor v1 log signs under
// another hostname than the checkpoint it extends: rekor-server signs as
// its host name unless --rekor_server.hostname is set, so a restart or a
// rollout of its pod renames it. The key and the tree are what count.
func (c *checker) noteHostname(ctx context.Context, trusted *checkpoint.Checkpoint, trustedTree string, cp *checkpoint.Checkpoint, treeID string) {
	if c.log.Kind != kindV1 {
		return
	}
	was, now := checkpoint.RekorV1Hostname(trusted.Origin, trustedTree), checkpoint.RekorV1Hostname(cp.Origin, treeID)
	if was != now {
		c.logger.InfoContext(ctx, "Rekor v1 signs under another hostname now (a restart or rollout of rekor-server renames it unless --rekor_server.hostname is set); its key and tree still verify",
			"log", c.log.Name, "was", was, "now", now, "tree", treeID)
	}
}
