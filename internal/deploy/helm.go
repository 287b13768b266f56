package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"reflect"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/cli"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// helmRelease is one Helm release to install or upgrade: the bootstrap's two are
// the Sigstore scaffold and the Vigil monitor.
type helmRelease struct {
	Name      string
	Namespace string
	Chart     *chart.Chart
	// Values are the user-supplied values (what `helm get values` shows).
	Values map[string]any
	// Progress, when set, gets a line for each recovery step taken before
	// the install or upgrade (such as rolling back a stuck release).
	Progress func(format string, args ...any)
}

// releaseStatus is what is deployed under a release name.
type releaseStatus struct {
	Name, Namespace string
	Found           bool
	Status          string // deployed, failed, pending-install, ...
	Revision        int
	Chart           string // name-version
	AppVersion      string
	Updated         time.Time
}

func (s releaseStatus) String() string {
	if !s.Found {
		return fmt.Sprintf("%s/%s: not installed", s.Namespace, s.Name)
	}
	return fmt.Sprintf("%s/%s: %s, revision %d, chart %s", s.Namespace, s.Name, s.Status, s.Revision, s.Chart)
}

// helmConfig returns a Helm action configuration for namespace, storing
// release records as Secrets (Helm's default driver).
func (c *cluster) helmConfig(namespace string) (*action.Configuration, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(c.restClientGetter(namespace), namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("initialising Helm for namespace %s: %w", namespace, err)
	}
	return cfg, nil
}

// ReleaseStatus reads the latest record of release name in namespace.
func (c *cluster) ReleaseStatus(namespace, name string) (releaseStatus, error) {
	st := releaseStatus{Name: name, Namespace: namespace}
	cfg, err := c.helmConfig(namespace)
	if err != nil {
		return st, err
	}
	rel, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading release %s/%s: %w", namespace, name, err)
	}
	st.Found = true
	st.Status = rel.Info.Status.String()
	st.Revision = rel.Version
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		st.Chart = rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
		st.AppVersion = rel.Chart.Metadata.AppVersion
	}
	st.Updated = rel.Info.LastDeployed.Time
	return st, nil
}

// ApplyRelease installs r when it is absent (or only a failed first install
// is recorded), upgrades it when the chart or values differ from the deployed
// revision, and otherwise does nothing, so re-running it is a no-op. It does
// not wait for the workloads: see [cluster.WaitReady].
func (c *cluster) ApplyRelease(ctx context.Context, r helmRelease, dryRun bool) (outcome, error) {
	cfg, err := c.helmConfig(r.Namespace)
	if err != nil {
		return "", err
	}
	vals, err := normalizeValues(r.Values)
	if err != nil {
		return "", fmt.Errorf("encoding values of %s: %w", r.Name, err)
	}
	// Helm modifies the chart while installing: digest it first.
	digest := chartDigest(r.Chart)[:32]
	labels := map[string]string{chartDigestLabel: digest}
	last, err := cfg.Releases.Last(r.Name)
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return "", fmt.Errorf("reading release %s/%s: %w", r.Namespace, r.Name, err)
	}
	// The last deployed revision, if any: a release that never deployed is
	// reinstalled, one stuck in a pending state is rolled back to it.
	var deployed *release.Release
	if last != nil {
		hist, err := cfg.Releases.History(r.Name)
		if err != nil {
			return "", fmt.Errorf("reading history of release %s/%s: %w", r.Namespace, r.Name, err)
		}
		for _, h := range hist {
			if h.Info != nil && (h.Info.Status == release.StatusDeployed || h.Info.Status == release.StatusSuperseded) && (deployed == nil || h.Version > deployed.Version) {
				deployed = h
			}
		}
	}
	if last != nil && last.Info.Status.IsPending() && deployed != nil {
		if dryRun {
			return wouldUpdate, nil
		}
		if r.Progress != nil {
			r.Progress("release %s/%s is stuck in %s at revision %d: rolling back to revision %d", r.Namespace, r.Name, last.Info.Status, last.Version, deployed.Version)
		}
		rb := action.NewRollback(cfg)
		rb.Version = deployed.Version
		rb.Timeout = 5 * time.Minute
		rb.MaxHistory = 10
		if err := rb.Run(r.Name); err != nil {
			return "", fmt.Errorf("rolling back stuck release %s/%s to revision %d: %w", r.Namespace, r.Name, deployed.Version, err)
		}
		if last, err = cfg.Releases.Last(r.Name); err != nil {
			return "", fmt.Errorf("reading release %s/%s: %w", r.Namespace, r.Name, err)
		}
	}
	if last == nil || deployed == nil {
		if dryRun {
			return wouldCreate, nil
		}
		if last != nil {
			// An install that failed or was interrupted, never deployed,
			// blocks a new install under the same name: clear it.
			if r.Progress != nil {
				r.Progress("release %s/%s never deployed (%s at revision %d): uninstalling it first", r.Namespace, r.Name, last.Info.Status, last.Version)
			}
			un := action.NewUninstall(cfg)
			if _, err := un.Run(r.Name); err != nil {
				return "", fmt.Errorf("removing failed release %s/%s: %w", r.Namespace, r.Name, err)
			}
		}
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace = r.Name, r.Namespace
		in.Timeout = 5 * time.Minute
		in.Labels = labels
		if _, err := in.RunWithContext(ctx, r.Chart, vals); err != nil {
			return "", fmt.Errorf("installing %s into %s: %w", r.Name, r.Namespace, err)
		}
		return created, nil
	}
	same, err := sameRelease(last, digest, vals)
	if err != nil {
		return "", err
	}
	if same && last.Info.Status == release.StatusDeployed {
		return unchanged, nil
	}
	if dryRun {
		return wouldUpdate, nil
	}
	up := action.NewUpgrade(cfg)
	up.Namespace = r.Namespace
	up.Timeout = 5 * time.Minute
	up.MaxHistory = 10
	up.Labels = labels
	if _, err := up.RunWithContext(ctx, r.Name, r.Chart, vals); err != nil {
		return "", fmt.Errorf("upgrading %s in %s: %w", r.Name, r.Namespace, err)
	}
	return updated, nil
}

