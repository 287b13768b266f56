// Command hostilelog serves a hostile Rekor log on 127.0.0.1 and measures
// the peak memory of `monitor check` against it.
//
//	hostilelog -measure                     # build cmd/monitor, run every scenario, print peak RSS
//	hostilelog -serve -kind rekor-v1 -mode huge
//
// The log speaks enough of Rekor v1 (GET /api/v1/log with a checkpoint
// signed like rekor-server, GET /api/v1/log/proof, POST
// /api/v1/log/entries/retrieve) or Rekor v2 (checkpoint, tiles, entry
// bundles) for a full check, and answers entry requests in one of two modes:
//
//   - huge: every answer is -huge-size bytes (default 30 MB) of well-formed
//     JSON or bundle, streamed without a Content-Length: more than the
//     monitor allows, so the check must end with no verdict (exit 3).
//   - max: the largest answers a legitimate log can give: Rekor v1 entries
//     of 4 MiB (Trillian's default gRPC limit), Rekor v2 bundles of 256
//     entries of 65535 bytes (the tlog-tiles maximum), also streamed. The
//     entries are in the signed tree (so the check verifies) but parse as
//     nothing (so each raises a malformed-entry event).
//
// -measure builds cmd/monitor (or uses -monitor), runs `monitor check` with
// default settings against each kind and mode, and prints the exit code and
// peak RSS (ru_maxrss of the child) of each, then
//
//	peak RSS against a log answering with the largest bodies it is allowed to: N MiB
//
// where N is the largest figure of the max mode. Exit status: 0 measured,
// 1 a check ended other than as its scenario dictates (or -max-rss was
// exceeded), 2 usage error.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	origin = "hostile.example"
	treeID = "1234567890"
	// maxV1Entry is the largest Rekor v1 entry: Trillian's default 4 MiB
	// gRPC message limit, less room for the rest of the message.
	maxV1Entry = 4<<20 - 4<<10
	// maxV2Entry is the largest tlog-tiles entry.
	maxV2Entry = 0xffff
)

