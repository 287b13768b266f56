// Command tufrepo writes a real, signed TUF repository into a directory,
// laid out as Sigstore's TUF mirrors are, and optionally serves it over
// HTTP on a loopback address: what the demo's monitor watches with
// trust.tuf (its trust watch: role versions, expiries, trusted root
// changes).
//
// The repository has one Ed25519 key per top-level role (threshold 1),
// consistent snapshots, and the targets trusted_root.json and
// signing_config.v0.2.json:
//
//	1.root.json, root.json          the root (root.json: the newest), the root to pin
//	<v>.targets.json                targets, by version
//	<v>.snapshot.json               snapshot, by version
//	timestamp.json                  the newest timestamp
//	targets/<sha256>.<name>         the target files
//	keys/<role>.pem                 the private keys (never served)
//
// The first run initialises the directory (root, targets, snapshot and
// timestamp version 1). A later run with -publish signs the next versions
// of targets, snapshot and timestamp with the same keys, with the targets
// given (a target not given keeps its content); the root stays. A later
// run without -publish only serves (-serve) or refuses to overwrite.
// Publishing writes the files a client reads last (timestamp.json) last,
// so a running server never serves a half-published version.
//
// -from-stack-env builds the targets from the local stack's env file
// (scripts/stack/up.sh): a trusted_root.json listing its Rekor v1 log
// (REKOR_URL, key REKOR_PUBKEY) and Rekor v2 log (REKOR_V2_READ_URL, key
// REKOR_V2_PUBKEY) and, when Fulcio answers at FULCIO_URL, Fulcio's CA; and
// a signing config listing the two logs with majorApiVersion 1 and 2.
// -extra-tlog URL=PEMFILE adds a log to that trusted root: the demo
// publishes such an unreviewed change for the monitor to report.
//
// Usage:
//
//	tufrepo -dir D (-trusted-root F [-signing-config F] | -from-stack-env ENV [-extra-tlog URL=PEM]...) [-publish] [-serve 127.0.0.1:PORT [-url-file F]]
//	tufrepo -dir D -serve 127.0.0.1:PORT
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	prototrustroot "github.com/sigstore/protobuf-specs/gen/pb-go/trustroot/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/vigil-tlog/vigil/internal/checkpoint"
	"github.com/vigil-tlog/vigil/internal/stack"
)

// Target names of Sigstore's TUF repositories.
const (
	trustedRootTarget   = "trusted_root.json"
	signingConfigTarget = "signing_config.v0.2.json"
)

// roles are the top-level roles, each with a key of its own.
var roles = []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP}

// Expiries of the metadata signed by a run, from now.
type expiries struct {
	root, targets, snapshot, timestamp time.Duration
}

