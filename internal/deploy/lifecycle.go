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

// errUnhealthy is returned by [Status] when something installed is not
// healthy (the report says what).
var errUnhealthy = errors.New("not healthy")

// Status reports what is installed and whether it is healthy: the cluster,
// both releases, the TLS Secrets and their certificates, the TUF root, the
// workloads, and the local trust material. It changes nothing.
func Status(ctx context.Context, cfg Config) error {
	cfg.defaults()
	p := newProgress(cfg.Out, false, 0)
	var problems []string
	bad := func(format string, args ...any) {
		problems = append(problems, fmt.Sprintf(format, args...))
	}

	cl, err := connectStep(ctx, p, cfg.Kubeconfig, cfg.Context, false)
	if err != nil {
		return err
	}

	for _, r := range [][2]string{{scaffoldNamespace, scaffoldRelease}, {monitorNamespace, monitorRelease}} {
		s := p.Start("release " + r[1])
		st, err := cl.ReleaseStatus(r[0], r[1])
		if err != nil {
			return s.Fail(err)
		}
		if st.Found && st.Status != "deployed" {
			bad("release %s/%s is %s", r[0], r[1], st.Status)
		}
		if !st.Found && r[1] == scaffoldRelease {
			bad("release %s/%s is not installed", r[0], r[1])
		}
		s.Done("%s", st)
	}

	s := p.Start("certificates")
	now := time.Now()
	ca, caErr := loadCA(cfg.Dir)
	var parts []string
	for _, comp := range components(cfg.ExposeCTLog) {
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
	ws, err := cl.Workloads(ctx, append(cfg.sigstoreNamespaces(), monitorNamespace))
	if err != nil {
		return s.Fail(err)
	}
	var notReady []workload
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
	root, err := cl.SecretData(ctx, tufNamespace, tufRootSecret, tufRootKey)
	if err != nil {
		return s.Fail(err)
	}
	var local []string
	for _, f := range []string{fileTUFRoot, fileTrustedRoot, fileMirror} {
		if _, err := os.Stat(filepath.Join(trustDir(cfg.Dir), f)); err == nil {
			local = append(local, f)
		}
	}
	inCluster := "tuf-root present"
	if root == nil {
		inCluster = "tuf-root missing"
		bad("secret %s/%s is missing", tufNamespace, tufRootSecret)
	}
	signer, err := cl.SecretData(ctx, rekorSignerNamespace, rekorSignerSecret, rekorSignerPublicKey)
	if err != nil {
		return s.Fail(err)
	}
	if signer == nil {
		inCluster += ", Rekor signing key missing"
		bad("secret %s/%s (Rekor's signing key) is missing", rekorSignerNamespace, rekorSignerSecret)
	} else {
		inCluster += ", Rekor signing key present"
	}
	s.Done("%s; local %s: %s", inCluster, trustDir(cfg.Dir), strings.Join(local, ", "))

	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", errUnhealthy, strings.Join(problems, "; "))
	}
	p.Println("healthy")
	return nil
}

// Down uninstalls the monitor and the scaffold, and deletes the copies of
// the public keys the scaffold's copy-secrets job made in tuf-system
// ([copiedSecrets]; the job creates them with `kubectl create`, which would
// fail on the next `up` if they were left).
//
// It keeps the namespaces, the TLS Secrets, the TUF root, the bootstrap-owned
// Rekor signing key ([rekorSignerSecret]) and Trillian MySQL passwords
// ([trillianMySQLSecret]), the monitor's state volume and the local CA and
// trust material, so that a later `up` comes back with the same trust and
// the same Rekor key. With cfg.Purge it deletes those too: the namespaces
// (and so every Secret in them) and, locally, only the files the bootstrap
// writes in cfg.Dir, then the directories if that leaves them empty.
func Down(ctx context.Context, cfg Config) error {
	cfg.defaults()
	total := 4
	if cfg.Purge {
		total = 6
	}
	p := newProgress(cfg.Out, cfg.TTY, total)
	if cfg.DryRun {
		p.Println("dry run: nothing is changed")
	}
	cl, err := connectStep(ctx, p, cfg.Kubeconfig, cfg.Context, false)
	if err != nil {
		return err
	}

	for _, r := range [][2]string{{monitorNamespace, monitorRelease}, {scaffoldNamespace, scaffoldRelease}} {
		s := p.Start("uninstall " + r[1])
		change, err := cl.UninstallRelease(r[0], r[1], cfg.DryRun)
		if err != nil {
			return s.Fail(err)
		}
		if change == unchanged {
			s.Done("%s/%s: not installed", r[0], r[1])
			continue
		}
		s.Done("%s/%s: %s", r[0], r[1], change)
	}
	s := p.Start("copied keys")
	removed, err := cl.deleteSecrets(ctx, tufNamespace, copiedSecrets, cfg.DryRun)
	if err != nil {
		return s.Fail(err)
	}
	switch {
	case len(removed) == 0:
		s.Done("none in %s", tufNamespace)
	case cfg.DryRun:
		s.Done("would delete %s in %s", strings.Join(removed, ", "), tufNamespace)
	default:
		s.Done("deleted %s in %s", strings.Join(removed, ", "), tufNamespace)
	}
	if !cfg.Purge {
		p.Println("kept: namespaces, TLS secrets, %s/%s, the Rekor signing key %s/%s, the Trillian MySQL passwords %s/%s, the monitor's state volume and %s (use --purge to delete)",
			tufNamespace, tufRootSecret, rekorSignerNamespace, rekorSignerSecret, trillianNamespace, trillianMySQLSecret, cfg.Dir)
		return nil
	}

	s = p.Start("namespaces")
	names := append(cfg.sigstoreNamespaces(), monitorNamespace)
	gone, err := cl.DeleteManaged(ctx, names, cfg.DryRun)
	if err != nil {
		return s.Fail(err)
	}
	if !cfg.DryRun && len(gone) > 0 {
		if err := cl.waitNamespacesGone(ctx, gone, cfg.Timeout, s); err != nil {
			return s.Fail(err)
		}
	}
	verb := "deleted"
	if cfg.DryRun {
		verb = "would delete"
	}
	s.Done("%s %s", verb, strings.Join(gone, ", "))

	s = p.Start("local state")
	files := localStateFiles(cfg.Dir)
	if cfg.DryRun {
		s.Done("would remove the bootstrap's files in %s", cfg.Dir)
		return nil
	}
	n, kept, err := removeLocalState(cfg.Dir, files)
	if err != nil {
		return s.Fail(err)
	}
	if len(kept) > 0 {
		s.Done("removed %d files; kept %s (not empty)", n, strings.Join(kept, ", "))
		return nil
	}
	s.Done("removed %d files and %s", n, cfg.Dir)
	return nil
}

