package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/config"
)

// TestFlagErrors checks that errors in a configuration built from flags
// name the flags the user typed.
func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "rekor.pub")
	if err := os.WriteFile(key, []byte("test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "vigil.yml")
	if err := os.WriteFile(cfgFile, []byte("state_dir: /s\nlogs:\n  - {name: a, kind: rekor-v3, url: 'https://a.example', public_key_file: "+key+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--state-dir", dir, "--log-url", "https://rekor.example", "--public-key", key}
	for _, tc := range []struct {
		name string
		args []string
		want []string // the error's lines
	}{
		{"state dir", []string{"--log-url", "https://rekor.example", "--public-key", key}, []string{"--state-dir: required"}},
		{"log kind", append(base, "--log-kind", "rekor-v3"), []string{`--log-kind: logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct`}},
		{"log url", []string{"--state-dir", dir, "--log-url", "ftp://rekor.example", "--public-key", key}, []string{`--log-url: logs[0].url: "ftp://rekor.example" is not an http(s) URL`}},
		{"log name", append(base, "--log-name", "../x"), []string{`--log-name: logs[0].name: "../x" must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit`}},
		{"public key", []string{"--state-dir", dir, "--log-url", "https://rekor.example"},
			[]string{"--public-key: logs[0].public_key_file: required unless trust.trusted_root_file or trust.tuf is set"}},
		{"public key missing", []string{"--state-dir", dir, "--log-url", "https://rekor.example", "--public-key", dir + "/nope.pub"},
			[]string{"--public-key: logs[0].public_key_file: stat " + dir + "/nope.pub: no such file or directory"}},
		{"ca file", append(base, "--ca-file", dir+"/nope.crt"), []string{"--ca-file: logs[0].ca_file: stat " + dir + "/nope.crt: no such file or directory"}},
		{"start checkpoint", append(base, "--start-checkpoint", dir+"/nope"), []string{"--start-checkpoint: logs[0].start_checkpoint_file: stat " + dir + "/nope: no such file or directory"}},
		// The log inherits --interval: one error, not one per field.
		{"interval", append(base, "--interval", "500ms"), []string{"--interval: 500ms is below the 1s minimum"}},
		{"interval too long", append(base, "--interval", "25h", "--staleness", "48h"), []string{"--interval: 25h0m0s is above the 24h maximum"}},
		{"interval and schedule", append(base, "--interval", "1m", "--schedule", "@hourly"), []string{"--schedule: set interval or schedule, not both"}},
		{"schedule", append(base, "--schedule", "every day"), []string{"--schedule: expected exactly 5 fields, found 2: [every day]"}},
		{"staleness", append(base, "--staleness", "5s"), []string{"--staleness: logs[0].staleness: 5s is below the 10s minimum"}},
		{"staleness below interval", append(base, "--staleness", "1m", "--interval", "2m"),
			[]string{"--staleness: logs[0].staleness: 1m0s is not longer than the interval 2m0s: the log would turn stale between two good checks"}},
		{"max unchanged", append(base, "--max-unchanged", "1s"), []string{"--max-unchanged: logs[0].max_unchanged: 1s is below the 1m minimum"}},
		{"start index", append(base, "--start-index", "9223372036854775808"), []string{"--start-index: scan.start_index: 9223372036854775808 is above the maximum 9223372036854775807"}},
		{"several", append(base, "--log-format", "xml", "--log-level", "trace", "--log-kind", "x"), []string{
			`--log-format: "xml" is not json or text`,
			`--log-level: "trace" is not debug, info, warn or error`,
			`--log-kind: logs[0].kind: "x" is not rekor-v1, rekor-v2, ct or static-ct`,
		}},
		// With --config, only the flags that override the file are named.
		{"config", []string{"--config", cfgFile}, []string{"config " + cfgFile + `: logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct`}},
		{"config and override", []string{"--config", cfgFile, "--log-format", "xml"}, []string{
			"config " + cfgFile + `: --log-format: "xml" is not json or text`,
			`logs[0].kind: "rekor-v3" is not rekor-v1, rekor-v2, ct or static-ct`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := parseFlags("check", tc.args, io.Discard)
			if err == nil {
				t.Fatalf("parseFlags(%q) = %+v, want an error", tc.args, opts)
			}
			if diff := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("parseFlags(%q) error mismatch (-want +got):\n%s", tc.args, diff)
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("parseFlags(%q) = %v, want a *config.FieldError", tc.args, err)
			}
		})
	}

	// A valid configuration from flags.
	opts, err := parseFlags("check", append(base, "--interval", "1m"), io.Discard)
	if err != nil {
		t.Fatalf("parseFlags(valid) = %v", err)
	}
	if opts.cfg.Logs[0].URL != "https://rekor.example" {
		t.Errorf("parseFlags(valid) log = %+v", opts.cfg.Logs[0])
	}
}
