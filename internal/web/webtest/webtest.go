// Package webtest drives a real headless Chromium for tests of the web
// page: the DOM a page has after it loaded (scripts run, as a browser
// shows it) and screenshots, saved as test artefacts.
//
// It runs the chromium binary once per call (--headless --dump-dom, or
// --screenshot), with a user data directory of the test's own, so that
// no state from the developer's browser leaks in and nothing is left
// behind. When no Chromium is installed the test stops through
// [testenv.Unavailable]: skipped on a developer's machine, failed under
// CI=true.
package webtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// Timeout bounds one Chromium run (a run that times out is tried once
// more).
const Timeout = 30 * time.Second

// stderrLines is how many of Chromium's last stderr lines an error holds.
const stderrLines = 15

// Browser runs a headless Chromium. Its methods are safe for concurrent
// use; runs are serialised, here and across test processes.
type Browser struct {
	path string
	dir  string // user data directory

	mu sync.Mutex // serialises runs on dir
}

// Chromium returns a Browser for t, with a fresh user data directory that
// is removed when t ends. It looks for $VIGIL_CHROMIUM, then chromium
// (Debian's package), chromium-browser and google-chrome on $PATH; when
// there is none it stops t through testenv.Unavailable.
func Chromium(t testing.TB) *Browser {
	t.Helper()
	path, err := find()
	if err != nil {
		testenv.Unavailable(t, "chromium", "apt-get install chromium ("+err.Error()+")")
	}
	return &Browser{path: path, dir: t.TempDir()}
}

// find returns the Chromium binary to run.
func find() (string, error) {
	if p := os.Getenv("VIGIL_CHROMIUM"); p != "" {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("VIGIL_CHROMIUM: %w", err)
		}
		if fi.IsDir() {
			return "", fmt.Errorf("VIGIL_CHROMIUM: %s is a directory", p)
		}
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("none of chromium, chromium-browser, google-chrome is on $PATH and VIGIL_CHROMIUM is not set")
}

// Path is the Chromium binary b runs.
func (b *Browser) Path() string { return b.path }

// DOM loads url and returns the document as Chromium serialises it once
// the page has loaded (--dump-dom): after the page's scripts ran, so that
// an injected script that ran would show in it.
func (b *Browser) DOM(ctx context.Context, url string) (string, error) {
	out, err := b.run(ctx, "--dump-dom", url)
	if err != nil {
		return "", fmt.Errorf("dumping the DOM of %s: %w", url, err)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return "", fmt.Errorf("dumping the DOM of %s: chromium printed nothing", url)
	}
	return string(out), nil
}

// Screenshot loads url in a window of width by height pixels and saves a
// PNG of it in file. The scroll bars are hidden; the picture is the
// window, not the whole page.
func (b *Browser) Screenshot(ctx context.Context, url, file string, width, height int) error {
	_, err := b.capture(ctx, url, file, width, height, false)
	return err
}

// Capture does what DOM and Screenshot do, in one run of Chromium (it
// starts slowly): it returns the DOM of url after load and saves a
// screenshot of it in file.
func (b *Browser) Capture(ctx context.Context, url, file string, width, height int) (string, error) {
	return b.capture(ctx, url, file, width, height, true)
}

func (b *Browser) capture(ctx context.Context, url, file string, width, height int, dom bool) (string, error) {
	if width <= 0 || height <= 0 {
		return "", fmt.Errorf("screenshot of %s: window %dx%d", url, width, height)
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", err
	}
	// A screenshot that failed must not pass for one that was taken.
	if err := os.Remove(abs); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	args := []string{"--hide-scrollbars", fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot=" + abs}
	if dom {
		args = append(args, "--dump-dom")
	}
	out, err := b.run(ctx, append(args, url)...)
	if err != nil {
		return "", fmt.Errorf("screenshot of %s: %w", url, err)
	}
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		return "", fmt.Errorf("screenshot of %s: chromium wrote no %s", url, abs)
	}
	if dom && len(bytes.TrimSpace(out)) == 0 {
		return "", fmt.Errorf("dumping the DOM of %s: chromium printed nothing", url)
	}
	return string(out), nil
}

// run runs Chromium headless with args and returns its stdout. Runs are
// serialised across processes (the test binaries of several packages run
// at once), and a run that does not finish within Timeout is tried once
// more: Chromium's start-up is slow, and on a loaded machine one start may
// be starved.
func (b *Browser) run(ctx context.Context, args ...string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	unlock, err := lockRuns(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	out, err := b.runOnce(ctx, args)
	if errors.Is(err, errTimeout) && ctx.Err() == nil {
		out, err = b.runOnce(ctx, args)
	}
	return out, err
}

// errTimeout marks a run that did not finish within Timeout.
var errTimeout = errors.New("chromium did not finish in time")

// runOnce runs Chromium once. Chromium runs in a process group of its
// own, killed as a whole on timeout and after it exits, so that no helper
// process outlives the run.
func (b *Browser) runOnce(ctx context.Context, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	full := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
		"--user-data-dir=" + b.dir}, args...)
	cmd := exec.CommandContext(ctx, b.path, full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if cmd.Process != nil {
		// Helpers (zygote, GPU, crash handler) share the group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	switch {
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w within %s (%w); its last output:\n%s", errTimeout, Timeout, ctx.Err(), tail(stderr.String(), stderrLines))
	case err != nil:
		return nil, fmt.Errorf("running chromium: %w; its last output:\n%s", err, tail(stderr.String(), stderrLines))
	}
	return stdout.Bytes(), nil
}

// lockRuns takes the lock that serialises Chromium runs on this machine (a
// file lock in the temporary directory), waiting for it until ctx is done,
// and returns its release.
func lockRuns(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "vigil-webtest-chromium.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("opening the chromium lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("taking the chromium lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for another test's chromium: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ArtifactDir returns the directory for test artefacts (screenshots),
// creating it: $VIGIL_ARTIFACTS, or .artifacts at the root of the
// repository (the first directory up from the working directory that
// holds go.mod). It fails t when it can make neither.
func ArtifactDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("VIGIL_ARTIFACTS")
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatalf("finding the artefact directory: %v (set VIGIL_ARTIFACTS)", err)
		}
		dir = filepath.Join(root, ".artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the artefact directory: %v", err)
	}
	return dir
}

// repoRoot is the first directory up from the working directory that
// holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fi, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && !fi.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
