package identity_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-tlog/vigil/internal/identity"
	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// fulcioExts are the extensions a GitHub Actions Fulcio certificate
// carries (a subset).
var fulcioExts = map[string]string{
	identity.OIDIssuerV1:     "https://token.actions.githubusercontent.com",
	identity.OIDIssuer:       "https://token.actions.githubusercontent.com",
	"1.3.6.1.4.1.57264.1.9":  "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0",
	"1.3.6.1.4.1.57264.1.12": "https://github.com/acme/app",
	"1.3.6.1.4.1.57264.1.13": "0123456789abcdef0123456789abcdef01234567",
	"1.3.6.1.4.1.57264.1.14": "refs/tags/v1.0.0",
	"1.3.6.1.4.1.57264.1.22": "my-instance",
}

// cmpIdentity compares identities by value; certificates are compared by
// fingerprint (CertFingerprint) and intermediates by count.
var cmpIdentity = cmp.Options{
	cmpopts.EquateEmpty(),
	cmpopts.IgnoreUnexported(identity.Identity{}),
}

func TestParseV1Kinds(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	fulcio := ca.Issue(t, identitytest.CertOptions{URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"}, Extensions: fulcioExts})
	alice := ca.Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}, Extensions: map[string]string{identity.OIDIssuer: "https://accounts.example.com"}})
	bob := ca.Issue(t, identitytest.CertOptions{Username: "bob", Extensions: map[string]string{identity.OIDIssuerV1: "https://legacy.example.com"}})
	tsa := ca.Issue(t, identitytest.CertOptions{DNSNames: []string{"tsa.example.com"}})
	key := identitytest.NewKey(t)
	pgpKey := newPGPKey(t, "release@example.org")
	artifact := []byte("hello, log")
	statement := identitytest.InTotoStatement("app", artifact)

	keyID := func(kind string, s identitytest.Signer) identity.Identity {
		return identity.Identity{EntryKind: kind, KeyType: identity.KeyPKIX, KeyFingerprint: s.KeyFingerprint(t)}
	}
	certID := func(kind string, s identitytest.Signer) identity.Identity {
		id := identity.Identity{
			EntryKind: kind, KeyType: identity.KeyX509,
			Emails: s.Cert.EmailAddresses, DNSNames: s.Cert.DNSNames,
			CertFingerprint: s.CertFingerprint(), KeyFingerprint: s.KeyFingerprint(t),
		}
		for _, u := range s.Cert.URIs {
			id.URIs = append(id.URIs, u.String())
		}
		return id
	}
	fulcioID := func(kind string) identity.Identity {
		id := certID(kind, fulcio)
		id.Issuer = "https://token.actions.githubusercontent.com"
		id.Extensions = fulcioExts
		return id
	}
	pgpIDs := func(kind string) []identity.Identity {
		var ids []identity.Identity
		for _, fp := range pgpKey.Fingerprints() {
			ids = append(ids, identity.Identity{EntryKind: kind, KeyType: identity.KeyPGP, Emails: []string{"release@example.org"}, KeyFingerprint: fp})
		}
		return ids
	}
	sshBody, sshFP, _ := rekordSSH(t, "carol@example.com", artifact)
	minisignBody, minisignFP := rekordMinisign(t, artifact)
	tufBody, tufFP := tufEntry(t)
	alpineBody, alpineFP := alpineEntry(t)

	tests := []struct {
		name          string
		body          []byte
		want          []identity.Identity
		intermediates int // of the first identity
	}{
		{"hashedrekord/key", identitytest.HashedRekordV1(t, key, artifact), []identity.Identity{keyID("hashedrekord:0.0.1", key)}, 0},
		{"hashedrekord/fulcio-chain", identitytest.HashedRekordV1(t, fulcio, artifact), []identity.Identity{fulcioID("hashedrekord:0.0.1")}, 1},
		{"hashedrekord/email", identitytest.HashedRekordV1(t, alice, artifact), []identity.Identity{func() identity.Identity {
			id := certID("hashedrekord:0.0.1", alice)
			id.Issuer = "https://accounts.example.com"
			id.Extensions = map[string]string{identity.OIDIssuer: "https://accounts.example.com"}
			return id
		}()}, 1},
		{"hashedrekord/username-legacy-issuer", identitytest.HashedRekordV1(t, bob, artifact), []identity.Identity{func() identity.Identity {
			id := certID("hashedrekord:0.0.1", bob)
			id.OtherNames = []string{"bob"}
			id.Issuer = "https://legacy.example.com"
			id.Extensions = map[string]string{identity.OIDIssuerV1: "https://legacy.example.com"}
			return id
		}()}, 1},
		{"rekord/x509", rekordX509(t, alice, artifact), []identity.Identity{func() identity.Identity {
			id := certID("rekord:0.0.1", alice)
			id.Issuer = "https://accounts.example.com"
			id.Extensions = map[string]string{identity.OIDIssuer: "https://accounts.example.com"}
			return id
		}()}, 1},
		{"rekord/x509-key", rekordX509(t, key, artifact), []identity.Identity{keyID("rekord:0.0.1", key)}, 0},
		{"rekord/pgp", rekordPGP(t, pgpKey, artifact), pgpIDs("rekord:0.0.1"), 0},
		// The canonical body drops the key comment, so no e-mail.
		{"rekord/ssh", sshBody, []identity.Identity{{EntryKind: "rekord:0.0.1", KeyType: identity.KeySSH, KeyFingerprint: sshFP}}, 0},
		{"rekord/minisign", minisignBody, []identity.Identity{{EntryKind: "rekord:0.0.1", KeyType: identity.KeyMinisign, KeyFingerprint: minisignFP}}, 0},
		{"intoto-0.0.1", intotoV1(t, fulcio, statement), []identity.Identity{fulcioID("intoto:0.0.1")}, 1},
		{"intoto-0.0.2", intotoV2(t, statement, key, fulcio), []identity.Identity{keyID("intoto:0.0.2", key), fulcioID("intoto:0.0.2")}, 0},
		{"dsse", identitytest.DSSEV1(t, statement, fulcio), []identity.Identity{fulcioID("dsse:0.0.1")}, 1},
		{"dsse/two-signers", identitytest.DSSEV1(t, statement, key), []identity.Identity{keyID("dsse:0.0.1", key)}, 0},
		{"cose", coseEntry(t, fulcio, statement), []identity.Identity{fulcioID("cose:0.0.1")}, 1},
		{"jar", jarEntry(t, alice), []identity.Identity{func() identity.Identity {
			id := certID("jar:0.0.1", alice)
			id.Issuer = "https://accounts.example.com"
			id.Extensions = map[string]string{identity.OIDIssuer: "https://accounts.example.com"}
			return id
		}()}, 0},
		{"rpm", rpmEntry(t, pgpKey), pgpIDs("rpm:0.0.1"), 0},
		{"alpine", alpineBody, []identity.Identity{{EntryKind: "alpine:0.0.1", KeyType: identity.KeyPKIX, KeyFingerprint: alpineFP}}, 0},
		{"helm", helmEntry(t, pgpKey), pgpIDs("helm:0.0.1"), 0},
		{"tuf", tufBody, []identity.Identity{{EntryKind: "tuf:0.0.1", KeyType: identity.KeyTUF, KeyFingerprint: tufFP}}, 0},
		{"rfc3161", rfc3161Entry(t, tsa, true), []identity.Identity{certID("rfc3161:0.0.1", tsa)}, 1},
	}
	for _, p := range []struct {
		name string
		p    *identity.Parser
	}{{"nocache", nil}, {"cache", identity.NewParser(16)}} {
		for _, tt := range tests {
			t.Run(p.name+"/"+tt.name, func(t *testing.T) {
				for range 2 { // the second round hits the cache
					got, err := p.p.ParseV1(tt.body)
					if err != nil {
						t.Fatalf("ParseV1(%s) error: %v", tt.body, err)
					}
					if diff := cmp.Diff(tt.want, got, cmpIdentity); diff != "" {
						t.Errorf("ParseV1(%s) mismatch (-want +got):\n%s", tt.name, diff)
					}
					if got[0].KeyType == identity.KeyX509 {
						if c, err := got[0].Certificate(); c == nil || err != nil {
							t.Errorf("ParseV1(%s): Certificate() = %v, %v", tt.name, c, err)
						}
						if ic, err := got[0].Intermediates(); err != nil || len(ic) != tt.intermediates {
							t.Errorf("ParseV1(%s): Intermediates() = %d certificates, %v; want %d", tt.name, len(ic), err, tt.intermediates)
						}
					}
				}
			})
		}
	}
}

