// Command indexbench measures the identity and artifact index (package
// internal/index, issue 14) on generated entries: insert speed, query
// latency at a million entries, and SQLite's size per entry.
//
//	indexbench -driver both -entries 1000000 -queries 1000
//
// For each driver it inserts -entries generated entries (internal/index/
// indextest's Mixed profile: a private Sigstore's mix of workflow, e-mail
// and bare-key signers, a few hundred repeated subjects, issuers and
// repositories, unique digests and fingerprints) in batches of -batch,
// reporting inserts per second and the CPU seconds per 100,000 entries
// that this process spends in Add, over all the entries and over their
// last tenth (adding to an index nearly -entries large), and for a
// PostgreSQL on this machine the CPU its backends spend on the
// benchmark's database; then it runs -queries random queries of each
// kind, one at a time (first page, default limit), twice (a cold pass right
// after loading, when the kernel may have evicted pages, and a warm one),
// and reports their p50, p99 and maximum latency and the CPU time this
// process spent per query (which other load on the machine affects less). The targets (issue 14): p99 under 50 ms for
// subject, digest and fingerprint queries; issuer and extension queries
// are reported without a target.
//
// Size: with -size-entries N (default 100000) it also fills a fresh SQLite
// index with N entries of the FulcioEmail profile (a hashedrekord with a
// Fulcio certificate: one digest, an e-mail SAN, an issuer, five repeated
// Fulcio extensions, unique certificate and key fingerprints), runs VACUUM,
// and reports the file size per entry (target: at most 300 bytes); then the
// same for the GitHubActions profile (a real GitHub Actions certificate's
// 15 extensions, 4 of them per commit or per run), without a target. The
// million-entry SQLite file's size per entry is reported too.
//
// SQLite files go to a temporary directory (-dir to choose). PostgreSQL:
// -dsn-file names a file holding the DSN of an empty database to use (kept);
// without it indexbench creates a database vigil_indexbench_<random> on
// the local stack's PostgreSQL (scripts/stack/up.sh; the superuser
// postgres on PG_URI's host) and drops it at the end. After loading it
// runs VACUUM ANALYZE, as autovacuum would.
//
// -skip-load queries the index a previous run left in -dir or -dsn-file
// instead of loading one; -cpuprofile profiles the queries,
// -insert-cpuprofile the inserts. Each batch is generated before its Add,
// outside the measurement.
//
// Output is a table; -json prints one JSON object per measurement instead.
// Exit status: 0 measured (targets met or not, unless -strict), 1 a
// measurement failed or, with -strict, a target was missed, 2 usage error.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/vigil-tlog/vigil/internal/index"
	"github.com/vigil-tlog/vigil/internal/index/indextest"
	"github.com/vigil-tlog/vigil/internal/stack"
)

const (
	targetP99      = 50 * time.Millisecond
	targetPerEntry = 300.0
)

type options struct {
	driver        string
	entries       int
	sizeEntries   int
	queries       int
	batch         int
	dir           string
	dsnFile       string
	env           string
	json          bool
	strict        bool
	skipLoad      bool
	cpuprofile    string
	insertProfile string
}

