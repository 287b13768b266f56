package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHostileLog runs a real `monitor check` with default settings against
// logs answering every entry request with 30 MB: the check must end with no
// verdict (exit 3), naming scan.memory_budget, and its peak RSS stay far
// below the 896 MiB such a log drove it to before entry fetching had a
// memory budget. The bound is generous (the chart's limit is 256Mi); the
// precise figures are for `hostilelog -measure`.
func TestHostileLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/monitor and serves 30 MB answers")
	}
	const boundMiB = 200
	dir := t.TempDir()
	bin := filepath.Join(dir, "monitor")
	if err := buildMonitor(bin); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"rekor-v1", "rekor-v2"} {
		t.Run(kind, func(t *testing.T) {
			r, err := measureOne(bin, filepath.Join(dir, kind), kind, "huge", 30_000_000, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			t.Logf("%s: exit %d, peak RSS %d MiB", kind, r.Exit, r.PeakMiB())
			if r.PeakMiB() > boundMiB {
				t.Errorf("peak RSS %d MiB, want under %d MiB", r.PeakMiB(), boundMiB)
			}
		})
	}
}

// TestMain lets the test binary serve as the launcher measureOne starts
// (see launchEnv).
func TestMain(m *testing.M) {
	if os.Getenv(launchEnv) != "" {
		os.Exit(launch(os.Args[1:]))
	}
	os.Exit(m.Run())
}
