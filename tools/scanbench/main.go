// Command scanbench measures how fast the monitor catches up on the logs of
// the local Sigstore stack (scripts/stack/up.sh), against what the log servers
// themselves can serve. `make bench` (scripts/bench.sh) runs it after loadgen
// has filled the logs.
//
//	scanbench -env $VIGIL_CACHE/stack/env -log all -rules 20 -runs 3
//
// -log names the logs: v1 (Rekor v1), v2 (Rekor v2), ct (the CT log,
// ct_server, RFC 6962 API), static-ct (the static-ct-api log, tesseract),
// a comma-separated list of them, both (v1,v2) or all (the four). For each
// log it measures, best of -runs:
//
//   - ceiling: a plain client with -ceiling-workers parallel requests reads
//     every entry of the log as fast as it can, without verifying or
//     parsing anything (Rekor v1: POST /api/v1/log/entries/retrieve, 10 log
//     indexes per request; Rekor v2: GET tile/entries bundles; ct: GET
//     get-entries, asking again for the rest of a short answer, once with
//     each -ct-batch size of request, the faster counting: by default 256,
//     what the monitor asks for, and 1000, the most ct_server answers;
//     static-ct: GET tile/data tiles, their TileLeafs counted). This is
//     what the local server can serve on this machine, in this run.
//   - vigil: a full catch-up scan, as the monitor does it on first start
//     with scan.start_index 0: monitor.NewApp with a fresh state directory
//     and -rules identity rules (watch and expect), then CheckOnce, which
//     verifies the checkpoint, hashes every entry into a compact range proven
//     against the signed root, and parses and matches every entry. The rate
//     is entries scanned (vigil_log_entries_scanned_total) over wall time.
//   - peak RSS: the scan runs in a child process (scanbench re-executes
//     itself with -child), which reports its peak resident set (VmHWM in
//     /proc/self/status) at the end of the scan.
//   - the search index: the monitor indexes every entry it scans (config
//     index, on by default: SQLite at <state_dir>/.index.sqlite). -index
//     on (the default) scans as configured by default, -index off with
//     index.disabled, and -index both does both in each run, index on
//     first, so that each run's pair sees the same load: the rows then
//     also hold both rates, their ratio (target: with the index at least
//     80% of the speed without it, for Rekor v1 and v2; ct and static-ct
//     are reported without a target) and the SQLite file's size per entry
//     indexed (the file and its -wal after the child has closed the
//     monitor, which checkpoints the WAL into the file; not vacuumed, as a
//     monitor leaves it). The row's other figures are those of the index
//     on, except with -index off.
//
// -last N measures the last N entries of each log only (the ceiling reads
// from there, the bundle or tile holding the first of them, and the Vigil
// scans start there with scan.start_index), for a quick run.
//
// With -alerts N it measures instead what alerts cost a catch-up: the full
// scan, queueing and delivery (through the log sink, JSON to io.Discard) of
// N entries that all match a watch rule, against the same N entries with a
// rule that matches nothing, best of -runs each, and their ratio (target:
// at most 1.2). The N entries are the last N of each log, or those from
// -alerts-start ("v1=S v2=S", as -sizes prints before they were added);
// scripts/bench.sh adds them with `loadgen -mix cert -san ` + alertSubject.
// The child times from the start of CheckOnce (with the outbox running, as
// in `monitor run`) until the outbox is empty.
//
// -alerts measures Rekor v1 and v2 only.
//
// -sizes prints the logs' current tree sizes (v1=N v2=N ct=N static-ct=N)
// and exits.
// -cpuprofile P writes the CPU profile of each child's scan to P.<log>
// (P.<log>.noindex for those without the index).
// Output is a table, one row per log; -json prints the rows as JSON lines
// instead. Exit status: 0 measured, 1 a measurement failed, 2 usage error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/monitor"
	"github.com/vigil-tlog/vigil/internal/stack"
)

func main() { os.Exit(run()) }

type options struct {
	env            stack.Env
	envFile        string
	workers        int
	ceilingWorkers int
	ctBatch        uint64   // entries per get-entries request of the ct ceiling
	ctBatches      []uint64 // -ct-batch
	chunk          uint64
	rules          int
	runs           int
	cpuprofile     string
	memprofile     string
	watchHits      bool
	logLevel       slog.Level
	alerts         int
	alertsStart    map[string]uint64
	alertsMatch    bool   // child: the rule matches the entries
	start          uint64 // child: scan.start_index; ceiling: the first entry
	index          string // -index: on, off or both
	noIndex        bool   // child: index.disabled
	last           uint64 // -last
}