// TestParseV1DSSEOrder checks that every signer of a multi-signature DSSE
// entry is reported.
func TestParseV1DSSEMultiSig(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	a := ca.Issue(t, identitytest.CertOptions{Emails: []string{"a@example.com"}})
	k := identitytest.NewKey(t)
	ids, err := identity.ParseV1(identitytest.DSSEV1(t, []byte(`{}`), a, k))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, id := range ids {
		got = append(got, id.KeyFingerprint)
	}
	want := []string{a.KeyFingerprint(t), k.KeyFingerprint(t)}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("key fingerprints mismatch (-want +got):\n%s", diff)
	}
}

func TestParseV1TimestampWithoutCertificates(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	tsa := ca.Issue(t, identitytest.CertOptions{DNSNames: []string{"tsa.example.com"}})
	t.Run("nocerts", func(t *testing.T) {
		ids, err := identity.ParseV1(rfc3161Entry(t, tsa, false))
		if err != nil || len(ids) != 0 {
			t.Errorf("ParseV1(rfc3161 without certificates) = %v, %v; want no identities, no error", ids, err)
		}
	})
}

func TestParseV2(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	fulcio := ca.Issue(t, identitytest.CertOptions{URIs: []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"}, Extensions: fulcioExts})
	key := identitytest.NewKey(t)
	fulcioID := func(kind string) identity.Identity {
		return identity.Identity{
			EntryKind: kind, KeyType: identity.KeyX509,
			URIs:            []string{"https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.0.0"},
			Issuer:          "https://token.actions.githubusercontent.com",
			Extensions:      fulcioExts,
			CertFingerprint: fulcio.CertFingerprint(), KeyFingerprint: fulcio.KeyFingerprint(t),
		}
	}
	keyID := func(kind string) identity.Identity {
		return identity.Identity{EntryKind: kind, KeyType: identity.KeyPKIX, KeyFingerprint: key.KeyFingerprint(t)}
	}
	tests := []struct {
		name string
		leaf []byte
		want []identity.Identity
	}{
		{"hashedrekord/key", identitytest.HashedRekordV2(t, key, []byte("a")), []identity.Identity{keyID("hashedrekord:0.0.2")}},
		{"hashedrekord/cert", identitytest.HashedRekordV2(t, fulcio, []byte("a")), []identity.Identity{fulcioID("hashedrekord:0.0.2")}},
		{"dsse/key", identitytest.DSSEV2(t, []byte("{}"), key), []identity.Identity{keyID("dsse:0.0.2")}},
		{"dsse/two", identitytest.DSSEV2(t, []byte("{}"), fulcio, key), []identity.Identity{fulcioID("dsse:0.0.2"), keyID("dsse:0.0.2")}},
	}
	p := identity.NewParser(8)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 {
				got, err := p.ParseV2(tt.leaf)
				if err != nil {
					t.Fatalf("ParseV2(%s) error: %v", tt.leaf, err)
				}
				if diff := cmp.Diff(tt.want, got, cmpIdentity); diff != "" {
					t.Errorf("ParseV2(%s) mismatch (-want +got):\n%s", tt.name, diff)
				}
			}
		})
	}
}