var defaultExpiries = expiries{
	root:      365 * 24 * time.Hour,
	targets:   90 * 24 * time.Hour,
	snapshot:  30 * 24 * time.Hour,
	timestamp: 7 * 24 * time.Hour,
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("tufrepo", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "", "repository directory (required)")
	trFile := fl.String("trusted-root", "", "trusted_root.json to publish as a target")
	scFile := fl.String("signing-config", "", "signing_config.v0.2.json to publish as a target")
	envFile := fl.String("from-stack-env", "", "build trusted_root.json and the signing config from the local stack's env file")
	var extra listFlag
	fl.Var(&extra, "extra-tlog", "with -from-stack-env: one more transparency log in the trusted root, as `URL=PEMFILE` (repeatable; the signing config does not list it)")
	publish := fl.Bool("publish", false, "publish the next targets, snapshot and timestamp versions in an initialised directory")
	serve := fl.String("serve", "", "serve the directory over HTTP on this loopback address (127.0.0.1:PORT; port 0 picks one) until killed")
	urlFile := fl.String("url-file", "", "with -serve: write the mirror's URL to this file once listening")
	exp := defaultExpiries
	fl.DurationVar(&exp.root, "root-expires", exp.root, "lifetime of a new root")
	fl.DurationVar(&exp.targets, "targets-expires", exp.targets, "lifetime of new targets metadata")
	fl.DurationVar(&exp.snapshot, "snapshot-expires", exp.snapshot, "lifetime of new snapshot metadata")
	fl.DurationVar(&exp.timestamp, "timestamp-expires", exp.timestamp, "lifetime of new timestamp metadata")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(stderr, "tufrepo: "+format+"\n", a...)
		return code
	}
	if *dir == "" || fl.NArg() > 0 {
		return fail(2, "usage: tufrepo -dir D (-trusted-root F [-signing-config F] | -from-stack-env ENV) [-publish] [-serve 127.0.0.1:PORT [-url-file F]]")
	}
	if *envFile != "" && (*trFile != "" || *scFile != "") {
		return fail(2, "-from-stack-env builds the targets: give it or -trusted-root/-signing-config, not both")
	}
	if len(extra) > 0 && *envFile == "" {
		return fail(2, "-extra-tlog goes with -from-stack-env")
	}
	if *scFile != "" && *trFile == "" {
		return fail(2, "-signing-config goes with -trusted-root")
	}
	if *urlFile != "" && *serve == "" {
		return fail(2, "-url-file goes with -serve")
	}
	if *serve != "" {
		if err := checkLoopback(*serve); err != nil {
			return fail(2, "-serve: %v", err)
		}
	}

	targets := map[string][]byte{}
	switch {
	case *envFile != "":
		tr, sc, err := fromStackEnv(*envFile, extra, stderr)
		if err != nil {
			return fail(1, "%v", err)
		}
		targets[trustedRootTarget], targets[signingConfigTarget] = tr, sc
	case *trFile != "":
		b, err := os.ReadFile(*trFile)
		if err != nil {
			return fail(1, "%v", err)
		}
		if err := checkTrustedRoot(b); err != nil {
			return fail(1, "%s is not a trusted root: %v", *trFile, err)
		}
		targets[trustedRootTarget] = b
		if *scFile != "" {
			if b, err = os.ReadFile(*scFile); err != nil {
				return fail(1, "%v", err)
			}
			if err := checkSigningConfig(b); err != nil {
				return fail(1, "%s is not a signing config: %v", *scFile, err)
			}
			targets[signingConfigTarget] = b
		}
	}

	now := time.Now().UTC().Truncate(time.Second)
	initialised, err := isInitialised(*dir)
	if err != nil {
		return fail(1, "%v", err)
	}
	var st *state
	switch {
	case !initialised:
		if len(targets) == 0 {
			return fail(2, "%s holds no repository yet: give -trusted-root or -from-stack-env", *dir)
		}
		if st, err = initRepo(*dir, targets, exp, now); err != nil {
			return fail(1, "%v", err)
		}
	case *publish:
		if st, err = publishRepo(*dir, targets, exp, now); err != nil {
			return fail(1, "%v", err)
		}
	case len(targets) > 0:
		return fail(2, "%s already holds a repository: -publish publishes new targets", *dir)
	default:
		if st, err = loadState(*dir); err != nil {
			return fail(1, "%v", err)
		}
	}
	st.print(stdout, *dir)

	if *serve == "" {
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serveDir(ctx, *dir, *serve, *urlFile, stdout); err != nil {
		return fail(1, "%v", err)
	}
	return 0
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// checkLoopback refuses a listen address that is not a loopback IP: the
// repository is for local demos and tests.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s is not a loopback address (127.0.0.1:PORT)", addr)
	}
	return nil
}

// serveDir serves the repository in dir on addr until ctx is done.
func serveDir(ctx context.Context, dir, addr, urlFile string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	url := "http://" + ln.Addr().String()
	srv := &http.Server{Handler: handler(dir), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	if urlFile != "" {
		if err := writeFileAtomic(urlFile, []byte(url+"\n"), 0o644); err != nil {
			srv.Close()
			return err
		}
	}
	fmt.Fprintf(stdout, "serving %s at %s\n", dir, url)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var (
	metadataPath = regexp.MustCompile(`^/(root|timestamp|[0-9]+\.(root|snapshot|targets))\.json$`)
	targetPath   = regexp.MustCompile(`^/targets/[0-9a-f]{64}\.[A-Za-z0-9_.-]+$`)
)

// handler serves the repository's metadata and target files read-only,
// and nothing else (not the keys, no directory listings).
func handler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if (r.Method != http.MethodGet && r.Method != http.MethodHead) || strings.Contains(p, "..") ||
			(!metadataPath.MatchString(p) && !targetPath.MatchString(p)) {
			http.NotFound(w, r)
			return
		}
		// Versioned files never change; root.json and timestamp.json do.
		if p == "/root.json" || p == "/timestamp.json" {
			w.Header().Set("Cache-Control", "no-cache")
		}
		w.Header().Set("Content-Type", "application/json")
		files.ServeHTTP(w, r)
	})
}

