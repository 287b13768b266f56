package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/testenv"
	monitorchart "github.com/vigil-tlog/vigil/manifests/chart"
)

// chartDir is the monitor chart in the source tree.
var chartDir = filepath.Join("..", "..", "manifests", "chart")

// valuesFiles are the values files the chart is linted and rendered with.
var valuesFiles = []string{"", "minimal.yaml", "full.yaml", "ephemeral.yaml", "observability.yaml", "witness.yaml"}

func readValues(t *testing.T, name string) map[string]any {
	t.Helper()
	if name == "" {
		return map[string]any{}
	}
	v, err := chartutil.ReadValuesFile(filepath.Join("testdata", "monitor-values", name))
	if err != nil {
		t.Fatal(err)
	}
	return v.AsMap()
}

func TestMonitorChartLint(t *testing.T) {
	for _, vf := range valuesFiles {
		t.Run("values="+vf, func(t *testing.T) {
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = "vigil-system"
			res := lint.Run([]string{chartDir}, readValues(t, vf))
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			if len(res.Errors) > 0 {
				t.Fatalf("helm lint --strict %s: %v", vf, errors.Join(res.Errors...))
			}
		})
	}
}

// object is one rendered Kubernetes object.
type object map[string]any

func (o object) kind() string { return o["kind"].(string) }
func (o object) name() string { return o.get("metadata", "name").(string) }

// get walks nested maps; a missing key gives nil.
func (o object) get(path ...string) any {
	var cur any = map[string]any(o)
	for _, p := range path {
		switch m := cur.(type) {
		case map[string]any:
			cur = m[p]
		case object:
			cur = m[p]
		default:
			return nil
		}
	}
	return cur
}

// render renders the chart as `helm template` does, with the schema checked.
func render(t *testing.T, vals map[string]any) (map[string]object, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	in := action.NewInstall(&action.Configuration{})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = "vigil", "vigil-system"
	rel, err := in.Run(ch, vals)
	if err != nil {
		return nil, err
	}
	objs := map[string]object{}
	for _, o := range decodeManifest(t, rel.Manifest) {
		objs[o.kind()+"/"+o.name()] = o
	}
	return objs, nil
}

// decodeManifest splits a rendered multi-document manifest into objects.
func decodeManifest(t *testing.T, manifest string) []object {
	t.Helper()
	var objs []object
	dec := yaml.NewDecoder(strings.NewReader(manifest))
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decoding rendered manifest: %v\n%s", err, manifest)
		}
		if m == nil {
			continue
		}
		o := object(m)
		if _, ok := o.get("metadata", "name").(string); !ok {
			t.Fatalf("rendered object without a name: %v", o)
		}
		objs = append(objs, o)
	}
	return objs
}

func TestMonitorChartRender(t *testing.T) {
	for _, vf := range valuesFiles {
		t.Run("values="+vf, func(t *testing.T) {
			vals := readValues(t, vf)
			objs, err := render(t, vals)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			dep, ok := objs["Deployment/vigil-vigil-monitor"]
			if !ok {
				t.Fatalf("no Deployment/vigil-vigil-monitor among %v", keys(objs))
			}
			checkRestricted(t, dep)
			if got := dep.get("spec", "strategy", "type"); got != "Recreate" {
				t.Errorf("strategy = %v, want Recreate", got)
			}
			if got := dep.get("spec", "replicas"); got != 1 {
				t.Errorf("replicas = %v, want 1", got)
			}
			for id, o := range objs {
				labels, _ := o.get("metadata", "labels").(map[string]any)
				for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "app.kubernetes.io/component", "app.kubernetes.io/part-of", "helm.sh/chart"} {
					if labels[l] == nil {
						t.Errorf("%s has no label %s", id, l)
					}
				}
				if o.get("metadata", "namespace") != "vigil-system" {
					t.Errorf("%s namespace = %v, want vigil-system", id, o.get("metadata", "namespace"))
				}
			}
			// The config file is the user's config plus state_dir and listen.
			cm := objs["ConfigMap/vigil-vigil-monitor"]
			var cfg map[string]any
			if err := yaml.Unmarshal([]byte(cm.get("data", "config.yaml").(string)), &cfg); err != nil {
				t.Fatalf("config.yaml: %v", err)
			}
			if cfg["state_dir"] != "/var/lib/vigil" || cfg["listen"] != ":9464" {
				t.Errorf("config state_dir, listen = %v, %v; want /var/lib/vigil, :9464", cfg["state_dir"], cfg["listen"])
			}
			if userCfg, ok := vals["config"].(map[string]any); ok {
				for k, v := range userCfg {
					if !equalYAML(t, cfg[k], v) {
						t.Errorf("config.%s = %v, want %v", k, cfg[k], v)
					}
				}
			}
			if on, _ := object(vals).get("witness", "enabled").(bool); on {
				checkWitness(t, objs, cfg)
			} else if cfg["witness"] != nil {
				t.Errorf("config.witness = %v without witness.enabled", cfg["witness"])
			}
			args := dep.get("spec", "template", "spec", "containers").([]any)[0].(map[string]any)["args"].([]any)
			if strings.Join(toStrings(args[:3]), " ") != "run --config /etc/vigil/config.yaml" {
				t.Errorf("args = %v, want run --config /etc/vigil/config.yaml", args)
			}
			// Optional objects exist exactly when enabled.
			for kind, path := range map[string][]string{
				"ServiceMonitor/vigil-vigil-monitor":              {"serviceMonitor", "enabled"},
				"NetworkPolicy/vigil-vigil-monitor":               {"networkPolicy", "enabled"},
				"PersistentVolumeClaim/vigil-vigil-monitor-state": {"persistence", "enabled"},
			} {
				want := path[0] == "persistence" // on by default
				if v, ok := object(vals).get(path...).(bool); ok {
					want = v
				}
				if _, got := objs[kind]; got != want {
					t.Errorf("%s rendered = %v, want %v", kind, got, want)
				}
			}
		})
	}
}