// result is one measurement, a table row or JSON line.
type result struct {
	Driver      string  `json:"driver"`
	Measurement string  `json:"measurement"`
	Entries     int     `json:"entries"`
	Value       float64 `json:"value"`
	Unit        string  `json:"unit"`
	P50ms       float64 `json:"p50_ms,omitempty"`
	P99ms       float64 `json:"p99_ms,omitempty"`
	MaxMs       float64 `json:"max_ms,omitempty"`
	Results     float64 `json:"mean_results,omitempty"`
	CPUms       float64 `json:"cpu_ms_per_query,omitempty"`
	Target      string  `json:"target,omitempty"`
	TargetMet   *bool   `json:"target_met,omitempty"`
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("indexbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.driver, "driver", "both", "sqlite, postgres or both")
	fs.IntVar(&o.entries, "entries", 1000000, "entries to insert before the queries")
	fs.IntVar(&o.sizeEntries, "size-entries", 100000, "FulcioEmail entries for the SQLite size measurement (0: skip)")
	fs.IntVar(&o.queries, "queries", 1000, "queries of each kind")
	fs.IntVar(&o.batch, "batch", 5000, "entries per Add")
	fs.StringVar(&o.dir, "dir", "", "directory for SQLite files (default: a temporary one, removed); kept when given")
	fs.StringVar(&o.dsnFile, "dsn-file", "", "file holding the DSN of an empty PostgreSQL database (default: create one on the local stack)")
	fs.StringVar(&o.env, "env", stack.EnvFile(), "the local stack's env file (for PG_URI)")
	fs.BoolVar(&o.json, "json", false, "print JSON lines")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when a target is missed")
	fs.BoolVar(&o.skipLoad, "skip-load", false, "query the index a previous run left in -dir (sqlite) or -dsn-file (postgres) instead of loading one")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the queries to this file (per driver: file.driver)")
	fs.StringVar(&o.insertProfile, "insert-cpuprofile", "", "write a CPU profile of the inserts to this file (per driver: file.driver)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 || o.entries <= 0 || o.queries <= 0 || o.batch <= 0 || o.sizeEntries < 0 ||
		!slices.Contains([]string{"sqlite", "postgres", "both"}, o.driver) {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var results []result
	emit := func(r result) {
		results = append(results, r)
		if o.json {
			b, _ := json.Marshal(r)
			fmt.Fprintln(stdout, string(b))
		} else {
			fmt.Fprintf(stderr, "  %s %s: %s\n", r.Driver, r.Measurement, describe(r))
		}
	}
	logf := func(format string, args ...any) { fmt.Fprintf(stderr, format, args...) }
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "indexbench-")
		if err != nil {
			fmt.Fprintln(stderr, "indexbench:", err)
			return 1
		}
		defer os.RemoveAll(d)
		dir = d
	}
	failed := false
	if o.driver != "postgres" {
		if o.sizeEntries > 0 && !o.skipLoad {
			for _, p := range []struct {
				name    string
				profile indextest.Profile
				target  bool
			}{{"FulcioEmail", indextest.FulcioEmail, true}, {"GitHubActions", indextest.GitHubActions, false}} {
				if err := sqliteSize(ctx, o, dir, p.name, p.profile, p.target, emit, logf); err != nil {
					fmt.Fprintf(stderr, "indexbench: sqlite size of %s entries: %v\n", p.name, err)
					failed = true
				}
			}
		}
		cfg := index.Config{Driver: index.DriverSQLite, Path: filepath.Join(dir, "bench.db")}
		if err := bench(ctx, o, "sqlite", cfg, emit, logf); err != nil {
			fmt.Fprintln(stderr, "indexbench: sqlite:", err)
			failed = true
		} else if !o.skipLoad { // else it was measured when it was loaded
			if err := fileSize(ctx, "sqlite", cfg.Path, "", o.entries, false, emit); err != nil {
				fmt.Fprintln(stderr, "indexbench: sqlite:", err)
				failed = true
			}
		}
	}
	if o.driver != "sqlite" && ctx.Err() == nil {
		if o.skipLoad && o.dsnFile == "" {
			fmt.Fprintln(stderr, "indexbench: -skip-load needs -dsn-file for postgres")
			return 2
		}
		dsn, drop, err := postgresDSN(ctx, o, logf)
		if err != nil {
			fmt.Fprintln(stderr, "indexbench: postgres:", err)
			failed = true
		} else {
			if err := bench(ctx, o, "postgres", index.Config{Driver: index.DriverPostgres, DSN: dsn}, emit, logf); err != nil {
				fmt.Fprintln(stderr, "indexbench: postgres:", err)
				failed = true
			}
			drop()
		}
	}
	if !o.json {
		table(stdout, results)
	}
	if failed {
		return 1
	}
	if o.strict {
		for _, r := range results {
			if r.TargetMet != nil && !*r.TargetMet {
				return 1
			}
		}
	}
	return 0
}

// cpuTime is the CPU time this process has used (the queries' cost, which
// other load on the machine affects less than their latency; for
// PostgreSQL it leaves out the server's share).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func describe(r result) string {
	if r.P99ms > 0 {
		return fmt.Sprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms, %.2f ms CPU per query", r.P50ms, r.P99ms, r.MaxMs, r.CPUms)
	}
	return fmt.Sprintf("%.1f %s", r.Value, r.Unit)
}

func table(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "driver\tmeasurement\tentries\tvalue\tp50 ms\tp99 ms\tmax ms\tcpu ms/q\tmean results\ttarget\tmet\t")
	for _, r := range rs {
		val, p50, p99, mx, cpu, n := fmt.Sprintf("%.1f %s", r.Value, r.Unit), "", "", "", "", ""
		if r.P99ms > 0 {
			val = ""
			p50, p99, mx, cpu, n = fmt.Sprintf("%.2f", r.P50ms), fmt.Sprintf("%.2f", r.P99ms), fmt.Sprintf("%.2f", r.MaxMs), fmt.Sprintf("%.2f", r.CPUms), fmt.Sprintf("%.1f", r.Results)
		}
		met := ""
		if r.TargetMet != nil {
			met = map[bool]string{true: "yes", false: "NO"}[*r.TargetMet]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Driver, r.Measurement, r.Entries, val, p50, p99, mx, cpu, n, r.Target, met)
	}
	tw.Flush()
}

