// Command cluster runs the loopback Kubernetes test control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and a KWOK node; see
// internal/testenv) until SIGINT or SIGTERM, for trying bootstrap by hand.
// scripts/k8s/up.sh starts it in the background and scripts/k8s/down.sh stops
// it.
//
// Usage: cluster -dir DIR
//
// It writes DIR/kubeconfig and, once the control plane is ready, DIR/ready.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vigil-tlog/vigil/internal/controlplane"
	"github.com/vigil-tlog/vigil/internal/stack"
)

func main() { os.Exit(run()) }

func run() int {
	dir := flag.String("dir", filepath.Join(stack.CacheDir(), "k8s", "run"), "working directory (PKI, data, logs, kubeconfig)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := os.RemoveAll(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	cp, err := controlplane.Start(startCtx, controlplane.Options{
		Dir:  *dir,
		Logf: func(f string, a ...any) { fmt.Printf(f+"\n", a...) },
	})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(*dir, "ready"), []byte(cp.Kubeconfig+"\n"), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
	}
	fmt.Printf("kubeconfig: %s\n", cp.Kubeconfig)
	<-ctx.Done()
	fmt.Println("stopping")
	os.Remove(filepath.Join(*dir, "ready"))
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	return 0
}