func run() int {
	var (
		envFile        = flag.String("env", stack.EnvFile(), "stack env file written by scripts/stack/up.sh")
		logs           = flag.String("log", "both", "logs to measure: v1, v2, ct, static-ct, a comma-separated list of them, both (v1,v2) or all")
		workers        = flag.Int("workers", 16, "scan.workers of the monitor (parallel entry requests)")
		ceilingWorkers = flag.Int("ceiling-workers", 16, "parallel requests of the plain ceiling client")
		ctBatch        = flag.String("ct-batch", fmt.Sprintf("%d,%d", monitorCTBatch, ctServerMaxGetEntries), "entries per get-entries request of the ct ceiling client: a comma-separated list, each measured, the fastest kept (ct_server serves at most 1000)")
		chunk          = flag.Uint64("chunk", 0, "scan.chunk of the monitor (0: the monitor's default)")
		rules          = flag.Int("rules", 20, "identity rules (watch and expect) to match every entry against")
		runs           = flag.Int("runs", 3, "measure each figure this many times and keep the best")
		cpuprofile     = flag.String("cpuprofile", "", "write the CPU profile of each Vigil scan to `FILE`.<log> (FILE.<log>.noindex without the index)")
		memprofile     = flag.String("memprofile", "", "write a heap profile at the end of each Vigil scan to `FILE`.<log> (FILE.<log>.noindex without the index)")
		logLevel       = flag.String("log-level", "error", "level of the monitor's own log lines (to stderr): debug, info, warn, error")
		watchHits      = flag.Bool("watch-hits", false, "make one watch rule match every fifth certificate entry of loadgen (an alert-heavy scan)")
		asJSON         = flag.Bool("json", false, "print one JSON object per log instead of a table")
		timeout        = flag.Duration("timeout", 30*time.Minute, "give up after this long")
		sizes          = flag.Bool("sizes", false, "print the current tree sizes as v1=N v2=N ct=N static-ct=N and exit")
		child          = flag.String("child", "", "internal: run one Vigil scan of log v1, v2, ct or static-ct and print its result as JSON")
		alerts         = flag.Int("alerts", 0, "measure a catch-up over `N` entries that all match a watch rule against one over the same entries matching nothing")
		alertsStart    = flag.String("alerts-start", "", "first index of the -alerts entries per log, as \"v1=S v2=S\" as -sizes prints it (default: the last N entries)")
		alertsMatch    = flag.Bool("alerts-match", false, "internal: in a child, watch the entries' identity")
		start          = flag.Uint64("start", 0, "internal: scan.start_index of a child")
		indexMode      = flag.String("index", "on", "scan with the search index on (the monitor's default), off (index.disabled), or both, in turn in each run, and compare them")
		noIndex        = flag.Bool("no-index", false, "internal: in a child, scan with index.disabled")
		last           = flag.Uint64("last", 0, "measure only the last `N` entries of each log (0: all of them)")
	)
	flag.Parse()
	ctBatches, err := parseBatches(*ctBatch)
	if flag.NArg() > 0 || *workers <= 0 || *ceilingWorkers <= 0 || err != nil || *rules < 0 || *runs <= 0 ||
		!slices.Contains([]string{"on", "off", "both"}, *indexMode) {
		if err != nil {
			fmt.Fprintf(os.Stderr, "scanbench: -ct-batch: %v\n", err)
		}
		flag.Usage()
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "scanbench: -log-level: %v\n", err)
		return 2
	}
	env, err := stack.ReadEnv(*envFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scanbench: reading stack env: %v (run scripts/stack/up.sh)\n", err)
		return 2
	}
	opts := options{env: env, envFile: *envFile, workers: *workers, ceilingWorkers: *ceilingWorkers, ctBatches: ctBatches, chunk: *chunk,
		rules: *rules, runs: *runs, cpuprofile: *cpuprofile, memprofile: *memprofile, watchHits: *watchHits, logLevel: level,
		alerts: *alerts, alertsMatch: *alertsMatch, start: *start, alertsStart: map[string]uint64{},
		index: *indexMode, noIndex: *noIndex, last: *last}
	for _, kv := range strings.Fields(*alertsStart) {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || !slices.Contains(allLogs, k) {
			fmt.Fprintf(os.Stderr, "scanbench: -alerts-start: %q is not v1=N, v2=N, ct=N or static-ct=N\n", kv)
			return 2
		}
		opts.alertsStart[k] = n
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	if *sizes {
		if err := printSizes(ctx, env); err != nil {
			fmt.Fprintf(os.Stderr, "scanbench: %v\n", err)
			return 1
		}
		return 0
	}
	if *child != "" {
		if err := runChild(ctx, opts, *child); err != nil {
			fmt.Fprintf(os.Stderr, "scanbench: scanning %s: %v\n", *child, err)
			return 1
		}
		return 0
	}

	which, err := parseLogs(*logs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scanbench: -log: %v\n", err)
		return 2
	}
	if opts.alerts > 0 {
		if opts.last > 0 || opts.index == "both" {
			fmt.Fprintln(os.Stderr, "scanbench: -alerts takes neither -last nor -index both")
			return 2
		}
		opts.noIndex = opts.index == "off"
		for _, kind := range which {
			if kind != "v1" && kind != "v2" {
				fmt.Fprintf(os.Stderr, "scanbench: -alerts measures Rekor v1 and v2 only, not %s\n", kind)
				return 2
			}
		}
		return runAlerts(ctx, opts, which, *asJSON)
	}
	var rows []row
	failed := false
	for _, kind := range which {
		r, err := measure(ctx, opts, kind)
		if err != nil {
			fmt.Fprintf(os.Stderr, "scanbench: %s: %v\n", kind, err)
			failed = true
			continue
		}
		rows = append(rows, r)
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetEscapeHTML(false)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(os.Stderr, "scanbench: %v\n", err)
				return 1
			}
		}
	} else {
		printTable(os.Stdout, rows)
	}
	if failed {
		return 1
	}
	return 0
}

// allLogs are the logs scanbench measures, in the order of -log all.
var allLogs = []string{"v1", "v2", "ct", "static-ct"}