// state is what a run published (or found).
type state struct {
	root      *metadata.Metadata[metadata.RootType]
	targets   *metadata.Metadata[metadata.TargetsType]
	snapshot  *metadata.Metadata[metadata.SnapshotType]
	timestamp *metadata.Metadata[metadata.TimestampType]
}

func (st *state) print(w io.Writer, dir string) {
	line := func(role string, v int64, exp time.Time) {
		fmt.Fprintf(w, "%-9s v%d expires %s\n", role, v, exp.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(w, "TUF repository %s (pin %s)\n", dir, filepath.Join(dir, "1.root.json"))
	line(metadata.ROOT, st.root.Signed.Version, st.root.Signed.Expires)
	line(metadata.TARGETS, st.targets.Signed.Version, st.targets.Signed.Expires)
	line(metadata.SNAPSHOT, st.snapshot.Signed.Version, st.snapshot.Signed.Expires)
	line(metadata.TIMESTAMP, st.timestamp.Signed.Version, st.timestamp.Signed.Expires)
	for _, name := range slices.Sorted(maps.Keys(st.targets.Signed.Targets)) {
		tf := st.targets.Signed.Targets[name]
		fmt.Fprintf(w, "target    %s sha256:%.16s... (%d bytes)\n", name, hex.EncodeToString(tf.Hashes["sha256"]), tf.Length)
	}
}

func isInitialised(dir string) (bool, error) {
	_, err := os.Stat(keyFile(dir, metadata.ROOT))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, err
	}
}

func keyFile(dir, role string) string { return filepath.Join(dir, "keys", role+".pem") }

// initRepo creates the keys and version 1 of every role in dir.
func initRepo(dir string, targets map[string][]byte, exp expiries, now time.Time) (*state, error) {
	if _, ok := targets[trustedRootTarget]; !ok {
		return nil, fmt.Errorf("a new repository needs %s", trustedRootTarget)
	}
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
		return nil, err
	}
	signers := map[string]signature.Signer{}
	rt := metadata.Root(now.Add(exp.root))
	rt.Signed.ConsistentSnapshot = true
	for _, role := range roles {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		if err := writeFileAtomic(keyFile(dir, role), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			return nil, err
		}
		s, k, err := signerFor(priv)
		if err != nil {
			return nil, err
		}
		if err := rt.Signed.AddKey(k, role); err != nil {
			return nil, fmt.Errorf("adding the %s key: %w", role, err)
		}
		signers[role] = s
	}
	rb, err := sign(rt, signers[metadata.ROOT])
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, "1.root.json"), rb, 0o644); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, "root.json"), rb, 0o644); err != nil {
		return nil, err
	}
	return write(dir, rt, signers, targets, 1, exp, now)
}

// publishRepo publishes the next versions of targets, snapshot and
// timestamp in dir, with targets replacing those of the same name.
func publishRepo(dir string, targets map[string][]byte, exp expiries, now time.Time) (*state, error) {
	st, err := loadState(dir)
	if err != nil {
		return nil, err
	}
	signers, err := loadSigners(dir, st.root)
	if err != nil {
		return nil, err
	}
	all := map[string][]byte{}
	for name, tf := range st.targets.Signed.Targets {
		b, err := os.ReadFile(filepath.Join(dir, "targets", hex.EncodeToString(tf.Hashes["sha256"])+"."+name))
		if err != nil {
			return nil, fmt.Errorf("reading the published target %s: %w", name, err)
		}
		if err := tf.VerifyLengthHashes(b); err != nil {
			return nil, fmt.Errorf("the published target %s: %w", name, err)
		}
		all[name] = b
	}
	for name, b := range targets {
		all[name] = b
	}
	v := max(st.targets.Signed.Version, st.snapshot.Signed.Version, st.timestamp.Signed.Version) + 1
	return write(dir, st.root, signers, all, v, exp, now)
}