func TestParseMalformed(t *testing.T) {
	ca := identitytest.NewCA(t, "acme")
	alice := ca.Issue(t, identitytest.CertOptions{Emails: []string{"alice@example.com"}})
	good := identitytest.HashedRekordV1(t, alice, []byte("a"))
	pemB64 := base64.StdEncoding.EncodeToString(alice.VerifierPEM(t))
	badCertPEM := "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n"
	goodV2 := identitytest.HashedRekordV2(t, alice, []byte("a"))

	tests := []struct {
		name     string
		v2       bool
		body     string
		wantKind string
		wantErr  string // substring of the error
		unknown  bool
	}{
		{name: "empty", body: "", wantErr: "malformed entry: decoding entry body: unexpected end of JSON input"},
		{name: "truncated", body: string(good[:len(good)/2]), wantKind: "hashedrekord:0.0.1", wantErr: "malformed hashedrekord:0.0.1 entry: decoding spec: unexpected end of JSON input"},
		{name: "truncated non-canonical", body: `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"sig`, wantErr: "malformed entry: decoding entry body: unexpected end of JSON input"},
		{name: "not json", body: "hello", wantErr: "malformed entry: decoding entry body: invalid character 'h'"},
		{name: "unknown kind", body: `{"apiVersion":"0.0.1","kind":"frobnicate","spec":{}}`, wantKind: "frobnicate:0.0.1", wantErr: "malformed frobnicate:0.0.1 entry: unknown entry kind", unknown: true},
		{name: "unknown version", body: `{"apiVersion":"9.9.9","kind":"hashedrekord","spec":{}}`, wantKind: "hashedrekord:9.9.9", unknown: true, wantErr: "unknown entry kind"},
		{name: "missing spec", body: `{"apiVersion":"0.0.1","kind":"hashedrekord"}`, wantKind: "hashedrekord:0.0.1", wantErr: "malformed hashedrekord:0.0.1 entry: missing spec"},
		{name: "null spec", body: `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":null}`, wantKind: "hashedrekord:0.0.1", wantErr: "missing spec"},
		{name: "missing key", body: `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"content":"AAAA"}}}`, wantKind: "hashedrekord:0.0.1", wantErr: "missing spec.signature.publicKey.content"},
		{name: "bad base64", body: `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"!!!notbase64"}}}}`, wantKind: "hashedrekord:0.0.1", wantErr: "spec.signature.publicKey.content: decoding base64: illegal base64 data at input byte 0"},
		{name: "not PEM", body: `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"` + base64.StdEncoding.EncodeToString([]byte("hello")) + `"}}}}`, wantKind: "hashedrekord:0.0.1", wantErr: "decoding PEM: no PEM block found"},
		{name: "bad cert", body: `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"signature":{"publicKey":{"content":"` + base64.StdEncoding.EncodeToString([]byte(badCertPEM)) + `"}}}}`, wantKind: "hashedrekord:0.0.1", wantErr: "parsing certificate: x509: malformed certificate"},
		{name: "bad key", body: `{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":[{"signature":"AA==","verifier":"` + base64.StdEncoding.EncodeToString([]byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")) + `"}]}}`, wantKind: "dsse:0.0.1", wantErr: "spec.signatures[0].verifier: parsing public key"},
		{name: "dsse no signatures", body: `{"apiVersion":"0.0.1","kind":"dsse","spec":{"signatures":[]}}`, wantKind: "dsse:0.0.1", wantErr: "missing spec.signatures"},
		{name: "wrong PEM type", body: `{"apiVersion":"0.0.1","kind":"intoto","spec":{"publicKey":"` + base64.StdEncoding.EncodeToString([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")) + `"}}`, wantKind: "intoto:0.0.1", wantErr: `unsupported block type "PRIVATE KEY"`},
		{name: "spec wrong type", body: `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":[1,2]}`, wantKind: "hashedrekord:0.0.1", wantErr: "decoding spec: json: cannot unmarshal array"},
		{name: "rekord bad key", body: `{"apiVersion":"0.0.1","kind":"rekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"` + strings.Repeat("a", 64) + `"}},"signature":{"format":"pgp","content":"AAAA","publicKey":{"content":"AAAA"}}}}`, wantKind: "rekord:0.0.1", wantErr: "malformed rekord:0.0.1 entry: reading verifiers"},
		{name: "rekord unknown format", body: `{"apiVersion":"0.0.1","kind":"rekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"` + strings.Repeat("a", 64) + `"}},"signature":{"format":"gpg","content":"AAAA","publicKey":{"content":"` + pemB64 + `"}}}}`, wantKind: "rekord:0.0.1", wantErr: "unmarshaling entry"},
		{name: "rfc3161 garbage", body: `{"apiVersion":"0.0.1","kind":"rfc3161","spec":{"tsr":{"content":"AAAA"}}}`, wantKind: "rfc3161:0.0.1", wantErr: "parsing timestamp response"},
		{name: "v2 empty", v2: true, body: "", wantErr: "malformed entry: decoding entry"},
		{name: "v2 truncated", v2: true, body: string(goodV2[:len(goodV2)-3]), wantErr: "malformed entry: decoding entry"},
		{name: "v2 unknown kind", v2: true, body: `{"apiVersion":"0.0.2","kind":"rekord","spec":{}}`, wantKind: "rekord:0.0.2", wantErr: "unknown entry kind", unknown: true},
		{name: "v2 missing spec", v2: true, body: `{"apiVersion":"0.0.2","kind":"hashedrekord"}`, wantKind: "hashedrekord:0.0.2", wantErr: "missing spec.hashedRekordV002"},
		{name: "v2 missing verifier", v2: true, body: `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"signature":{"content":"AAAA"}}}}`, wantKind: "hashedrekord:0.0.2", wantErr: "signature 0: missing verifier"},
		{name: "v2 bad cert", v2: true, body: `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"signature":{"verifier":{"x509Certificate":{"rawBytes":"MIIBAAAA"}}}}}}`, wantKind: "hashedrekord:0.0.2", wantErr: "parsing certificate"},
		{name: "v2 bad base64", v2: true, body: `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"signature":{"verifier":{"publicKey":{"rawBytes":"!!"}}}}}}`, wantErr: "malformed entry: decoding entry"},
		{name: "v2 dsse no signatures", v2: true, body: `{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{}}}`, wantKind: "dsse:0.0.2", wantErr: "missing spec.dsseV002.signatures"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parse := identity.ParseV1
			if tt.v2 {
				parse = identity.ParseV2
			}
			ids, err := parse([]byte(tt.body))
			var me *identity.MalformedError
			if !errors.As(err, &me) {
				t.Fatalf("parse(%q) = %v, %v; want *MalformedError", tt.body, ids, err)
			}
			if me.Kind != tt.wantKind {
				t.Errorf("parse(%q) kind = %q, want %q", tt.body, me.Kind, tt.wantKind)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parse(%q) error = %q, want it to contain %q", tt.body, err, tt.wantErr)
			}
			if got := errors.Is(err, identity.ErrUnknownKind); got != tt.unknown {
				t.Errorf("errors.Is(%v, ErrUnknownKind) = %v, want %v", err, got, tt.unknown)
			}
		})
	}
}
