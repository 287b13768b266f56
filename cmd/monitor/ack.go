package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/state"
)

// ack runs `monitor ack`: list the firing alert conditions, or acknowledge
// some by dedupe key. It works beside a running monitor: the request is
// applied by that monitor before its next check (or by the next monitor
// check).
func ack(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("monitor ack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		configFile = fs.String("config", "", "YAML configuration `file` (for its state_dir)")
		stateDir   = fs.String("state-dir", "", "the monitor's state `directory`")
		by         = fs.String("by", "", "who acknowledges (default: the user name)")
		why        = fs.String("note", "", "why: what was found, the incident ticket")
		list       = fs.Bool("list", false, "list the firing conditions and their dedupe keys")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: monitor ack (--config FILE | --state-dir DIR) [--by NAME] [--note TEXT] DEDUPE_KEY...
       monitor ack (--config FILE | --state-dir DIR) --list

An integrity violation stays firing until it is acknowledged, even when the
log verifies again: a proven fork stays proven. Acknowledging sends the
"recovered" event that resolves the alert; a running monitor applies it
before its next check of any log.

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
	dir := *stateDir
	switch {
	case *configFile != "" && dir != "":
		fmt.Fprintln(stderr, "monitor ack: give --config or --state-dir, not both")
		return exitUsage
	case *configFile != "":
		cfg, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintf(stderr, "monitor ack: %v\n", err)
			return exitUsage
		}
		dir = cfg.StateDir
	case dir == "":
		fmt.Fprintln(stderr, "monitor ack: --config or --state-dir is required")
		return exitUsage
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		fmt.Fprintf(stderr, "monitor ack: --state-dir %s is not a directory the monitor wrote\n", dir)
		return exitUsage
	}
	byLog, err := monitor.ReadFiring(state.FiringFile(dir))
	if err != nil {
		fmt.Fprintf(stderr, "monitor ack: %v\n", err)
		return exitUsage
	}
	var firing []alert.Event
	for _, evs := range byLog {
		for _, ev := range evs {
			firing = append(firing, ev)
		}
	}
	monitor.SortFiring(firing)
	if *list {
		if len(firing) == 0 {
			fmt.Fprintln(stdout, "no alert condition is firing")
			return exitOK
		}
		for _, ev := range firing {
			fmt.Fprintf(stdout, "%s\n  %s %s since %s: %s\n", ev.DedupeKey, ev.Log, ev.Kind, ev.Time.UTC().Format("2006-01-02T15:04:05Z"), ev.Summary)
		}
		return exitOK
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "monitor ack: name the dedupe key(s) to acknowledge (monitor ack --list shows them)")
		return exitUsage
	}
	who := *by
	if who == "" {
		who = os.Getenv("USER")
		if u, err := user.Current(); who == "" && err == nil {
			who = u.Username
		}
	}
	for _, key := range fs.Args() {
		if !slices.ContainsFunc(firing, func(ev alert.Event) bool { return ev.DedupeKey == key }) {
			keys := make([]string, len(firing))
			for i, ev := range firing {
				keys[i] = ev.DedupeKey
			}
			fmt.Fprintf(stderr, "monitor ack: %q is not a firing condition in %s; firing: %s\n", key, dir, orNone(strings.Join(keys, ", ")))
			return exitUsage
		}
	}
	for _, key := range fs.Args() {
		path, err := monitor.RequestAck(state.AckDir(dir), monitor.Ack{DedupeKey: key, By: who, Note: *why})
		if err != nil {
			fmt.Fprintf(stderr, "monitor ack: %v\n", err)
			return exitNoVerdict
		}
		fmt.Fprintf(stdout, "acknowledged %s (request %s); the monitor resolves the alert before its next check\n", key, path)
	}
	return exitOK
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
