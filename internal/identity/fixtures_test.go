package identity_test

// Fixtures for every Rekor v1 entry kind, built at test time from keys
// the test controls by identitytest's builders (hashedrekord, rekord with
// x509/ssh/pgp/minisign, intoto, dsse, cose, jar, rpm, alpine, helm, tuf,
// rfc3161). Each proposed entry goes through rekor's own
// types.CreateVersionedEntry (which verifies the signature) and
// types.CanonicalizeEntry, so the body is exactly what rekor-server
// stores. internal/monitor's TestScanEveryV1Kind uploads the same
// proposed entries to a real rekor-server.

import (
	"encoding/json"
	"testing"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// canonical is identitytest.Canonical, the body rekor-server would store.
var canonical = identitytest.Canonical

type pgpKey = identitytest.PGPKey

func newPGPKey(t testing.TB, email string) pgpKey { return identitytest.NewPGPKey(t, email) }

func rekordX509(t testing.TB, s identitytest.Signer, artifact []byte) []byte {
	t.Helper()
	return canonical(t, identitytest.RekordX509(t, s, artifact))
}

func rekordPGP(t testing.TB, k pgpKey, artifact []byte) []byte {
	t.Helper()
	return canonical(t, identitytest.RekordPGP(t, k, artifact))
}

// rekordSSH returns the entry and the SSH key's fingerprints (hex SHA-256
// and OpenSSH form).
func rekordSSH(t testing.TB, comment string, artifact []byte) ([]byte, string, string) {
	t.Helper()
	pe, hexFP, opensshFP := identitytest.RekordSSH(t, comment, artifact)
	return canonical(t, pe), hexFP, opensshFP
}

// rekordMinisign returns the entry and the key's fingerprint.
func rekordMinisign(t testing.TB, artifact []byte) ([]byte, string) {
	t.Helper()
	pe, fp := identitytest.RekordMinisign(t, artifact)
	return canonical(t, pe), fp
}

func intotoV1(t testing.TB, s identitytest.Signer, payload []byte) []byte {
	t.Helper()
	return canonical(t, identitytest.IntotoV001(t, s, payload))
}

func intotoV2(t testing.TB, payload []byte, signers ...identitytest.Signer) []byte {
	t.Helper()
	return canonical(t, identitytest.IntotoV002(t, payload, signers...))
}

func coseEntry(t testing.TB, s identitytest.Signer, payload []byte) []byte {
	t.Helper()
	return canonical(t, identitytest.Cose(t, s, payload))
}

func helmEntry(t testing.TB, k pgpKey) []byte {
	t.Helper()
	return canonical(t, identitytest.Helm(t, k))
}

// tufEntry returns a tuf entry and its root key's fingerprint.
func tufEntry(t testing.TB) ([]byte, string) {
	t.Helper()
	pe, fp := identitytest.TUF(t)
	return canonical(t, pe), fp
}

// rfc3161Entry returns a timestamp response signed by tsa, with the TSA's
// chain embedded when withCerts. rekor refuses to insert a token without
// certificates, so that body is built directly in its stored form.
func rfc3161Entry(t testing.TB, tsa identitytest.Signer, withCerts bool) []byte {
	t.Helper()
	pe := identitytest.RFC3161(identitytest.TimestampResponse(t, tsa, withCerts))
	if withCerts {
		return canonical(t, pe)
	}
	raw, err := json.Marshal(pe)
	if err != nil {
		t.Fatal(err)
	}
	body, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// rpmEntry builds and signs a real RPM package with k.
func rpmEntry(t testing.TB, k pgpKey) []byte {
	t.Helper()
	return canonical(t, identitytest.RPM(t, k))
}

// jarEntry signs a one-class JAR with s.
func jarEntry(t testing.TB, s identitytest.Signer) []byte {
	t.Helper()
	return canonical(t, identitytest.Jar(t, s))
}

// alpineEntry returns a signed APK entry and the key's fingerprint.
func alpineEntry(t testing.TB) ([]byte, string) {
	t.Helper()
	pe, fp := identitytest.Alpine(t)
	return canonical(t, pe), fp
}
