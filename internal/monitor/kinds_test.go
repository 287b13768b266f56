package monitor_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/rekor/pkg/generated/models"

	"github.com/vigil-tlog/vigil/internal/alert"
	"github.com/vigil-tlog/vigil/internal/config"
	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
	"github.com/vigil-tlog/vigil/internal/stack"
	"github.com/vigil-tlog/vigil/internal/testenv"
)

// v1KindsAccepted are the entry kinds rekor-server v1.5.4 accepts on
// POST /api/v1/log/entries with its default --enabled_entry_types
// (types.ListSupportedKinds(): every kind compiled into the server,
// cmd/rekor-server/app/serve.go), with the versions it inserts. The local
// stack does not restrict the flag.
var v1KindsAccepted = []string{
	"alpine:0.0.1", "cose:0.0.1", "dsse:0.0.1", "hashedrekord:0.0.1", "helm:0.0.1",
	"intoto:0.0.1", "intoto:0.0.2", "jar:0.0.1", "rekord:0.0.1", "rfc3161:0.0.1",
	"rpm:0.0.1", "tuf:0.0.1",
}

// kindCase is one entry uploaded to the real log, with the watch rule that
// must fire for it and the evidence the event must carry.
type kindCase struct {
	rule  identity.Rule // Name is also the subtest name
	kind  string        // stored kind:apiVersion, the evidence's entry_kind
	entry models.ProposedEntry
	// subject, if set, is the evidence's matched subject.
	subject string
	// fingerprints holds the acceptable evidence key_fingerprint or
	// cert_fingerprint values (a PGP key reports its primary key and
	// subkey).
	fingerprints []string
}