// loadStats is what loading measured: the time and this process's CPU
// time spent in Add, in all and over the last tenth of the entries (the
// cost of adding to a nearly full index), and PostgreSQL's CPU time when
// it runs on this machine.
type loadStats struct {
	took, cpu         time.Duration
	tailTook, tailCPU time.Duration
	tail              int // entries in the last tenth
	server            time.Duration
	serverOK          bool
}

// load adds n entries of g in batches. It generates each batch before it
// adds it, outside the measurement, so that the CPU time measured is
// Add's. With prof set, it profiles the Adds (the profile also holds the
// generator's share, small beside Add's).
func load(ctx context.Context, s *index.Store, g *indextest.Generator, n, batch int, prof string) (loadStats, error) {
	var st loadStats
	if prof != "" {
		f, err := os.Create(prof)
		if err != nil {
			return st, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return st, err
		}
		defer pprof.StopCPUProfile()
	}
	tailFrom := n - n/10
	for from := 0; from < n; from += batch {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		b := g.Records(uint64(from), min(batch, n-from))
		start, cpu0 := time.Now(), cpuTime()
		if err := s.Add(ctx, b); err != nil {
			return st, err
		}
		took, cpu := time.Since(start), cpuTime()-cpu0
		st.took += took
		st.cpu += cpu
		if from >= tailFrom {
			st.tailTook += took
			st.tailCPU += cpu
			st.tail += len(b)
		}
	}
	return st, nil
}

// emitLoad reports st: entries per second, CPU seconds per 100,000
// entries, both over all n entries and over the last tenth.
func emitLoad(emit func(result), driver, label string, n int, st loadStats) {
	emit(result{Driver: driver, Measurement: label, Entries: n, Value: float64(n) / st.took.Seconds(), Unit: "entries/s"})
	emit(result{Driver: driver, Measurement: label + " CPU", Entries: n, Value: st.cpu.Seconds() * 1e5 / float64(n), Unit: "s/100k entries"})
	if st.tail > 0 && st.tail < n {
		emit(result{Driver: driver, Measurement: label + " (last tenth)", Entries: n, Value: float64(st.tail) / st.tailTook.Seconds(), Unit: "entries/s"})
		emit(result{Driver: driver, Measurement: label + " CPU (last tenth)", Entries: n, Value: st.tailCPU.Seconds() * 1e5 / float64(st.tail), Unit: "s/100k entries"})
	}
	if st.serverOK {
		emit(result{Driver: driver, Measurement: label + " server CPU", Entries: n, Value: st.server.Seconds() * 1e5 / float64(n), Unit: "s/100k entries"})
	}
}

