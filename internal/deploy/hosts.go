package deploy

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigil-tlog/vigil/internal/state"
)

// hostsLines returns "<ip> <host>" for each exposed component. The address
// is the one its Ingress reports in its load-balancer status when there is
// one, else cfg.IngressIP.
func hostsLines(ctx context.Context, cl *cluster, cfg *Config) ([]string, error) {
	var lines []string
	for _, comp := range components(cfg.ExposeCTLog) {
		if !comp.Exposed {
			continue
		}
		host := comp.Host(cfg.Domain)
		ip := cfg.IngressIP
		ings, err := cl.Client.NetworkingV1().Ingresses(comp.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing ingresses in %s: %w", comp.Namespace, err)
		}
	search:
		for _, ing := range ings.Items {
			for _, r := range ing.Spec.Rules {
				if r.Host != host {
					continue
				}
				for _, lb := range ing.Status.LoadBalancer.Ingress {
					if lb.IP != "" {
						ip = lb.IP
						break search
					}
				}
			}
		}
		lines = append(lines, ip+" "+host)
	}
	return lines, nil
}

// writeHostsBlock puts lines into path between marker comments for domain,
// replacing an earlier block, and leaves everything else as it was. It writes
// only when the block changes.
func writeHostsBlock(path, domain string, lines []string, dryRun bool) (outcome, error) {
	begin := "# BEGIN vigil-bootstrap " + domain
	end := "# END vigil-bootstrap " + domain
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	var kept []string
	in := false
	for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
		switch {
		case l == begin:
			in = true
		case l == end:
			in = false
		case !in && !(l == "" && len(kept) == 0):
			kept = append(kept, l)
		}
	}
	block := append([]string{begin}, lines...)
	block = append(block, end)
	next := []byte(strings.Join(slices.Concat(kept, block), "\n") + "\n")
	if bytes.Equal(old, next) {
		return unchanged, nil
	}
	change := updated
	if len(old) == 0 {
		change = created
	}
	if dryRun {
		return change.dry(true), nil
	}
	fi, err := os.Stat(path)
	perm := os.FileMode(0o644)
	if err == nil {
		perm = fi.Mode().Perm()
	}
	if err := state.WriteFileAtomic(path, next, perm); err != nil {
		// /etc/hosts is often a bind mount (containers) that cannot be
		// renamed over: write it in place instead.
		if err2 := os.WriteFile(path, next, perm); err2 != nil {
			return "", fmt.Errorf("writing %s: %w", path, err2)
		}
	}
	return change, nil
}
