// Package testenv finds the real servers and tools that integration tests run
// against: the local Rekor stack started by scripts/stack/up.sh and binaries
// built by scripts/tools/*.sh into the tool cache.
//
// Tests call [Stack] or [Tool]. When what they need is missing, the test is
// skipped on a developer's machine with a hint ("run make stack-up"), and FAILS
// when the environment variable CI is "true": a CI run that silently skipped its
// integration tests would have tested nothing.
package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

// InCI reports whether the tests run under CI (CI=true), where a missing real
// server is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable stops t because a real part it needs is missing: t.Fatalf under
// CI, t.Skipf elsewhere. hint tells the developer how to provide the part.
func Unavailable(t testing.TB, what, hint string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is not available under CI=true (%s)", what, hint)
	}
	t.Skipf("%s is not available; %s", what, hint)
}

// Tool returns the path of a cached tool binary ($VIGIL_CACHE/bin/name),
// stopping the test through [Unavailable] when it has not been built.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(CacheDir(), "bin", name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		Unavailable(t, "tool "+name, "run make tools")
	}
	return p
}

// StackEnvFile is the env file written by scripts/stack/up.sh:
// $VIGIL_STACK_ENV, else $VIGIL_CACHE/stack/env.
func StackEnvFile() string {
	if f := os.Getenv("VIGIL_STACK_ENV"); f != "" {
		return f
	}
	return filepath.Join(CacheDir(), "stack", "env")
}

// Env is the parsed stack env file: KEY=VALUE lines.
type Env map[string]string

// Get returns the value of key, failing the test when the stack did not
// write it (a stale env file from an older up.sh).
func (e Env) Get(t testing.TB, key string) string {
	t.Helper()
	v, ok := e[key]
	if !ok || v == "" {
		t.Fatalf("stack env file %s has no %s; re-run make stack-up", StackEnvFile(), key)
	}
	return v
}

// Stack returns the environment of the running local Rekor stack, stopping the
// test through [Unavailable] when the stack is not up.
func Stack(t testing.TB) Env {
	t.Helper()
	env, err := ReadEnv(StackEnvFile())
	if err != nil {
		Unavailable(t, "the local Rekor stack", fmt.Sprintf("run make stack-up (%v)", err))
	}
	return env
}

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