func bench(ctx context.Context, o options, driver string, cfg index.Config, emit func(result), logf func(string, ...any)) error {
	logf("== %s: inserting %d entries\n", driver, o.entries)
	s, err := index.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	g := &indextest.Generator{Log: "rekor", Seed: 1, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if next, err := s.Next(ctx, "rekor"); err != nil {
		return err
	} else if o.skipLoad && next != uint64(o.entries) {
		return fmt.Errorf("-skip-load: the index holds %d entries, not %d", next, o.entries)
	} else if !o.skipLoad && next != 0 {
		return errors.New("the index is not empty")
	}
	if !o.skipLoad {
		prof := ""
		if o.insertProfile != "" {
			prof = o.insertProfile + "." + driver
		}
		var server func() (time.Duration, bool)
		if driver == "postgres" {
			server = pgServerCPU(ctx, cfg.DSN)
		}
		st, err := load(ctx, s, g, o.entries, o.batch, prof)
		if err != nil {
			return err
		}
		if server != nil {
			st.server, st.serverOK = server()
		}
		emitLoad(emit, driver, "insert", o.entries, st)
	}
	if driver == "postgres" && !o.skipLoad {
		start := time.Now()
		if err := pgExec(ctx, cfg.DSN, "VACUUM ANALYZE"); err != nil {
			return err
		}
		emit(result{Driver: driver, Measurement: "vacuum analyze", Entries: o.entries, Value: time.Since(start).Seconds(), Unit: "s"})
		var size int64
		if err := pgQueryRow(ctx, cfg.DSN, "SELECT pg_database_size(current_database())", &size); err != nil {
			return err
		}
		emit(result{Driver: driver, Measurement: "database size per entry", Entries: o.entries, Value: float64(size) / float64(o.entries), Unit: "bytes"})
	}

	logf("== %s: %d queries of each kind\n", driver, o.queries)
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile + "." + driver)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rnd := mrand.New(mrand.NewPCG(7, 7))
	n := uint64(o.entries)
	subjects := 300
	kinds := []struct {
		name   string
		target bool
		q      func() index.Query
	}{
		{"query subject", true, func() index.Query {
			s := rnd.IntN(subjects)
			if rnd.IntN(2) == 0 {
				return index.Query{Subject: indextest.WorkflowSubject(s)}
			}
			return index.Query{Subject: indextest.Email(s)}
		}},
		{"query digest", true, func() index.Query {
			return index.Query{Digest: g.Digest(rnd.Uint64N(n))}
		}},
		{"query fingerprint", true, func() index.Query {
			id := g.Record(rnd.Uint64N(n)).Identities[0]
			if id.CertFingerprint != "" && rnd.IntN(2) == 0 {
				return index.Query{Fingerprint: "sha256:" + id.CertFingerprint}
			}
			return index.Query{Fingerprint: id.KeyFingerprint} // some are bare keys signing many entries
		}},
		{"query issuer", false, func() index.Query {
			if rnd.IntN(2) == 0 {
				return index.Query{Issuer: indextest.GitHubActionsIssuer}
			}
			return index.Query{Issuer: indextest.EmailIssuer(rnd.IntN(3))}
		}},
		{"query repository+trigger", false, func() index.Query {
			return index.Query{Extensions: map[string]string{
				indextest.OIDSourceRepoURI: indextest.Repo(rnd.IntN(subjects)),
				indextest.OIDBuildTrigger:  "release",
			}}
		}},
		{"query subject, page 3", false, func() index.Query {
			return index.Query{Subject: indextest.Email(rnd.IntN(subjects))}
		}},
	}
	for _, k := range kinds {
		// The same queries twice: the first pass after loading finds
		// pages the kernel may have evicted (cold), the second finds them
		// cached (warm).
		qs := make([]index.Query, o.queries)
		for i := range qs {
			qs[i] = k.q()
		}
		for _, pass := range []string{"cold", "warm"} {
			r, err := measure(ctx, s, qs, strings.HasSuffix(k.name, "page 3"), k.target)
			if err != nil {
				return fmt.Errorf("%s: %w", k.name, err)
			}
			r.Driver, r.Measurement, r.Entries = driver, k.name+" ("+pass+")", o.entries
			if k.target {
				met := r.P99ms < float64(targetP99.Milliseconds())
				r.Target, r.TargetMet = "p99 < 50 ms", &met
			}
			emit(r)
		}
	}
	return nil
}

// measure runs qs one at a time and returns their latency percentiles,
// CPU time and mean number of results. With pages, each query reads its
// first three pages.
func measure(ctx context.Context, s *index.Store, qs []index.Query, pages, needResults bool) (result, error) {
	lat := make([]time.Duration, 0, len(qs))
	total := 0
	cpu0 := cpuTime()
	for _, q := range qs {
		start := time.Now()
		p, err := s.Search(ctx, q)
		for i := 0; err == nil && pages && i < 2 && p.Next != ""; i++ {
			q.Cursor = p.Next
			p, err = s.Search(ctx, q)
		}
		lat = append(lat, time.Since(start))
		if err != nil {
			return result{}, fmt.Errorf("%+v: %w", q, err)
		}
		total += len(p.Results)
	}
	if total == 0 && needResults {
		return result{}, errors.New("no query found anything: the measurement would be meaningless")
	}
	cpu := cpuTime() - cpu0
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return result{
		P50ms: ms(lat[len(lat)/2]), P99ms: ms(lat[len(lat)*99/100]), MaxMs: ms(lat[len(lat)-1]),
		Results: float64(total) / float64(len(lat)), CPUms: ms(cpu) / float64(len(lat)), Unit: "ms",
	}, nil
}