// checkWitness checks a chart rendered with witness.enabled (witness.yaml):
// the config's witness block, the key Secret's volume, the port on the
// container, the Service and the NetworkPolicy.
func checkWitness(t *testing.T, objs map[string]object, cfg map[string]any) {
	t.Helper()
	w, _ := cfg["witness"].(map[string]any)
	if w["listen"] != ":9470" || w["key_file"] != "/etc/vigil/witness/key" || w["archive_max"] != 5000 {
		t.Errorf("config.witness = %v, want listen :9470, key_file /etc/vigil/witness/key, archive_max 5000", w)
	}
	pod := objs["Deployment/vigil-vigil-monitor"].get("spec", "template", "spec").(map[string]any)
	var secret any
	for _, v := range pod["volumes"].([]any) {
		if v.(map[string]any)["name"] == "witness-key" {
			secret = object(v.(map[string]any)).get("secret", "secretName")
		}
	}
	if secret != "vigil-witness-key" {
		t.Errorf("witness-key volume from Secret %v, want vigil-witness-key", secret)
	}
	c := pod["containers"].([]any)[0].(map[string]any)
	if !strings.Contains(fmt.Sprint(c["ports"]), "witness") || !strings.Contains(fmt.Sprint(c["volumeMounts"]), "/etc/vigil/witness") {
		t.Errorf("container ports %v, mounts %v: want the witness port and key", c["ports"], c["volumeMounts"])
	}
	if p := fmt.Sprint(objs["Service/vigil-vigil-monitor"].get("spec", "ports")); !strings.Contains(p, "port:9470") {
		t.Errorf("Service ports %s, want the witness port 9470", p)
	}
	if in := fmt.Sprint(objs["NetworkPolicy/vigil-vigil-monitor"].get("spec", "ingress")); !strings.Contains(in, "witness") || !strings.Contains(in, "rekor-tiles-system") {
		t.Errorf("NetworkPolicy ingress %s, want the witness port from witnessFrom", in)
	}
}

func checkRestricted(t *testing.T, dep object) {
	t.Helper()
	pod := dep.get("spec", "template", "spec").(map[string]any)
	psc := object(pod).get("securityContext").(map[string]any)
	if psc["runAsNonRoot"] != true || object(psc).get("seccompProfile", "type") != "RuntimeDefault" {
		t.Errorf("pod securityContext = %v, want runAsNonRoot and RuntimeDefault seccomp", psc)
	}
	if pod["automountServiceAccountToken"] != false {
		t.Errorf("automountServiceAccountToken = %v, want false", pod["automountServiceAccountToken"])
	}
	for _, c := range pod["containers"].([]any) {
		sc := object(c.(map[string]any)).get("securityContext").(map[string]any)
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || sc["runAsNonRoot"] != true {
			t.Errorf("container securityContext = %v", sc)
		}
		if drop := object(sc).get("capabilities", "drop"); len(drop.([]any)) != 1 || drop.([]any)[0] != "ALL" {
			t.Errorf("capabilities.drop = %v, want [ALL]", drop)
		}
	}
}