func main() {
	if os.Getenv(launchEnv) != "" {
		os.Exit(launch(os.Args[1:]))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// launchEnv, when set in the environment of this program (or of its test
// binary, see TestMain), makes it a launcher: it runs its arguments as a
// command and writes the command's exit code and peak RSS into the file the
// variable names.
//
// The peak must not be read from a child that this (large) process starts:
// os/exec starts children with vfork, and Linux carries the parent's peak
// resident set over into the child's ru_maxrss at exec. The launcher is a
// small fresh process, so its child's ru_maxrss is the monitor's own (or
// the launcher's few MiB, whichever is more).
const launchEnv = "HOSTILELOG_LAUNCH_RESULT"

func launch(args []string) int {
	out := os.Getenv(launchEnv)
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "hostilelog launcher: no command")
		return 2
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, launchEnv+"=") })
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "hostilelog launcher:", err)
		return 1
	}
	var maxrss int64
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss
	}
	if err := os.WriteFile(out, fmt.Appendf(nil, "%d %d\n", cmd.ProcessState.ExitCode(), maxrss), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "hostilelog launcher:", err)
		return 1
	}
	return 0
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("hostilelog", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		serve    = fs.Bool("serve", false, "serve one log until interrupted and print its URL and key file")
		measure  = fs.Bool("measure", false, "run monitor check against every scenario and print its peak RSS")
		kind     = fs.String("kind", "rekor-v1", "-serve: rekor-v1 or rekor-v2")
		mode     = fs.String("mode", "huge", "-serve: huge or max")
		hugeSize = fs.Int("huge-size", 30_000_000, "bytes of each answer in huge mode")
		monitor  = fs.String("monitor", "", "monitor binary (default: go build ./cmd/monitor)")
		maxRSS   = fs.Int("max-rss", 0, "-measure: exit 1 when a check peaks above this many MiB (0: no bound)")
		memLimit = fs.String("gomemlimit", "", "-measure: GOMEMLIMIT for the monitor (default: unset)")
	)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	switch {
	case *serve:
		l, err := newLog(*kind, *mode, *hugeSize)
		if err != nil {
			fmt.Fprintln(stderr, "hostilelog:", err)
			return 2
		}
		dir, err := os.MkdirTemp("", "hostilelog")
		if err != nil {
			fmt.Fprintln(stderr, "hostilelog:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		srv, keyFile, err := l.start(dir)
		if err != nil {
			fmt.Fprintln(stderr, "hostilelog:", err)
			return 1
		}
		defer srv.Close()
		fmt.Fprintf(stdout, "serving %s (%s mode) at http://%s, origin %s, public key %s\n", *kind, *mode, srv.Addr, origin, keyFile)
		select {}
	case *measure:
		bin := *monitor
		dir, err := os.MkdirTemp("", "hostilelog")
		if err != nil {
			fmt.Fprintln(stderr, "hostilelog:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		if bin == "" {
			bin = filepath.Join(dir, "monitor")
			if err := buildMonitor(bin); err != nil {
				fmt.Fprintln(stderr, "hostilelog:", err)
				return 1
			}
		}
		results, err := Measure(bin, dir, *hugeSize, *memLimit, stdout)
		if err != nil {
			fmt.Fprintln(stderr, "hostilelog:", err)
			return 1
		}
		peak := 0
		for _, r := range results {
			if r.Mode == "max" {
				peak = max(peak, r.PeakMiB())
			}
		}
		fmt.Fprintf(stdout, "peak RSS against a log answering with the largest bodies it is allowed to: %d MiB\n", peak)
		code := 0
		for _, r := range results {
			if r.Err != nil {
				fmt.Fprintf(stderr, "hostilelog: %s %s: %v\n", r.Kind, r.Mode, r.Err)
				code = 1
			}
			if *maxRSS > 0 && r.PeakMiB() > *maxRSS {
				fmt.Fprintf(stderr, "hostilelog: %s %s: peak RSS %d MiB, over %d MiB\n", r.Kind, r.Mode, r.PeakMiB(), *maxRSS)
				code = 1
			}
		}
		return code
	}
	fmt.Fprintln(stderr, "hostilelog: want -serve or -measure")
	fs.Usage()
	return 2
}

// buildMonitor builds cmd/monitor into bin.
func buildMonitor(bin string) error {
	cmd := exec.Command("go", "build", "-o", bin, "github.com/vigil-tlog/vigil/cmd/monitor")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building cmd/monitor: %w", err)
	}
	return nil
}

// Result is one scenario's outcome.
type Result struct {
	Kind, Mode string
	Exit       int
	PeakKiB    int64
	// Err is set when the check did not end as the scenario dictates.
	Err error
}

// PeakMiB is the peak RSS in MiB, rounded up.
func (r Result) PeakMiB() int { return int((r.PeakKiB + 1023) / 1024) }

// Measure runs `monitor check` (binary bin) with default settings (and
// GOMEMLIMIT memLimit, "" for none) against each kind of log in each mode,
// in scratch directories under dir, and prints a line per scenario to w.
func Measure(bin, dir string, hugeSize int, memLimit string, w io.Writer) ([]Result, error) {
	var out []Result
	for _, kind := range []string{"rekor-v1", "rekor-v2"} {
		for _, mode := range []string{"huge", "max"} {
			r, err := measureOne(bin, filepath.Join(dir, kind+"-"+mode), kind, mode, hugeSize, memLimit)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", kind, mode, err)
			}
			fmt.Fprintf(w, "%s, %s answers: exit %d, peak RSS %d MiB\n", kind, describe(mode, hugeSize), r.Exit, r.PeakMiB())
			out = append(out, r)
		}
	}
	return out, nil
}

func describe(mode string, hugeSize int) string {
	if mode == "huge" {
		return fmt.Sprintf("%d-byte", hugeSize)
	}
	return "largest legitimate"
}

// measureOne serves one log and runs one check against it.
func measureOne(bin, dir, kind, mode string, hugeSize int, memLimit string) (Result, error) {
	res := Result{Kind: kind, Mode: mode}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, err
	}
	l, err := newLog(kind, mode, hugeSize)
	if err != nil {
		return res, err
	}
	srv, keyFile, err := l.start(dir)
	if err != nil {
		return res, err
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	logFile := filepath.Join(dir, "monitor.log")
	f, err := os.Create(logFile)
	if err != nil {
		return res, err
	}
	defer f.Close()
	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	result := filepath.Join(dir, "launch.result")
	cmd := exec.CommandContext(ctx, self, bin, "check", "--log-url", "http://"+srv.Addr, "--log-kind", kind,
		"--origin", origin, "--public-key", keyFile, "--state-dir", filepath.Join(dir, "state"), "--log-format", "text")
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), "GOMEMLIMIT="+memLimit, "GOGC=", launchEnv+"="+result)
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("running monitor check through the launcher: %w; output ends:\n%s", err, tail(logFile, 4096))
	}
	if _, err := fmt.Sscan(readFile(result), &res.Exit, &res.PeakKiB); err != nil {
		return res, fmt.Errorf("reading the launcher's result %s: %w", result, err)
	}
	want := map[string]int{"huge": 3, "max": 0}[mode]
	if res.Exit != want {
		res.Err = fmt.Errorf("monitor check exited %d, want %d; its output ends:\n%s", res.Exit, want, tail(logFile, 4096))
	} else if mode == "huge" && !strings.Contains(readFile(logFile), "scan.memory_budget") {
		res.Err = fmt.Errorf("the no-verdict error does not name scan.memory_budget; output ends:\n%s", tail(logFile, 4096))
	}
	return res, nil
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