// write writes the target files, then targets, snapshot and timestamp
// version v, signed by signers: timestamp.json, what clients read first,
// comes last.
func write(dir string, rt *metadata.Metadata[metadata.RootType], signers map[string]signature.Signer, targets map[string][]byte, v int64, exp expiries, now time.Time) (*state, error) {
	if err := os.MkdirAll(filepath.Join(dir, "targets"), 0o755); err != nil {
		return nil, err
	}
	tg := metadata.Targets(now.Add(exp.targets))
	tg.Signed.Version = v
	for name, data := range targets {
		if strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
			return nil, fmt.Errorf("target name %q: want a plain file name", name)
		}
		tf, err := metadata.TargetFile().FromBytes(name, data, "sha256")
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", name, err)
		}
		tg.Signed.Targets[name] = tf
		sum := sha256.Sum256(data)
		if err := writeFileAtomic(filepath.Join(dir, "targets", hex.EncodeToString(sum[:])+"."+name), data, 0o644); err != nil {
			return nil, err
		}
	}
	tb, err := sign(tg, signers[metadata.TARGETS])
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, fmt.Sprintf("%d.targets.json", v)), tb, 0o644); err != nil {
		return nil, err
	}

	sn := metadata.Snapshot(now.Add(exp.snapshot))
	sn.Signed.Version = v
	sn.Signed.Meta["targets.json"] = metaFile(v, tb)
	sb, err := sign(sn, signers[metadata.SNAPSHOT])
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, fmt.Sprintf("%d.snapshot.json", v)), sb, 0o644); err != nil {
		return nil, err
	}

	ts := metadata.Timestamp(now.Add(exp.timestamp))
	ts.Signed.Version = v
	ts.Signed.Meta["snapshot.json"] = metaFile(v, sb)
	tsb, err := sign(ts, signers[metadata.TIMESTAMP])
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dir, "timestamp.json"), tsb, 0o644); err != nil {
		return nil, err
	}
	return &state{root: rt, targets: tg, snapshot: sn, timestamp: ts}, nil
}

// loadState reads the newest root and the targets, snapshot and timestamp
// that timestamp.json leads to.
func loadState(dir string) (*state, error) {
	st := &state{}
	var err error
	if st.root, err = metadata.Root().FromFile(filepath.Join(dir, "root.json")); err != nil {
		return nil, fmt.Errorf("reading root.json: %w", err)
	}
	if st.timestamp, err = metadata.Timestamp().FromFile(filepath.Join(dir, "timestamp.json")); err != nil {
		return nil, fmt.Errorf("reading timestamp.json: %w", err)
	}
	sm, ok := st.timestamp.Signed.Meta["snapshot.json"]
	if !ok {
		return nil, errors.New("timestamp.json names no snapshot")
	}
	if st.snapshot, err = metadata.Snapshot().FromFile(filepath.Join(dir, fmt.Sprintf("%d.snapshot.json", sm.Version))); err != nil {
		return nil, fmt.Errorf("reading snapshot version %d: %w", sm.Version, err)
	}
	tm, ok := st.snapshot.Signed.Meta["targets.json"]
	if !ok {
		return nil, errors.New("the snapshot names no targets")
	}
	if st.targets, err = metadata.Targets().FromFile(filepath.Join(dir, fmt.Sprintf("%d.targets.json", tm.Version))); err != nil {
		return nil, fmt.Errorf("reading targets version %d: %w", tm.Version, err)
	}
	return st, nil
}

// loadSigners reads the role keys in dir and checks that rt trusts each.
func loadSigners(dir string, rt *metadata.Metadata[metadata.RootType]) (map[string]signature.Signer, error) {
	signers := map[string]signature.Signer{}
	for _, role := range roles {
		b, err := os.ReadFile(keyFile(dir, role))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s: no PEM block", keyFile(dir, role))
		}
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyFile(dir, role), err)
		}
		priv, ok := k.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%s: not an Ed25519 key", keyFile(dir, role))
		}
		s, tk, err := signerFor(priv)
		if err != nil {
			return nil, err
		}
		id, err := tk.ID()
		if err != nil {
			return nil, err
		}
		if r := rt.Signed.Roles[role]; r == nil || !slices.Contains(r.KeyIDs, id) {
			return nil, fmt.Errorf("the root does not trust %s for role %s", keyFile(dir, role), role)
		}
		signers[role] = s
	}
	return signers, nil
}

func signerFor(priv ed25519.PrivateKey) (signature.Signer, *metadata.Key, error) {
	s, err := signature.LoadED25519Signer(priv)
	if err != nil {
		return nil, nil, err
	}
	k, err := metadata.KeyFromPublicKey(priv.Public())
	if err != nil {
		return nil, nil, err
	}
	return s, k, nil
}

// sign replaces md's signatures with one by s and returns its JSON.
func sign[T metadata.Roles](md *metadata.Metadata[T], s signature.Signer) ([]byte, error) {
	md.ClearSignatures()
	if _, err := md.Sign(s); err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return md.ToBytes(true)
}

func metaFile(version int64, data []byte) *metadata.MetaFiles {
	sum := sha256.Sum256(data)
	return &metadata.MetaFiles{Version: version, Length: int64(len(data)), Hashes: metadata.Hashes{"sha256": sum[:]}}
}

