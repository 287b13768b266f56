package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigil-tlog/vigil/internal/audit"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/monitor"
)

// auditBundleMain runs `monitor audit-bundle`: it checks Sigstore bundles
// against what the monitor verified, locally (the configuration's logs,
// state directory and checkpoint archive, read without the lock) or by
// asking a running monitor (--server). The exit code is check's: 0 every
// bundle consistent, 1 a split view, 2 an invalid bundle or usage, 3 no
// verdict.
func auditBundleMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("monitor audit-bundle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile = fs.String("config", "", "the monitor's YAML configuration `file` (its logs, state_dir and, with --server, api.token_file)")
		server     = fs.String("server", "", "base `URL` of a running monitor to ask instead of auditing locally")
		tokenFile  = fs.String("token-file", "", "`file` holding the API bearer token, with --server (default: the config's api.token_file)")
		asJSON     = fs.Bool("json", false, "print the reports as JSON")
		timeout    = fs.Duration("timeout", 60*time.Second, "give up on a bundle after this long")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: monitor audit-bundle --config FILE [--json] BUNDLE...
       monitor audit-bundle --server URL [--token-file FILE] [--json] BUNDLE...

Check that the checkpoint in each transparency log entry of each Sigstore
bundle (JSON, as cosign and sigstore-go write them) is signed by the log,
that the entry is included in it, and that it is one history with what the
monitor verified (its saved checkpoint, its archive, consistency proofs from
the log). A checkpoint that no single history explains is a split view: the
log showed the bundle's signer another log than the monitor.

Exit codes: 0 every bundle consistent, 1 a split view, 2 an invalid bundle
(the field that is wrong is named) or usage error, 3 no verdict (the log or
the monitor could not be asked).

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "monitor audit-bundle: no bundle given")
		return exitUsage
	}
	var audit1 func(ctx context.Context, name string, data []byte) (*audit.Report, error)
	if *server != "" {
		base, token, err := searchTarget(*server, *configFile, *tokenFile)
		if err != nil {
			fmt.Fprintf(stderr, "monitor audit-bundle: %v\n", err)
			return exitUsage
		}
		audit1 = func(ctx context.Context, name string, data []byte) (*audit.Report, error) {
			return postBundle(ctx, base, token, name, data)
		}
	} else {
		if *configFile == "" {
			fmt.Fprintln(stderr, "monitor audit-bundle: --config or --server is required")
			return exitUsage
		}
		if *tokenFile != "" {
			fmt.Fprintln(stderr, "monitor audit-bundle: --token-file goes with --server")
			return exitUsage
		}
		a, err := localAuditor(ctx, *configFile, stderr)
		if err != nil {
			fmt.Fprintf(stderr, "monitor audit-bundle: %v\n", err)
			var ue *monitor.UnavailableError
			if errors.As(err, &ue) {
				return exitNoVerdict
			}
			return exitUsage
		}
		audit1 = func(ctx context.Context, name string, data []byte) (*audit.Report, error) {
			return a.Audit(ctx, name, data), nil
		}
	}

	var reports []*audit.Report
	worst := audit.Consistent
	for _, file := range fs.Args() {
		name := filepath.Base(file)
		var rep *audit.Report
		data, err := readBundle(file)
		if err != nil {
			rep = &audit.Report{Bundle: name, Verdict: audit.Invalid, Error: err.Error()}
		} else {
			bctx, cancel := context.WithTimeout(ctx, *timeout)
			rep, err = audit1(bctx, name, data)
			cancel()
			if err != nil {
				var ue *usageError
				if errors.As(err, &ue) {
					fmt.Fprintf(stderr, "monitor audit-bundle: %v\n", err)
					return exitUsage
				}
				rep = &audit.Report{Bundle: name, Verdict: audit.NoVerdict, Error: err.Error()}
			}
		}
		reports = append(reports, rep)
		if worse(rep.Verdict, worst) {
			worst = rep.Verdict
		}
		if !*asJSON {
			printReport(stdout, file, rep)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Verdict audit.Verdict   `json:"verdict"`
			Bundles []*audit.Report `json:"bundles"`
		}{worst, reports})
	}
	switch worst {
	case audit.Consistent:
		return exitOK
	case audit.SplitView:
		return exitViolation
	case audit.Invalid:
		return exitUsage
	}
	return exitNoVerdict
}