// TestScanEveryV1Kind uploads one entry of every kind (and, for rekord,
// every signature format) the real Rekor v1 server accepts, each signed by
// a key or certificate whose identity the test knows: certificates from a
// Fulcio-shaped test CA for kind-<name>@example.com, PGP keys with that
// user ID, SSH, minisign, TUF and APK keys by fingerprint, a TSA
// certificate by DNS name. One scan of the monitor must report each entry
// as an identity_match of exactly its own watch rule, with the stored kind,
// the matched subject or fingerprint and the entry body as evidence.
func TestScanEveryV1Kind(t *testing.T) {
	var l testenv.Log
	for _, sl := range stackLogs(t) {
		if sl.Kind == string(config.KindRekorV1) {
			l = sl
		}
	}
	if l.URL == "" {
		t.Fatal("the local stack has no Rekor v1 log")
	}
	t.Logf("rekor-server v1.5.4 accepts by default, all covered here against %s: %s "+
		"(rekord in its x509, pgp, ssh and minisign formats). No v1 kind is left out: rpm is a real package "+
		"built by rpmpack and PGP-signed, as in rekor's rpm e2e test.", l.URL, strings.Join(v1KindsAccepted, ", "))

	ca := identitytest.NewCA(t, "vigil kinds")
	const issuer = "https://issuer.example.com"
	email := func(name string) string { return "kind-" + name + "@example.com" }
	cert := func(name string) identitytest.Signer {
		return ca.Issue(t, identitytest.CertOptions{Emails: []string{email(name)}, Extensions: map[string]string{identity.OIDIssuer: issuer}})
	}
	statement := func() []byte { return identitytest.InTotoStatement("app", identitytest.Artifact()) }
	// certCase watches a certificate by e-mail subject and issuer.
	certCase := func(name, kind string, s identitytest.Signer, pe models.ProposedEntry) kindCase {
		return kindCase{
			rule: identity.Rule{Name: "kind-" + name, Subject: regexp.QuoteMeta(email(name)), Issuer: regexp.QuoteMeta(issuer)},
			kind: kind, entry: pe, subject: email(name), fingerprints: []string{s.CertFingerprint()},
		}
	}
	// pgpCase watches a PGP key by its e-mail user ID.
	pgpCase := func(name, kind string, k identitytest.PGPKey, pe models.ProposedEntry) kindCase {
		return kindCase{
			rule: identity.Rule{Name: "kind-" + name, Subject: regexp.QuoteMeta(email(name))},
			kind: kind, entry: pe, subject: email(name), fingerprints: k.Fingerprints(),
		}
	}
	// keyCase watches a bare key by fingerprint (rule form) and expects
	// its hex form in the evidence.
	keyCase := func(name, kind, ruleFP, hexFP string, pe models.ProposedEntry) kindCase {
		return kindCase{
			rule: identity.Rule{Name: "kind-" + name, Fingerprint: ruleFP},
			kind: kind, entry: pe, fingerprints: []string{hexFP},
		}
	}

	var cases []kindCase
	{
		s := cert("hashedrekord")
		cases = append(cases, certCase("hashedrekord", "hashedrekord:0.0.1", s, identitytest.HashedRekord(t, s, identitytest.Artifact())))
	}
	{
		s := cert("rekord-x509")
		cases = append(cases, certCase("rekord-x509", "rekord:0.0.1", s, identitytest.RekordX509(t, s, identitytest.Artifact())))
	}
	{
		k := identitytest.NewPGPKey(t, email("rekord-pgp"))
		cases = append(cases, pgpCase("rekord-pgp", "rekord:0.0.1", k, identitytest.RekordPGP(t, k, identitytest.Artifact())))
	}
	{
		// The OpenSSH "SHA256:..." form in the rule, hex in the evidence.
		pe, hexFP, opensshFP := identitytest.RekordSSH(t, email("rekord-ssh"), identitytest.Artifact())
		cases = append(cases, keyCase("rekord-ssh", "rekord:0.0.1", opensshFP, hexFP, pe))
	}
	{
		pe, fp := identitytest.RekordMinisign(t, identitytest.Artifact())
		cases = append(cases, keyCase("rekord-minisign", "rekord:0.0.1", "sha256:"+fp, fp, pe))
	}
	{
		s := cert("intoto-001")
		cases = append(cases, certCase("intoto-001", "intoto:0.0.1", s, identitytest.IntotoV001(t, s, statement())))
	}
	{
		s := cert("intoto-002")
		cases = append(cases, certCase("intoto-002", "intoto:0.0.2", s, identitytest.IntotoV002(t, statement(), s)))
	}
	{
		s := cert("dsse")
		cases = append(cases, certCase("dsse", "dsse:0.0.1", s, identitytest.DSSE(t, statement(), s)))
	}
	{
		s := cert("cose")
		cases = append(cases, certCase("cose", "cose:0.0.1", s, identitytest.Cose(t, s, statement())))
	}
	{
		s := cert("jar")
		cases = append(cases, certCase("jar", "jar:0.0.1", s, identitytest.Jar(t, s)))
	}
	{
		k := identitytest.NewPGPKey(t, email("rpm"))
		cases = append(cases, pgpCase("rpm", "rpm:0.0.1", k, identitytest.RPM(t, k)))
	}
	{
		pe, fp := identitytest.Alpine(t)
		cases = append(cases, keyCase("alpine", "alpine:0.0.1", strings.ToUpper(fp), fp, pe))
	}
	{
		k := identitytest.NewPGPKey(t, email("helm"))
		cases = append(cases, pgpCase("helm", "helm:0.0.1", k, identitytest.Helm(t, k)))
	}
	{
		pe, fp := identitytest.TUF(t)
		cases = append(cases, keyCase("tuf", "tuf:0.0.1", fp, fp, pe))
	}
	{
		// A timestamp authority has no e-mail: watch its DNS name.
		const tsaName = "tsa.kind-rfc3161.example.com"
		tsa := ca.Issue(t, identitytest.CertOptions{DNSNames: []string{tsaName}})
		cases = append(cases, kindCase{
			rule:    identity.Rule{Name: "kind-rfc3161", Subject: regexp.QuoteMeta(tsaName)},
			kind:    "rfc3161:0.0.1",
			entry:   identitytest.RFC3161(identitytest.TimestampResponse(t, tsa, true)),
			subject: tsaName, fingerprints: []string{tsa.CertFingerprint()},
		})
	}

	// Every accepted kind:version has a case.
	var covered []string
	for _, c := range cases {
		if !slices.Contains(covered, c.kind) {
			covered = append(covered, c.kind)
		}
	}
	slices.Sort(covered)
	if !slices.Equal(covered, v1KindsAccepted) {
		t.Fatalf("cases cover %q, want every accepted kind %q", covered, v1KindsAccepted)
	}

	var ids identity.Config
	for _, c := range cases {
		ids.Watch = append(ids.Watch, c.rule)
	}
	rcv := newReceiver(t)
	cfg := scanConfig(t, l, l.URL, rcv, ids)
	app := newApp(t, cfg)
	defer app.Close()
	if o := checkOne(t, app); o.Err != nil {
		t.Fatalf("first check: %v", o.Err)
	}

	index := make([]int64, len(cases))
	for i, c := range cases {
		idx, err := stack.AddV1Entry(t.Context(), l.URL, c.entry)
		if err != nil {
			t.Fatalf("%s: rekor-server rejected the %s entry: %v", c.rule.Name, c.kind, err)
		}
		index[i] = idx
	}

	if o := checkOne(t, app); o.Err != nil {
		t.Fatalf("scan: %v", o.Err)
	}
	app.Check(t.Context(), 10*time.Second) // flush the outbox

	for i, c := range cases {
		t.Run(c.rule.Name, func(t *testing.T) {
			evs := rcv.eventsOf(index[i])
			var got []string
			for _, e := range evs {
				if k := string(e.Kind) + ":" + e.Evidence.Rule; !slices.Contains(got, k) {
					got = append(got, k)
				}
			}
			if want := []string{"identity_match:" + c.rule.Name}; !slices.Equal(got, want) {
				t.Fatalf("entry %d (%s): events %q, want %q", index[i], c.kind, got, want)
			}
			for _, e := range evs {
				checkKindEvidence(t, c, e)
			}
		})
	}
	if got := gauge(t, app.Gatherer(), "vigil_log_entries_scanned_total", "log", cfg.Logs[0].Name); got < float64(len(cases)) {
		t.Errorf("vigil_log_entries_scanned_total = %v, want >= %d", got, len(cases))
	}
}

