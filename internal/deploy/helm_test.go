package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"

	"github.com/vigil-tlog/vigil/internal/testenv"
	monitorchart "github.com/vigil-tlog/vigil/manifests/chart"
)

// chartDigest changes with every part of a chart that decides what is
// rendered, including the files templates read and the values schema.
func TestChartDigest(t *testing.T) {
	load := func() *chart.Chart {
		ch, err := loadChartFS(monitorchart.Files)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	base := chartDigest(load())
	if again := chartDigest(load()); again != base {
		t.Fatalf("digest of the same chart differs: %s, %s", base, again)
	}
	tests := []struct {
		name   string
		change func(*chart.Chart)
	}{
		{"file content", func(c *chart.Chart) {
			if len(c.Files) == 0 {
				t.Fatal("monitor chart has no files")
			}
			c.Files[0].Data = append(append([]byte(nil), c.Files[0].Data...), '\n')
		}},
		{"new file", func(c *chart.Chart) {
			c.Files = append(c.Files, &chart.File{Name: "files/extra.yaml", Data: []byte("x: 1\n")})
		}},
		{"schema", func(c *chart.Chart) {
			c.Schema = append(append([]byte(nil), c.Schema...), ' ')
		}},
		{"template", func(c *chart.Chart) {
			c.Templates[0].Data = append(append([]byte(nil), c.Templates[0].Data...), '\n')
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := load()
			tt.change(ch)
			if got := chartDigest(ch); got == base {
				t.Errorf("digest unchanged after changing the %s", tt.name)
			}
		})
	}
	// The order files are loaded in does not matter.
	ch := load()
	for i, j := 0, len(ch.Files)-1; i < j; i, j = i+1, j-1 {
		ch.Files[i], ch.Files[j] = ch.Files[j], ch.Files[i]
	}
	if got := chartDigest(ch); got != base {
		t.Errorf("digest depends on the order of files")
	}
}

// TestApplyStuckRelease: a release left in a pending state (an interrupted
// upgrade, install or rollback) no longer blocks the next apply: it is rolled
// back to the last deployed revision, or uninstalled when none deployed.
func TestApplyStuckRelease(t *testing.T) {
	kubeconfig := testenv.Cluster(t)
	ctx := t.Context()
	cl, err := connect(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	values := func(interval string) map[string]any {
		return map[string]any{"config": map[string]any{"interval": interval}}
	}
	apply := func(ns string, vals map[string]any, lines *strings.Builder) (outcome, error) {
		ch, err := loadChartFS(monitorchart.Files)
		if err != nil {
			t.Fatal(err)
		}
		return cl.ApplyRelease(ctx, helmRelease{
			Name: "vigil", Namespace: ns, Chart: ch, Values: vals,
			Progress: func(format string, args ...any) { fmt.Fprintf(lines, format+"\n", args...) },
		}, false)
	}
	// setStatus rewrites the last revision's status, as an interrupted Helm
	// operation leaves it.
	setStatus := func(ns string, st release.Status) {
		t.Helper()
		cfg, err := cl.helmConfig(ns)
		if err != nil {
			t.Fatal(err)
		}
		last, err := cfg.Releases.Last("vigil")
		if err != nil {
			t.Fatal(err)
		}
		last.Info.Status = st
		if err := cfg.Releases.Update(last); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		ns        string
		revisions int // applied before getting stuck
		stuck     release.Status
		want      outcome
		wantLine  string
		wantRev   int
	}{
		{"pending upgrade", "stuck-upgrade", 2, release.StatusPendingUpgrade, updated, "rolling back to revision 1", 4},
		{"pending rollback", "stuck-rollback", 2, release.StatusPendingRollback, updated, "rolling back to revision 1", 4},
		{"pending install", "stuck-install", 1, release.StatusPendingInstall, created, "never deployed", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cl.EnsureNamespace(ctx, tt.ns, false); err != nil {
				t.Fatal(err)
			}
			var lines strings.Builder
			for i := range tt.revisions {
				if _, err := apply(tt.ns, values(fmt.Sprintf("%ds", 30+i)), &lines); err != nil {
					t.Fatalf("apply %d: %v", i+1, err)
				}
			}
			setStatus(tt.ns, tt.stuck)
			got, err := apply(tt.ns, values("1m"), &lines)
			if err != nil {
				t.Fatalf("apply to a release in %s: %v", tt.stuck, err)
			}
			if got != tt.want {
				t.Errorf("apply = %s, want %s", got, tt.want)
			}
			if !strings.Contains(lines.String(), tt.wantLine) {
				t.Errorf("progress %q lacks %q", lines.String(), tt.wantLine)
			}
			st, err := cl.ReleaseStatus(tt.ns, "vigil")
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != release.StatusDeployed.String() || st.Revision != tt.wantRev {
				t.Errorf("after apply: %s, want deployed revision %d", st, tt.wantRev)
			}
			if got, err := apply(tt.ns, values("1m"), &lines); err != nil || got != unchanged {
				t.Errorf("re-apply = %s, %v; want unchanged", got, err)
			}
		})
	}

	// waitNamespacesGone reports a namespace still there when its time is
	// up, instead of success.
	expired, cancel := context.WithCancel(ctx)
	cancel()
	waiting := newProgress(io.Discard, false, 0).Start("wait")
	err = cl.waitNamespacesGone(expired, []string{"default"}, time.Minute, waiting)
	waiting.Done("")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("waitNamespacesGone with an ended context = %v, want context.Canceled", err)
	}
}
