package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-tlog/vigil/internal/config"
)

// FuzzParse feeds arbitrary YAML to Parse. It must not panic, and every
// error must be either a decoding error of the YAML itself or a
// *FieldError naming a field; what it accepts must have the defaults
// filled in and validate again.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.yml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.ReplaceAll(string(b), "${DIR}", "/nonexistent"))
	}
	for _, seed := range []string{
		"state_dir: /s\nlogs:\n  - {name: a, kind: rekor-v1, url: 'https://a.example', public_key_file: /etc/hostname}\n",
		"state_dir: /s\nscan: {chunk: 18446744073709551615, memory_budget: 64MiB, workers: 1e3}\n",
		"state_dir: /s\nlogs:\n  - &a {name: a, kind: rekor-v2, url: 'http://127.0.0.1'}\n  - <<: *a\n    name: b\n",
		"a: &a [*a]\n",
		"logs: [[[]]]\nalerts: {sinks: [{name: x, type: log, headers: {a: [1]}}]}\n",
		"identities: {watch: [{name: w, subject: '(', extensions: {'1.2': x}}]}\n",
		"interval: 5\nlogs: {}\n<<: [1]\n? [a]\n: b\n",
		"--- !!str\n...\n", "~", "[]", "&a a: *a",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		// Paths in the input are stat'ed and CA files read: keep clear of
		// files that never end.
		if strings.Contains(in, "/dev") || strings.Contains(in, "/proc") || strings.Contains(in, "/sys") {
			t.Skip()
		}
		c, err := config.Parse(strings.NewReader(in))
		if err == nil {
			if c == nil || c.Listen == "" || c.Scan.Workers == 0 || c.Scan.MemoryBudget == 0 {
				t.Fatalf("Parse(%q) = %+v, want defaults filled in", in, c)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Parse(%q) accepted a config that does not validate: %v", in, err)
			}
			_ = c.Warnings()
			return
		}
		if c != nil {
			t.Errorf("Parse(%q) returned a config with its error", in)
		}
		if strings.HasPrefix(err.Error(), "decoding YAML: ") {
			return
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			var fe *config.FieldError
			if !errors.As(e, &fe) || fe.Field == "" || !strings.HasPrefix(e.Error(), fe.Field+": ") {
				t.Errorf("Parse(%q) error %q is neither a decoding error nor a *FieldError", in, e)
			}
		}
	})
}
