// Command loadgen fills the local Sigstore stack (scripts/stack/up.sh) with
// realistic, really signed entries, in parallel, and prints the write rates.
// `make demo` uses it to give the monitor something to watch, `make bench` to
// measure, and up.sh as its smoke check.
//
//	loadgen -env $VIGIL_STACK_DIR/env -v1 200 -v2 2000 -mix key,cert,dsse
//
// -v2-witnessed N adds N entries, as for -v2, to the witnessed Rekor v2
// (REKOR_V2_WITNESSED_WRITE_URL): the second rekor-tiles, whose checkpoints
// the stack's Vigil witness cosigns before they are published.
//
// Entry kinds (-mix, used round-robin):
//
//	key     hashedrekord signed by the stack's client key (CLIENT_KEY), verifier = public key
//	cert    hashedrekord signed by a fresh key with a Fulcio-shaped certificate from a test CA
//	        (identities rotate through emails and GitHub Actions workflows, with extensions)
//	dsse    in-toto attestation in a DSSE envelope, certificate as above: a dsse entry in v1; in
//	        v2 (which only takes hashedrekord) a hashedrekord over the envelope's PAE
//	intoto  as dsse, but an intoto 0.0.2 entry in v1 (v2: as dsse)
//	fulcio  hashedrekord with a certificate from the stack's real Fulcio (token from devoidc)
//
// -ct N and -static-ct N submit N certificate chains to the stack's CT log
// (ct_server, CT_URL) and static-ct log (tesseract, STATIC_CT_WRITE_URL): each a
// fresh Fulcio-shaped certificate from the test CA, identities as for cert,
// even i as a precertificate (add-pre-chain, with the CT poison extension),
// odd i as a final certificate (add-chain). -mix does not apply to them.
//
// The test CA is kept in -ca (default $STACK_DIR/testca: ca.crt, ca.key) so that
// a monitor config can trust it; the CT logs trust the one in $STACK_DIR/testca
// (up.sh creates it with -init-ca before starting them). -san/-issuer pin every
// certificate to one identity (e.g. an unexpected signer for an alert demo).
//
// Rekor v1 returns once an entry is sequenced, and so does the CT log; Rekor v2
// and the static-ct log once a checkpoint covers the entry (>= 1s and ~0.2-1s),
// so they need many writers: the defaults are 64 v1 and CT and 256 v2 and
// static-ct workers, all logs running at the same time. Exit status: 0 all
// added, 1 a write failed, 2 usage error.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
)

func main() { os.Exit(run()) }

type config struct {
	env              stack.Env
	v1, v2           int
	v2Witnessed      int
	ct, staticCT     int
	v1Workers        int
	v2Workers        int
	ctWorkers        int
	staticCTWorkers  int
	mix              []string
	san, issuer      string
	caDir            string
	quiet            bool
	progressInterval time.Duration
}

var kinds = map[string]bool{"key": true, "cert": true, "dsse": true, "intoto": true, "fulcio": true}

