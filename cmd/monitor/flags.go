package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/vigil-tlog/vigil/internal/config"
)

var errHelp = errors.New("help requested")

type options struct {
	cfg         *config.Config
	checkConfig bool
}

// parseFlags turns the command line into a complete, validated
// configuration: either --config FILE, or the single-log flags.
func parseFlags(cmd string, args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("monitor "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile  = fs.String("config", "", "YAML configuration `file` (several logs, identities, alerts)")
		checkConfig = fs.Bool("check-config", false, "only validate the configuration and exit (0 valid, 2 invalid)")
		stateDir    = fs.String("state-dir", "", "`directory` for the last verified checkpoint of each log (overrides the config)")
		listen      = fs.String("listen", "", "`address` for /metrics, /healthz and /readyz (run only; default "+config.DefaultListen+")")
		logFormat   = fs.String("log-format", "", "log format: json or text (default json)")
		logLevel    = fs.String("log-level", "", "log level: debug, info, warn or error (default info)")

		logURL      = fs.String("log-url", "", "base `URL` of the log (Rekor v1 API, or Rekor v2 tiles)")
		logKind     = fs.String("log-kind", string(config.KindRekorV1), "log kind: rekor-v1, rekor-v2, ct or static-ct")
		logName     = fs.String("log-name", "rekor", "`name` of the log in metrics, alerts and the state file (default ctlog for the CT kinds)")
		publicKey   = fs.String("public-key", "", "PEM public key `file` of the log")
		origin      = fs.String("origin", "", "checkpoint origin (rekor-v2) or signer hostname (rekor-v1); default: the URL's host")
		caFile      = fs.String("ca-file", "", "PEM CA bundle `file` to verify the log's TLS certificate")
		interval    = fs.Duration("interval", 0, "time between checks (default 30s)")
		schedule    = fs.String("schedule", "", "cron `spec` for checks instead of --interval (e.g. \"*/5 * * * *\" or \"@every 1m\")")
		staleness   = fs.Duration("staleness", 0, "alert when the log is not verified for this long (default 15m)")
		maxUnchange = fs.Duration("max-unchanged", 0, "alert when the checkpoint does not advance for this long (default off)")
		startCP     = fs.String("start-checkpoint", "", "signed checkpoint `file` to trust instead of trusting on first use")
		startIndex  = fs.Uint64("start-index", 0, "at first contact, match entries from this `index` on (overrides the config)")
		startAtEnd  = fs.Bool("start-at-end", false, "at first contact, scan only entries added from now on (overrides the config)")
		noScan      = fs.Bool("no-scan", false, "verify checkpoints only; do not scan entries (overrides the config)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: monitor %s [--config FILE | --log-url URL --public-key FILE ...] [flags]\n\nflags:\n", cmd)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, errHelp
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var cfg *config.Config
	if *configFile != "" {
		for _, n := range []string{"log-url", "log-kind", "log-name", "public-key", "origin", "ca-file", "interval", "schedule", "staleness", "max-unchanged", "start-checkpoint"} {
			if set[n] {
				return nil, fmt.Errorf("--%s cannot be combined with --config (set it in the file)", n)
			}
		}
		var err error
		if cfg, err = config.Read(*configFile); err != nil {
			return nil, err
		}
	} else {
		if *logURL == "" {
			return nil, errors.New("--config or --log-url is required")
		}
		if !set["log-name"] && config.Kind(*logKind).CertificateTransparency() {
			*logName = "ctlog"
		}
		cfg = &config.Config{
			Interval: config.Duration(*interval),
			Schedule: *schedule,
			Logs: []config.Log{{
				Name: *logName, Kind: config.Kind(*logKind), URL: *logURL, PublicKeyFile: *publicKey, Origin: *origin, CAFile: *caFile,
				Staleness: config.Duration(*staleness), MaxUnchanged: config.Duration(*maxUnchange), StartCheckpointFile: *startCP,
			}},
		}
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	if set["start-index"] {
		cfg.Scan.StartIndex, cfg.Scan.StartAtEnd = *startIndex, false
	}
	if *startAtEnd {
		cfg.Scan.StartAtEnd, cfg.Scan.StartIndex = true, 0
	}
	if *noScan {
		cfg.Scan.Disabled = true
	}
	if *logFormat != "" {
		cfg.LogFormat = *logFormat
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if err := cfg.Complete(); err != nil {
		if *configFile != "" {
			// Only the flags that override the file can be named.
			fields := map[string]string{}
			for field, flag := range overrideFlags {
				if set[flag] {
					fields[field] = flag
				}
			}
			return nil, fmt.Errorf("config %s: %w", *configFile, flagErrors(err, fields))
		}
		fields := map[string]string{}
		for field, flag := range overrideFlags {
			fields[field] = flag
		}
		for field, flag := range logFlags {
			fields[field] = flag
		}
		return nil, flagErrors(err, fields)
	}
	return &options{cfg: cfg, checkConfig: *checkConfig}, nil
}

// overrideFlags maps the config fields that flags set, with or without
// --config, to those flags.
var overrideFlags = map[string]string{
	"state_dir":        "state-dir",
	"listen":           "listen",
	"log_format":       "log-format",
	"log_level":        "log-level",
	"scan.start_index": "start-index",
}

// logFlags maps the fields of the configuration built from the single-log
// flags to those flags. The log inherits --interval and --schedule.
var logFlags = map[string]string{
	"interval":                      "interval",
	"schedule":                      "schedule",
	"logs[0].name":                  "log-name",
	"logs[0].kind":                  "log-kind",
	"logs[0].url":                   "log-url",
	"logs[0].public_key_file":       "public-key",
	"logs[0].origin":                "origin",
	"logs[0].ca_file":               "ca-file",
	"logs[0].staleness":             "staleness",
	"logs[0].max_unchanged":         "max-unchanged",
	"logs[0].start_checkpoint_file": "start-checkpoint",
	"logs[0].interval":              "interval",
	"logs[0].schedule":              "schedule",
}

// flagErrors renames the fields of err's *config.FieldErrors that fields
// maps to a flag, so that the user reads the flag they typed:
//
//	--state-dir: required
//	--log-kind: logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct
//
// A field path that is not just the flag's own name stays in the message:
// it is what to write in a config file. Errors the same after renaming
// are reported once. The result joins one *config.FieldError per error.
func flagErrors(err error, fields map[string]string) error {
	var errs []string
	var out []error
	for _, e := range config.Errors(err) {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			if flag, ok := fields[fe.Field]; ok {
				inner := fe.Err
				if fe.Field != strings.ReplaceAll(flag, "-", "_") {
					inner = fe
				}
				e = &config.FieldError{Field: "--" + flag, Err: inner}
			}
		}
		if slices.Contains(errs, e.Error()) {
			continue
		}
		errs = append(errs, e.Error())
		out = append(out, e)
	}
	return errors.Join(out...)
}
