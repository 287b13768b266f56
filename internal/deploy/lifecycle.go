package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrUnhealthy is returned by [Status] when something installed is not
// healthy (the report says what).
var ErrUnhealthy = errors.New("not healthy")

// Status reports what is installed and whether it is healthy: the cluster,
// both releases, the TLS Secrets and their certificates, the TUF root, the
// workloads, and the local trust material. It changes nothing.
func Status(ctx context.Context, cfg Config) error {
	cfg.defaults()
	p := NewProgress(cfg.Out, false, 0)
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	s := p.Start("cluster")
	cl, err := Connect(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return s.Fail(err)
	}
	info, err := cl.Describe(ctx)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("%s at %s: %s", cl.Context, cl.Server, info)

	for _, r := range [][2]string{{ScaffoldNamespace, ScaffoldRelease}, {MonitorNamespace, MonitorRelease}} {
		s := p.Start("release " + r[1])
		st, err := cl.ReleaseStatus(r[0], r[1])
		if err != nil {
			return s.Fail(err)
		}
		if st.Found && st.Status != "deployed" {
			bad("release %s/%s is %s", r[0], r[1], st.Status)
		}
		if !st.Found && r[1] == ScaffoldRelease {
			bad("release %s/%s is not installed", r[0], r[1])
		}
		s.Done("%s", st)
	}

	s = p.Start("certificates")
	now := time.Now()
	ca, caErr := LoadCA(cfg.Dir)
	var parts []string
	for _, comp := range Components(cfg.ExposeCTLog) {
		if !comp.Exposed {
			continue
		}
		sec, err := cl.Client.CoreV1().Secrets(comp.Namespace).Get(ctx, comp.TLSSecret(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			parts = append(parts, comp.TLSSecret()+" missing")
			bad("secret %s/%s is missing", comp.Namespace, comp.TLSSecret())
			continue
		case err != nil:
			return s.Fail(fmt.Errorf("reading secret %s/%s: %w", comp.Namespace, comp.TLSSecret(), err))
		}
		leaf, err := parseCertPEM(sec.Data[corev1.TLSCertKey])
		if err != nil {
			parts = append(parts, comp.TLSSecret()+" unreadable")
			bad("secret %s/%s: %v", comp.Namespace, comp.TLSSecret(), err)
			continue
		}
		state := "valid until " + leaf.NotAfter.Format(time.DateOnly)
		if caErr == nil {
			if err := ca.CheckServing(sec.Data[corev1.TLSCertKey], []string{comp.Host(cfg.Domain)}, now); err != nil {
				state = "needs renewal: " + err.Error()
				bad("secret %s/%s: %v", comp.Namespace, comp.TLSSecret(), err)
			}
		}
		parts = append(parts, comp.TLSSecret()+" "+state)
	}
	caState := "CA " + filepath.Join(cfg.Dir, "ca.crt")
	if caErr != nil {
		caState = "CA not found locally"
	}
	s.Done("%s; %s", caState, strings.Join(parts, ", "))

	s = p.Start("workloads")
	ws, err := cl.Workloads(ctx, append(cfg.sigstoreNamespaces(), MonitorNamespace))
	if err != nil {
		return s.Fail(err)
	}
	var notReady []Workload
	for _, w := range ws {
		if !w.Ready {
			notReady = append(notReady, w)
			bad("%s", w)
		}
	}
	s.Done("%d/%d ready", len(ws)-len(notReady), len(ws))
	for _, w := range notReady {
		p.Println("%s", w)
	}

	s = p.Start("trust material")
	root, err := cl.SecretData(ctx, TUFNamespace, TUFRootSecret, TUFRootKey)
	if err != nil {
		return s.Fail(err)
	}
	var local []string
	for _, f := range []string{FileTUFRoot, FileTrustedRoot, FileMirror} {
		if _, err := os.Stat(filepath.Join(TrustDir(cfg.Dir), f)); err == nil {
			local = append(local, f)
		}
	}
	inCluster := "tuf-root present"
	if root == nil {
		inCluster = "tuf-root missing"
		bad("secret %s/%s is missing", TUFNamespace, TUFRootSecret)
	}
	s.Done("%s; local %s: %s", inCluster, TrustDir(cfg.Dir), strings.Join(local, ", "))

	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrUnhealthy, strings.Join(problems, "; "))
	}
	p.Println("healthy")
	return nil
}

