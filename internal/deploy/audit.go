package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/audit"
)

// ErrSplitView reports a bundle whose checkpoint the Vigil monitor found to
// be of another history than the one it verified: the log showed the
// signer one tree and the monitor another.
var ErrSplitView = errors.New("split view")

// maxAuditAnswer bounds the monitor's answer: a report with a few
// checkpoints and a proof.
const maxAuditAnswer = 1 << 20

// auditWithMonitor asks the Vigil monitor at base (its API: POST
// /api/v1/audit-bundle, behind the bearer token when one is given) to audit
// bundle, the verified bundle named name. Only a consistent verdict is nil;
// a split view wraps ErrSplitView and carries both checkpoints.
func auditWithMonitor(ctx context.Context, rt http.RoundTripper, base, token, name string, bundle []byte) (*audit.Report, error) {
	u := strings.TrimSuffix(base, "/") + audit.Path + "?" + url.Values{"name": {name}}.Encode()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(bundle))
	if err != nil {
		return nil, fmt.Errorf("asking the monitor: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Transport: rt}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the monitor at %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuditAnswer))
	if err != nil {
		return nil, fmt.Errorf("reading the monitor's answer: %w", err)
	}
	var rep audit.Report
	if err := json.Unmarshal(body, &rep); err != nil || rep.Verdict == "" {
		return nil, fmt.Errorf("the monitor at %s answered HTTP %d, not an audit report (is --monitor the monitor's API, and --monitor-token-file its api.token_file?): %.200q",
			base, resp.StatusCode, body)
	}
	switch rep.Verdict {
	case audit.Consistent:
		return &rep, nil
	case audit.SplitView:
		var ev strings.Builder
		for _, e := range rep.Entries {
			if e.Evidence != nil {
				fmt.Fprintf(&ev, "\n  checkpoint the monitor verified:\n%s  checkpoint in the bundle:\n%s",
					indentLines(e.Evidence.OldCheckpoint), indentLines(e.Evidence.NewCheckpoint))
			}
		}
		return &rep, fmt.Errorf("%w: %s%s", ErrSplitView, rep.Error, ev.String())
	case audit.Invalid:
		return &rep, fmt.Errorf("the monitor cannot audit the bundle: %s", rep.Error)
	}
	return &rep, fmt.Errorf("the monitor reached no verdict: %s", rep.Error)
}

func indentLines(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

// readToken reads a bearer token file ("" for none).
func readToken(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading the monitor's token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("the monitor's token file %s is empty", file)
	}
	return t, nil
}