// writeFileAtomic writes data to name through a temporary file and a
// rename, so that a reader sees the old or the new content.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), perm)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Media types of the targets (sigstore-go's root.TrustedRootMediaType01
// and root.SigningConfigMediaType02; sigstore-go's root package is not
// imported: its dependencies import testing).
const (
	trustedRootMediaType   = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
	signingConfigMediaType = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
)

// checkTrustedRoot checks that b is a trusted root (protobuf JSON of the
// right media type).
func checkTrustedRoot(b []byte) error {
	var tr prototrustroot.TrustedRoot
	if err := protojson.Unmarshal(b, &tr); err != nil {
		return err
	}
	if tr.GetMediaType() != trustedRootMediaType {
		return fmt.Errorf("media type %q, want %q", tr.GetMediaType(), trustedRootMediaType)
	}
	return nil
}

// checkSigningConfig checks that b is a v0.2 signing config.
func checkSigningConfig(b []byte) error {
	var sc prototrustroot.SigningConfig
	if err := protojson.Unmarshal(b, &sc); err != nil {
		return err
	}
	if sc.GetMediaType() != signingConfigMediaType {
		return fmt.Errorf("media type %q, want %q", sc.GetMediaType(), signingConfigMediaType)
	}
	return nil
}

// fromStackEnv builds trusted_root.json and signing_config.v0.2.json for
// the local stack described by envFile.
func fromStackEnv(envFile string, extraTlogs []string, stderr io.Writer) (trJSON, scJSON []byte, err error) {
	env, err := stack.ReadEnv(envFile)
	if err != nil {
		return nil, nil, err
	}
	get := func(k string) (string, error) {
		if v := env[k]; v != "" {
			return v, nil
		}
		return "", fmt.Errorf("%s: no %s", envFile, k)
	}
	tr := &prototrustroot.TrustedRoot{MediaType: trustedRootMediaType}
	sc := &prototrustroot.SigningConfig{
		MediaType:       signingConfigMediaType,
		RekorTlogConfig: &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
		TsaConfig:       &prototrustroot.ServiceConfiguration{Selector: prototrustroot.ServiceSelector_ANY},
	}
	for _, l := range []struct {
		urlKey, keyKey, originKey string
		api                       uint32
	}{{"REKOR_URL", "REKOR_PUBKEY", "", 1}, {"REKOR_V2_READ_URL", "REKOR_V2_PUBKEY", "REKOR_V2_ORIGIN", 2}} {
		u, err := get(l.urlKey)
		if err != nil {
			return nil, nil, err
		}
		kf, err := get(l.keyKey)
		if err != nil {
			return nil, nil, err
		}
		origin := ""
		if l.originKey != "" {
			if origin, err = get(l.originKey); err != nil {
				return nil, nil, err
			}
		}
		tl, err := transparencyLog(u, kf, origin)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", l.keyKey, err)
		}
		tr.Tlogs = append(tr.Tlogs, tl)
		sc.RekorTlogUrls = append(sc.RekorTlogUrls, service(u, l.api, tl.GetPublicKey().GetValidFor().GetStart().AsTime()))
	}
	for _, e := range extraTlogs {
		u, kf, ok := strings.Cut(e, "=")
		if !ok || u == "" || kf == "" {
			return nil, nil, fmt.Errorf("-extra-tlog %q: want URL=PEMFILE", e)
		}
		tl, err := transparencyLog(u, kf, "")
		if err != nil {
			return nil, nil, fmt.Errorf("-extra-tlog %s: %w", u, err)
		}
		tr.Tlogs = append(tr.Tlogs, tl)
	}
	if u := env["FULCIO_URL"]; u != "" {
		ca, start, err := fulcioCA(u)
		if err != nil {
			// Optional: the logs are what the demo's monitor needs.
			fmt.Fprintf(stderr, "tufrepo: leaving Fulcio's CA out of the trusted root: %v\n", err)
		} else {
			tr.CertificateAuthorities = append(tr.CertificateAuthorities, ca)
			sc.CaUrls = append(sc.CaUrls, service(u, 1, start))
		}
	}
	if u := env["OIDC_ISSUER"]; u != "" {
		sc.OidcUrls = append(sc.OidcUrls, service(u, 1, time.Unix(0, 0)))
	}
	if trJSON, err = protojson.Marshal(tr); err != nil {
		return nil, nil, fmt.Errorf("marshalling the trusted root: %w", err)
	}
	if scJSON, err = protojson.Marshal(sc); err != nil {
		return nil, nil, fmt.Errorf("marshalling the signing config: %w", err)
	}
	return trJSON, scJSON, nil
}