func tail(name string, n int) string {
	s := readFile(name)
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return s
}

// hostileLog is one log: its entries (generated, never stored), their
// Merkle tree and its signed checkpoint.
type hostileLog struct {
	kind, mode string
	hugeSize   int
	size       int64
	entrySize  int

	hashes []tlog.Hash // stored hashes of the tree (tlog layout)
	note   []byte
	root   tlog.Hash
	pubPEM []byte
}

func newLog(kind, mode string, hugeSize int) (*hostileLog, error) {
	l := &hostileLog{kind: kind, mode: mode, hugeSize: hugeSize}
	switch {
	case kind == "rekor-v1" && mode == "huge":
		l.size, l.entrySize = 100, 100
	case kind == "rekor-v1" && mode == "max":
		l.size, l.entrySize = 20, maxV1Entry
	case kind == "rekor-v2" && mode == "huge":
		l.size, l.entrySize = 1024, 100
	case kind == "rekor-v2" && mode == "max":
		l.size, l.entrySize = 8*256, maxV2Entry
	default:
		return nil, fmt.Errorf("kind %q, mode %q: want rekor-v1 or rekor-v2, huge or max", kind, mode)
	}
	r := tlog.HashReaderFunc(l.readHashes)
	for i := range l.size {
		hs, err := tlog.StoredHashes(i, l.entry(uint64(i)), r)
		if err != nil {
			return nil, err
		}
		l.hashes = append(l.hashes, hs...)
	}
	root, err := tlog.TreeHash(l.size, r)
	if err != nil {
		return nil, err
	}
	l.root = root
	text := fmt.Sprintf("%s\n%d\n%s\n", origin, l.size, base64.StdEncoding.EncodeToString(root[:]))
	var signer note.Signer
	if kind == "rekor-v1" {
		text = fmt.Sprintf("%s - %s\n%d\n%s\n", origin, treeID, l.size, base64.StdEncoding.EncodeToString(root[:]))
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		s, err := newV1Signer(key)
		if err != nil {
			return nil, err
		}
		signer = s
		if l.pubPEM, err = pemKey(key.Public()); err != nil {
			return nil, err
		}
	} else {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		vkey, err := note.NewEd25519VerifierKey(origin, pub)
		if err != nil {
			return nil, err
		}
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, err
		}
		skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, v.KeyHash(), base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...)))
		if signer, err = note.NewSigner(skey); err != nil {
			return nil, err
		}
		if l.pubPEM, err = pemKey(pub); err != nil {
			return nil, err
		}
	}
	if l.note, err = note.Sign(&note.Note{Text: text}, signer); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *hostileLog) readHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("no stored hash %d", x)
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

// entry returns entry i: entrySize bytes that depend on i and parse as no
// Rekor entry.
func (l *hostileLog) entry(i uint64) []byte {
	var block [64]byte
	sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, i))
	hex.Encode(block[:], sum[:])
	b := bytes.Repeat(block[:], l.entrySize/len(block)+1)
	return b[:l.entrySize]
}

func pemKey(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// v1Signer signs like rekor-server: key hash from the SHA-256 of the DER
// public key, ECDSA over the SHA-256 of the text.
type v1Signer struct {
	hash uint32
	key  *ecdsa.PrivateKey
}

func newV1Signer(key *ecdsa.PrivateKey) (*v1Signer, error) {
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &v1Signer{hash: binary.BigEndian.Uint32(sum[:4]), key: key}, nil
}

func (s *v1Signer) Name() string    { return origin }
func (s *v1Signer) KeyHash() uint32 { return s.hash }
func (s *v1Signer) Sign(msg []byte) ([]byte, error) {
	d := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.key, d[:])
}

// server is a running log.
type server struct {
	Addr string
	srv  *http.Server
	wg   sync.WaitGroup
}

func (s *server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx)
	s.srv.Close()
	s.wg.Wait()
}