// sqliteSize fills a fresh SQLite index with entries of a profile and
// reports its size per entry after VACUUM.
func sqliteSize(ctx context.Context, o options, dir, name string, profile indextest.Profile, target bool, emit func(result), logf func(string, ...any)) error {
	logf("== sqlite: size of %d %s entries\n", o.sizeEntries, name)
	path := filepath.Join(dir, "size.db")
	for _, suffix := range []string{"", "-wal", "-shm"} { // a previous run's
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	s, err := index.Open(ctx, index.Config{Driver: index.DriverSQLite, Path: path})
	if err != nil {
		return err
	}
	g := &indextest.Generator{Log: "rekor", Seed: 2, Profile: profile, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	st, err := load(ctx, s, g, o.sizeEntries, o.batch, "")
	s.Close()
	if err != nil {
		return err
	}
	emitLoad(emit, "sqlite", "insert "+name, o.sizeEntries, st)
	return fileSize(ctx, "sqlite", path, name+" ", o.sizeEntries, target, emit)
}

// fileSize reports an SQLite index's size per entry before and after
// VACUUM (the index must be closed).
func fileSize(ctx context.Context, driver, path, label string, n int, target bool, emit func(result)) error {
	size := func() (int64, error) {
		var total int64
		for _, suffix := range []string{"", "-wal"} {
			fi, err := os.Stat(path + suffix)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, err
			}
			if err == nil {
				total += fi.Size()
			}
		}
		return total, nil
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	before, err := size()
	if err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "VACUUM"); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return err
	}
	after, err := size()
	if err != nil {
		return err
	}
	label += "file size per entry"
	emit(result{Driver: driver, Measurement: label + " (before VACUUM)", Entries: n, Value: float64(before) / float64(n), Unit: "bytes"})
	r := result{Driver: driver, Measurement: label + " (after VACUUM)", Entries: n, Value: float64(after) / float64(n), Unit: "bytes"}
	if target {
		met := r.Value <= targetPerEntry
		r.Target, r.TargetMet = "<= 300 bytes", &met
	}
	emit(r)
	return nil
}

// postgresDSN returns the DSN of an empty database and a func dropping it
// (a no-op for -dsn-file).
func postgresDSN(ctx context.Context, o options, logf func(string, ...any)) (string, func(), error) {
	if o.dsnFile != "" {
		b, err := os.ReadFile(o.dsnFile)
		if err != nil {
			return "", nil, err
		}
		return strings.TrimSpace(string(b)), func() {}, nil
	}
	env, err := stack.ReadEnv(o.env)
	if err != nil {
		return "", nil, fmt.Errorf("reading the stack env (run make stack-up, or pass -dsn-file): %w", err)
	}
	u, err := url.Parse(env["PG_URI"])
	if err != nil || env["PG_URI"] == "" {
		return "", nil, fmt.Errorf("stack env %s has no usable PG_URI", o.env)
	}
	u.User = url.User("postgres")
	u.Path = "/postgres"
	admin := u.String()
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "vigil_indexbench_" + hex.EncodeToString(rnd[:])
	if err := pgExec(ctx, admin, "CREATE DATABASE "+name); err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := pgExec(ctx, admin, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			logf("indexbench: dropping database %s: %v\n", name, err)
		}
	}
	return u.String(), drop, nil
}

// pgServerCPU starts measuring the CPU time the PostgreSQL server behind
// dsn spends on the benchmark's database, when it runs on this machine
// (its processes readable in /proc): the returned func reports the time
// the client backends connected to that database used since, and false
// when it cannot tell. It leaves out the server's background processes
// (WAL writer, checkpointer, autovacuum), which other databases share.
func pgServerCPU(ctx context.Context, dsn string) func() (time.Duration, bool) {
	sample := func() (map[int]time.Duration, bool) {
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return nil, false
		}
		defer c.Close(context.Background())
		rows, err := c.Query(ctx, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
		if err != nil {
			return nil, false
		}
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return nil, false
		}
		out := map[int]time.Duration{}
		for _, pid := range pids {
			t, ok := procCPU(int(pid))
			if !ok {
				return nil, false
			}
			out[int(pid)] = t
		}
		return out, true
	}
	before, ok := sample()
	return func() (time.Duration, bool) {
		after, ok2 := sample()
		if !ok || !ok2 || len(after) == 0 {
			return 0, false
		}
		var d time.Duration
		for pid, t := range after {
			d += t - before[pid] // a new process: all of its time
		}
		return d, true
	}
}

// procCPU is the user and system CPU time of process pid, from
// /proc/pid/stat (in clock ticks, 100 per second on Linux).
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * (time.Second / 100), true
}

func pgExec(ctx context.Context, dsn, q string) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, q)
	return err
}

func pgQueryRow(ctx context.Context, dsn, q string, dest ...any) error {
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return c.QueryRow(ctx, q).Scan(dest...)
}
