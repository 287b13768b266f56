// Package testenv finds the real servers and tools that integration tests run
// against: the local Rekor stack started by scripts/stack/up.sh and binaries
// built by scripts/tools/*.sh into the tool cache.
//
// Tests call [Stack] or [Tool]. When what they need is missing, the test is
// skipped on a developer's machine with a hint ("run make stack-up"), and FAILS
// when the environment variable CI is "true": a CI run that silently skipped its
// integration tests would have tested nothing.
//
// testenv holds what needs a testing.TB. Reading the stack env and seeding
// its logs is package internal/stack, keys, certificates and entries are
// package internal/identity/identitytest: neither imports testing, so
// programs (tools/loadgen, tools/alertlatency) use them too.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-tlog/vigil/internal/stack"
)

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
	p := filepath.Join(stack.CacheDir(), "bin", name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		Unavailable(t, "tool "+name, "run make tools")
	}
	return p
}

// Env is the stack env file (see [stack.Env]) of a test.
type Env map[string]string

// Get returns the value of key, failing the test when the stack did not
// write it (a stale env file from an older up.sh).
func (e Env) Get(t testing.TB, key string) string {
	t.Helper()
	v, ok := e[key]
	if !ok || v == "" {
		t.Fatalf("stack env file %s has no %s; re-run make stack-up", stack.EnvFile(), key)
	}
	return v
}

// Stack returns the environment of the running local Rekor stack, stopping the
// test through [Unavailable] when the stack is not up. Package stack seeds it.
func Stack(t testing.TB) Env {
	t.Helper()
	env, err := stack.ReadEnv(stack.EnvFile())
	if err != nil {
		Unavailable(t, "the local Rekor stack", fmt.Sprintf("run make stack-up (%v)", err))
	}
	return Env(env)
}
