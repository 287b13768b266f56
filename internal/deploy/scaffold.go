package deploy

import (
	"fmt"
	"strings"
)

// The Sigstore scaffold chart, by default fetched from the Sigstore Helm
// chart repository at a pinned version.
const (
	ScaffoldRepoURL = "https://sigstore.github.io/helm-charts"
	ScaffoldChart   = "scaffold"
	ScaffoldVersion = "0.6.113"
)

// Names of the Helm releases and namespaces the bootstrap manages.
const (
	scaffoldRelease   = "scaffold"
	scaffoldNamespace = "sigstore" // holds the scaffold release record and its own objects
	monitorRelease    = "vigil-monitor"
	monitorNamespace  = "vigil-system"
	tufNamespace      = "tuf-system"
	tufRootSecret     = "tuf-root"
	tufRootKey        = "root"
)

// component is one Sigstore service the scaffold deploys into its own
// namespace; an exposed one gets an ingress host name and a TLS Secret.
type component struct {
	Name      string // rekor, fulcio, tuf, ctlog, trillian, tsa
	Namespace string
	// Exposed components get Host "<name>.<domain>" and a TLS Secret
	// "<name>-tls" in Namespace.
	Exposed bool
}

// Host is the component's ingress host name under domain.
func (c component) Host(domain string) string { return c.Name + "." + domain }

// TLSSecret is the name of the component's TLS Secret.
func (c component) TLSSecret() string { return c.Name + "-tls" }

// components lists the scaffold's components; ctlog is exposed only when
// exposeCTLog is set (clients reach it only through Fulcio).
func components(exposeCTLog bool) []component {
	return []component{
		{Name: "fulcio", Namespace: "fulcio-system", Exposed: true},
		{Name: "rekor", Namespace: "rekor-system", Exposed: true},
		{Name: "tuf", Namespace: tufNamespace, Exposed: true},
		{Name: "ctlog", Namespace: "ctlog-system", Exposed: exposeCTLog},
		{Name: "trillian", Namespace: "trillian-system"},
		{Name: "tsa", Namespace: "tsa-system"},
	}
}

// OIDCIssuer is an OpenID Connect issuer Fulcio accepts ID tokens from.
type OIDCIssuer struct {
	URL      string
	ClientID string // the audience tokens must carry; default "sigstore"
	// Type is Fulcio's issuer type: email, kubernetes, github-workflow,
	// gitlab-pipeline, spiffe, uri, username, ... Default email.
	Type string
}

// ParseOIDCIssuer parses "URL[,client_id=ID][,type=TYPE]".
func ParseOIDCIssuer(s string) (OIDCIssuer, error) {
	parts := strings.Split(s, ",")
	iss := OIDCIssuer{URL: strings.TrimSpace(parts[0]), ClientID: "sigstore", Type: "email"}
	if !strings.HasPrefix(iss.URL, "https://") && !strings.HasPrefix(iss.URL, "http://") {
		return iss, fmt.Errorf("parsing OIDC issuer %q: the URL must start with https://", s)
	}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || v == "" {
			return iss, fmt.Errorf("parsing OIDC issuer %q: %q is not key=value", s, p)
		}
		switch k {
		case "client_id":
			iss.ClientID = v
		case "type":
			iss.Type = v
		default:
			return iss, fmt.Errorf("parsing OIDC issuer %q: unknown key %q (client_id, type)", s, k)
		}
	}
	return iss, nil
}

// scaffoldValues are the scaffold chart values for domain: namespaces made
// by the bootstrap (so that uninstalling keeps the TLS Secrets), ingress hosts
// with the TLS Secrets, the TUF server and TSA on, the job that copies the
// public keys into tuf-system on, and Fulcio trusting issuers.
func scaffoldValues(domain, ingressClass string, exposeCTLog bool, issuers []OIDCIssuer) map[string]any {
	tls := func(c component) []any {
		return []any{map[string]any{"secretName": c.TLSSecret(), "hosts": []any{c.Host(domain)}}}
	}
	comp := map[string]component{}
	for _, c := range components(exposeCTLog) {
		comp[c.Name] = c
	}
	noNS := map[string]any{"create": false}
	oidc := map[string]any{}
	for _, iss := range issuers {
		oidc[iss.URL] = map[string]any{"IssuerURL": iss.URL, "ClientID": iss.ClientID, "Type": iss.Type}
	}
	fulcio := comp["fulcio"]
	rekor := comp["rekor"]
	tuf := comp["tuf"]
	ctlog := comp["ctlog"]
	v := map[string]any{
		"fulcio": map[string]any{
			"namespace":   noNS,
			"createcerts": map[string]any{"enabled": true},
			"server": map[string]any{
				"ingress": map[string]any{
					"className": ingressClass,
					"http": map[string]any{
						"hosts": []any{map[string]any{"host": fulcio.Host(domain), "path": "/"}},
					},
					"tls": tls(fulcio),
				},
			},
			"config": map[string]any{"contents": map[string]any{"OIDCIssuers": oidc}},
		},
		"rekor": map[string]any{
			"namespace": noNS,
			"server": map[string]any{
				"ingress": map[string]any{
					"className": ingressClass,
					"hosts":     []any{map[string]any{"host": rekor.Host(domain), "path": "/"}},
					"tls":       tls(rekor),
				},
			},
		},
		"ctlog":    map[string]any{"namespace": noNS},
		"trillian": map[string]any{"namespace": noNS},
		"tuf": map[string]any{
			"enabled":   true,
			"namespace": noNS,
			"ingress": map[string]any{
				"className": ingressClass,
				"http": map[string]any{
					"hosts": []any{map[string]any{"host": tuf.Host(domain), "path": "/"}},
				},
				"tls": tls(tuf),
			},
		},
		// The TSA must be on while the copy job runs: the job binds into
		// tsa-system.
		"tsa":           map[string]any{"enabled": true, "namespace": noNS},
		"copySecretJob": map[string]any{"enabled": true},
	}
	if exposeCTLog {
		v["ctlog"].(map[string]any)["server"] = map[string]any{
			"ingress": map[string]any{
				"enabled":   true,
				"className": ingressClass,
				"hosts":     []any{map[string]any{"host": ctlog.Host(domain), "path": "/"}},
				"tls":       tls(ctlog),
			},
		}
	}
	return v
}
