package webtest

import (
	"fmt"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestArtifactDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	t.Setenv("VIGIL_ARTIFACTS", dir)
	if got := ArtifactDir(t); got != dir {
		t.Errorf("ArtifactDir = %q, want %q", got, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Errorf("ArtifactDir did not create %s: %v", dir, err)
	}

	t.Setenv("VIGIL_ARTIFACTS", "")
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Errorf("repoRoot = %s, which has no go.mod", root)
	}
	if !strings.HasPrefix(mustGetwd(t), root) {
		t.Errorf("repoRoot = %s, not above the working directory", root)
	}
}

func mustGetwd(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestTail(t *testing.T) {
	var b strings.Builder
	for i := range 30 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	got := tail(b.String(), 3)
	if want := "line 27\nline 28\nline 29"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
	if got := tail("one", 3); got != "one" {
		t.Errorf("tail(one) = %q", got)
	}
}

func TestFindFromEnv(t *testing.T) {
	t.Setenv("VIGIL_CHROMIUM", filepath.Join(t.TempDir(), "no-such-browser"))
	if _, err := find(); err == nil {
		t.Error("find with a missing VIGIL_CHROMIUM succeeded")
	}
}

// TestBrowser loads a page whose script changes the DOM: the DOM returned
// is the one after the script ran, and the screenshot is a PNG of the
// window's size.
func TestBrowser(t *testing.T) {
	b := Chromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="x">static</p><script>document.getElementById("x").setAttribute("data-ran", "yes")</script>`)
	}))
	defer srv.Close()

	dom, err := b.DOM(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `<p id="x" data-ran="yes">static</p>`) {
		t.Errorf("DOM does not show the script's change:\n%s", dom)
	}

	file := filepath.Join(t.TempDir(), "shot.png")
	if err := b.Screenshot(t.Context(), srv.URL, file, 400, 300); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if cfg.Width != 400 || cfg.Height != 300 {
		t.Errorf("screenshot is %dx%d, want 400x300", cfg.Width, cfg.Height)
	}

	file = filepath.Join(t.TempDir(), "both.png")
	dom, err = b.Capture(t.Context(), srv.URL, file, 500, 200)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dom, `data-ran="yes"`) {
		t.Errorf("Capture: DOM does not show the script's change:\n%s", dom)
	}
	if fi, err := os.Stat(file); err != nil || fi.Size() == 0 {
		t.Errorf("Capture wrote no screenshot: %v", err)
	}

	// A page that does not load is an error or an error page, never a hang.
	srv.Close()
	if dom, err := b.DOM(t.Context(), srv.URL); err == nil && strings.Contains(dom, "static") {
		t.Errorf("DOM of a closed server = %q", dom)
	}
}
