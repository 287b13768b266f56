package main

import (
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

func TestGenerate(t *testing.T) {
	env := testenv.Stack(t)
	tests := []struct {
		name string
		cfg  config
	}{
		{"every kind", config{v1: 5, v2: 4, v1Workers: 2, v2Workers: 4, mix: []string{"key", "cert", "dsse", "intoto", "fulcio"}}},
		{"pinned identity", config{v1: 2, v2: 2, v1Workers: 2, v2Workers: 2, mix: []string{"cert"}, san: "mallory@evil.example", issuer: "https://issuer.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.env, cfg.caDir, cfg.quiet, cfg.progressInterval = stack.Env(env), t.TempDir(), true, time.Second
			before, err := stack.FetchV1TreeSize(t.Context(), env.Get(t, "REKOR_URL"))
			if err != nil {
				t.Fatal(err)
			}
			if err := generate(t.Context(), cfg); err != nil {
				t.Fatal(err)
			}
			after, err := stack.FetchV1TreeSize(t.Context(), env.Get(t, "REKOR_URL"))
			if err != nil {
				t.Fatal(err)
			}
			if after < before+int64(cfg.v1) {
				t.Errorf("v1 tree grew from %d to %d, want at least %d more", before, after, cfg.v1)
			}
		})
	}
}