// parseLogs reads -log: a comma-separated list of v1, v2, ct and
// static-ct, or both (v1,v2) or all.
func parseLogs(s string) ([]string, error) {
	switch s {
	case "both":
		return []string{"v1", "v2"}, nil
	case "all":
		return slices.Clone(allLogs), nil
	}
	var out []string
	for l := range strings.SplitSeq(s, ",") {
		l = strings.TrimSpace(l)
		if !slices.Contains(allLogs, l) {
			return nil, fmt.Errorf("%q: want v1, v2, ct, static-ct, a comma-separated list of them, both or all", l)
		}
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out, nil
}

// logName is the name of a log in the results: rekor-v1, rekor-v2, ct,
// static-ct.
func logName(kind string) string {
	if kind == "v1" || kind == "v2" {
		return "rekor-" + kind
	}
	return kind
}

// row is the result for one log.
type row struct {
	Log            string `json:"log"`
	Entries        uint64 `json:"entries"`
	Rules          int    `json:"rules"`
	CeilingWorkers int    `json:"ceiling_workers"`
	// CeilingBatch is the entries per request of the ceiling client
	// (ct), or per tile or bundle (v2, static-ct: 256).
	CeilingBatch uint64  `json:"ceiling_batch,omitempty"`
	Workers      int     `json:"workers"`
	CeilingRate  float64 `json:"ceiling_entries_per_second"`
	VigilRate    float64 `json:"vigil_entries_per_second"`
	VigilCPURate float64 `json:"vigil_entries_per_cpu_second"`
	RatioPercent float64 `json:"ratio_percent"`
	// PairedRatioPercent is the median over the runs of each run's Vigil
	// rate against the ceiling measured just before it: less sensitive to
	// other load that comes and goes than RatioPercent (best against
	// best), which the target is held to. Information only.
	PairedRatioPercent float64 `json:"paired_ratio_percent"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	Matches            float64 `json:"watch_matches"`
	Unexpected         float64 `json:"unexpected"`
	Malformed          float64 `json:"malformed"`
	Target             string  `json:"target"`
	Met                bool    `json:"target_met"`
	// Index says how the figures above were measured: "on" (the
	// monitor's default configuration, also with -index both) or "off"
	// (index.disabled).
	Index string `json:"index"`
	// The search index (-index on or both): entries added to it, the
	// SQLite file's size (with its -wal, after the monitor closed it)
	// and that size per entry, from the fastest run with the index on.
	IndexEntries       uint64  `json:"index_entries,omitempty"`
	IndexBytes         int64   `json:"index_bytes,omitempty"`
	IndexBytesPerEntry float64 `json:"index_bytes_per_entry,omitempty"`
	// The best rates with the index on and off, each when measured
	// (one of them is VigilRate), the worst peak RSS with it off; with
	// -index both, their ratio (the target's figure, for Rekor v1 and
	// v2) and the median over the runs of each run's ratio (information
	// only).
	IndexRate         float64 `json:"index_entries_per_second,omitempty"`
	IndexCPURate      float64 `json:"index_entries_per_cpu_second,omitempty"`
	NoIndexRate       float64 `json:"noindex_entries_per_second,omitempty"`
	NoIndexCPURate    float64 `json:"noindex_entries_per_cpu_second,omitempty"`
	NoIndexPeakRSSMiB float64 `json:"noindex_peak_rss_mib,omitempty"`
	IndexRatioPercent float64 `json:"index_ratio_percent,omitempty"`
	IndexPairedRatio  float64 `json:"index_paired_ratio_percent,omitempty"`
	IndexTarget       string  `json:"index_target,omitempty"`
	IndexMet          *bool   `json:"index_target_met,omitempty"`
}

// Targets of issue 3: Rekor v1 at >= 90% of what the server serves, Rekor
// v2 at >= 100,000 entries/s, peak RSS under 100 MiB; and of the CT
// issue: ct and static-ct at >= 90% of what their servers serve (ct_server
// to a plain parallel get-entries client, the tile server to a plain
// parallel data tile reader), peak RSS under 100 MiB.
const (
	v1MinRatio = 90.0
	v2MinRate  = 100_000.0
	ctMinRatio = 90.0
	maxRSSMiB  = 100.0
)

// indexMinRatio is the target of the search index's issue: a catch-up of
// Rekor v1 or v2 with the index on runs at least this percentage of the
// speed of one without it.
const indexMinRatio = 80.0

// ctServerMaxGetEntries is ct_server's default --max_get_entries: the most
// entries one get-entries answer holds; monitorCTBatch is what the monitor
// asks for (internal/ctlog's batch).
const (
	ctServerMaxGetEntries = 1000
	monitorCTBatch        = 256
)

// parseBatches reads -ct-batch: a comma-separated list of batch sizes.
func parseBatches(s string) ([]uint64, error) {
	var out []uint64
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("%q is not a positive number of entries", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// indexModes returns the child's index.disabled of each Vigil scan of a
// run for -index mode: on first, so that "on" is the row's figures.
func indexModes(mode string) []bool {
	switch mode {
	case "off":
		return []bool{true}
	case "both":
		return []bool{false, true}
	}
	return []bool{false}
}

// best is the fastest of the Vigil scans with one index setting, and the
// worst peak RSS over them.
type best struct {
	rate, cpuRate float64
	res           *childResult
	peakRSSMiB    float64
}

func (b *best) add(res *childResult, rss float64) {
	rate := float64(res.Scanned) / res.Seconds
	if rate > b.rate {
		b.rate, b.cpuRate, b.res = rate, float64(res.Scanned)/res.CPUSeconds, res
	}
	// Peak memory: the worst run counts.
	b.peakRSSMiB = max(b.peakRSSMiB, rss)
}

func measure(ctx context.Context, opts options, kind string) (row, error) {
	r := row{Log: logName(kind), Rules: opts.rules, CeilingWorkers: opts.ceilingWorkers, Workers: opts.workers, Index: "on"}
	if opts.index == "off" {
		r.Index = "off"
	}
	batches := []uint64{0} // one ceiling client per run
	switch kind {
	case "ct":
		batches = opts.ctBatches
	case "v2", "static-ct":
		r.CeilingBatch = layout.EntryBundleWidth
	case "v1":
		r.CeilingBatch = 10
	}
	if opts.last > 0 {
		size, err := treeSize(ctx, &http.Client{Timeout: 30 * time.Second}, opts.env, kind)
		if err != nil {
			return r, err
		}
		opts.start = size - min(opts.last, size)
	}
	var (
		on, off             best
		paired, pairedIndex []float64
	)
	for i := range opts.runs {
		runCeiling := 0.0
		for _, b := range batches {
			opts.ctBatch = b
			n, d, err := ceiling(ctx, opts, kind)
			if err != nil {
				return r, fmt.Errorf("measuring the ceiling: %w", err)
			}
			rate := float64(n) / d.Seconds()
			per := ""
			if b > 0 {
				per = fmt.Sprintf(" (%d per request)", b)
			}
			fmt.Fprintf(os.Stderr, "scanbench: %s run %d: ceiling%s %d entries in %v = %.0f entries/s\n", kind, i+1, per, n, d.Round(time.Millisecond), rate)
			runCeiling = max(runCeiling, rate)
			if rate > r.CeilingRate {
				r.CeilingRate = rate
				if b > 0 {
					r.CeilingBatch = b
				}
			}
		}

		runOn := 0.0 // this run's rate with the index on
		for _, noIndex := range indexModes(opts.index) {
			opts.noIndex = noIndex
			res, rss, err := spawn(ctx, opts, kind)
			if err != nil {
				return r, fmt.Errorf("running the Vigil scan: %w", err)
			}
			rate := float64(res.Scanned) / res.Seconds
			var what, idx string
			if noIndex {
				what = "vigil, index off,"
				if runOn > 0 {
					pairedIndex = append(pairedIndex, 100*runOn/rate)
					idx = fmt.Sprintf(", the index on ran at %.1f%% of this", pairedIndex[len(pairedIndex)-1])
				}
				off.add(res, rss)
			} else {
				what = "vigil, index on,"
				runOn = rate
				idx = fmt.Sprintf(", %d entries indexed in %d bytes (%.0f bytes/entry)", res.IndexEntries, res.IndexBytes, perEntry(res))
				if res.IndexWriteErrors > 0 || res.IndexEntries != res.Scanned {
					fmt.Fprintf(os.Stderr, "scanbench: %s run %d: %d of %d entries indexed, %.0f index write errors\n", kind, i+1, res.IndexEntries, res.Scanned, res.IndexWriteErrors)
				}
				on.add(res, rss)
			}
			if opts.index != "both" || !noIndex {
				paired = append(paired, 100*rate/runCeiling)
			}
			fmt.Fprintf(os.Stderr, "scanbench: %s run %d: %s %d entries in %.3fs = %.0f entries/s (%.3f CPU-s, %.1f%% of this run's ceiling), RSS %.1f MiB before the scan, peak %.1f MiB, %.0f watch matches, %.0f unexpected%s\n",
				kind, i+1, what, res.Scanned, res.Seconds, rate, res.CPUSeconds, 100*rate/runCeiling, float64(res.BaseRSSKiB)/1024, rss, res.Matches, res.Unexpected, idx)
		}
	}
	primary := &on
	if opts.index == "off" {
		primary = &off
	}
	res := primary.res
	r.VigilRate, r.VigilCPURate, r.PeakRSSMiB = primary.rate, primary.cpuRate, primary.peakRSSMiB
	r.Entries, r.Matches, r.Unexpected, r.Malformed = res.Scanned, res.Matches, res.Unexpected, res.Malformed
	r.RatioPercent = 100 * r.VigilRate / r.CeilingRate
	r.PairedRatioPercent = median(paired)
	switch kind {
	case "v1":
		r.Target = fmt.Sprintf(">= %.0f%% of ceiling; RSS < %.0f MiB", v1MinRatio, maxRSSMiB)
		r.Met = r.RatioPercent >= v1MinRatio
	case "v2":
		r.Target = fmt.Sprintf(">= %.0f e/s; RSS < %.0f MiB", v2MinRate, maxRSSMiB)
		r.Met = r.VigilRate >= v2MinRate
	default: // ct, static-ct
		r.Target = fmt.Sprintf(">= %.0f%% of ceiling; RSS < %.0f MiB", ctMinRatio, maxRSSMiB)
		r.Met = r.RatioPercent >= ctMinRatio
	}
	r.Met = r.Met && r.PeakRSSMiB < maxRSSMiB
	if on.res != nil {
		r.IndexRate, r.IndexCPURate = on.rate, on.cpuRate
		r.IndexEntries, r.IndexBytes, r.IndexBytesPerEntry = on.res.IndexEntries, on.res.IndexBytes, perEntry(on.res)
	}
	if off.res != nil {
		r.NoIndexRate, r.NoIndexCPURate, r.NoIndexPeakRSSMiB = off.rate, off.cpuRate, off.peakRSSMiB
	}
	if on.res != nil && off.res != nil {
		r.IndexRatioPercent = 100 * on.rate / off.rate
		r.IndexPairedRatio = median(pairedIndex)
		if kind == "v1" || kind == "v2" {
			r.IndexTarget = fmt.Sprintf(">= %.0f%% of the rate without the index", indexMinRatio)
			met := r.IndexRatioPercent >= indexMinRatio
			r.IndexMet = &met
		}
	}
	return r, nil
}

// perEntry is the index file's size per entry indexed of a child's scan
// (0 when it indexed nothing).
func perEntry(res *childResult) float64 {
	if res.IndexEntries == 0 {
		return 0
	}
	return float64(res.IndexBytes) / float64(res.IndexEntries)
}

// median returns the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	xs = slices.Sorted(slices.Values(xs))
	if n := len(xs); n%2 == 0 {
		return (xs[n/2-1] + xs[n/2]) / 2
	}
	return xs[len(xs)/2]
}

func printTable(w io.Writer, rows []row) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "log\tentries\trules\tceiling e/s\tvigil e/s\tratio\tpaired\tvigil e/cpu-s\tpeak RSS\talerts\ttarget\tmet\tindex\tno index e/s\tindex ratio\tindex met\tindex B/entry\t")
	for _, r := range rows {
		met := "no"
		if r.Met {
			met = "yes"
		}
		noIndex, ratio, indexMet, perEntry := "-", "-", "-", "-"
		if r.NoIndexRate > 0 && r.Index == "on" {
			noIndex = fmt.Sprintf("%.0f", r.NoIndexRate)
			ratio = fmt.Sprintf("%.1f%%", r.IndexRatioPercent)
		}
		if r.IndexMet != nil {
			indexMet = map[bool]string{true: "yes", false: "no"}[*r.IndexMet]
		}
		if r.IndexEntries > 0 {
			perEntry = fmt.Sprintf("%.0f", r.IndexBytesPerEntry)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.1f%%\t%.1f%%\t%.0f\t%.1f MiB\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Log, r.Entries, r.Rules, r.CeilingRate, r.VigilRate, r.RatioPercent, r.PairedRatioPercent, r.VigilCPURate, r.PeakRSSMiB, r.Matches+r.Unexpected+r.Malformed, r.Target, met,
			r.Index, noIndex, ratio, indexMet, perEntry)
	}
	tw.Flush()
}

// spawn runs one Vigil scan in a child process and returns its result and
// peak RSS in MiB.
func spawn(ctx context.Context, opts options, kind string) (*childResult, float64, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, 0, fmt.Errorf("finding own executable: %w", err)
	}
	args := []string{"-child", kind, "-env", opts.envFile, "-workers", strconv.Itoa(opts.workers),
		"-chunk", strconv.FormatUint(opts.chunk, 10), "-rules", strconv.Itoa(opts.rules), "-log-level", opts.logLevel.String()}
	if opts.cpuprofile != "" {
		args = append(args, "-cpuprofile", opts.cpuprofile)
	}
	if opts.memprofile != "" {
		args = append(args, "-memprofile", opts.memprofile)
	}
	if opts.watchHits {
		args = append(args, "-watch-hits")
	}
	if opts.start > 0 {
		args = append(args, "-start", strconv.FormatUint(opts.start, 10))
	}
	if opts.noIndex {
		args = append(args, "-no-index")
	}
	if opts.alerts > 0 {
		args = append(args, "-alerts", strconv.Itoa(opts.alerts))
		if opts.alertsMatch {
			args = append(args, "-alerts-match")
		}
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("child %s: %w", exe, err)
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, 0, fmt.Errorf("decoding child result %q: %w", out, err)
	}
	return &res, float64(res.PeakRSSKiB) / 1024, nil
}

// procStatus returns a field of /proc/self/status in KiB: VmHWM is the
// process's peak resident set, VmRSS the current one. (The child's
// ru_maxrss is no good for the peak: Linux carries the parent's peak over
// into it when the child is started with vfork+exec, as os/exec does.)
func procStatus(field string) (uint64, error) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", field, err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
			kb, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing %s %q: %w", field, v, err)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}

// childResult is what a child prints.
type childResult struct {
	TreeSize   uint64  `json:"tree_size"`
	Scanned    uint64  `json:"scanned"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Matches    float64 `json:"watch_matches"`
	Unexpected float64 `json:"unexpected"`
	Malformed  float64 `json:"malformed"`
	PeakRSSKiB uint64  `json:"peak_rss_kib"`
	// BaseRSSKiB is the resident set before the scan (after NewApp).
	BaseRSSKiB uint64 `json:"base_rss_kib"`
	// Delivered counts events the log sink took (-alerts).
	Delivered float64 `json:"delivered"`
	// IndexEntries counts the entries added to the search index, and
	// IndexWriteErrors the failed writes (each a gap, left unfilled:
	// this check does not backfill it). IndexBytes is the size of the
	// SQLite file and its -wal once the monitor is closed.
	IndexEntries     uint64  `json:"index_entries"`
	IndexWriteErrors float64 `json:"index_write_errors"`
	IndexBytes       int64   `json:"index_bytes"`
}

// runChild scans one log from index 0 (or -start) with a fresh state
// directory and prints a childResult.
func runChild(ctx context.Context, opts options, kind string) error {
	lc, err := logConfig(opts.env, kind)
	if err != nil {
		return err
	}
	rules, err := benchRules(opts.env, opts.rules, opts.watchHits)
	if err != nil {
		return err
	}
	if opts.alerts > 0 {
		// Watch rules only (no expect rules: nothing is unexpected), one of
		// which matches every entry, or none.
		subject := `nobody@example\.invalid`
		if opts.alertsMatch {
			subject = regexp.QuoteMeta(alertSubject)
		}
		rules = identity.Config{Watch: append([]identity.Rule{{Name: "ci", Subject: subject}}, benchRulesWatch(opts.env, opts.rules-1)...)}
	}
	dir, err := os.MkdirTemp("", "scanbench-state-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := &config.Config{
		StateDir:   dir,
		Logs:       []config.Log{lc},
		Identities: rules,
		Scan:       config.Scan{StartIndex: opts.start, Workers: opts.workers, Chunk: opts.chunk},
		Index:      config.Index{Disabled: opts.noIndex},
	}
	if err := cfg.Complete(); err != nil {
		return fmt.Errorf("completing configuration: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: opts.logLevel}))
	if opts.alerts > 0 {
		// The default log sink writes every alert as a JSON line, as in
		// production, to nowhere.
		logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	app, err := monitor.NewApp(ctx, cfg, logger)
	if err != nil {
		return fmt.Errorf("building the monitor: %w", err)
	}
	open := true
	defer func() {
		if open {
			app.Close()
		}
	}()

	if opts.cpuprofile != "" {
		f, err := os.Create(profileName(opts, opts.cpuprofile, kind))
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("starting CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	baseRSS, err := procStatus("VmRSS")
	if err != nil {
		return err
	}
	cpu0, err := cpuTime()
	if err != nil {
		return err
	}
	start := time.Now()
	var (
		delivered chan struct{}
		stopRun   context.CancelFunc
	)
	if opts.alerts > 0 {
		var rctx context.Context
		rctx, stopRun = context.WithCancel(ctx)
		delivered = make(chan struct{})
		go func() { _ = app.Deliver(rctx); close(delivered) }()
	}
	outs := app.CheckOnce(ctx)
	if opts.alerts > 0 {
		for app.Queued() > 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	if stopRun != nil {
		stopRun()
		<-delivered
	}
	cpu1, err := cpuTime()
	if err != nil {
		return err
	}
	if opts.memprofile != "" {
		if err := writeHeapProfile(profileName(opts, opts.memprofile, kind)); err != nil {
			return err
		}
	}
	if len(outs) != 1 {
		return fmt.Errorf("CheckOnce returned %d outcomes, want 1", len(outs))
	}
	if err := outs[0].Err; err != nil {
		return fmt.Errorf("check: %w", err)
	}
	res := childResult{TreeSize: outs[0].Checkpoint.Size, Seconds: elapsed.Seconds(), CPUSeconds: (cpu1 - cpu0).Seconds(), BaseRSSKiB: baseRSS}
	scanned, err := sum(app.Gatherer(), "vigil_log_entries_scanned_total")
	if err != nil {
		return err
	}
	res.Scanned = uint64(scanned)
	if res.Scanned != res.TreeSize-opts.start {
		return fmt.Errorf("scanned %d entries of a tree of %d from %d", res.Scanned, res.TreeSize, opts.start)
	}
	if res.Delivered, err = sum(app.Gatherer(), "vigil_alerts_sent_total"); err != nil {
		return err
	}
	if res.Matches, err = sum(app.Gatherer(), "vigil_identity_matches_total"); err != nil {
		return err
	}
	if res.Unexpected, err = sum(app.Gatherer(), "vigil_unexpected_identities_total"); err != nil {
		return err
	}
	if res.Malformed, err = sum(app.Gatherer(), "vigil_log_malformed_entries_total"); err != nil {
		return err
	}
	if res.PeakRSSKiB, err = procStatus("VmHWM"); err != nil {
		return err
	}
	indexed, err := sum(app.Gatherer(), "vigil_index_entries_added_total")
	if err != nil {
		return err
	}
	res.IndexEntries = uint64(indexed)
	if res.IndexWriteErrors, err = sum(app.Gatherer(), "vigil_index_write_errors_total"); err != nil {
		return err
	}
	// Closing the monitor closes the index, whose last connection
	// checkpoints the WAL into the file: the size a monitor leaves.
	open = false
	if err := app.Close(); err != nil {
		return fmt.Errorf("closing the monitor: %w", err)
	}
	if !cfg.Index.Disabled && cfg.Index.Driver == "sqlite" {
		for _, suffix := range []string{"", "-wal"} {
			fi, err := os.Stat(cfg.Index.Path + suffix)
			if err != nil && (suffix == "" || !errors.Is(err, os.ErrNotExist)) {
				return fmt.Errorf("measuring the index: %w", err)
			}
			if err == nil {
				res.IndexBytes += fi.Size()
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// profileName is the file of a child's profile: prefix.<log>, and
// .noindex after it for a scan without the index.
func profileName(opts options, prefix, kind string) string {
	if opts.noIndex {
		return prefix + "." + kind + ".noindex"
	}
	return prefix + "." + kind
}

// cpuTime returns the user+system CPU time of the process so far.
func cpuTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing heap profile: %w", err)
	}
	return f.Close()
}

// sum adds up every series of the counter name (0 when there is none).
func sum(g prometheus.Gatherer, name string) (float64, error) {
	mfs, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gathering metrics: %w", err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetCounter().GetValue()
		}
	}
	return v, nil
}

func logConfig(env stack.Env, kind string) (config.Log, error) {
	need := func(keys ...string) error {
		for _, k := range keys {
			if env[k] == "" {
				return fmt.Errorf("stack env has no %s; re-run scripts/stack/up.sh", k)
			}
		}
		return nil
	}
	switch kind {
	case "v1":
		if err := need("REKOR_URL", "REKOR_PUBKEY", "REKOR_HOSTNAME"); err != nil {
			return config.Log{}, err
		}
		return config.Log{Name: "bench-rekor-v1", Kind: config.KindRekorV1, URL: env["REKOR_URL"],
			PublicKeyFile: env["REKOR_PUBKEY"], Origin: env["REKOR_HOSTNAME"]}, nil
	case "v2":
		if err := need("REKOR_V2_READ_URL", "REKOR_V2_PUBKEY", "REKOR_V2_ORIGIN"); err != nil {
			return config.Log{}, err
		}
		return config.Log{Name: "bench-rekor-v2", Kind: config.KindRekorV2, URL: env["REKOR_V2_READ_URL"],
			PublicKeyFile: env["REKOR_V2_PUBKEY"], Origin: env["REKOR_V2_ORIGIN"]}, nil
	case "ct":
		if err := need("CT_URL", "CT_PUBKEY"); err != nil {
			return config.Log{}, err
		}
		// The origin defaults to the URL without its scheme, as the
		// monitor's own configuration of the stack's CT log does.
		return config.Log{Name: "bench-ct", Kind: config.KindCT, URL: env["CT_URL"], PublicKeyFile: env["CT_PUBKEY"]}, nil
	case "static-ct":
		if err := need("STATIC_CT_READ_URL", "STATIC_CT_PUBKEY", "STATIC_CT_ORIGIN"); err != nil {
			return config.Log{}, err
		}
		return config.Log{Name: "bench-static-ct", Kind: config.KindStaticCT, URL: env["STATIC_CT_READ_URL"],
			PublicKeyFile: env["STATIC_CT_PUBKEY"], Origin: env["STATIC_CT_ORIGIN"]}, nil
	}
	return config.Log{}, fmt.Errorf("unknown log %q: want v1, v2, ct or static-ct", kind)
}

// benchRules returns n rules of the shapes a private deployment writes:
// expect rules for its legitimate signers (the identities tools/loadgen
// signs with: the stack's OIDC issuer's users, two GitHub Actions workflows
// and the stack's client key) and watch rules for identities to be told
// about. Watch rules rarely fire, so every rule is evaluated for every
// entry: only evil-domain matches, the few mallory@evil.example entries the
// test suites add. With hits, release-bot matches release-bot@example.com,
// one in five of loadgen's certificate identities, and every such entry
// becomes an alert. Entries the test suites sign with throwaway keys are
// unexpected whatever the rules. Beyond the 20 shapes, rules repeat with a
// numbered name.
func benchRules(env stack.Env, n int, hits bool) (identity.Config, error) {
	fp, err := keyFingerprint(env["CLIENT_PUBKEY"])
	if err != nil {
		return identity.Config{}, err
	}
	oidc := regexp.QuoteMeta(env["OIDC_ISSUER"])
	const gha = `https://token\.actions\.githubusercontent\.com`
	releaseBot := `release-bot@example\.net`
	if hits {
		releaseBot = `release-bot@example\.com`
	}
	type shape struct {
		watch bool
		rule  identity.Rule
	}
	shapes := []shape{
		{false, identity.Rule{Name: "staff", Subject: `.*@example\.(com|org)`, Issuer: oidc}},
		{false, identity.Rule{Name: "vigil-release", Subject: `https://github\.com/vigil-tlog/vigil/\.github/workflows/release\.yml@refs/tags/v.*`,
			Issuer: gha, Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/vigil-tlog/vigil`}}},
		{false, identity.Rule{Name: "app-build", Subject: `https://github\.com/example/app/\.github/workflows/build\.yml@refs/heads/main`,
			Issuer: gha, Extensions: map[string]string{"1.3.6.1.4.1.57264.1.14": `push`}}},
		{false, identity.Rule{Name: "client-key", Fingerprint: "sha256:" + fp}},
		{false, identity.Rule{Name: "ci-bot", Subject: `ci@example\.com`, Issuer: oidc}},
		{false, identity.Rule{Name: "github-org", Issuer: gha, Extensions: map[string]string{"1.3.6.1.4.1.57264.1.15": `[0-9]+`, "1.3.6.1.4.1.57264.1.16": `https://github\.com/(vigil-tlog|example)`}}},
		{true, identity.Rule{Name: "release-bot", Subject: releaseBot}},
		{true, identity.Rule{Name: "admin", Subject: `admin@.*`}},
		{true, identity.Rule{Name: "evil-domain", Subject: `.*@(evil|attacker)\.example`}},
		{true, identity.Rule{Name: "google-issuer", Issuer: `https://accounts\.google\.com`}},
		{true, identity.Rule{Name: "root-key", Fingerprint: "sha256:" + strings.Repeat("ab", 32)}},
		{true, identity.Rule{Name: "old-key", Fingerprint: strings.Repeat("0f", 32)}},
		{true, identity.Rule{Name: "revoked-cert", Fingerprint: "SHA256:" + strings.Repeat("9c", 32)}},
		{true, identity.Rule{Name: "fork-repo", Extensions: map[string]string{"1.3.6.1.4.1.57264.1.12": `https://github\.com/attacker/.*`}}},
		{true, identity.Rule{Name: "prt-trigger", Extensions: map[string]string{"1.3.6.1.4.1.57264.1.20": `pull_request_target`}}},
		{true, identity.Rule{Name: "self-hosted", Issuer: gha, Extensions: map[string]string{"1.3.6.1.4.1.57264.1.11": `self-hosted`}}},
		{true, identity.Rule{Name: "unpinned-ref", Subject: `https://github\.com/vigil-tlog/.*@refs/heads/(?:dev|test-.*)`, Issuer: gha}},
		{true, identity.Rule{Name: "foreign-workflow", Extensions: map[string]string{"1.3.6.1.4.1.57264.1.9": `https://github\.com/(?:[^v]|v[^i]).*/\.github/workflows/deploy\.yml@.*`}}},
		{true, identity.Rule{Name: "contractor", Subject: `.*@contractor\.example\.net`, Issuer: oidc}},
		{true, identity.Rule{Name: "spiffe", Subject: `spiffe://example\.com/ns/prod/.*`}},
	}
	var cfg identity.Config
	for i := range n {
		s := shapes[i%len(shapes)]
		r := s.rule
		if i >= len(shapes) {
			r.Name = fmt.Sprintf("%s-%d", r.Name, i/len(shapes))
		}
		if s.watch {
			cfg.Watch = append(cfg.Watch, r)
		} else {
			cfg.Expect = append(cfg.Expect, r)
		}
	}
	return cfg, nil
}

// keyFingerprint returns the hex SHA-256 of the SubjectPublicKeyInfo in the
// PEM file path.
func keyFingerprint(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading client public key: %w", err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return "", fmt.Errorf("client public key %s holds no PEM block", path)
	}
	if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
		return "", fmt.Errorf("parsing client public key %s: %w", path, err)
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// ceiling reads every entry of the log from opts.start (from the bundle or
// tile holding it, for tiled logs) with a plain parallel client and
// returns the number of entries read and the time taken.
func ceiling(ctx context.Context, opts options, kind string) (uint64, time.Duration, error) {
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 4 * opts.ceilingWorkers, MaxIdleConnsPerHost: 4 * opts.ceilingWorkers,
			IdleConnTimeout: 30 * time.Second},
	}
	defer hc.CloseIdleConnections()
	var (
		size  uint64
		from  uint64 // the first entry read
		jobs  uint64
		fetch func(ctx context.Context, job uint64) (int, error)
		err   error
	)
	// tiles sets jobs and from for a tiled log: the bundles or tiles from
	// the one holding opts.start.
	tiles := func() uint64 {
		const w = layout.EntryBundleWidth
		b0 := min(opts.start, size) / w
		jobs, from = (size+w-1)/w-b0, b0*w
		return b0
	}
	switch kind {
	case "v1":
		base := strings.TrimSuffix(opts.env["REKOR_URL"], "/")
		if size, err = v1Size(ctx, hc, base); err != nil {
			return 0, 0, err
		}
		from = min(opts.start, size)
		jobs = (size - from + 9) / 10
		fetch = func(ctx context.Context, job uint64) (int, error) {
			first := from + job*10
			return v1Retrieve(ctx, hc, base, first, min(first+10, size))
		}
	case "v2":
		base := strings.TrimSuffix(opts.env["REKOR_V2_READ_URL"], "/")
		if size, err = v2Size(ctx, hc, base); err != nil {
			return 0, 0, err
		}
		b0 := tiles()
		fetch = func(ctx context.Context, job uint64) (int, error) {
			return v2Bundle(ctx, hc, base, b0+job, layout.PartialTileSize(0, b0+job, size))
		}
	case "ct":
		base := strings.TrimSuffix(opts.env["CT_URL"], "/")
		if size, err = ctSize(ctx, hc, base); err != nil {
			return 0, 0, err
		}
		from = min(opts.start, size)
		batch := opts.ctBatch
		jobs = (size - from + batch - 1) / batch
		fetch = func(ctx context.Context, job uint64) (int, error) {
			first := from + job*batch
			return ctEntries(ctx, hc, base, first, min(first+batch, size))
		}
	case "static-ct":
		base := strings.TrimSuffix(opts.env["STATIC_CT_READ_URL"], "/")
		if size, err = v2Size(ctx, hc, base); err != nil {
			return 0, 0, err
		}
		b0 := tiles()
		fetch = func(ctx context.Context, job uint64) (int, error) {
			return staticCTTile(ctx, hc, base, b0+job, layout.PartialTileSize(0, b0+job, size))
		}
	default:
		return 0, 0, fmt.Errorf("unknown log %q", kind)
	}
	var (
		next  atomic.Uint64
		total atomic.Uint64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range opts.ceilingWorkers {
		wg.Go(func() {
			for {
				j := next.Add(1) - 1
				if j >= jobs || ctx.Err() != nil {
					return
				}
				n, err := fetch(ctx, j)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
				total.Add(uint64(n))
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if first != nil {
		return 0, 0, first
	}
	if got := total.Load(); got != size-from {
		return 0, 0, fmt.Errorf("read %d entries from %d of a tree of %d", got, from, size)
	}
	return size - from, d, nil
}

// printSizes prints the tree sizes of the four logs, for scripts/bench.sh.
func printSizes(ctx context.Context, env stack.Env) error {
	hc := &http.Client{Timeout: 30 * time.Second}
	var out []string
	for _, kind := range allLogs {
		n, err := treeSize(ctx, hc, env, kind)
		if err != nil {
			return err
		}
		out = append(out, fmt.Sprintf("%s=%d", kind, n))
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

// treeSize returns the current tree size of a log.
func treeSize(ctx context.Context, hc *http.Client, env stack.Env, kind string) (uint64, error) {
	var (
		n   uint64
		err error
		key string
	)
	switch kind {
	case "v1":
		key = "REKOR_URL"
		n, err = v1Size(ctx, hc, strings.TrimSuffix(env[key], "/"))
	case "v2":
		key = "REKOR_V2_READ_URL"
		n, err = v2Size(ctx, hc, strings.TrimSuffix(env[key], "/"))
	case "ct":
		key = "CT_URL"
		n, err = ctSize(ctx, hc, strings.TrimSuffix(env[key], "/"))
	case "static-ct":
		key = "STATIC_CT_READ_URL"
		n, err = v2Size(ctx, hc, strings.TrimSuffix(env[key], "/"))
	default:
		return 0, fmt.Errorf("unknown log %q", kind)
	}
	if err == nil && env[key] == "" {
		err = fmt.Errorf("stack env has no %s; re-run scripts/stack/up.sh", key)
	}
	if err != nil {
		return 0, fmt.Errorf("reading the %s tree size: %w", logName(kind), err)
	}
	return n, nil
}

func v1Size(ctx context.Context, hc *http.Client, base string) (uint64, error) {
	body, err := do(ctx, hc, http.MethodGet, base+"/api/v1/log", nil)
	if err != nil {
		return 0, err
	}
	var info struct {
		TreeSize       int64 `json:"treeSize"`
		InactiveShards []any `json:"inactiveShards"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return 0, fmt.Errorf("decoding log info: %w", err)
	}
	if len(info.InactiveShards) > 0 {
		return 0, errors.New("the log has inactive shards; the ceiling client reads only unsharded logs")
	}
	return uint64(info.TreeSize), nil
}

// v1Retrieve fetches log indexes [from, to) in one retrieve request and
// returns how many entries came back.
func v1Retrieve(ctx context.Context, hc *http.Client, base string, from, to uint64) (int, error) {
	var q bytes.Buffer
	q.WriteString(`{"logIndexes":[`)
	for i := from; i < to; i++ {
		if i > from {
			q.WriteByte(',')
		}
		q.WriteString(strconv.FormatUint(i, 10))
	}
	q.WriteString(`]}`)
	body, err := do(ctx, hc, http.MethodPost, base+"/api/v1/log/entries/retrieve", q.Bytes())
	if err != nil {
		return 0, err
	}
	var got []map[string]json.RawMessage
	if err := json.Unmarshal(body, &got); err != nil {
		return 0, fmt.Errorf("decoding entries %d-%d: %w", from, to, err)
	}
	n := 0
	for _, m := range got {
		n += len(m)
	}
	if n != int(to-from) {
		return 0, fmt.Errorf("asked for entries %d-%d, got %d", from, to, n)
	}
	return n, nil
}

func v2Size(ctx context.Context, hc *http.Client, base string) (uint64, error) {
	body, err := do(ctx, hc, http.MethodGet, base+"/checkpoint", nil)
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for i := 0; i < 2 && sc.Scan(); i++ {
		if i == 1 {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("checkpoint size line %q: %w", sc.Text(), err)
			}
			return n, nil
		}
	}
	return 0, errors.New("checkpoint has no size line")
}

// v2Bundle fetches entry bundle n (partial width p, 0 for full) and returns
// the number of entries in it, counted from their 2-byte length prefixes.
func v2Bundle(ctx context.Context, hc *http.Client, base string, n uint64, p uint8) (int, error) {
	body, err := do(ctx, hc, http.MethodGet, base+"/"+layout.EntriesPath(n, p), nil)
	if err != nil {
		return 0, err
	}
	count := 0
	for len(body) > 0 {
		if len(body) < 2 {
			return 0, fmt.Errorf("entry bundle %d: truncated length prefix", n)
		}
		l := int(binary.BigEndian.Uint16(body))
		if len(body) < 2+l {
			return 0, fmt.Errorf("entry bundle %d: truncated entry", n)
		}
		body = body[2+l:]
		count++
	}
	want := int(p)
	if p == 0 {
		want = layout.EntryBundleWidth
	}
	if count != want {
		return 0, fmt.Errorf("entry bundle %d has %d entries, want %d", n, count, want)
	}
	return count, nil
}

// ctSize returns the tree size of the RFC 6962 log under base (with its
// prefix) from get-sth, unverified.
func ctSize(ctx context.Context, hc *http.Client, base string) (uint64, error) {
	body, err := do(ctx, hc, http.MethodGet, base+"/ct/v1/get-sth", nil)
	if err != nil {
		return 0, err
	}
	var sth struct {
		TreeSize *uint64 `json:"tree_size"`
	}
	if err := json.Unmarshal(body, &sth); err != nil {
		return 0, fmt.Errorf("decoding get-sth: %w", err)
	}
	if sth.TreeSize == nil {
		return 0, errors.New("get-sth answer has no tree_size")
	}
	return *sth.TreeSize, nil
}

// ctEntries reads entries [from, to) of the RFC 6962 log under base with
// get-entries, asking again for the rest of a short answer, as any client
// must (ct_server answers at most 1000), and returns how many came back.
// The entries are counted, not decoded: their "leaf_input" members.
func ctEntries(ctx context.Context, hc *http.Client, base string, from, to uint64) (int, error) {
	total := 0
	for next := from; next < to; {
		body, err := do(ctx, hc, http.MethodGet, fmt.Sprintf("%s/ct/v1/get-entries?start=%d&end=%d", base, next, to-1), nil)
		if err != nil {
			return 0, err
		}
		if !bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
			return 0, fmt.Errorf("get-entries %d-%d: not a JSON object: %.50q", next, to-1, body)
		}
		n := uint64(bytes.Count(body, []byte(`"leaf_input"`)))
		if n == 0 || n > to-next {
			return 0, fmt.Errorf("asked for entries %d-%d, got %d", next, to-1, n)
		}
		next += n
		total += int(n)
	}
	return total, nil
}

// staticCTTile fetches data tile n (partial width p, 0 for full; a
// partial tile the tree has grown past is read in full) of the static-ct
// log under base and returns the number of entries in it (p, or 256),
// counted by walking the TileLeafs' length prefixes.
func staticCTTile(ctx context.Context, hc *http.Client, base string, n uint64, p uint8) (int, error) {
	body, err := do(ctx, hc, http.MethodGet, base+"/tile/data/"+layout.NWithSuffix(0, n, p), nil)
	want := int(p)
	if p == 0 {
		want = layout.EntryBundleWidth
	} else if errors.Is(err, errNotFound) {
		body, err = do(ctx, hc, http.MethodGet, base+"/tile/data/"+layout.NWithSuffix(0, n, 0), nil)
	}
	if err != nil {
		return 0, err
	}
	count, err := countTileLeaves(body)
	if err != nil {
		return 0, fmt.Errorf("data tile %d: %w", n, err)
	}
	if count < want || p == 0 && count != want {
		return 0, fmt.Errorf("data tile %d has %d entries, want %d", n, count, want)
	}
	return want, nil
}

// countTileLeaves counts the TileLeafs of a static-ct-api data tile:
// timestamp (8 bytes), entry_type (2); for an x509_entry the certificate
// (uint24 length), for a precert_entry the issuer key hash (32) and the
// TBSCertificate (uint24); the extensions (uint16); for a precert_entry the
// precertificate (uint24); the chain's fingerprints (uint16).
func countTileLeaves(b []byte) (int, error) {
	skip := func(size int) error {
		if len(b) < size {
			return errors.New("truncated length prefix")
		}
		n := 0
		for _, c := range b[:size] {
			n = n<<8 | int(c)
		}
		if len(b) < size+n {
			return errors.New("truncated entry")
		}
		b = b[size+n:]
		return nil
	}
	count := 0
	for ; len(b) > 0; count++ {
		if len(b) < 10 {
			return 0, errors.New("truncated entry")
		}
		typ := binary.BigEndian.Uint16(b[8:])
		b = b[10:]
		var err error
		switch typ {
		case 0: // x509_entry
			err = skip(3)
		case 1: // precert_entry
			if len(b) < 32 {
				return 0, errors.New("truncated entry")
			}
			b = b[32:]
			err = skip(3)
		default:
			return 0, fmt.Errorf("entry %d: unknown entry_type %d", count, typ)
		}
		if err == nil {
			err = skip(2)
		}
		if err == nil && typ == 1 {
			err = skip(3)
		}
		if err == nil {
			err = skip(2)
		}
		if err != nil {
			return 0, fmt.Errorf("entry %d: %w", count, err)
		}
	}
	return count, nil
}

// errNotFound is the error of do for an HTTP 404 answer.
var errNotFound = errors.New("not found")

func do(ctx context.Context, hc *http.Client, method, url string, body []byte) ([]byte, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return nil, fmt.Errorf("building request for %s: %w", url, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("fetching %s: HTTP %d: %.200s: %w", url, resp.StatusCode, b, errNotFound)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: HTTP %d: %.200s", url, resp.StatusCode, b)
	}
	return b, nil
}

// alertSubject is the identity of the -alerts entries: the CI identity that
// signs every build (scripts/bench.sh: loadgen -mix cert -san alertSubject).
const alertSubject = "ci-build@example.com"

// benchRulesWatch returns n watch rules that match none of the -alerts
// entries, so both runs evaluate the same number of rules.
func benchRulesWatch(env stack.Env, n int) []identity.Rule {
	cfg, err := benchRules(env, 2*max(n, 0)+2, false)
	if err != nil {
		return nil
	}
	var out []identity.Rule
	for _, r := range cfg.Watch {
		if len(out) < n && r.Subject != "" && !strings.Contains(r.Subject, "example") {
			out = append(out, r)
		}
	}
	return out
}

// alertRow is the result of -alerts for one log.
type alertRow struct {
	Log            string  `json:"log"`
	AlertEntries   int     `json:"alert_entries"`
	Scanned        uint64  `json:"scanned"`
	Matches        float64 `json:"alert_matches"`
	Delivered      float64 `json:"alerts_delivered"`
	MatchSeconds   float64 `json:"match_seconds"`
	NoMatchSeconds float64 `json:"nomatch_seconds"`
	Ratio          float64 `json:"alert_ratio"`
	Target         string  `json:"target"`
	Met            bool    `json:"target_met"`
}

// maxAlertRatio: a catch-up whose every entry raises an alert takes at most
// this many times as long as one over the same entries raising none.
const maxAlertRatio = 1.2

func runAlerts(ctx context.Context, opts options, which []string, asJSON bool) int {
	var rows []alertRow
	failed := false
	for _, kind := range which {
		r, err := measureAlerts(ctx, opts, kind)
		if err != nil {
			fmt.Fprintf(os.Stderr, "scanbench: %s: %v\n", kind, err)
			failed = true
			continue
		}
		rows = append(rows, r)
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				fmt.Fprintf(os.Stderr, "scanbench: %v\n", err)
				return 1
			}
		}
	} else {
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "log\tentries\tmatches\tdelivered\tall match\tnone match\tratio\ttarget\tmet\t")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.3fs\t%.3fs\t%.2f\t%s\t%v\t\n", r.Log, r.Scanned, r.Matches, r.Delivered,
				r.MatchSeconds, r.NoMatchSeconds, r.Ratio, r.Target, r.Met)
		}
		tw.Flush()
	}
	if failed {
		return 1
	}
	return 0
}

func measureAlerts(ctx context.Context, opts options, kind string) (alertRow, error) {
	r := alertRow{Log: logName(kind), AlertEntries: opts.alerts, Target: fmt.Sprintf("<= %.1fx", maxAlertRatio)}
	start, ok := opts.alertsStart[kind]
	if !ok {
		hc := &http.Client{Timeout: 30 * time.Second}
		size, err := treeSize(ctx, hc, opts.env, kind)
		if err != nil {
			return r, err
		}
		if size < uint64(opts.alerts) {
			return r, fmt.Errorf("the log has %d entries, fewer than -alerts %d", size, opts.alerts)
		}
		start = size - uint64(opts.alerts)
	}
	opts.start = start
	var perMatch, perNone float64 // seconds per entry, best run
	for i := range opts.runs {
		for _, match := range []bool{false, true} {
			opts.alertsMatch = match
			res, _, err := spawn(ctx, opts, kind)
			if err != nil {
				return r, err
			}
			per := res.Seconds / float64(max(res.Scanned, 1))
			what := "none match"
			if match {
				what = "all match"
			}
			fmt.Fprintf(os.Stderr, "scanbench: %s alerts run %d, %s: %d entries from %d in %.3fs (%.3f CPU-s), %.0f watch matches, %.0f delivered\n",
				kind, i+1, what, res.Scanned, start, res.Seconds, res.CPUSeconds, res.Matches, res.Delivered)
			switch {
			case match && (perMatch == 0 || per < perMatch):
				perMatch, r.MatchSeconds, r.Matches, r.Delivered, r.Scanned = per, res.Seconds, res.Matches, res.Delivered, res.Scanned
			case !match && (perNone == 0 || per < perNone):
				perNone, r.NoMatchSeconds = per, res.Seconds
			}
		}
	}
	if r.Matches < float64(opts.alerts) {
		fmt.Fprintf(os.Stderr, "scanbench: %s: only %.0f of %d entries matched the watch rule (entries from %d by other writers?)\n", kind, r.Matches, opts.alerts, start)
	}
	r.Ratio = perMatch / perNone
	r.Met = r.Ratio <= maxAlertRatio && r.Delivered >= r.Matches
	return r, nil
}
