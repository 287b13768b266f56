package deploy

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	corev1 "k8s.io/api/core/v1"

	"github.com/vigil-tlog/vigil/internal/testenv"
)

// scaffoldChart loads the real scaffold chart used as test data:
// $VIGIL_SCAFFOLD_CHART, else ../shared/charts/scaffold-0.6.113.tgz next to
// the repository. Tests never fetch it from the network.
func scaffoldChart(t *testing.T) *chart.Chart {
	t.Helper()
	p := scaffoldPath(t)
	if _, err := os.Stat(p); err != nil {
		testenv.Unavailable(t, "the scaffold chart "+p, "set VIGIL_SCAFFOLD_CHART to scaffold-"+ScaffoldVersion+".tgz")
	}
	ch, err := loadChart(ChartSource{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// The values the bootstrap gives the scaffold render into ingresses for the
// domain with the bootstrap's TLS Secrets, no namespaces of the chart's own,
// and Fulcio trusting the issuers.
func TestScaffoldValuesRender(t *testing.T) {
	ch := scaffoldChart(t)
	issuers := []OIDCIssuer{{URL: "https://issuer.example", ClientID: "sigstore", Type: "email"}}
	in := action.NewInstall(&action.Configuration{})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = scaffoldRelease, scaffoldNamespace
	rel, err := in.Run(ch, scaffoldValues("example.test", "nginx", true, issuers))
	if err != nil {
		t.Fatalf("rendering scaffold: %v", err)
	}
	objs := decodeManifest(t, rel.Manifest)
	hosts := map[string]string{} // host -> TLS secret, from the ingresses
	for _, o := range objs {
		switch o.kind() {
		case "Namespace":
			t.Errorf("scaffold renders Namespace %s; the bootstrap creates namespaces", o.name())
		case "Ingress":
			tlsList, _ := o.get("spec", "tls").([]any)
			for _, tl := range tlsList {
				tm := object(tl.(map[string]any))
				for _, h := range tm.get("hosts").([]any) {
					hosts[h.(string)] = tm.get("secretName").(string)
				}
			}
		}
	}
	for _, c := range components(true) {
		if !c.Exposed {
			continue
		}
		if got := hosts[c.Host("example.test")]; got != c.TLSSecret() {
			t.Errorf("ingress TLS for %s = %q, want %q (all: %v)", c.Host("example.test"), got, c.TLSSecret(), hosts)
		}
	}
	var fulcioCfg string
	for _, o := range objs {
		if o.kind() == "ConfigMap" && o.get("metadata", "namespace") == "fulcio-system" {
			if s, ok := o.get("data", "config.json").(string); ok {
				fulcioCfg = s
			}
		}
	}
	if !strings.Contains(fulcioCfg, "https://issuer.example") {
		t.Errorf("fulcio config does not trust https://issuer.example:\n%s", fulcioCfg)
	}
}

// With the bootstrap's secret values the scaffold renders rekor-server with
// a file signer reading the bootstrap's Secret (not --rekor_server.signer=
// memory) and Trillian's MySQL Secret with the bootstrap's passwords, so
// neither changes across pod restarts and upgrades.
func TestScaffoldSecretValuesRender(t *testing.T) {
	ch := scaffoldChart(t)
	ss := &serviceSecrets{MySQLPassword: "user-pass", MySQLRootPassword: "root-pass"}
	vals := mergeValues(scaffoldValues("example.test", "nginx", false, nil), scaffoldSecretValues(ss))
	in := action.NewInstall(&action.Configuration{})
	in.DryRun, in.ClientOnly, in.Replace = true, true, true
	in.ReleaseName, in.Namespace = scaffoldRelease, scaffoldNamespace
	rel, err := in.Run(ch, vals)
	if err != nil {
		t.Fatalf("rendering scaffold: %v", err)
	}
	var sawRekor, sawMySQL bool
	for _, o := range decodeManifest(t, rel.Manifest) {
		switch {
		case o.kind() == "Deployment" && o.name() == "rekor-server":
			sawRekor = true
			b, err := json.Marshal(o.get("spec", "template", "spec"))
			if err != nil {
				t.Fatal(err)
			}
			var spec corev1.PodSpec
			if err := json.Unmarshal(b, &spec); err != nil {
				t.Fatal(err)
			}
			checkRekorPodSpec(t, spec)
			for _, c := range spec.Containers {
				if slices.Contains(c.Args, "--rekor_server.signer=memory") {
					t.Errorf("rekor-server still uses the in-memory signer: %q", c.Args)
				}
			}
		case o.kind() == "Secret" && o.name() == trillianChartMySQLSecret:
			sawMySQL = true
			for k, want := range map[string]string{trillianMySQLPassword: "user-pass", trillianMySQLRootPassword: "root-pass"} {
				got, _ := o.get("data", k).(string)
				if dec, err := base64.StdEncoding.DecodeString(got); err != nil || string(dec) != want {
					t.Errorf("%s %s = %q, want %q", trillianChartMySQLSecret, k, dec, want)
				}
			}
		}
	}
	if !sawRekor || !sawMySQL {
		t.Errorf("rendered rekor-server deployment %v, %s secret %v; want both", sawRekor, trillianChartMySQLSecret, sawMySQL)
	}
}