func TestMonitorChartSchemaRejects(t *testing.T) {
	tests := []struct {
		name string
		vals string
		want string
	}{
		{"unknown top-level key", "replicas: 2", "replicas"},
		{"state_dir is the chart's", "config: {state_dir: /tmp}", "config"},
		{"bad log kind", "config: {logs: [{name: r, kind: rekor-v3, url: https://r}]}", "kind"},
		{"bad digest", "image: {repository: x, digest: latest}", "digest"},
		{"bad sink type", "config: {alerts: {sinks: [{name: s, type: email}]}}", "type"},
		{"key not PEM", "publicKeys: {rekor.pub: nope}", "rekor.pub"},
		{"TUF root not JSON", "publicKeys: {root.json: nope}", "root.json"},
		{"CA not a certificate", "publicKeys: {ca.crt: '-----BEGIN PUBLIC KEY-----'}", "ca.crt"},
		{"alert secret without secretName", "alertSecrets: [{name: pager}]", "secretName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var vals map[string]any
			if err := yaml.Unmarshal([]byte(tt.vals), &vals); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, vals)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("render(%s) error = %v, want one mentioning %q", tt.vals, err, tt.want)
			}
		})
	}
}

// The PrometheusRule and dashboard come from files the alerting work ships
// into the chart; enabled without them, the render fails naming the file.
func TestMonitorChartAlertingFiles(t *testing.T) {
	for _, tt := range []struct{ value, file, kind string }{
		{"prometheusRule", "vigil-rules.yaml", "PrometheusRule/vigil-vigil-monitor"},
		{"grafanaDashboard", "vigil-dashboard.json", "ConfigMap/vigil-vigil-monitor-dashboard"},
	} {
		t.Run(tt.value, func(t *testing.T) {
			objs, err := render(t, map[string]any{tt.value: map[string]any{"enabled": true}})
			if _, statErr := os.Stat(filepath.Join(chartDir, "files", tt.file)); statErr != nil {
				if err == nil || !strings.Contains(err.Error(), tt.file) {
					t.Fatalf("render without files/%s: error = %v, want one naming the file", tt.file, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			o, ok := objs[tt.kind]
			if !ok {
				t.Fatalf("no %s among %v", tt.kind, keys(objs))
			}
			src, err := os.ReadFile(filepath.Join(chartDir, "files", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			switch tt.value {
			case "prometheusRule":
				// The rules go through unchanged, Prometheus templates included.
				var rules map[string]any
				if err := yaml.Unmarshal(src, &rules); err != nil {
					t.Fatal(err)
				}
				if !equalYAML(t, o.get("spec", "groups"), rules["groups"]) {
					t.Errorf("PrometheusRule groups differ from files/%s", tt.file)
				}
			case "grafanaDashboard":
				if got := o.get("data", "vigil-dashboard.json"); strings.TrimSpace(got.(string)) != strings.TrimSpace(string(src)) {
					t.Errorf("dashboard ConfigMap data differs from files/%s", tt.file)
				}
			}
		})
	}
}

// The chart embedded in the bootstrap binary is the chart in the tree.
func TestEmbeddedChartMatchesTree(t *testing.T) {
	embedded, err := loadChartFS(monitorchart.Files)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := chartDigest(embedded), chartDigest(tree); a != b {
		t.Errorf("embedded chart digest %s != tree chart digest %s", a, b)
	}
	if !bytes.Equal(embedded.Schema, tree.Schema) || len(embedded.Schema) == 0 {
		t.Errorf("embedded chart lacks the values schema")
	}
}

func TestMonitorValues(t *testing.T) {
	key := "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
	vals, err := monitorValues(MonitorConfig{
		Image: "mirror:5000/vigil/monitor:1.2.3",
		Watch: []identity.Rule{{Name: "ci", Subject: "ci@example.com", Issuer: "https://issuer.example"}},
		Values: map[string]any{
			"serviceMonitor": map[string]any{"enabled": true},
			"image":          map[string]any{"pullPolicy": "Always"},
		},
	}, "0.1.0", monitorFiles{RekorKeyPEM: []byte(key)})
	if err != nil {
		t.Fatal(err)
	}
	v := object(vals)
	if v.get("image", "repository") != "mirror:5000/vigil/monitor" || v.get("image", "tag") != "1.2.3" || v.get("image", "pullPolicy") != "Always" {
		t.Errorf("image = %v", v.get("image"))
	}
	if v.get("publicKeys", "rekor.pub") != key {
		t.Errorf("publicKeys = %v", v.get("publicKeys"))
	}
	if v.get("serviceMonitor", "enabled") != true {
		t.Errorf("extra values not merged: %v", v.get("serviceMonitor"))
	}
	objs, err := render(t, vals)
	if err != nil {
		t.Fatalf("rendering MonitorValues: %v", err)
	}
	if _, ok := objs["ConfigMap/vigil-vigil-monitor-keys"]; !ok {
		t.Errorf("no keys ConfigMap among %v", keys(objs))
	}
}

// testMonitorFiles are a Rekor key, a TUF root and the certificate of a
// fresh CA, as the bootstrap collects them.
func testMonitorFiles(t *testing.T) monitorFiles {
	t.Helper()
	ca, err := newCA("test CA", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return monitorFiles{
		RekorKeyPEM: []byte("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"),
		TUFRoot:     []byte(`{"signed":{"_type":"root","spec_version":"1.0","version":1},"signatures":[]}`),
		CACertPEM:   ca.CertPEM,
		CTLogKeyPEM: []byte("-----BEGIN PUBLIC KEY-----\nMFkwCT\n-----END PUBLIC KEY-----\n"),
		FulcioCAPEM: ca.CertPEM,
	}
}

// The keys ConfigMap holds the TUF root and the CA certificate beside
// Rekor's key, and the pod mounts it at monitorKeyDir.
func TestMonitorKeysConfigMap(t *testing.T) {
	f := testMonitorFiles(t)
	vals, err := monitorValues(MonitorConfig{}, "0.1.0", f)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	cm, ok := objs["ConfigMap/vigil-vigil-monitor-keys"]
	if !ok {
		t.Fatalf("no keys ConfigMap among %v", keys(objs))
	}
	data, _ := cm.get("data").(map[string]any)
	wantFiles := map[string][]byte{monitorRekorKey: f.RekorKeyPEM, monitorTUFRoot: f.TUFRoot, monitorCACert: f.CACertPEM,
		monitorCTLogKey: f.CTLogKeyPEM, monitorFulcioCA: f.FulcioCAPEM}
	for name, want := range wantFiles {
		got, _ := data[name].(string)
		if strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Errorf("keys ConfigMap %s = %q, want %q", name, got, want)
		}
	}
	if len(data) != len(wantFiles) {
		t.Errorf("keys ConfigMap holds %v, want %v", keys(data), keys(wantFiles))
	}
	dep, ok := objs["Deployment/vigil-vigil-monitor"]
	if !ok {
		t.Fatalf("no Deployment among %v", keys(objs))
	}
	pod := object(dep.get("spec", "template", "spec").(map[string]any))
	var vol string
	for _, v := range pod.get("volumes").([]any) {
		if object(v.(map[string]any)).get("configMap", "name") == "vigil-vigil-monitor-keys" {
			vol, _ = v.(map[string]any)["name"].(string)
		}
	}
	mounted := false
	for _, c := range pod.get("containers").([]any) {
		for _, m := range object(c.(map[string]any)).get("volumeMounts").([]any) {
			m := m.(map[string]any)
			if vol != "" && m["name"] == vol && m["mountPath"] == monitorKeyDir && m["subPath"] == nil {
				mounted = true
			}
		}
	}
	if !mounted {
		t.Errorf("the keys ConfigMap (volume %q) is not mounted whole at %s", vol, monitorKeyDir)
	}
}

// The monitor configuration the bootstrap generates, as the chart renders
// it into config.yaml, decodes with the monitor's own strict decoder and
// validates, and holds the log and the identity rules it was built from.
func TestMonitorConfigDecodes(t *testing.T) {
	key := "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"
	watch := []identity.Rule{
		{Name: "ci", Subject: "ci@example.com", Issuer: "https://issuer.example"},
		{Name: "release", Subject: `.*@example\.com`},
		{Name: "key", Fingerprint: strings.Repeat("ab", 32)},
	}
	full := testMonitorFiles(t)
	for _, tt := range []struct {
		name  string
		watch []identity.Rule
		files monitorFiles
	}{
		{"no rules", nil, full},
		{"rules", watch, full},
		// Without the TUF root (a dry run before the TUF server wrote it)
		// there is no trust.tuf, rather than one naming a missing file.
		{"no TUF root", watch, monitorFiles{RekorKeyPEM: full.RekorKeyPEM, CACertPEM: full.CACertPEM}},
		{"only the key", nil, monitorFiles{RekorKeyPEM: []byte(key)}},
		// The CT log without Fulcio's CA is watched, not reconciled.
		{"CT log without CA", nil, monitorFiles{RekorKeyPEM: []byte(key), CTLogKeyPEM: full.CTLogKeyPEM}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vals, err := monitorValues(MonitorConfig{Watch: tt.watch}, "0.1.0", tt.files)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := render(t, vals)
			if err != nil {
				t.Fatalf("render: %v", err)
			}
			keysCM, ok := objs["ConfigMap/vigil-vigil-monitor-keys"]
			if !ok {
				t.Fatalf("no keys ConfigMap among %v", keys(objs))
			}
			rendered, _ := objs["ConfigMap/vigil-vigil-monitor"].get("data", "config.yaml").(string)
			t.Logf("config.yaml:\n%s", rendered)
			// The pod sees the keys at monitorKeyDir; here, a directory
			// with the keys ConfigMap's files.
			dir := t.TempDir()
			for name, pem := range keysCM.get("data").(map[string]any) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(pem.(string)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			got, err := config.Parse(strings.NewReader(strings.ReplaceAll(rendered, monitorKeyDir, dir)))
			if err != nil {
				t.Fatalf("the monitor rejects the generated config: %v", err)
			}
			want := monitorConfig(MonitorConfig{Watch: tt.watch}, tt.files)
			if len(got.Logs) != len(want.Logs) {
				t.Fatalf("logs = %+v, want %+v", got.Logs, want.Logs)
			}
			l, w := got.Logs[0], want.Logs[0]
			if l.Name != w.Name || l.Kind != w.Kind || l.URL != w.URL || l.PublicKeyFile != filepath.Join(dir, monitorRekorKey) {
				t.Errorf("logs[0] = %+v, want %+v with the key in %s", l, w, dir)
			}
			wantPairs := 0
			if len(tt.files.CTLogKeyPEM) > 0 {
				l := got.Logs[1]
				if l.Name != "ctlog" || l.Kind != config.KindCT || l.URL != "http://ctlog.ctlog-system.svc/sigstorescaffolding" || l.PublicKeyFile != filepath.Join(dir, monitorCTLogKey) {
					t.Errorf("logs[1] = %+v, want the scaffold's CT log with its key in %s", l, dir)
				}
				if len(tt.files.FulcioCAPEM) > 0 {
					wantPairs = 1
				}
			}
			if len(got.Reconcile.Pairs) != wantPairs {
				t.Fatalf("reconcile.pairs = %+v, want %d", got.Reconcile.Pairs, wantPairs)
			}
			if wantPairs == 1 {
				p := got.Reconcile.Pairs[0]
				if p.Rekor != "rekor" || p.CT != "ctlog" || len(p.CAFiles) != 1 || p.CAFiles[0] != filepath.Join(dir, monitorFulcioCA) {
					t.Errorf("reconcile.pairs[0] = %+v, want rekor and ctlog with Fulcio's CA", p)
				}
			}
			if diff := cmp.Diff(want.Identities, got.Identities, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("identities (-want +got):\n%s", diff)
			}
			if got.StateDir != "/var/lib/vigil" {
				t.Errorf("state_dir = %q, want the chart's /var/lib/vigil", got.StateDir)
			}
			var wantTUF config.TUF
			if len(tt.files.TUFRoot) > 0 {
				wantTUF = config.TUF{Mirror: "http://tuf-server.tuf-system.svc", RootFile: filepath.Join(dir, monitorTUFRoot)}
			}
			if got.Trust.TUF.Mirror != wantTUF.Mirror || got.Trust.TUF.RootFile != wantTUF.RootFile {
				t.Errorf("trust.tuf = %+v, want mirror %q, root_file %q", got.Trust.TUF, wantTUF.Mirror, wantTUF.RootFile)
			}
			var wantCAs []string
			if len(tt.files.CACertPEM) > 0 {
				wantCAs = []string{filepath.Join(dir, monitorCACert)}
			}
			if diff := cmp.Diff(wantCAs, got.Trust.Watch.CAFiles, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("trust.watch.ca_files (-want +got):\n%s", diff)
			}
			if got.Trust.TrustedRootFile != "" || got.Trust.Watch.Disabled {
				t.Errorf("trust = %+v, want no trusted_root_file and the watch on", got.Trust)
			}
		})
	}
	// Rules the monitor would refuse at start-up fail the bootstrap instead.
	_, err := monitorValues(MonitorConfig{Watch: []identity.Rule{{Name: "bad", Subject: "a("}}}, "0.1.0", full)
	if err == nil || !strings.Contains(err.Error(), "identities.watch[0].subject") {
		t.Errorf("MonitorValues with a bad regular expression: error = %v, want one naming identities.watch[0].subject", err)
	}
}

func keys[M ~map[string]V, V any](m M) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func toStrings(a []any) []string {
	var out []string
	for _, v := range a {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func equalYAML(t *testing.T, a, b any) bool {
	t.Helper()
	ab, err := yaml.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := yaml.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ab, bb)
}

// The chart's copies of the alerting rules and dashboard are the files the
// alerting tests check (promtool, dashboard lint).
func TestChartAlertingFilesInSync(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, f := range []struct{ src, copy string }{
		{filepath.Join(root, "manifests", "prometheus", "rules.yml"), filepath.Join(chartDir, "files", "vigil-rules.yaml")},
		{filepath.Join(root, "grafana", "vigil-dashboard.json"), filepath.Join(chartDir, "files", "vigil-dashboard.json")},
	} {
		src, err := os.ReadFile(f.src)
		if err != nil {
			t.Fatalf("reading %s: %v", f.src, err)
		}
		cp, err := os.ReadFile(f.copy)
		if err != nil {
			t.Fatalf("reading %s: %v", f.copy, err)
		}
		if !bytes.Equal(src, cp) {
			t.Errorf("%s differs from %s; refresh it (see manifests/chart/files/README.md)", f.copy, f.src)
		}
	}
}

// TestMonitorChartInstall installs the chart into the real test control
// plane, upgrades it to other values and uninstalls it, keeping the state
// volume claim.
func TestMonitorChartInstall(t *testing.T) {
	kubeconfig := testenv.Cluster(t)
	ctx := t.Context()
	cl, err := connect(kubeconfig, "")
	if err != nil {
		t.Fatal(err)
	}
	const ns = "monitoring"
	if _, err := cl.EnsureNamespace(ctx, ns, false); err != nil {
		t.Fatal(err)
	}
	apply := func(valuesFile string, want outcome) {
		t.Helper()
		ch, err := loadChartFS(monitorchart.Files) // Helm modifies the chart it installs
		if err != nil {
			t.Fatal(err)
		}
		got, err := cl.ApplyRelease(ctx, helmRelease{Name: "vigil", Namespace: ns, Chart: ch, Values: readValues(t, valuesFile)}, false)
		if err != nil {
			t.Fatalf("applying %s: %v", valuesFile, err)
		}
		if got != want {
			t.Errorf("applying %s: %s, want %s", valuesFile, got, want)
		}
		if err := cl.WaitReady(ctx, []string{ns}, time.Minute, nil); err != nil {
			t.Fatalf("after applying %s: %v", valuesFile, err)
		}
	}
	apply("minimal.yaml", created)
	apply("minimal.yaml", unchanged)
	dep, err := cl.Client.AppsV1().Deployments(ns).Get(ctx, "vigil-vigil-monitor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType || dep.Status.AvailableReplicas != 1 {
		t.Errorf("deployment strategy %s, %d available; want Recreate, 1", dep.Spec.Strategy.Type, dep.Status.AvailableReplicas)
	}
	pvc, err := cl.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "vigil-vigil-monitor-state", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc.Status.Phase != corev1.ClaimBound {
		t.Errorf("state claim is %s, want Bound", pvc.Status.Phase)
	}
	// ephemeral.yaml runs the pod as an existing service account.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "monitoring", Namespace: ns}}
	if _, err := cl.Client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apply("ephemeral.yaml", updated)
	if st, err := cl.ReleaseStatus(ns, "vigil"); err != nil || st.Revision != 2 {
		t.Errorf("after upgrade: %s, %v; want revision 2", st, err)
	}
	if got, err := cl.UninstallRelease(ns, "vigil", false); err != nil || got != deleted {
		t.Fatalf("uninstall: %s, %v", got, err)
	}
	// The state claim outlives the release (helm.sh/resource-policy: keep).
	if _, err := cl.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "vigil-vigil-monitor-state", metav1.GetOptions{}); err != nil {
		t.Errorf("state claim after uninstall: %v, want kept", err)
	}
}
