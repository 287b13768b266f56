// Command monitor watches Rekor transparency logs: it verifies their signed
// checkpoints and consistency proofs, keeps the last verified checkpoint
// crash-safe, scans new entries for watched identities, exports Prometheus
// metrics and sends alerts that carry their evidence.
//
//	monitor run   [flags]   long-running service
//	monitor check [flags]   one-shot: fetch, verify, persist, exit
//	monitor test-alert --config FILE
//	monitor ack --config FILE DEDUPE_KEY...
//	monitor trust approve --config FILE
//	monitor witness keygen --name NAME --out FILE [--url URL]
//	monitor version
//
// Exit codes of check: 0 verified, 1 integrity violation, 2 usage or
// configuration error (including a log whose first checkpoint does not
// verify with the configured key), 3 log unreachable or answering garbage
// (no verdict).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-tlog/vigil/internal/monitor"
)

// Exit codes.
const (
	exitOK        = 0
	exitViolation = 1
	exitUsage     = 2
	exitNoVerdict = 3
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "version", "--version":
		fmt.Fprintln(stdout, "vigil monitor", monitor.Version())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	case "ack":
		return ack(args, stdout, stderr)
	case "trust":
		return trustCmd(args, stdout, stderr)
	case "search":
		return searchCmd(args, stdout, stderr)
	case "index":
		return indexCmd(args, stdout, stderr)
	case "witness":
		return witnessCmd(args, stdout, stderr)
	case "audit-bundle":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return auditBundleMain(ctx, args, stdout, stderr)
	case "run", "check", "test-alert":
	default:
		fmt.Fprintf(stderr, "monitor: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
	opts, err := parseFlags(cmd, args, stderr)
	if err != nil {
		if errors.Is(err, errHelp) {
			return exitOK
		}
		fmt.Fprintln(stderr, "monitor:", err)
		return exitUsage
	}
	if opts.checkConfig {
		for _, w := range opts.cfg.Warnings() {
			fmt.Fprintln(stderr, "monitor: warning:", w)
		}
		fmt.Fprintf(stdout, "configuration OK: %d log(s)\n", len(opts.cfg.Logs))
		return exitOK
	}
	logger := newLogger(stderr, opts.cfg.LogFormat, opts.cfg.LogLevel)
	setMemoryLimit(opts.cfg.Scan.MemoryBudget.Int64(), logger)
	for _, w := range opts.cfg.Warnings() {
		field, msg, _ := strings.Cut(w, ": ")
		logger.Warn(msg, "field", field)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	app, err := monitor.NewApp(ctx, opts.cfg, logger)
	if err != nil {
		logger.Error("cannot start", "err", err)
		var ue *monitor.UnavailableError
		if errors.As(err, &ue) {
			return exitNoVerdict
		}
		return exitUsage
	}
	defer app.Close()

	switch cmd {
	case "check":
		return checkExit(app.Check(ctx, 10*time.Second), stdout)
	case "test-alert":
		return testAlert(ctx, app, stdout)
	}
	ln, err := net.Listen("tcp", opts.cfg.Listen)
	if err != nil {
		logger.Error("cannot listen", "addr", opts.cfg.Listen, "err", err)
		return exitUsage
	}
	if err := app.Run(ctx, ln); err != nil && ctx.Err() == nil {
		logger.Error("monitor stopped", "err", err)
		return exitNoVerdict
	}
	logger.Info("monitor stopped")
	return exitOK
}

// testAlert sends the sample event through every sink and reports each.
func testAlert(ctx context.Context, app *monitor.App, stdout io.Writer) int {
	code := exitOK
	for _, r := range app.TestAlert(ctx) {
		status := "sent"
		if r.Err != nil {
			status, code = "FAILED: "+r.Err.Error(), exitNoVerdict
		}
		fmt.Fprintf(stdout, "sink %s: %s\n", r.Sink, status)
	}
	return code
}

// checkExit prints one line per log and chooses the exit code: a violation
// anywhere wins over no verdict, which wins over verified.
func checkExit(outs []monitor.Outcome, stdout io.Writer) int {
	code := exitOK
	for _, o := range outs {
		switch o.Result() {
		case monitor.ResultVerified:
			note := ""
			if o.TOFU {
				note = " (trusted on first use)"
			}
			fmt.Fprintf(stdout, "%s: verified %s%s\n", o.Log, o.Checkpoint, note)
		case monitor.ResultViolation:
			fmt.Fprintf(stdout, "%s: INTEGRITY VIOLATION: %v\n", o.Log, o.Err)
			code = exitViolation
		case monitor.ResultMisconfigured:
			fmt.Fprintf(stdout, "%s: CONFIGURATION ERROR: %v\n", o.Log, o.Err)
			if code != exitViolation {
				code = exitUsage
			}
		default:
			fmt.Fprintf(stdout, "%s: no verdict: %v\n", o.Log, o.Err)
			if code == exitOK {
				code = exitNoVerdict
			}
		}
	}
	return code
}

// setMemoryLimit gives the Go runtime a soft memory limit when GOMEMLIMIT
// does not set one: twice the scan's memory budget plus 64 MiB (192 MiB by
// default, under the chart's 256Mi pod limit), so that the collector works
// harder before a burst of large log answers and the alerts they cause can
// push the process into its container's limit.
func setMemoryLimit(budget int64, logger *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" || budget <= 0 {
		return
	}
	limit := 2*budget + 64<<20
	debug.SetMemoryLimit(limit)
	logger.Debug("soft memory limit set from scan.memory_budget (GOMEMLIMIT overrides it)", "bytes", limit)
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level)) // validated by config
	opts := &slog.HandlerOptions{Level: lv}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

const usage = `usage: monitor <command> [flags]

commands:
  run         watch the logs until SIGTERM/SIGINT, serving /metrics, /healthz, /readyz,
              the page (/) and the search API (/api/v1/search)
  check       check every log once: fetch, verify, persist, exit
  test-alert  send a sample event through every configured alert sink
  ack         acknowledge a firing alert condition (integrity violations stay
              firing until acknowledged); --list shows them
  trust approve
              record the trust material distributed now as the approved baseline
  search      ask a running monitor's index: what did an identity sign, who
              signed a digest (--subject, --digest, --fingerprint, ...)
  index rebuild
              drop a log's search index from an entry on and re-read it from the log
  witness keygen
              create the key of the C2SP witness (witness.key_file) and print
              the witness policy for rekor-tiles
  audit-bundle
              prove the checkpoints in Sigstore bundles consistent with what the
              monitor verified (split views)
  version     print the version

Run "monitor <command> -h" for the flags. Exit codes of check: 0 verified,
1 integrity violation, 2 usage or configuration error, 3 log unreachable or
answering garbage (no verdict).
`