// UninstallRelease removes release name from namespace; a missing release is
// not an error (unchanged).
func (c *cluster) UninstallRelease(namespace, name string, dryRun bool) (outcome, error) {
	st, err := c.ReleaseStatus(namespace, name)
	if err != nil {
		return "", err
	}
	if !st.Found {
		return unchanged, nil
	}
	if dryRun {
		return wouldDelete, nil
	}
	cfg, err := c.helmConfig(namespace)
	if err != nil {
		return "", err
	}
	un := action.NewUninstall(cfg)
	un.Timeout = 2 * time.Minute
	if _, err := un.Run(name); err != nil {
		return "", fmt.Errorf("uninstalling %s/%s: %w", namespace, name, err)
	}
	return deleted, nil
}

// chartDigestLabel is the release label holding (a prefix of) the
// [chartDigest] of the chart as loaded, before Helm processed it: Helm
// rewrites the chart it stores (dependencies and their values), so the
// stored chart cannot be compared with a freshly loaded one.
const chartDigestLabel = "vigil-chart-digest"

// sameRelease reports whether rel was made from the chart with this digest
// and the same values.
func sameRelease(rel *release.Release, digest string, vals map[string]any) (bool, error) {
	old, err := normalizeValues(rel.Config)
	if err != nil {
		return false, fmt.Errorf("decoding values of release %s: %w", rel.Name, err)
	}
	if !reflect.DeepEqual(old, vals) {
		return false, nil
	}
	return rel.Labels[chartDigestLabel] == digest, nil
}

// normalizeValues round-trips values through JSON so that values built in Go
// (typed slices and maps, ints) compare equal to those Helm stored.
func normalizeValues(v map[string]any) (map[string]any, error) {
	if v == nil {
		return map[string]any{}, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// chartDigest is a SHA-256 over a chart's metadata, templates, other files
// (read by templates with .Files), values schema, default values and
// dependencies: what decides the rendered objects besides the user's
// values. [cluster.ApplyRelease] records it in a release label when it
// installs or upgrades, and compares it on the next run.
func chartDigest(ch *chart.Chart) string {
	h := sha256.New()
	var walk func(c *chart.Chart)
	walk = func(c *chart.Chart) {
		if c.Metadata != nil {
			fmt.Fprintf(h, "chart %s %s %s\n", c.Metadata.Name, c.Metadata.Version, c.Metadata.AppVersion)
		}
		files := append([]*chart.File(nil), c.Templates...)
		sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
		for _, f := range files {
			fmt.Fprintf(h, "template %s %d\n", f.Name, len(f.Data))
			h.Write(f.Data)
		}
		others := append([]*chart.File(nil), c.Files...)
		sort.Slice(others, func(i, j int) bool { return others[i].Name < others[j].Name })
		for _, f := range others {
			fmt.Fprintf(h, "file %s %d\n", f.Name, len(f.Data))
			h.Write(f.Data)
		}
		fmt.Fprintf(h, "schema %d\n", len(c.Schema))
		h.Write(c.Schema)
		vb, _ := json.Marshal(c.Values)
		fmt.Fprintf(h, "values %d\n", len(vb))
		h.Write(vb)
		deps := append([]*chart.Chart(nil), c.Dependencies()...)
		sort.Slice(deps, func(i, j int) bool { return deps[i].Name() < deps[j].Name() })
		for _, d := range deps {
			walk(d)
		}
	}
	walk(ch)
	return hex.EncodeToString(h.Sum(nil))
}

// ChartSource says where a chart comes from: a local directory or .tgz
// (offline installs), else a chart repository URL, chart name and pinned
// version.
type ChartSource struct {
	Path    string
	RepoURL string
	Name    string
	Version string
}

func (s ChartSource) String() string {
	if s.Path != "" {
		return s.Path
	}
	return fmt.Sprintf("%s %s from %s", s.Name, s.Version, s.RepoURL)
}

// loadChart loads the chart from a local path, or downloads the pinned
// version from the repository into Helm's cache and loads it from there.
func loadChart(src ChartSource) (*chart.Chart, error) {
	p := src.Path
	if p == "" {
		if src.RepoURL == "" || src.Name == "" || src.Version == "" {
			return nil, errors.New("loading chart: need a path, or a repository URL, chart name and version")
		}
		opts := action.ChartPathOptions{RepoURL: src.RepoURL, Version: src.Version}
		var err error
		p, err = opts.LocateChart(src.Name, cli.New())
		if err != nil {
			return nil, fmt.Errorf("fetching chart %s: %w", src, err)
		}
	} else if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("loading chart: %w", err)
	}
	ch, err := loader.Load(p)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", p, err)
	}
	if src.Version != "" && src.Path == "" && ch.Metadata.Version != src.Version {
		return nil, fmt.Errorf("loading chart %s: got version %s", src, ch.Metadata.Version)
	}
	return ch, nil
}

// loadChartFS loads a chart from the root of fsys (the embedded monitor
// chart).
func loadChartFS(fsys fs.FS) (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if path.Ext(p) == ".go" {
			return nil
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: p, Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading embedded chart: %w", err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("loading embedded chart: %w", err)
	}
	return ch, nil
}
