package alert

// Tests of the monitoring assets that ship with the alert package: the
// Prometheus rules and their unit tests (with the real promtool, see
// scripts/tools/promtool.sh), the PrometheusRule object, the runbooks and the
// Grafana dashboard.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

var (
	repoRoot      = filepath.Join("..", "..")
	rulesDir      = filepath.Join(repoRoot, "manifests", "prometheus")
	rulesFile     = filepath.Join(rulesDir, "rules.yml")
	ruleObject    = filepath.Join(rulesDir, "prometheusrule.yaml")
	runbooksFile  = filepath.Join(repoRoot, "docs", "runbooks.md")
	dashboardFile = filepath.Join(repoRoot, "grafana", "vigil-dashboard.json")
	configMapFile = filepath.Join(repoRoot, "grafana", "vigil-dashboard-configmap.yaml")
)

// exportedMetrics is the project's shared metric list, used here to map
// histogram series to their metric and to check the outbox's own metrics.
// That the rules and the dashboard query only metrics a running monitor
// exports is checked against a live monitor in
// internal/monitor/assets_test.go.
var exportedMetrics = []string{
	"vigil_build_info",
	"vigil_log_tree_size",
	"vigil_log_last_verified_timestamp_seconds",
	"vigil_log_checkpoint_timestamp_seconds",
	"vigil_log_integrity_failures_total",
	"vigil_log_fetch_errors_total",
	"vigil_log_fetch_duration_seconds",
	"vigil_log_entries_scanned_total",
	"vigil_log_scan_lag_entries",
	"vigil_identity_matches_total",
	"vigil_unexpected_identities_total",
	"vigil_log_malformed_entries_total",
	"vigil_log_up",
	"vigil_log_stale",
	"vigil_alerts_sent_total",
	"vigil_alert_failures_total",
	"vigil_alert_queue_depth",
	"vigil_alert_oldest_queued_timestamp_seconds",
	"vigil_alerts_dropped_total",
}

func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	bin := testenv.Tool(t, "promtool")
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	out := runPromtool(t, rulesDir, "check", "rules", "--lint=all", "--lint-fatal", "rules.yml")
	if !strings.Contains(out, "SUCCESS: 23 rules found") {
		t.Errorf("promtool check rules: %s, want 23 rules", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	tests, err := filepath.Glob(filepath.Join(rulesDir, "tests", "*.yml"))
	if err != nil || len(tests) == 0 {
		t.Fatalf("no rule tests in %s/tests (%v)", rulesDir, err)
	}
	args := []string{"test", "rules"}
	for _, f := range tests {
		rel, _ := filepath.Rel(rulesDir, f)
		args = append(args, rel)
	}
	runPromtool(t, rulesDir, args...)
}

// ruleFile is the shape of a Prometheus rules file.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	var rf ruleFile
	readYAML(t, rulesFile, &rf)
	return rf
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
}

// TestRulesCoverIssue checks that every alert the project promises exists,
// with a severity, summary, description and runbook link.
func TestRulesCoverIssue(t *testing.T) {
	want := map[string]string{
		"VigilLogIntegrityFailure":              "critical",
		"VigilIntegrityViolationUnacknowledged": "critical",
		"VigilUnexpectedIdentitySigned":         "critical",
		"VigilWatchedIdentitySigned":            "warning",
		"VigilCheckpointStale":                  "warning",
		"VigilCheckpointStaleCritical":          "critical",
		"VigilIndexBehind":                      "warning",
		"VigilLogUnreachable":                   "warning",
		"VigilScanLagging":                      "warning",
		"VigilScanStalled":                      "warning",
		"VigilAlertDeliveryFailing":             "critical",
		"VigilAlertQueueBacklog":                "warning",
		"VigilMonitorDown":                      "critical",
		"VigilPeerBlind":                        "warning",
		"VigilWitnessNotCosigning":              "warning",
		"VigilMetricsAbsent":                    "critical",
		"VigilTrustMetadataExpiringSoon":        "warning",
		"VigilTrustMetadataExpiring":            "critical",
		"VigilTrustUpdateFailing":               "warning",
		"VigilTrustChangeUnapproved":            "critical",
		"VigilCertificateExpiringSoon":          "warning",
		"VigilCertificateExpiringCritical":      "critical",
		"VigilReconcileDropping":                "warning",
	}
	got := map[string]string{}
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			got[r.Alert] = r.Labels["severity"]
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("alert %s has no %s annotation", r.Alert, a)
				}
			}
			// The event alertnames sent by the Alertmanager sink must not
			// collide with rule names.
			for _, k := range kinds {
				if r.Alert == k.AlertName() {
					t.Errorf("rule %s has the alertname of %s events", r.Alert, k)
				}
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alerts and severities (-want +got):\n%s", diff)
	}
}

func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	var obj struct {
		APIVersion string         `yaml:"apiVersion"`
		Kind       string         `yaml:"kind"`
		Metadata   map[string]any `yaml:"metadata"`
		Spec       ruleFile       `yaml:"spec"`
	}
	readYAML(t, ruleObject, &obj)
	if obj.APIVersion != "monitoring.coreos.com/v1" || obj.Kind != "PrometheusRule" {
		t.Errorf("%s is %s %s, want monitoring.coreos.com/v1 PrometheusRule", ruleObject, obj.APIVersion, obj.Kind)
	}
	if diff := cmp.Diff(readRules(t), obj.Spec); diff != "" {
		t.Errorf("prometheusrule.yaml differs from rules.yml; regenerate it (see its header) (-rules.yml +prometheusrule.yaml):\n%s", diff)
	}
}

