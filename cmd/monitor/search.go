package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/search"
)

// extFlags collects --extension OID=VALUE.
type extFlags map[string]string

func (e extFlags) String() string { return "" }

func (e extFlags) Set(v string) error {
	oid, val, ok := strings.Cut(v, "=")
	if !ok || oid == "" || val == "" {
		return fmt.Errorf("%q is not OID=VALUE", v)
	}
	e[oid] = val
	return nil
}

// searchCmd runs `monitor search`: it asks a running monitor's search API
// (the index lives with the monitor, which holds its state directory) and
// prints a table, or the JSON answer.
func searchCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("monitor search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	exts := extFlags{}
	var (
		server     = fs.String("server", "", "base `URL` of the monitor (default: from --config's api.listen or listen, else http://127.0.0.1:9464)")
		configFile = fs.String("config", "", "the monitor's YAML configuration `file`, for its address and api.token_file")
		tokenFile  = fs.String("token-file", "", "`file` holding the API bearer token (default: the config's api.token_file)")
		asJSON     = fs.Bool("json", false, "print the API's JSON answer")
		timeout    = fs.Duration("timeout", 60*time.Second, "give up after this long")
	)
	params := map[string]*string{}
	for _, p := range []struct{ name, help string }{
		{search.ParamSubject, "a signer's subject alternative name (e-mail, URI, ...)"},
		{search.ParamIssuer, "a signer's OIDC issuer"},
		{search.ParamDigest, "an artifact digest: sha256:HEX or HEX"},
		{search.ParamFingerprint, "a certificate or key fingerprint: SHA-256 hex, with or without sha256:"},
		{search.ParamLog, "only this log"},
		{search.ParamSince, "entries the log took in at or after this time (RFC 3339 or YYYY-MM-DD)"},
		{search.ParamUntil, "entries before this time"},
		{search.ParamLimit, "results per page (1-500, default 50)"},
		{search.ParamCursor, "the cursor printed after the previous page"},
	} {
		params[p.name] = fs.String(p.name, "", p.help)
	}
	fs.Var(exts, "extension", "a Fulcio extension `OID=VALUE` a signer must have (repeatable), e.g. 1.3.6.1.4.1.57264.1.12=https://github.com/org/repo")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: monitor search [--server URL | --config FILE] [filters] [--json]

Search the index of a running monitor: which entries did an identity sign,
who signed a digest. Every filter given must hold (for one and the same
signer); results are newest first, each with an inclusion proof against the
log's latest verified checkpoint.

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
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "monitor search: unexpected arguments %q (filters are flags, e.g. --subject)\n", fs.Args())
		return exitUsage
	}
	q := url.Values{}
	for name, v := range params {
		if *v != "" {
			q.Set(name, *v)
		}
	}
	for oid, v := range exts {
		q.Set(search.ParamExtension+oid, v)
	}
	if _, err := search.ParseQuery(q); err != nil {
		fmt.Fprintf(stderr, "monitor search: --%v\n", err)
		return exitUsage
	}
	base, token, err := searchTarget(*server, *configFile, *tokenFile)
	if err != nil {
		fmt.Fprintf(stderr, "monitor search: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	body, code, err := getAPI(ctx, base+"/api/v1/search?"+q.Encode(), token)
	if err != nil {
		fmt.Fprintf(stderr, "monitor search: %v\n", err)
		return exitNoVerdict
	}
	if code != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(body, &e)
		if e.Error == "" {
			e.Error = strings.TrimSpace(string(body))
		}
		fmt.Fprintf(stderr, "monitor search: %s: HTTP %d: %s\n", base, code, e.Error)
		if code == http.StatusBadRequest || code == http.StatusUnauthorized || code == http.StatusNotFound {
			return exitUsage
		}
		return exitNoVerdict
	}
	if *asJSON {
		stdout.Write(body)
		return exitOK
	}
	var resp search.Response
	if err := json.Unmarshal(body, &resp); err != nil {
		fmt.Fprintf(stderr, "monitor search: %s answered something that is not a search response: %v\n", base, err)
		return exitNoVerdict
	}
	printResults(stdout, &resp)
	return exitOK
}

// searchTarget is the monitor to ask and its token.
func searchTarget(server, configFile, tokenFile string) (base, token string, err error) {
	var cfg *config.Config
	if configFile != "" {
		if cfg, err = config.Load(configFile); err != nil {
			return "", "", err
		}
	}
	if server == "" {
		server = "http://127.0.0.1:9464"
		if cfg != nil {
			addr := cfg.Listen
			if cfg.API.Listen != "" {
				addr = cfg.API.Listen
			}
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return "", "", fmt.Errorf("listen address %q of %s: %w", addr, configFile, err)
			}
			if host == "" || host == "0.0.0.0" || host == "::" {
				host = "127.0.0.1"
			}
			server = "http://" + net.JoinHostPort(host, port)
		}
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("--server %q is not an http(s) URL", server)
	}
	if tokenFile == "" && cfg != nil {
		tokenFile = cfg.API.TokenFile
	}
	if tokenFile != "" {
		if token, err = search.ReadToken(tokenFile); err != nil {
			return "", "", fmt.Errorf("token: %w", err)
		}
	}
	return strings.TrimSuffix(server, "/"), token, nil
}