// start serves l on 127.0.0.1 and writes its public key to dir.
func (l *hostileLog) start(dir string) (*server, string, error) {
	keyFile := filepath.Join(dir, "log.pub")
	if err := os.WriteFile(keyFile, l.pubPEM, 0o600); err != nil {
		return nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	s := &server{Addr: ln.Addr().String(), srv: &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.srv.Serve(ln) }()
	return s, keyFile, nil
}

func (l *hostileLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.kind == "rekor-v1" {
		l.serveV1(w, r)
	} else {
		l.serveV2(w, r)
	}
}

func (l *hostileLog) serveV1(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/log":
		writeJSON(w, map[string]any{"treeID": treeID, "treeSize": l.size, "rootHash": hex.EncodeToString(l.root[:]), "signedTreeHead": string(l.note)})
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/log/proof":
		first, err1 := strconv.ParseInt(r.URL.Query().Get("firstSize"), 10, 64)
		last, err2 := strconv.ParseInt(r.URL.Query().Get("lastSize"), 10, 64)
		if err1 != nil || err2 != nil || last != l.size {
			http.Error(w, "bad sizes", http.StatusBadRequest)
			return
		}
		p, err := tlog.ProveTree(last, first, tlog.HashReaderFunc(l.readHashes))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hs := make([]string, len(p))
		for i, h := range p {
			hs[i] = hex.EncodeToString(h[:])
		}
		writeJSON(w, map[string]any{"rootHash": hex.EncodeToString(l.root[:]), "hashes": hs})
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/log/entries/retrieve":
		var q struct {
			LogIndexes []int64 `json:"logIndexes"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&q); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.retrieve(w, q.LogIndexes)
	default:
		http.NotFound(w, r)
	}
}

// retrieve streams the answer for the entries idx: in huge mode each body
// is padded so that the answer is hugeSize bytes.
func (l *hostileLog) retrieve(w http.ResponseWriter, idx []int64) {
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	pad := 0
	if l.mode == "huge" && len(idx) > 0 {
		pad = l.hugeSize / len(idx)
	}
	bw.WriteString("[")
	for k, i := range idx {
		if i < 0 || i >= l.size {
			continue
		}
		if k > 0 {
			bw.WriteString(",")
		}
		data := l.entry(uint64(i))
		if pad > 0 {
			data = bytes.Repeat([]byte{'x'}, pad*3/4)
		}
		fmt.Fprintf(bw, `{"%064x":{"integratedTime":1700000000,"logID":"%064x","logIndex":%d,"body":"`, i, 0, i)
		enc := base64.NewEncoder(base64.StdEncoding, bw)
		enc.Write(data)
		enc.Close()
		bw.WriteString(`","verification":{"signedEntryTimestamp":"AAAA"}}}`)
	}
	bw.WriteString("]")
}

func (l *hostileLog) serveV2(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	switch {
	case p == "checkpoint":
		w.Write(l.note)
	case strings.HasPrefix(p, "tile/entries/"):
		n, width, ok := parseTileN(strings.TrimPrefix(p, "tile/entries/"))
		if !ok || n*256 >= l.size {
			http.NotFound(w, r)
			return
		}
		l.bundle(w, n, width)
	case strings.HasPrefix(p, "tile/"):
		rest := strings.TrimPrefix(p, "tile/")
		level, rest, _ := strings.Cut(rest, "/")
		lv, err := strconv.Atoi(level)
		n, width, ok := parseTileN(rest)
		if err != nil || !ok {
			http.NotFound(w, r)
			return
		}
		if width == 0 {
			width = 256
		}
		t := tlog.Tile{H: 8, L: lv, N: n, W: width}
		data, err := tlog.ReadTileData(t, tlog.HashReaderFunc(l.readHashes))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	default:
		http.NotFound(w, r)
	}
}

// parseTileN parses a tlog-tiles N[.p/W] path ("x001/234" groups).
func parseTileN(s string) (n int64, width int, ok bool) {
	s, part, partial := strings.Cut(s, ".p/")
	for _, g := range strings.Split(s, "/") {
		g = strings.TrimPrefix(g, "x")
		v, err := strconv.Atoi(g)
		if err != nil || len(g) != 3 {
			return 0, 0, false
		}
		n = n*1000 + int64(v)
	}
	if partial {
		w, err := strconv.Atoi(part)
		if err != nil || w <= 0 || w >= 256 {
			return 0, 0, false
		}
		width = w
	}
	return n, width, true
}

// bundle streams entry bundle n: in huge mode hugeSize bytes of entries.
func (l *hostileLog) bundle(w http.ResponseWriter, n int64, width int) {
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	if l.mode == "huge" {
		e := bytes.Repeat([]byte{'x'}, maxV2Entry)
		for written := 0; written < l.hugeSize; written += 2 + len(e) {
			bw.Write(binary.BigEndian.AppendUint16(nil, uint16(len(e))))
			bw.Write(e)
		}
		return
	}
	count := int64(256)
	if width > 0 {
		count = int64(width)
	}
	for i := n * 256; i < n*256+count && i < l.size; i++ {
		e := l.entry(uint64(i))
		bw.Write(binary.BigEndian.AppendUint16(nil, uint16(len(e))))
		bw.Write(e)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