func run() int {
	var (
		envFile   = flag.String("env", stack.EnvFile(), "stack env file written by scripts/stack/up.sh")
		v1        = flag.Int("v1", 0, "entries to add to Rekor v1")
		v2        = flag.Int("v2", 0, "entries to add to Rekor v2")
		v2W       = flag.Int("v2-witnessed", 0, "entries to add to the witnessed Rekor v2 (its writers: as -v2-workers)")
		ctN       = flag.Int("ct", 0, "certificate chains to add to the CT log (half precertificates)")
		staticCT  = flag.Int("static-ct", 0, "certificate chains to add to the static-ct log (half precertificates)")
		workers   = flag.Int("workers", 0, "parallel writers per log (0: 64 for v1 and ct, 256 for v2 and static-ct)")
		v1Workers = flag.Int("v1-workers", 0, "parallel Rekor v1 writers (overrides -workers)")
		v2Workers = flag.Int("v2-workers", 0, "parallel Rekor v2 writers (overrides -workers)")
		mix       = flag.String("mix", "key,cert,dsse", "entry kinds, round-robin: key,cert,dsse,intoto,fulcio")
		san       = flag.String("san", "", "certificate SAN for every cert/dsse/intoto entry (email, or URI with ://)")
		issuer    = flag.String("issuer", "", "certificate issuer for -san (default: the stack's OIDC issuer)")
		caDir     = flag.String("ca", "", "test CA directory (default $STACK_DIR/testca)")
		timeout   = flag.Duration("timeout", 30*time.Minute, "give up after this long")
		quiet     = flag.Bool("quiet", false, "print only the summary lines")
		initCA    = flag.Bool("init-ca", false, "only create the test CA in -ca unless it exists, print its root's path and exit")
	)
	flag.Parse()
	if flag.NArg() > 0 || *v1 < 0 || *v2 < 0 || *v2W < 0 || *ctN < 0 || *staticCT < 0 {
		flag.Usage()
		return 2
	}
	if *initCA && *caDir != "" { // up.sh, before the env file exists
		return initTestCA(*caDir)
	}
	env, err := stack.ReadEnv(*envFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: reading stack env: %v (run scripts/stack/up.sh)\n", err)
		return 2
	}
	cfg := config{env: env, v1: *v1, v2: *v2, v2Witnessed: *v2W, ct: *ctN, staticCT: *staticCT, san: *san, issuer: *issuer,
		caDir: *caDir, quiet: *quiet, progressInterval: 5 * time.Second}
	cfg.v1Workers, cfg.v2Workers, cfg.ctWorkers, cfg.staticCTWorkers = 64, 256, 64, 256
	if *workers > 0 {
		cfg.v1Workers, cfg.v2Workers, cfg.ctWorkers, cfg.staticCTWorkers = *workers, *workers, *workers, *workers
	}
	if *v1Workers > 0 {
		cfg.v1Workers = *v1Workers
	}
	if *v2Workers > 0 {
		cfg.v2Workers = *v2Workers
	}
	for _, k := range strings.Split(*mix, ",") {
		k = strings.TrimSpace(k)
		if !kinds[k] {
			fmt.Fprintf(os.Stderr, "loadgen: unknown -mix kind %q (want key, cert, dsse, intoto, fulcio)\n", k)
			return 2
		}
		cfg.mix = append(cfg.mix, k)
	}
	if cfg.caDir == "" {
		cfg.caDir = filepath.Join(env["STACK_DIR"], "testca")
	}
	if *initCA {
		return initTestCA(cfg.caDir)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := generate(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 1
	}
	return 0
}

// initTestCA creates the test CA in dir unless it exists (-init-ca) and
// prints the path of its root certificate.
func initTestCA(dir string) int {
	if _, err := identitytest.LoadOrCreateTestCA(dir); err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: test CA: %v\n", err)
		return 1
	}
	fmt.Println(filepath.Join(dir, "ca.crt"))
	return 0
}

// identity is who a certificate says signed.
type identity struct {
	san, issuer string
	ext         identitytest.Extensions
}

// identities is the rotation for cert entries: people through the stack's OIDC
// issuer and GitHub Actions release workflows with their Fulcio extensions.
func identities(oidcIssuer string) []identity {
	return []identity{
		{san: "alice@example.com", issuer: oidcIssuer},
		{san: "bob@example.org", issuer: oidcIssuer},
		{san: "https://github.com/vigil-tlog/vigil/.github/workflows/release.yml@refs/tags/v1.2.3",
			issuer: identitytest.GitHubActionsIssuer,
			ext:    identitytest.GitHubActionsExtensions("vigil-tlog/vigil", "refs/tags/v1.2.3", ".github/workflows/release.yml", "4f1c0b6f0a7f2d6c3e9b8a1d2c3e4f5a6b7c8d9e")},
		{san: "release-bot@example.com", issuer: oidcIssuer},
		{san: "https://github.com/example/app/.github/workflows/build.yml@refs/heads/main",
			issuer: identitytest.GitHubActionsIssuer,
			ext:    identitytest.GitHubActionsExtensions("example/app", "refs/heads/main", ".github/workflows/build.yml", "0123456789abcdef0123456789abcdef01234567")},
	}
}

// gen holds what every entry needs; safe for concurrent use.
type gen struct {
	cfg       config
	clientKey crypto.Signer
	clientPub []byte
	ca        *identitytest.TestCA
	ids       []identity
}

