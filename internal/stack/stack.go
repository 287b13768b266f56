// Package stack talks to the local Sigstore stack started by
// scripts/stack/up.sh: it reads the env file the stack writes and seeds
// its logs with real entries (seed.go), the same requests cosign and
// sigstore-go send, signed for real with identitytest's signers and
// certificates, so that the monitor's parsers, identity matchers and proofs
// meet what production logs hold.
//
// It does not import testing: tests reach it through internal/testenv
// (which skips or fails a test when the stack is down), and programs
// (tools/loadgen, tools/alertlatency) use it directly.
package stack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// CacheDir is where scripts/tools/*.sh cache built binaries and where
// scripts/stack/up.sh keeps its data: $VIGIL_CACHE, else ~/.cache/vigil.
func CacheDir() string {
	if d := os.Getenv("VIGIL_CACHE"); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".cache", "vigil")
	}
	return filepath.Join(os.TempDir(), "vigil-cache")
}

// EnvFile is the env file written by scripts/stack/up.sh:
// $VIGIL_STACK_ENV, else $VIGIL_CACHE/stack/env.
func EnvFile() string {
	if f := os.Getenv("VIGIL_STACK_ENV"); f != "" {
		return f
	}
	return filepath.Join(CacheDir(), "stack", "env")
}

// Env is the parsed stack env file: KEY=VALUE lines.
type Env map[string]string

// ReadEnv parses a KEY=VALUE file; blank lines and # comments are ignored.
func ReadEnv(path string) (Env, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := Env{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("parsing %s: line %q has no '='", path, line)
		}
		env[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(env) == 0 {
		return nil, errors.New("empty env file " + path)
	}
	return env, nil
}
