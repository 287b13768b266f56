package deploy

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
contexts:
- name: ctx
  context:
    cluster: c
    user: u
current-context: ctx
users:
- name: u
  user:
    token: t
`

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Without a kubeconfig client-go quietly talks to http://localhost:8080;
// connect says instead that it found none and where it looked.
func TestConnectNoKubeconfig(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(t *testing.T, home string) (explicit string)
		wantSeen []string // NoKubeconfigError.Looked; nil: connect succeeds
	}{
		{
			name:  "nothing anywhere",
			setup: func(t *testing.T, home string) string { return "" },
			wantSeen: []string{
				"--kubeconfig (not given)",
				"$KUBECONFIG (not set)",
				"HOME/.kube/config (does not exist)",
				"the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT not set)",
			},
		},
		{
			name: "KUBECONFIG names missing files",
			setup: func(t *testing.T, home string) string {
				t.Setenv("KUBECONFIG", filepath.Join(home, "a")+string(filepath.ListSeparator)+filepath.Join(home, "b"))
				return ""
			},
			wantSeen: []string{
				"--kubeconfig (not given)",
				"$KUBECONFIG entry HOME/a (does not exist)",
				"$KUBECONFIG entry HOME/b (does not exist)",
				"the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT not set)",
			},
		},
		{
			name: "--kubeconfig missing",
			setup: func(t *testing.T, home string) string {
				writeFile(t, filepath.Join(home, ".kube", "config"), testKubeconfig) // not looked at
				return filepath.Join(home, "missing")
			},
			wantSeen: []string{"--kubeconfig HOME/missing (does not exist)"},
		},
		{
			name: "--kubeconfig without clusters",
			setup: func(t *testing.T, home string) string {
				return writeFile(t, filepath.Join(home, "empty"), "apiVersion: v1\nkind: Config\n")
			},
			wantSeen: []string{"--kubeconfig HOME/empty (no clusters in it)"},
		},
		{
			name: "service account token without the environment",
			setup: func(t *testing.T, home string) string {
				serviceAccountTokenFile = writeFile(t, filepath.Join(home, "token"), "t")
				return ""
			},
			wantSeen: []string{
				"--kubeconfig (not given)",
				"$KUBECONFIG (not set)",
				"HOME/.kube/config (does not exist)",
				"the in-cluster service account (KUBERNETES_SERVICE_HOST/PORT not set)",
			},
		},
		{
			name: "in-cluster environment without a token",
			setup: func(t *testing.T, home string) string {
				t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
				t.Setenv("KUBERNETES_SERVICE_PORT", "443")
				serviceAccountTokenFile = filepath.Join(home, "token")
				return ""
			},
			wantSeen: []string{
				"--kubeconfig (not given)",
				"$KUBECONFIG (not set)",
				"HOME/.kube/config (does not exist)",
				"the in-cluster service account (HOME/token does not exist)",
			},
		},
		{
			name: "~/.kube/config",
			setup: func(t *testing.T, home string) string {
				writeFile(t, filepath.Join(home, ".kube", "config"), testKubeconfig)
				return ""
			},
		},
		{
			name: "KUBECONFIG with one file present",
			setup: func(t *testing.T, home string) string {
				p := writeFile(t, filepath.Join(home, "b"), testKubeconfig)
				t.Setenv("KUBECONFIG", filepath.Join(home, "a")+string(filepath.ListSeparator)+p)
				return ""
			},
		},
		{
			name: "--kubeconfig",
			setup: func(t *testing.T, home string) string {
				return writeFile(t, filepath.Join(home, "kc"), testKubeconfig)
			},
		},
	}
	defer func(f string) { serviceAccountTokenFile = f }(serviceAccountTokenFile)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := testenv.NoKubeconfig(t)
			serviceAccountTokenFile = filepath.Join(home, "no-token")
			explicit := tt.setup(t, home)
			cl, err := connect(explicit, "")
			var nk *NoKubeconfigError
			if tt.wantSeen == nil {
				if err != nil {
					t.Fatalf("Connect(%q) = %v, want a cluster", explicit, err)
				}
				if cl.Server != "https://127.0.0.1:6443" {
					t.Errorf("Connect(%q).Server = %q, want https://127.0.0.1:6443", explicit, cl.Server)
				}
				return
			}
			if !errors.As(err, &nk) {
				t.Fatalf("Connect(%q) = %v, want a *NoKubeconfigError", explicit, err)
			}
			var got []string
			for _, l := range nk.Looked {
				got = append(got, strings.ReplaceAll(l, home, "HOME"))
			}
			if diff := cmp.Diff(tt.wantSeen, got); diff != "" {
				t.Errorf("Connect(%q): where it looked mismatch (-want +got):\n%s", explicit, diff)
			}
		})
	}
}

// A token file and the in-cluster environment together are a pod: connect
// leaves them to client-go.
func TestFindKubeconfigInCluster(t *testing.T) {
	home := testenv.NoKubeconfig(t)
	defer func(f string) { serviceAccountTokenFile = f }(serviceAccountTokenFile)
	serviceAccountTokenFile = writeFile(t, filepath.Join(home, "token"), "t")
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	if p, err := findKubeconfig(""); p != "" || err != nil {
		t.Errorf("findKubeconfig(\"\") in a pod = %q, %v, want \"\", nil (client-go's in-cluster configuration)", p, err)
	}
}

func TestNoKubeconfigErrorMessage(t *testing.T) {
	err := &NoKubeconfigError{Looked: []string{"--kubeconfig (not given)", "$KUBECONFIG (not set)", "/home/u/.kube/config (does not exist)"}}
	want := "no kubeconfig found: looked at --kubeconfig (not given), $KUBECONFIG (not set), /home/u/.kube/config (does not exist); " +
		"give --kubeconfig FILE or set KUBECONFIG (without one, client-go would try http://localhost:8080)"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