func generate(ctx context.Context, cfg config) error {
	g := &gen{cfg: cfg}
	var err error
	if g.clientKey, err = identitytest.LoadSigner(cfg.env["CLIENT_KEY"]); err != nil {
		return fmt.Errorf("loading client key: %w", err)
	}
	if g.clientPub, err = identitytest.PublicKeyPEM(g.clientKey.Public()); err != nil {
		return err
	}
	if g.ca, err = identitytest.LoadOrCreateTestCA(cfg.caDir); err != nil {
		return fmt.Errorf("loading test CA: %w", err)
	}
	g.ids = identities(cfg.env["OIDC_ISSUER"])
	if cfg.san != "" {
		iss := cfg.issuer
		if iss == "" {
			iss = cfg.env["OIDC_ISSUER"]
		}
		g.ids = []identity{{san: cfg.san, issuer: iss}}
	}
	if !cfg.quiet {
		fmt.Printf("loadgen: v1 %d entries (%d workers), v2 %d entries (%d workers), ct %d chains (%d workers), static-ct %d chains (%d workers), mix %s, test CA %s\n",
			cfg.v1, cfg.v1Workers, cfg.v2, cfg.v2Workers, cfg.ct, cfg.ctWorkers, cfg.staticCT, cfg.staticCTWorkers,
			strings.Join(cfg.mix, ","), filepath.Join(cfg.caDir, "ca.crt"))
	}

	logs := []struct {
		name, what string
		n, workers int
		add        func(ctx context.Context, i int) (int64, error)
	}{
		{"v1", "rekor v1", cfg.v1, cfg.v1Workers, g.addV1},
		{"v2", "rekor v2", cfg.v2, cfg.v2Workers, g.v2Adder("REKOR_V2_WRITE_URL")},
		{"v2-witnessed", "the witnessed rekor v2", cfg.v2Witnessed, cfg.v2Workers, g.v2Adder("REKOR_V2_WITNESSED_WRITE_URL")},
		{"ct", "the CT log", cfg.ct, cfg.ctWorkers, g.ctAdder(cfg.env["CT_URL"], "CT_URL")},
		{"static-ct", "the static-ct log", cfg.staticCT, cfg.staticCTWorkers, g.ctAdder(cfg.env["STATIC_CT_WRITE_URL"], "STATIC_CT_WRITE_URL")},
	}
	var wg sync.WaitGroup
	results := make([]result, len(logs))
	for i, l := range logs {
		if l.n > 0 {
			wg.Go(func() { results[i] = g.load(ctx, l.name, l.n, l.workers, l.add) })
		}
	}
	wg.Wait()
	var errs []error
	for i, r := range results {
		if r.name == "" {
			continue
		}
		rate := float64(r.done) / r.elapsed.Seconds()
		idx := ""
		if r.maxIdx >= 0 {
			idx = fmt.Sprintf(", log indexes %d..%d", r.minIdx, r.maxIdx)
		}
		fmt.Printf("%s: %d/%d entries in %.2fs = %.1f entries/s (%d workers)%s\n",
			r.name, r.done, r.n, r.elapsed.Seconds(), rate, r.workers, idx)
		if r.err != nil {
			errs = append(errs, fmt.Errorf("adding to %s: %w", logs[i].what, r.err))
		}
	}
	return errors.Join(errs...)
}

type result struct {
	name           string
	n, workers     int
	done           int
	elapsed        time.Duration
	minIdx, maxIdx int64
	err            error
}

// load adds n entries with add on workers goroutines, printing progress. add
// returns the entry's log index, or -1 when the log does not tell it.
func (g *gen) load(ctx context.Context, name string, n, workers int, add func(ctx context.Context, i int) (int64, error)) result {
	r := result{name: name, n: n, workers: min(workers, n)}
	var count, minIdx, maxIdx atomic.Int64
	minIdx.Store(1<<63 - 1)
	maxIdx.Store(-1)
	start := time.Now()
	pctx, stopProgress := context.WithCancel(ctx)
	defer stopProgress()
	if !g.cfg.quiet {
		go func() {
			t := time.NewTicker(g.cfg.progressInterval)
			defer t.Stop()
			for {
				select {
				case <-pctx.Done():
					return
				case <-t.C:
					c := count.Load()
					fmt.Printf("  %s: %d/%d (%.1f/s)\n", name, c, n, float64(c)/time.Since(start).Seconds())
				}
			}
		}()
	}
	r.done, r.err = stack.Parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		idx, err := add(ctx, i)
		if err != nil {
			return err
		}
		count.Add(1)
		if idx < 0 {
			return nil
		}
		for cur := minIdx.Load(); idx < cur && !minIdx.CompareAndSwap(cur, idx); cur = minIdx.Load() {
		}
		for cur := maxIdx.Load(); idx > cur && !maxIdx.CompareAndSwap(cur, idx); cur = maxIdx.Load() {
		}
		return nil
	})
	r.elapsed = time.Since(start)
	r.minIdx, r.maxIdx = minIdx.Load(), maxIdx.Load()
	if r.maxIdx < 0 {
		r.minIdx = -1
	}
	return r
}