// githubAnchor is how GitHub names the anchor of a Markdown heading.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(runbooksFile)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode {
			continue
		}
		if h, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			anchors[githubAnchor(h)] = true
		}
		for _, m := range regexp.MustCompile(`<a id="([^"]+)">`).FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
	}
	return anchors
}

func TestRunbookLinks(t *testing.T) {
	anchors := runbookAnchors(t)
	const prefix = "https://github.com/vigil-tlog/vigil/blob/main/docs/runbooks.md#"
	for _, g := range readRules(t).Groups {
		for _, r := range g.Rules {
			u := r.Annotations["runbook_url"]
			anchor, ok := strings.CutPrefix(u, prefix)
			if !ok {
				t.Errorf("alert %s: runbook_url %q does not point into docs/runbooks.md", r.Alert, u)
				continue
			}
			if !anchors[anchor] {
				t.Errorf("alert %s: docs/runbooks.md has no section #%s", r.Alert, anchor)
			}
			if anchor != strings.ToLower(r.Alert) {
				t.Errorf("alert %s links to #%s, want its own section", r.Alert, anchor)
			}
		}
	}
	// Sinks link events to runbook#<kind>.
	for _, k := range kinds {
		if !anchors[string(k)] {
			t.Errorf("docs/runbooks.md has no anchor for event kind %s", k)
		}
	}
	// Internal links within the runbooks resolve.
	b, _ := os.ReadFile(runbooksFile)
	for _, m := range regexp.MustCompile(`\]\(#([^)]+)\)`).FindAllStringSubmatch(string(b), -1) {
		if !anchors[m[1]] {
			t.Errorf("docs/runbooks.md links to missing #%s", m[1])
		}
	}
}

// dashboard is the part of Grafana's dashboard JSON model the tests check.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource map[string]any `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []struct {
		Expr       string         `json:"expr"`
		RefID      string         `json:"refId"`
		Datasource map[string]any `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

func readDashboard(t *testing.T) (dashboard, []byte) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("decoding %s: %v", dashboardFile, err)
	}
	return d, b
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func TestDashboard(t *testing.T) {
	d, raw := readDashboard(t)
	if d.UID != "vigil-monitor" {
		t.Errorf("dashboard uid = %q, want the fixed vigil-monitor", d.UID)
	}
	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+":"+v.Type)
	}
	if !slices.Contains(vars, "datasource:datasource") || !slices.Contains(vars, "log:query") {
		t.Errorf("dashboard variables %v, want datasource:datasource and log:query", vars)
	}
	ids := map[int]string{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W <= 0 || p.GridPos.H <= 0 {
			t.Errorf("panel %q has gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if uid := p.Datasource["uid"]; uid != "${datasource}" {
			t.Errorf("panel %q uses datasource %v, want ${datasource}", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, tg := range p.Targets {
			queries++
			if tg.Expr == "" || tg.Datasource["uid"] != "${datasource}" {
				t.Errorf("panel %q target %s: expr %q datasource %v", p.Title, tg.RefID, tg.Expr, tg.Datasource)
			}
		}
	}
	if queries < 20 {
		t.Errorf("dashboard has %d queries, want the full set (>= 20)", queries)
	}

	// The ConfigMap embeds exactly this JSON.
	var cm struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name        string            `yaml:"name"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
	}
	readYAML(t, configMapFile, &cm)
	if cm.Kind != "ConfigMap" || cm.Metadata.Labels["grafana_dashboard"] != "1" {
		t.Errorf("%s: kind %s labels %v, want a ConfigMap labelled grafana_dashboard: \"1\"", configMapFile, cm.Kind, cm.Metadata.Labels)
	}
	if got := cm.Data["vigil-dashboard.json"]; got != string(raw) {
		t.Errorf("the ConfigMap's vigil-dashboard.json differs from %s; regenerate it (see grafana/README.md)", dashboardFile)
	}
}

// TestDashboardQueriesParse runs every dashboard query through promtool as
// a recording rule, after replacing Grafana's variables, so a PromQL typo
// fails here rather than as an empty panel.
func TestDashboardQueriesParse(t *testing.T) {
	d, _ := readDashboard(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$log", ".*").Replace(tg.Expr)
			q, _ := json.Marshal(expr)
			fmt.Fprintf(&b, "      - record: dashboard:query%d\n        expr: %s\n", n, q)
			n++
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, dir, "check", "rules", "dashboard.yml")
	if want := fmt.Sprintf("SUCCESS: %d rules found", n); !strings.Contains(out, want) {
		t.Errorf("promtool check of the dashboard queries: %s, want %q", out, want)
	}
}

// TestOutboxExportsItsMetrics gathers the alert metrics from a live outbox:
// the names the rules and dashboard rely on must be there.
func TestOutboxExportsItsMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	sinks := mustSinks(t, Config{Sinks: []SinkConfig{{Name: "log", Type: TypeLog}}}, nil)
	o, err := Open(t.TempDir(), sinks, reg, nil, OutboxConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
		if !slices.Contains(exportedMetrics, mf.GetName()) {
			t.Errorf("the outbox exports %s, missing from the shared metric list", mf.GetName())
		}
	}
	for _, want := range []string{"vigil_alerts_sent_total", "vigil_alert_failures_total", "vigil_alert_queue_depth", "vigil_alert_oldest_queued_timestamp_seconds", "vigil_alerts_dropped_total"} {
		if !slices.Contains(got, want) {
			t.Errorf("the outbox does not export %s (got %v)", want, got)
		}
	}
}