// worse reports whether v outranks w: split view, invalid, no verdict,
// consistent (as check: a violation anywhere wins).
func worse(v, w audit.Verdict) bool {
	rank := map[audit.Verdict]int{audit.Consistent: 0, audit.NoVerdict: 1, audit.Invalid: 2, audit.SplitView: 3}
	return rank[v] > rank[w]
}

// localAuditor builds an auditor from the configuration: its logs (as the
// monitor resolves them), its state directory and checkpoint archive, read
// without taking the lock a running monitor holds.
func localAuditor(ctx context.Context, configFile string, stderr io.Writer) (*audit.Auditor, error) {
	cfg, err := config.Load(configFile)
	if err != nil {
		return nil, err
	}
	return monitor.NewAuditor(ctx, cfg, newLogger(stderr, "text", "warn"))
}

// readBundle reads a bundle file, refusing one over audit.MaxBundleSize.
func readBundle(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, audit.MaxBundleSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(b) > audit.MaxBundleSize {
		return nil, fmt.Errorf("over the %d byte limit for a bundle", audit.MaxBundleSize)
	}
	return b, nil
}

// usageError is an answer of the monitor that says the request is wrong
// whatever the bundle: no such endpoint, a missing or wrong token.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// postBundle asks the monitor at base to audit one bundle.
func postBundle(ctx context.Context, base, token, name string, data []byte) (*audit.Report, error) {
	u := base + audit.Path + "?" + url.Values{"name": {name}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", req.URL.Host, err)
	}
	var rep audit.Report
	jerr := json.Unmarshal(body, &rep)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable:
		if jerr != nil || rep.Verdict == "" {
			return nil, fmt.Errorf("%s answered HTTP %d with something that is not an audit report", base, resp.StatusCode)
		}
		if rep.Bundle == "" {
			rep.Bundle = name
		}
		return &rep, nil
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		msg := strings.TrimSpace(string(body))
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		return nil, &usageError{msg: fmt.Sprintf("%s%s: HTTP %d: %s", base, audit.Path, resp.StatusCode, msg)}
	}
	return nil, fmt.Errorf("%s: HTTP %d: %s", base, resp.StatusCode, strings.TrimSpace(string(body)))
}

// printReport prints one line per entry of a bundle, with the evidence of
// a split view.
func printReport(w io.Writer, file string, r *audit.Report) {
	if len(r.Entries) == 0 {
		fmt.Fprintf(w, "%s: %s\n", file, r.Error)
		return
	}
	for _, e := range r.Entries {
		where := fmt.Sprintf("%s: entry %d (log %s, index %d, tree size %d)", file, e.Entry, orDash(e.Log), e.LogIndex, e.TreeSize)
		switch e.Verdict {
		case audit.Consistent:
			against := ""
			if p := e.ProvenAgainst; p != nil {
				against = fmt.Sprintf(" with the %s checkpoint of size %d", p.Source, p.TreeSize)
			}
			fmt.Fprintf(w, "%s: consistent%s\n", where, against)
		case audit.SplitView:
			fmt.Fprintf(w, "%s: SPLIT VIEW: %s\n", where, e.Error)
			if ev := e.Evidence; ev != nil {
				fmt.Fprintf(w, "  checkpoint the monitor verified:\n%s", indent(ev.OldCheckpoint))
				fmt.Fprintf(w, "  checkpoint in the bundle:\n%s", indent(ev.NewCheckpoint))
				if len(ev.Proof) > 0 {
					fmt.Fprintf(w, "  consistency proof from the log:\n%s", indent(strings.Join(ev.Proof, "\n")))
				}
			}
		case audit.Invalid:
			fmt.Fprintf(w, "%s: %s\n", file, e.Error)
		default:
			fmt.Fprintf(w, "%s: no verdict: %s\n", where, e.Error)
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}