// Down uninstalls the monitor and the scaffold. It keeps the namespaces, the
// TLS Secrets, the TUF root, the monitor's state volume and the local CA and
// trust material, so that a later `up` comes back with the same trust; with
// cfg.Purge it deletes those too.
func Down(ctx context.Context, cfg Config) error {
	cfg.defaults()
	total := 3
	if cfg.Purge {
		total = 5
	}
	p := NewProgress(cfg.Out, cfg.TTY, total)
	if cfg.DryRun {
		p.Println("dry run: nothing is changed")
	}
	s := p.Start("cluster")
	cl, err := Connect(cfg.Kubeconfig, cfg.Context)
	if err != nil {
		return s.Fail(err)
	}
	info, err := cl.Describe(ctx)
	if err != nil {
		return s.Fail(err)
	}
	s.Done("%s at %s: %s", cl.Context, cl.Server, info)

	for _, r := range [][2]string{{MonitorNamespace, MonitorRelease}, {ScaffoldNamespace, ScaffoldRelease}} {
		s := p.Start("uninstall " + r[1])
		change, err := cl.UninstallRelease(r[0], r[1], cfg.DryRun)
		if err != nil {
			return s.Fail(err)
		}
		if change == Unchanged {
			s.Done("%s/%s: not installed", r[0], r[1])
			continue
		}
		s.Done("%s/%s: %s", r[0], r[1], change)
	}
	if !cfg.Purge {
		p.Println("kept: namespaces, TLS secrets, %s/%s, the monitor's state volume and %s (use --purge to delete)", TUFNamespace, TUFRootSecret, cfg.Dir)
		return nil
	}

	s = p.Start("namespaces")
	names := append(cfg.sigstoreNamespaces(), MonitorNamespace)
	deleted, err := cl.DeleteManaged(ctx, names, cfg.DryRun)
	if err != nil {
		return s.Fail(err)
	}
	if !cfg.DryRun && len(deleted) > 0 {
		if err := cl.waitNamespacesGone(ctx, deleted, cfg.Timeout, s); err != nil {
			return s.Fail(err)
		}
	}
	verb := "deleted"
	if cfg.DryRun {
		verb = "would delete"
	}
	s.Done("%s %s", verb, strings.Join(deleted, ", "))

	s = p.Start("local state")
	if cfg.DryRun {
		s.Done("would remove %s", cfg.Dir)
		return nil
	}
	if err := os.RemoveAll(cfg.Dir); err != nil {
		return s.Fail(fmt.Errorf("removing %s: %w", cfg.Dir, err))
	}
	s.Done("removed %s", cfg.Dir)
	return nil
}

// waitNamespacesGone waits until the namespaces are finalized (the
// namespace controller deletes their contents first).
func (c *Cluster) waitNamespacesGone(ctx context.Context, names []string, timeout time.Duration, s *Step) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var left []string
		for _, n := range names {
			_, err := c.Client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
			if err == nil {
				left = append(left, n)
			} else if !apierrors.IsNotFound(err) && ctx.Err() == nil {
				return fmt.Errorf("reading namespace %s: %w", n, err)
			}
		}
		if len(left) == 0 {
			return nil
		}
		s.Update("waiting for %s to terminate", strings.Join(left, ", "))
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespaces %s still terminating after %v: %w", strings.Join(left, ", "), timeout, ctx.Err())
		case <-tick.C:
		}
	}
}
