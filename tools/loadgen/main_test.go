package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

func TestGenerate(t *testing.T) {
	env := testenv.Stack(t)
	tests := []struct {
		name    string
		cfg     config
		stackCA bool // the stack's test CA, which the CT logs trust
	}{
		{"every kind", config{v1: 5, v2: 4, v1Workers: 2, v2Workers: 4, mix: []string{"key", "cert", "dsse", "intoto", "fulcio"}}, false},
		{"pinned identity", config{v1: 2, v2: 2, v1Workers: 2, v2Workers: 2, mix: []string{"cert"}, san: "mallory@evil.example", issuer: "https://issuer.example"}, false},
		{"ct logs", config{ct: 6, staticCT: 6, ctWorkers: 3, staticCTWorkers: 6, mix: []string{"key"},
			san: "https://github.com/org/repo/.github/workflows/x.yml@refs/heads/main", issuer: "https://token.actions.githubusercontent.com"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.env, cfg.caDir, cfg.quiet, cfg.progressInterval = stack.Env(env), t.TempDir(), true, time.Second
			if tt.stackCA {
				cfg.caDir = filepath.Join(env.Get(t, "STACK_DIR"), "testca")
			}
			before := sizes(t, env, cfg, [3]int64{})
			if err := generate(t.Context(), cfg); err != nil {
				t.Fatal(err)
			}
			want := [3]int64{before[0] + int64(cfg.v1), before[1] + int64(cfg.ct), before[2] + int64(cfg.staticCT)}
			after := sizes(t, env, cfg, want)
			for i, name := range []string{"v1", "ct", "static-ct"} {
				if after[i] < want[i] {
					t.Errorf("%s tree grew from %d to %d, want at least %d", name, before[i], after[i], want[i])
				}
			}
		})
	}
}

// sizes returns the tree sizes of Rekor v1, the CT log and the static-ct log
// that cfg adds to (0 for the others). Rekor v1 and tesseract answer once the
// entry is in the tree, ct_server once Trillian has queued it: its size is
// polled for up to 10s until it reaches want[1].
func sizes(t *testing.T, env testenv.Env, cfg config, want [3]int64) [3]int64 {
	t.Helper()
	var s [3]int64
	var err error
	if cfg.v1 > 0 {
		if s[0], err = stack.FetchV1TreeSize(t.Context(), env.Get(t, "REKOR_URL")); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); cfg.ct > 0; time.Sleep(100 * time.Millisecond) {
		sth, err := stack.FetchCTSTH(t.Context(), env.Get(t, "CT_URL"))
		if err != nil {
			t.Fatal(err)
		}
		if s[1] = int64(sth.TreeSize); s[1] >= want[1] || time.Now().After(deadline) {
			break
		}
	}
	if cfg.staticCT > 0 {
		if _, s[2], err = stack.FetchStaticCTCheckpoint(t.Context(), env.Get(t, "STATIC_CT_READ_URL")); err != nil {
			t.Fatal(err)
		}
	}
	return s
}
