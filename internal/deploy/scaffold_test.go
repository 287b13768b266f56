package deploy

import (
	"os"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"

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
	ch, err := LoadChart(ChartSource{Path: p})
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
	in.ReleaseName, in.Namespace = ScaffoldRelease, ScaffoldNamespace
	rel, err := in.Run(ch, ScaffoldValues("example.test", "nginx", true, issuers))
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
	for _, c := range Components(true) {
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
