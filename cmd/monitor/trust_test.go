package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/trust/tuftest"
)

// TestTrustApprove: `monitor trust approve` records the material a real TUF
// repository distributes, and then approves a change (a new Rekor shard),
// naming it; wrong invocations are usage errors.
func TestTrustApprove(t *testing.T) {
	repo := tuftest.New(t)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.json")
	if err := os.WriteFile(rootFile, repo.RootJSON(), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.yml")
	yml := "state_dir: " + filepath.Join(dir, "state") + "\n" +
		"trust:\n  tuf:\n    mirror: " + repo.URL() + "\n    root_file: " + rootFile + "\n" +
		"logs:\n  - name: rekor\n    kind: rekor-v1\n    url: https://rekor.example.test\n"
	if err := os.WriteFile(config, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	approve := func() (int, string, string) {
		var out, errOut bytes.Buffer
		code := run([]string{"trust", "approve", "--config", config}, &out, &errOut)
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := approve(); code != exitOK || !strings.Contains(out, "trust baseline recorded") {
		t.Fatalf("first approve = %d, %q, %q", code, out, errOut)
	}
	repo.TrustedRoot().AddRekorV2("https://log2027-1.rekor.example.test", time.Now().Add(-time.Minute))
	repo.SetTarget(tuftest.TrustedRootTarget, repo.TrustedRoot().JSON())
	repo.Publish()
	if code, out, errOut := approve(); code != exitOK || !strings.Contains(out, "approved: rekor_log added") || !strings.Contains(out, "log2027-1") {
		t.Fatalf("approve after a new shard = %d, %q, %q; want the change named", code, out, errOut)
	}
	repo.Down(true)
	if code, _, errOut := approve(); code != exitNoVerdict || !strings.Contains(errOut, "unreachable") {
		t.Errorf("approve with the mirror down = %d, %q; want exit 3 naming unreachable", code, errOut)
	}
	for _, args := range [][]string{{"trust"}, {"trust", "approve"}, {"trust", "bless", "--config", config}} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage {
			t.Errorf("monitor %v = %d, want %d", args, code, exitUsage)
		}
	}
}
