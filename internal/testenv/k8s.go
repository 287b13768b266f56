package testenv

// The Kubernetes test control plane itself is internal/stack's (a tool,
// scripts/k8s/cluster, runs it too); this file gives it to tests.

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-tlog/vigil/internal/controlplane"
	"github.com/vigil-tlog/vigil/internal/stack"
)

// Cluster starts a control plane for the test and returns the path of its
// admin kubeconfig. The control plane stops when the test ends. When the
// binaries are missing the test stops through [Unavailable] (a failure under
// CI=true); when they are present but the control plane does not come up, the
// test fails.
func Cluster(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(stack.CacheDir(), "bin")
	for _, b := range controlplane.Binaries {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			Unavailable(t, "the Kubernetes test control plane ("+b+")", "run scripts/k8s/build.sh")
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cp, err := controlplane.Start(ctx, controlplane.Options{BinDir: bin, Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting the Kubernetes test control plane: %v", err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	return cp.Kubeconfig
}

// NoKubeconfig gives the test an empty home, no $KUBECONFIG and no
// in-cluster service account (what client-go would find a cluster through),
// and returns the home directory.
func NoKubeconfig(t testing.TB) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	t.Setenv("KUBERNETES_MASTER", "")
	return home
}