func service(url string, api uint32, start time.Time) *prototrustroot.Service {
	return &prototrustroot.Service{
		Url:             url,
		MajorApiVersion: api,
		ValidFor:        &protocommon.TimeRange{Start: timestamppb.New(start)},
		Operator:        "vigil-demo",
	}
}

// transparencyLog is the log at baseURL with the PEM public key in
// keyFile. Its log ID is the SHA-256 of the DER public key, or for a Rekor
// v2 log (origin set) its checkpoint key ID, as Sigstore's trusted roots
// give them (checkpoint.NoteKeyID); its key is
// valid from the key file's modification time (when the stack made it),
// an hour earlier for clock skew.
func transparencyLog(baseURL, keyFile, origin string) (*prototrustroot.TransparencyLogInstance, error) {
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(keyFile)
	if err != nil {
		return nil, err
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(b)
	if err != nil {
		return nil, err
	}
	var details protocommon.PublicKeyDetails
	switch k := pub.(type) {
	case ed25519.PublicKey:
		details = protocommon.PublicKeyDetails_PKIX_ED25519
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P256_SHA_256
		case elliptic.P384():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P384_SHA_384
		case elliptic.P521():
			details = protocommon.PublicKeyDetails_PKIX_ECDSA_P521_SHA_512
		default:
			return nil, errors.New("unsupported ECDSA curve")
		}
	default:
		return nil, fmt.Errorf("unsupported public key type %T (want ECDSA or Ed25519)", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	id := sum[:]
	if origin != "" {
		hexID, err := checkpoint.NoteKeyID(origin, pub)
		if err != nil {
			return nil, err
		}
		if id, err = hex.DecodeString(hexID); err != nil {
			return nil, err
		}
	}
	return &prototrustroot.TransparencyLogInstance{
		BaseUrl:       baseURL,
		HashAlgorithm: protocommon.HashAlgorithm_SHA2_256,
		PublicKey: &protocommon.PublicKey{
			RawBytes:   der,
			KeyDetails: details,
			ValidFor:   &protocommon.TimeRange{Start: timestamppb.New(fi.ModTime().UTC().Add(-time.Hour).Truncate(time.Second))},
		},
		LogId: &protocommon.LogId{KeyId: id},
	}, nil
}

// fulcioCA fetches the CA chain Fulcio at baseURL serves
// (/api/v2/trustBundle: what the running Fulcio issues from, whatever its CA) and
// returns it with the start of its validity.
func fulcioCA(baseURL string) (*prototrustroot.CertificateAuthority, time.Time, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(strings.TrimSuffix(baseURL, "/") + "/api/v2/trustBundle")
	if err != nil {
		return nil, time.Time{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("%s: %s", resp.Request.URL, resp.Status)
	}
	var bundle struct {
		Chains []struct {
			Certificates []string `json:"certificates"`
		} `json:"chains"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&bundle); err != nil {
		return nil, time.Time{}, fmt.Errorf("parsing Fulcio's trust bundle: %w", err)
	}
	if len(bundle.Chains) == 0 || len(bundle.Chains[0].Certificates) == 0 {
		return nil, time.Time{}, errors.New("fulcio's trust bundle holds no chain")
	}
	var certs []*x509.Certificate
	for _, p := range bundle.Chains[0].Certificates {
		cs, err := cryptoutils.UnmarshalCertificatesFromPEM([]byte(p))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("parsing Fulcio's trust bundle: %w", err)
		}
		certs = append(certs, cs...)
	}
	if len(certs) == 0 {
		return nil, time.Time{}, errors.New("fulcio's trust bundle holds no certificate")
	}
	// The chain runs from the issuing CA to the root, as in a trusted root.
	rootCert := certs[len(certs)-1]
	chain := &protocommon.X509CertificateChain{}
	for _, c := range certs {
		chain.Certificates = append(chain.Certificates, &protocommon.X509Certificate{RawBytes: c.Raw})
	}
	start := rootCert.NotBefore.UTC()
	ca := &prototrustroot.CertificateAuthority{
		Subject: &protocommon.DistinguishedName{
			Organization: strings.Join(rootCert.Subject.Organization, ","),
			CommonName:   rootCert.Subject.CommonName,
		},
		Uri:       baseURL,
		CertChain: chain,
		ValidFor:  &protocommon.TimeRange{Start: timestamppb.New(start)},
	}
	return ca, start, nil
}