// copiedSecrets are the Secrets the scaffold's copy-secrets job makes in
// tuf-system from the components' keys; [Down] deletes them.
var copiedSecrets = []string{"rekor-public-key", "fulcio-server-secret", "ctlog-public-key", "tsa-cert-chain"}

// deleteSecrets deletes the named Secrets of namespace that exist and
// returns their names.
func (c *cluster) deleteSecrets(ctx context.Context, namespace string, names []string, dryRun bool) ([]string, error) {
	var gone []string
	api := c.Client.CoreV1().Secrets(namespace)
	for _, n := range names {
		_, err := api.Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return gone, fmt.Errorf("reading secret %s/%s: %w", namespace, n, err)
		}
		if !dryRun {
			if err := api.Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return gone, fmt.Errorf("deleting secret %s/%s: %w", namespace, n, err)
			}
		}
		gone = append(gone, n)
	}
	return gone, nil
}

// localStateFiles are the files the bootstrap writes in dir: the CA and the
// trust material.
func localStateFiles(dir string) []string {
	files := []string{filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key")}
	for _, f := range []string{fileTUFRoot, fileMirror, fileTrustedRoot, fileRekorKey, fileFulcioChain} {
		files = append(files, filepath.Join(trustDir(dir), f))
	}
	return files
}

// removeLocalState removes files, then the trust directory and dir when
// that leaves them empty; it returns how many files it removed and the
// directories it kept because something else is in them.
func removeLocalState(dir string, files []string) (int, []string, error) {
	n := 0
	for _, f := range files {
		err := os.Remove(f)
		switch {
		case err == nil:
			n++
		case !errors.Is(err, os.ErrNotExist):
			return n, nil, fmt.Errorf("removing %s: %w", f, err)
		}
	}
	var kept []string
	for _, d := range []string{trustDir(dir), dir} {
		ents, err := os.ReadDir(d)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return n, nil, fmt.Errorf("reading %s: %w", d, err)
		}
		if len(ents) > 0 {
			kept = append(kept, d)
			continue
		}
		if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, nil, fmt.Errorf("removing %s: %w", d, err)
		}
	}
	return n, kept, nil
}

// waitNamespacesGone waits until the namespaces are finalized (the
// namespace controller deletes their contents first).
func (c *cluster) waitNamespacesGone(ctx context.Context, names []string, timeout time.Duration, s *step) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var left []string
		for _, n := range names {
			_, err := c.Client.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{})
			switch {
			case err == nil:
				left = append(left, n)
			case ctx.Err() != nil:
				return fmt.Errorf("namespace %s still terminating after %v: %w", n, timeout, ctx.Err())
			case !apierrors.IsNotFound(err):
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

// connectStep is the "cluster" step every subcommand starts with: connect
// with the kubeconfig and say what the cluster is; with needNodes, a
// cluster without a ready node fails the step.
func connectStep(ctx context.Context, p *progress, kubeconfig, kubeContext string, needNodes bool) (*cluster, error) {
	s := p.Start("cluster")
	cl, err := connect(kubeconfig, kubeContext)
	if err != nil {
		return nil, s.Fail(err)
	}
	info, err := cl.Describe(ctx)
	if err != nil {
		return nil, s.Fail(err)
	}
	if needNodes && info.ReadyNodes == 0 {
		return nil, s.Fail(fmt.Errorf("cluster %s has no ready nodes", cl.Context))
	}
	s.Done("%s at %s: %s", cl.Context, cl.Server, info)
	return cl, nil
}