// artifact is unique per call: Rekor v1 refuses duplicates, v2 deduplicates them.
func artifact(log string, i int) []byte {
	var nonce [16]byte
	rand.Read(nonce[:])
	return fmt.Appendf(nil, "vigil loadgen %s entry %d at %s nonce %x\n", log, i, time.Now().UTC().Format(time.RFC3339Nano), nonce)
}

// material returns the signer and verification material for entry i of kind.
func (g *gen) material(ctx context.Context, kind string, i int) (crypto.Signer, []byte, error) {
	if kind == "key" {
		return g.clientKey, g.clientPub, nil
	}
	key, err := identitytest.NewSigner()
	if err != nil {
		return nil, nil, err
	}
	id := g.ids[i%len(g.ids)]
	if kind == "fulcio" {
		email := id.san
		if strings.Contains(email, "://") {
			email = "ci@example.com"
		}
		chain, err := stack.FulcioCert(ctx, g.cfg.env["FULCIO_URL"], g.cfg.env["OIDC_ISSUER"], email, key)
		return key, chain, err
	}
	cert, err := g.ca.Issue(key.Public(), id.san, id.issuer, id.ext)
	return key, cert, err
}

func (g *gen) kind(i int) string { return g.cfg.mix[i%len(g.cfg.mix)] }

func (g *gen) addV1(ctx context.Context, i int) (int64, error) {
	kind := g.kind(i)
	signer, mat, err := g.material(ctx, kind, i)
	if err != nil {
		return 0, err
	}
	url, art := g.cfg.env["REKOR_URL"], artifact("v1", i)
	switch kind {
	case "dsse":
		return stack.AddV1DSSE(ctx, url, signer, mat, art)
	case "intoto":
		return stack.AddV1InToto(ctx, url, signer, mat, art)
	default:
		return stack.AddV1HashedRekord(ctx, url, signer, mat, art)
	}
}

// v2Adder returns the adder of entry i to the Rekor v2 log whose write API is
// the env file's envKey.
func (g *gen) v2Adder(envKey string) func(ctx context.Context, i int) (int64, error) {
	return func(ctx context.Context, i int) (int64, error) {
		url := g.cfg.env[envKey]
		if url == "" {
			return 0, fmt.Errorf("stack env file has no %s (re-run scripts/stack/up.sh)", envKey)
		}
		kind := g.kind(i)
		signer, mat, err := g.material(ctx, kind, i)
		if err != nil {
			return 0, err
		}
		art := artifact("v2", i)
		switch kind {
		case "dsse", "intoto":
			idx, _, err := stack.AddV2DSSE(ctx, url, signer, mat, art)
			return idx, err
		default:
			return stack.AddV2HashedRekord(ctx, url, signer, mat, art)
		}
	}
}

// ctAdder returns the adder of chain i to the CT log (ct_server or tesseract)
// whose add-chain API is at logURL (the env key envKey): a fresh certificate
// from the test CA, a precertificate for even i. It returns the static-ct
// log's leaf index, -1 for ct_server (its SCT does not tell).
func (g *gen) ctAdder(logURL, envKey string) func(ctx context.Context, i int) (int64, error) {
	return func(ctx context.Context, i int) (int64, error) {
		if logURL == "" {
			return 0, fmt.Errorf("stack env file has no %s (re-run scripts/stack/up.sh)", envKey)
		}
		key, err := identitytest.NewSigner()
		if err != nil {
			return 0, err
		}
		id := g.ids[i%len(g.ids)]
		precert := i%2 == 0
		chain, err := g.ca.IssueChain(key.Public(), id.san, id.issuer, id.ext, precert)
		if err != nil {
			return 0, err
		}
		sct, err := stack.AddCTChain(ctx, logURL, chain, precert)
		if err != nil {
			return 0, err
		}
		if idx, ok := stack.StaticCTLeafIndex(sct); ok {
			return idx, nil
		}
		return -1, nil
	}
}