// checkKindEvidence checks that an identity_match event for c's entry
// names the stored kind, the matched subject or fingerprint, and carries
// the body the log stores, of that kind.
func checkKindEvidence(t *testing.T, c kindCase, e alert.Event) {
	t.Helper()
	id := e.Evidence.Identity
	if id["entry_kind"] != c.kind {
		t.Errorf("evidence entry_kind = %q, want %q", id["entry_kind"], c.kind)
	}
	if c.subject != "" && (id["subject"] != c.subject || id["matched.subject"] != c.subject) {
		t.Errorf("evidence subject = %q, matched.subject = %q, want %q", id["subject"], id["matched.subject"], c.subject)
	}
	if !slices.Contains(c.fingerprints, id["key_fingerprint"]) && !slices.Contains(c.fingerprints, id["cert_fingerprint"]) {
		t.Errorf("evidence fingerprints key=%q cert=%q, want one of %q", id["key_fingerprint"], id["cert_fingerprint"], c.fingerprints)
	}
	if c.rule.Fingerprint != "" && !slices.Contains(c.fingerprints, id["matched.fingerprint"]) {
		t.Errorf("evidence matched.fingerprint = %q, want one of %q", id["matched.fingerprint"], c.fingerprints)
	}
	if e.Evidence.Entry == nil {
		t.Fatal("event carries no entry")
	}
	var body struct {
		Kind       string `json:"kind"`
		APIVersion string `json:"apiVersion"`
	}
	if err := json.Unmarshal(e.Evidence.Entry.Body, &body); err != nil {
		t.Fatalf("decoding the evidence body: %v", err)
	}
	if got := body.Kind + ":" + body.APIVersion; got != c.kind {
		t.Errorf("evidence body is a %s entry, want %s", got, c.kind)
	}
}

// eventsOf returns the events received for entry index.
func (r *receiver) eventsOf(index int64) []alert.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []alert.Event
	for _, e := range r.events {
		if e.Evidence.Entry != nil && e.Evidence.Entry.Index == index {
			out = append(out, e)
		}
	}
	return out
}
