package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// runJSON runs indexbench with args and -json, and returns its results by
// measurement.
func runJSON(t *testing.T, args ...string) map[string]result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(append(args, "-json"), &stdout, &stderr); code != 0 {
		t.Fatalf("indexbench %s = exit %d\n%s", strings.Join(args, " "), code, stderr.String())
	}
	out := map[string]result{}
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("output line %q: %v", sc.Text(), err)
		}
		out[r.Driver+" "+r.Measurement] = r
	}
	return out
}

func TestSQLite(t *testing.T) {
	dir := t.TempDir()
	rs := runJSON(t, "-driver", "sqlite", "-dir", dir, "-entries", "3000", "-size-entries", "2000", "-queries", "20", "-batch", "700")
	for _, m := range []string{
		"insert", "insert FulcioEmail", "query subject (cold)", "query subject (warm)", "query digest (warm)",
		"query fingerprint (warm)", "query issuer (warm)", "FulcioEmail file size per entry (after VACUUM)",
		"insert GitHubActions", "GitHubActions file size per entry (after VACUUM)",
		"file size per entry (after VACUUM)",
	} {
		r, ok := rs["sqlite "+m]
		if !ok {
			t.Errorf("no %q measurement in %v", m, rs)
			continue
		}
		if r.Value <= 0 && r.P50ms <= 0 {
			t.Errorf("%s: %+v measures nothing", m, r)
		}
	}
	if r := rs["sqlite query subject (warm)"]; r.Results <= 1 || r.TargetMet == nil {
		t.Errorf("subject queries: %+v, want results and a target", r)
	}
	// Querying what the run left, without loading it again.
	rs = runJSON(t, "-driver", "sqlite", "-dir", dir, "-entries", "3000", "-queries", "5", "-skip-load")
	if _, ok := rs["sqlite query digest (cold)"]; !ok || len(rs) != 12 {
		t.Errorf("-skip-load measured %v", rs)
	}
}

func TestPostgres(t *testing.T) {
	testenv.Stack(t)
	rs := runJSON(t, "-driver", "postgres", "-entries", "2000", "-queries", "10")
	for _, m := range []string{"insert", "database size per entry", "query subject (warm)", "query fingerprint (cold)"} {
		if _, ok := rs["postgres "+m]; !ok {
			t.Errorf("no %q measurement in %v", m, rs)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-driver", "mysql"}, {"-entries", "0"}, {"extra"}, {"-nope"}} {
		var out bytes.Buffer
		if code := run(args, &out, &out); code != 2 {
			t.Errorf("indexbench %v = exit %d, want 2", args, code)
		}
	}
}
