package monitor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// This file turns what a misconfigured monitor meets on first contact into
// errors that say what to change. Before anything of a log was verified, a
// checkpoint the configured key does not verify is far more likely a wrong
// key, origin, URL or kind than an attack, and it is reported as such: a
// *ConfigError (monitor check exits 2) or no verdict (exit 3), never as a
// LOG INTEGRITY VIOLATION. Once a checkpoint of the log verified, the same
// failure is evidence and is reported as a violation. What only a kind can
// tell (another kind's API at the URL, a signature under another origin)
// comes from its tlog.Explainer.

// firstContact explains a checkpoint that does not verify at first contact.
// Only a signature failure is a configuration mistake here: a note that the
// configured key did sign and that is still wrong (malformed, contradicting
// the API) is evidence even at first contact.
func (c *checker) firstContact(raw []byte, err error) error {
	if !badSignature(err) {
		return err
	}
	_, ie := verdict(err)
	return &ConfigError{Err: fmt.Errorf("the log's checkpoint does not verify with the configured key and origin; "+
		"nothing of this log was verified before, so this is reported as a configuration error, not as evidence against the log: %s: %w",
		c.diagnose(raw), ie.Err)}
}

// diagnose compares the signature lines of raw with the configured keys and
// says what to change.
func (c *checker) diagnose(raw []byte) string {
	k := c.log.Keys()
	if x, ok := c.log.Source.(tlog.Explainer); ok {
		if hint := x.ExplainSignature(raw, k.Public); hint != "" {
			return hint
		}
	}
	origin, sigs := checkpoint.Signatures(raw)
	seen := make([]string, len(sigs))
	for i, s := range sigs {
		seen[i] = fmt.Sprintf("%s key %08x", s.Name, s.KeyHash)
	}
	// A kind whose signer may be renamed matches signatures by key alone:
	// the configured name means nothing there.
	_, anyName := c.log.Source.(tlog.Renamer)
	want := make([]string, len(k.Verifiers))
	for i, v := range k.Verifiers {
		want[i] = fmt.Sprintf("key %08x", v.KeyHash())
		if !anyName {
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
		status    *tlog.StatusError
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
		if x, ok := c.log.Source.(tlog.Explainer); ok {
			hint = x.ExplainNotFound(ctx)
		}
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w (hint: %s)", err, hint)
}

// noteRename logs, for information only, that the log signs under another
// name than the checkpoint it extends (see tlog.Renamer): the key and the
// tree are what count.
func (c *checker) noteRename(ctx context.Context, trusted *checkpoint.Checkpoint, trustedTree string, cp *checkpoint.Checkpoint, treeID string) {
	r, ok := c.log.Source.(tlog.Renamer)
	if !ok {
		return
	}
	if msg := r.Renamed(trusted, trustedTree, cp, treeID); msg != "" {
		c.logger.InfoContext(ctx, "the log signs under another name now; its key and tree still verify", "log", c.log.Name, "tree", treeID, "detail", msg)
	}
}
