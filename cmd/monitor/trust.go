package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/trust"
)

// trustCmd runs `monitor trust approve`: record the trust material
// distributed now as the approved baseline. A running monitor reads the
// baseline at its next trust check: changes it holds are informational,
// others critical.
func trustCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "approve" {
		fmt.Fprint(stderr, "usage: monitor trust approve --config FILE\n")
		return exitUsage
	}
	fs := flag.NewFlagSet("monitor trust approve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML configuration `file`")
	expect := fs.String("expect-sha256", "", "approve only if the trusted_root.json distributed now has this SHA-256 (`hex`, as the trust_changed event shows it): what was reviewed")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: monitor trust approve --config FILE [--expect-sha256 HEX]

Fetches the trust material (from the TUF mirror, verified from the pinned
root.json, or from trusted_root_file) and records it as the approved
baseline. Run it once a change of the trust material (a new log, key, CA)
is known good: trust_changed events that the baseline holds are then
informational, and vigil_trust_unapproved_changes drops to 0. Give
--expect-sha256 with the trusted_root.json hash of the trust_changed event
you reviewed: if the material changed again since, nothing is approved.

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
	if *configFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	cfg, err := config.Load(*configFile)
	if err != nil {
		fmt.Fprintf(stderr, "monitor trust approve: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	changes, err := monitor.ApproveTrust(ctx, cfg, newLogger(stderr, cfg.LogFormat, "warn"), *expect)
	if err != nil {
		fmt.Fprintf(stderr, "monitor trust approve: %v\n", err)
		var ue *trust.UpdateError
		if errors.As(err, &ue) {
			return exitNoVerdict
		}
		return exitUsage
	}
	for _, c := range changes {
		fmt.Fprintf(stdout, "approved: %s\n", c)
	}
	fmt.Fprintf(stdout, "trust baseline recorded in %s (%d change(s) from the previous one)\n", monitor.BaselineFile(cfg), len(changes))
	return exitOK
}