// maxAnswer bounds the API answer read (a page of 500 results with proofs
// is a few MiB).
const maxAnswer = 64 << 20

func getAPI(ctx context.Context, u, token string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, 0, fmt.Errorf("reading the answer of %s: %w", req.URL.Host, err)
	}
	if len(b) > maxAnswer {
		return nil, 0, fmt.Errorf("the answer of %s is over %d bytes", req.URL.Host, maxAnswer)
	}
	return b, resp.StatusCode, nil
}

// printResults prints one line per signer of each result.
func printResults(w io.Writer, resp *search.Response) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOG\tINDEX\tTIME\tKIND\tSUBJECT\tISSUER\tDIGEST\tPROOF")
	for _, r := range resp.Results {
		t := "-"
		if r.Time != nil {
			t = r.Time.UTC().Format(time.RFC3339)
		}
		digest := "-"
		if len(r.Digests) > 0 {
			digest = r.Digests[0]
		}
		proof := "-"
		if r.Proof != nil {
			proof = fmt.Sprintf("ok@%d", r.Proof.TreeSize)
		} else if r.ProofError != "" {
			proof = "none"
		}
		ids := r.Identities
		if len(ids) == 0 {
			ids = []search.Identity{{}}
		}
		for _, id := range ids {
			subject := strings.Join(id.Subjects, ",")
			if subject == "" && id.KeyFingerprint != "" {
				subject = "key sha256:" + id.KeyFingerprint
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Log, r.Index, t, r.Kind, orDash(subject), orDash(id.Issuer), digest, proof)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "%d result(s)\n", len(resp.Results))
	if resp.Next != "" {
		fmt.Fprintf(w, "more: run again with --cursor %s\n", resp.Next)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// indexCmd runs `monitor index rebuild`.
func indexCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rebuild" {
		fmt.Fprint(stderr, "usage: monitor index rebuild (--config FILE | --state-dir DIR) --log NAME... [--from INDEX]\n")
		return exitUsage
	}
	fs := flag.NewFlagSet("monitor index rebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var logs []string
	var (
		configFile = fs.String("config", "", "the monitor's YAML configuration `file` (for its state_dir and logs)")
		stateDir   = fs.String("state-dir", "", "the monitor's state `directory`")
		from       = fs.Uint64("from", 0, "drop and re-read the log's index from this entry `index` on")
	)
	fs.Func("log", "`name` of a log to rebuild (repeatable; with --config, default every log)", func(s string) error {
		logs = append(logs, s)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: monitor index rebuild (--config FILE | --state-dir DIR) [--log NAME]... [--from INDEX]

Drop a log's search index from an entry on and fill it again from the log,
each entry read and proven again against the log's verified checkpoint. It
works beside a running monitor: the request is left in the state directory
and applied by the log's next checks (the next "monitor run" or "monitor
check" otherwise), which remove it when the index is whole again. Entries of
a Rekor v1 log's inactive shards are not re-read.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	dir := *stateDir
	switch {
	case *configFile != "" && dir != "":
		fmt.Fprintln(stderr, "monitor index rebuild: give --config or --state-dir, not both")
		return exitUsage
	case *configFile != "":
		cfg, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintf(stderr, "monitor index rebuild: %v\n", err)
			return exitUsage
		}
		if cfg.Index.Disabled {
			fmt.Fprintln(stderr, "monitor index rebuild: the configuration turns the index off (index.disabled)")
			return exitUsage
		}
		dir = cfg.StateDir
		names := map[string]bool{}
		for _, l := range cfg.Logs {
			names[l.Name] = true
		}
		if len(logs) == 0 {
			for _, l := range cfg.Logs {
				logs = append(logs, l.Name)
			}
		}
		for _, l := range logs {
			if !names[l] && !cfg.Trust.FollowShards {
				fmt.Fprintf(stderr, "monitor index rebuild: --log %s: the configuration has no such log\n", l)
				return exitUsage
			}
		}
	case dir == "":
		fmt.Fprintln(stderr, "monitor index rebuild: --config or --state-dir is required")
		return exitUsage
	}
	if len(logs) == 0 {
		fmt.Fprintln(stderr, "monitor index rebuild: --log is required with --state-dir")
		return exitUsage
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "monitor index rebuild: state directory %s does not exist: has the monitor run?\n", dir)
		return exitUsage
	}
	for _, l := range logs {
		if err := monitor.RequestRebuild(dir, l, *from, time.Now()); err != nil {
			fmt.Fprintf(stderr, "monitor index rebuild: --log %s: %v\n", l, err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "%s: index rebuild from entry %d requested; the monitor's next checks apply it\n", l, *from)
	}
	return exitOK
}
