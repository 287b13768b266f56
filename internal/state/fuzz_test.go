package state_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/state"
)

// FuzzLoad feeds arbitrary bytes to Store.Load as the state file of log
// "rekor". Load must not panic; it must reject anything that is not a JSON
// state of that log with a checkpoint, and what it accepts must read back
// unchanged once encoded again.
func FuzzLoad(f *testing.F) {
	good, err := json.Marshal(sampleState(7))
	if err != nil {
		f.Fatal(err)
	}
	good = bytes.Replace(good, []byte(`"log":""`), []byte(`"log":"rekor"`), 1)
	for _, seed := range []string{
		string(good),
		`{"log": "rekor", "checkpoint": "eA=="}`,
		`{"log": "rekor", "checkpoint": "eA==", "scan": {"next": 3, "range": ["AAEC", null]}}`,
		`{"log": "rekor", "checkpoint": "eA==", "verified_at": "2026-11-24T19:00:00Z", "scan": null}`,
		`{"log": "other", "checkpoint": "eA=="}`,
		`{"log": "rekor"}`,
		`{"log": "rekor", "checkpoint": "***"}`,
		`{"log": "rekor", "checkpoint": "eA=", "log": "rekor"}`,
		`{"log": "rekor", "checkpoint": "eA==", "verified_at": "yesterday"}`,
		`{"log": "rekor", "checkpoint": "eA==", "scan": {"next": -1}}`,
		`[]`, `null`, `""`, `{}`, "", "garbage", "\x00\xff",
	} {
		f.Add([]byte(seed))
	}
	s, err := state.Open(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	path := filepath.Join(s.Dir(), "rekor.json")

	f.Fuzz(func(t *testing.T, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		st, err := s.Load("rekor")
		if err != nil {
			if st != nil {
				t.Errorf("Load() = %+v with error %v", st, err)
			}
			return
		}
		if st == nil {
			t.Fatalf("Load(%q) = nil, nil; the file exists", b)
		}
		if !json.Valid(b) {
			t.Errorf("Load(%q) accepted invalid JSON", b)
		}
		if st.Log != "rekor" || len(st.Checkpoint) == 0 {
			t.Errorf("Load(%q) = %+v, want log rekor with a checkpoint", b, st)
		}
		// What was accepted reads back unchanged once written again the
		// way Update writes it (without Update's fsyncs, which would slow
		// the fuzzer to a crawl).
		out, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			t.Fatalf("encoding the state of Load(%q) = %v", b, err)
		}
		if err := os.WriteFile(path, out, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := s.Load("rekor")
		if err != nil {
			t.Fatalf("Load() of the re-encoded state = %v", err)
		}
		if diff := cmp.Diff(st, again); diff != "" {
			t.Errorf("state changed by a round trip (-before +after):\n%s", diff)
		}
	})
}
