package identity_test

// Fixtures for every Rekor v1 entry kind, built at test time from keys
// the test controls. Where the kind's artifact can be produced in Go
// (hashedrekord, rekord with x509/ssh/pgp/minisign, intoto, dsse, cose,
// jar, alpine, helm, tuf, rfc3161) the proposed entry goes through rekor's
// own types.CreateVersionedEntry (which verifies the signature) and
// types.CanonicalizeEntry, so the body is exactly what rekor-server
// stores. For rpm, building a signed package is out of proportion; its
// body is the canonical model rpm's Canonicalize emits (the public key
// plus the package hash and NEVRA headers; see rekor
// pkg/types/rpm/v0.0.1 Canonicalize) and the test checks that rekor's
// registry accepts it (types.UnmarshalEntry validates the schema and the
// key).

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/go-openapi/runtime"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	"github.com/sassoftware/relic/v8/lib/certloader"
	"github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	"github.com/sassoftware/relic/v8/lib/signjar"
	"github.com/sassoftware/relic/v8/lib/zipslicer"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekorssh "github.com/sigstore/rekor/pkg/pki/ssh"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/theupdateframework/go-tuf/data"
	"github.com/theupdateframework/go-tuf/pkg/keys"
	"github.com/theupdateframework/go-tuf/sign"
	"github.com/veraison/go-cose"
	"golang.org/x/crypto/ssh"

	"github.com/vigil-tlog/vigil/internal/identity/identitytest"
)

// canonical runs a proposed entry through rekor's insertion path and
// returns the body rekor-server would store.
func canonical(t testing.TB, pe models.ProposedEntry) []byte {
	t.Helper()
	entry, err := types.CreateVersionedEntry(pe)
	if err != nil {
		t.Fatalf("creating %s entry: %v", pe.Kind(), err)
	}
	body, err := types.CanonicalizeEntry(t.Context(), entry)
	if err != nil {
		t.Fatalf("canonicalizing %s entry: %v", pe.Kind(), err)
	}
	return body
}

// canonicalModel marshals a canonical model built by hand (rpm, jar,
// alpine), canonicalizes it (RFC 8785) and checks that rekor's registry
// accepts it as a stored entry.
func canonicalModel(t testing.TB, pe models.ProposedEntry) []byte {
	t.Helper()
	raw, err := json.Marshal(pe)
	if err != nil {
		t.Fatalf("marshaling %s entry: %v", pe.Kind(), err)
	}
	body, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		t.Fatalf("canonicalizing %s entry: %v", pe.Kind(), err)
	}
	back, err := models.UnmarshalProposedEntry(bytes.NewReader(body), runtime.JSONConsumer())
	if err != nil {
		t.Fatalf("decoding %s entry: %v", pe.Kind(), err)
	}
	entry, err := types.UnmarshalEntry(back)
	if err != nil {
		t.Fatalf("rekor rejects the %s entry: %v", pe.Kind(), err)
	}
	if _, err := entry.Verifiers(); err != nil {
		t.Fatalf("rekor finds no verifier in the %s entry: %v", pe.Kind(), err)
	}
	return body
}

func signECDSA(t testing.TB, s identitytest.Signer, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, s.Key, d[:])
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return sig
}

func rekordX509(t testing.TB, s identitytest.Signer, artifact []byte) []byte {
	t.Helper()
	pub := strfmt.Base64(s.VerifierPEM(t))
	sig := strfmt.Base64(signECDSA(t, s, artifact))
	return canonical(t, &models.Rekord{APIVersion: conv.Pointer("0.0.1"), Spec: models.RekordV001Schema{
		Signature: &models.RekordV001SchemaSignature{
			Format:    conv.Pointer(models.RekordV001SchemaSignatureFormatX509),
			Content:   &sig,
			PublicKey: &models.RekordV001SchemaSignaturePublicKey{Content: &pub},
		},
		Data: &models.RekordV001SchemaData{Content: artifact},
	}})
}

// pgpKey is an OpenPGP EdDSA key with an ECDH subkey.
type pgpKey struct {
	entity  *openpgp.Entity
	armored []byte
}

func newPGPKey(t testing.TB, email string) pgpKey {
	t.Helper()
	e, err := openpgp.NewEntity("Test Signer", "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatalf("creating pgp key: %v", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatalf("serializing pgp key: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return pgpKey{entity: e, armored: buf.Bytes()}
}

func (k pgpKey) fingerprints() []string {
	fps := []string{hex.EncodeToString(k.entity.PrimaryKey.Fingerprint)}
	for _, s := range k.entity.Subkeys {
		fps = append(fps, hex.EncodeToString(s.PublicKey.Fingerprint))
	}
	return fps
}

func rekordPGP(t testing.TB, k pgpKey, artifact []byte) []byte {
	t.Helper()
	var sigBuf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sigBuf, k.entity, bytes.NewReader(artifact), nil); err != nil {
		t.Fatalf("signing: %v", err)
	}
	pub := strfmt.Base64(k.armored)
	sig := strfmt.Base64(sigBuf.Bytes())
	return canonical(t, &models.Rekord{APIVersion: conv.Pointer("0.0.1"), Spec: models.RekordV001Schema{
		Signature: &models.RekordV001SchemaSignature{
			Format:    conv.Pointer(models.RekordV001SchemaSignatureFormatPgp),
			Content:   &sig,
			PublicKey: &models.RekordV001SchemaSignaturePublicKey{Content: &pub},
		},
		Data: &models.RekordV001SchemaData{Content: artifact},
	}})
}

// rekordSSH returns the entry and the SSH key's hex SHA-256 fingerprint.
func rekordSSH(t testing.TB, comment string, artifact []byte) ([]byte, string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	armoredSig, err := rekorssh.Sign(string(pem.EncodeToMemory(block)), bytes.NewReader(artifact))
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	authorized := bytes.TrimSpace(ssh.MarshalAuthorizedKey(sshPub))
	authorized = append(authorized, " "+comment+"\n"...)
	pubB := strfmt.Base64(authorized)
	sig := strfmt.Base64(armoredSig)
	body := canonical(t, &models.Rekord{APIVersion: conv.Pointer("0.0.1"), Spec: models.RekordV001Schema{
		Signature: &models.RekordV001SchemaSignature{
			Format:    conv.Pointer(models.RekordV001SchemaSignatureFormatSSH),
			Content:   &sig,
			PublicKey: &models.RekordV001SchemaSignaturePublicKey{Content: &pubB},
		},
		Data: &models.RekordV001SchemaData{Content: artifact},
	}})
	sum := sha256.Sum256(sshPub.Marshal())
	return body, hex.EncodeToString(sum[:]), ssh.FingerprintSHA256(sshPub)
}

// rekordMinisign signs artifact in minisign's legacy "Ed" format and
// returns the entry and the key's fingerprint (SHA-256 of its PKIX DER).
func rekordMinisign(t testing.TB, artifact []byte) ([]byte, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyID := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	pubFile := fmt.Sprintf("untrusted comment: minisign public key 0807060504030201\n%s\n",
		base64.StdEncoding.EncodeToString(slicesConcat([]byte("Ed"), keyID, pub)))
	sig := ed25519.Sign(priv, artifact)
	trusted := "timestamp:1700000000\tfile:artifact"
	global := ed25519.Sign(priv, slicesConcat(sig, []byte(trusted)))
	sigFile := fmt.Sprintf("untrusted comment: signature from minisign secret key\n%s\ntrusted comment: %s\n%s\n",
		base64.StdEncoding.EncodeToString(slicesConcat([]byte("Ed"), keyID, sig)), trusted, base64.StdEncoding.EncodeToString(global))
	pubB := strfmt.Base64(pubFile)
	sigB := strfmt.Base64(sigFile)
	body := canonical(t, &models.Rekord{APIVersion: conv.Pointer("0.0.1"), Spec: models.RekordV001Schema{
		Signature: &models.RekordV001SchemaSignature{
			Format:    conv.Pointer(models.RekordV001SchemaSignatureFormatMinisign),
			Content:   &sigB,
			PublicKey: &models.RekordV001SchemaSignaturePublicKey{Content: &pubB},
		},
		Data: &models.RekordV001SchemaData{Content: artifact},
	}})
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return body, hex.EncodeToString(sum[:])
}

func slicesConcat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func intotoV1(t testing.TB, s identitytest.Signer, payload []byte) []byte {
	t.Helper()
	env := identitytest.DSSEEnvelope(t, "application/vnd.in-toto+json", payload, s)
	pub := strfmt.Base64(s.VerifierPEM(t))
	return canonical(t, &models.Intoto{APIVersion: conv.Pointer("0.0.1"), Spec: models.IntotoV001Schema{
		Content:   &models.IntotoV001SchemaContent{Envelope: string(env)},
		PublicKey: &pub,
	}})
}

func intotoV2(t testing.TB, payload []byte, signers ...identitytest.Signer) []byte {
	t.Helper()
	const payloadType = "application/vnd.in-toto+json"
	envJSON := identitytest.DSSEEnvelope(t, payloadType, payload, signers...)
	var env struct {
		Payload    string `json:"payload"`
		Signatures []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(envJSON, &env); err != nil {
		t.Fatal(err)
	}
	envelope := &models.IntotoV002SchemaContentEnvelope{
		PayloadType: conv.Pointer(payloadType),
		Payload:     strfmt.Base64(env.Payload),
	}
	for i, s := range signers {
		sig := strfmt.Base64(env.Signatures[i].Sig)
		pub := strfmt.Base64(s.VerifierPEM(t))
		envelope.Signatures = append(envelope.Signatures, &models.IntotoV002SchemaContentEnvelopeSignaturesItems0{Sig: &sig, PublicKey: &pub})
	}
	// As rekor-cli does: the envelope hash is the SHA-256 of the envelope JSON.
	h := sha256.Sum256(envJSON)
	return canonical(t, &models.Intoto{APIVersion: conv.Pointer("0.0.2"), Spec: models.IntotoV002Schema{
		Content: &models.IntotoV002SchemaContent{
			Envelope: envelope,
			Hash: &models.IntotoV002SchemaContentHash{
				Algorithm: conv.Pointer(models.IntotoV002SchemaContentHashAlgorithmSha256),
				Value:     conv.Pointer(hex.EncodeToString(h[:])),
			},
		},
	}})
}

func coseEntry(t testing.TB, s identitytest.Signer, payload []byte) []byte {
	t.Helper()
	signer, err := cose.NewSigner(cose.AlgorithmES256, s.Key)
	if err != nil {
		t.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Payload = payload
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = "application/json"
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		t.Fatalf("signing: %v", err)
	}
	raw, err := msg.MarshalCBOR()
	if err != nil {
		t.Fatal(err)
	}
	pub := strfmt.Base64(s.VerifierPEM(t))
	return canonical(t, &models.Cose{APIVersion: conv.Pointer("0.0.1"), Spec: models.CoseV001Schema{
		Message:   raw,
		PublicKey: &pub,
		Data:      &models.CoseV001SchemaData{},
	}})
}

func helmEntry(t testing.TB, k pgpKey) []byte {
	t.Helper()
	chart := []byte("not really a chart archive")
	sum := sha256.Sum256(chart)
	doc := fmt.Sprintf("apiVersion: v2\nname: test\nversion: 0.1.0\n\n...\nfiles:\n  test-0.1.0.tgz: sha256:%s\n", hex.EncodeToString(sum[:]))
	var prov bytes.Buffer
	w, err := clearsign.Encode(&prov, k.entity.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	pub := strfmt.Base64(k.armored)
	return canonical(t, &models.Helm{APIVersion: conv.Pointer("0.0.1"), Spec: models.HelmV001Schema{
		PublicKey: &models.HelmV001SchemaPublicKey{Content: &pub},
		Chart: &models.HelmV001SchemaChart{Provenance: &models.HelmV001SchemaChartProvenance{
			Content: prov.Bytes(),
		}},
	}})
}

// tufEntry returns a tuf entry whose metadata is a root signed by itself,
// and the fingerprints (SHA-256 of PKIX DER) of the root's keys.
func tufEntry(t testing.TB) ([]byte, string) {
	t.Helper()
	signer, err := keys.GenerateEd25519Key()
	if err != nil {
		t.Fatal(err)
	}
	root := data.NewRoot()
	root.Version = 1
	root.Expires = time.Now().AddDate(1, 0, 0).UTC().Round(time.Second)
	root.AddKey(signer.PublicData())
	for _, role := range []string{"root", "targets", "snapshot", "timestamp"} {
		root.Roles[role] = &data.Role{KeyIDs: signer.PublicData().IDs(), Threshold: 1}
	}
	signed, err := sign.Marshal(root, signer)
	if err != nil {
		t.Fatalf("signing root: %v", err)
	}
	raw, err := json.Marshal(signed)
	if err != nil {
		t.Fatal(err)
	}
	var content any
	if err := json.Unmarshal(raw, &content); err != nil {
		t.Fatal(err)
	}
	body := canonical(t, &models.TUF{APIVersion: conv.Pointer("0.0.1"), Spec: models.TUFV001Schema{
		Metadata: &models.TUFV001SchemaMetadata{Content: content},
		Root:     &models.TUFV001SchemaRoot{Content: content},
	}})
	var pub struct {
		Public string `json:"public"`
	}
	if err := json.Unmarshal(signer.PublicData().Value, &pub); err != nil {
		t.Fatal(err)
	}
	rawPub, err := hex.DecodeString(pub.Public)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(rawPub))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return body, hex.EncodeToString(sum[:])
}

// rfc3161Entry returns a timestamp response signed by tsa, with the TSA's
// chain embedded.
func rfc3161Entry(t testing.TB, tsa identitytest.Signer, withCerts bool) []byte {
	t.Helper()
	return rfc3161Body(t, tsaResponse(t, tsa, withCerts))
}

func tsaResponse(t testing.TB, tsa identitytest.Signer, withCerts bool) []byte {
	t.Helper()
	digest := sha256.Sum256([]byte("timestamped"))
	genTime, err := asn1.Marshal(time.Now().UTC().Truncate(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	info := pkcs9.TSTInfo{
		Version: 1,
		Policy:  asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		MessageImprint: pkcs9.MessageImprint{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
			HashedMessage: digest[:],
		},
		SerialNumber: big.NewInt(42),
		GenTime:      asn1.RawValue{FullBytes: genTime},
	}
	certs := append([]*x509.Certificate{tsa.Cert}, tsa.Chain...)
	b := pkcs7.NewBuilder(tsa.Key, certs, crypto.SHA256)
	if err := b.SetContent(pkcs9.OidTSTInfo, info); err != nil {
		t.Fatal(err)
	}
	psd, err := b.Sign()
	if err != nil {
		t.Fatalf("signing timestamp: %v", err)
	}
	if !withCerts {
		// The builder needs the certificate to fill in the signer's
		// issuer and serial; drop it afterwards.
		psd.Content.Certificates = nil
	}
	der, err := asn1.Marshal(pkcs9.TimeStampResp{Status: pkcs9.PKIStatusInfo{Status: pkcs9.StatusGranted}, TimeStampToken: *psd})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func rfc3161Body(t testing.TB, tsr []byte) []byte {
	t.Helper()
	content := strfmt.Base64(tsr)
	pe := &models.Rfc3161{APIVersion: conv.Pointer("0.0.1"), Spec: models.Rfc3161V001Schema{
		Tsr: &models.Rfc3161V001SchemaTsr{Content: &content},
	}}
	if strings.Contains(t.Name(), "nocerts") {
		// rekor refuses to verify a token without certificates, so such
		// an entry cannot be inserted; build the stored form directly.
		return canonicalJSON(t, pe)
	}
	return canonical(t, pe)
}

func canonicalJSON(t testing.TB, v any) []byte {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	body, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func rpmEntry(t testing.TB, k pgpKey) []byte {
	t.Helper()
	pub := strfmt.Base64(k.armored)
	return canonicalModel(t, &models.Rpm{APIVersion: conv.Pointer("0.0.1"), Spec: models.RpmV001Schema{
		PublicKey: &models.RpmV001SchemaPublicKey{Content: &pub},
		Package: &models.RpmV001SchemaPackage{
			Hash: &models.RpmV001SchemaPackageHash{
				Algorithm: conv.Pointer(models.RpmV001SchemaPackageHashAlgorithmSha256),
				Value:     conv.Pointer(strings.Repeat("ab", 32)),
			},
			Headers: map[string]string{"Name": "test", "Epoch": "", "Version": "1.0", "Release": "1", "Architecture": "noarch"},
		},
	}})
}

// jarEntry signs a one-class JAR with s (as rekor's jar e2e test does,
// with relic's signjar) and submits it.
func jarEntry(t testing.TB, s identitytest.Signer) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.jar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for name, content := range map[string]string{
		"com/example/Hello.class": "HelloWorld!",
		"META-INF/MANIFEST.MF":    "Manifest-Version: 1.0\r\nCreated-By: vigil test\r\n\r\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var tarBuf bytes.Buffer
	if err := zipslicer.ZipToTar(f, &tarBuf); err != nil {
		t.Fatal(err)
	}
	jd, err := signjar.DigestJarStream(&tarBuf, crypto.SHA256)
	if err != nil {
		t.Fatalf("digesting jar: %v", err)
	}
	patch, _, err := jd.Sign(t.Context(), &certloader.Certificate{PrivateKey: s.Key, Leaf: s.Cert}, "vigil", false, true, false)
	if err != nil {
		t.Fatalf("signing jar: %v", err)
	}
	if err := patch.Apply(f, path); err != nil {
		t.Fatal(err)
	}
	jar, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, &models.Jar{APIVersion: conv.Pointer("0.0.1"), Spec: models.JarV001Schema{
		Archive: &models.JarV001SchemaArchive{Content: jar},
	}})
}

// alpineEntry builds a signed APK (signature, control and data gzip
// streams, as rekor's alpine e2e test does) with an RSA key and submits
// it. It returns the entry and the key's fingerprint.
func alpineEntry(t testing.TB) ([]byte, string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	gz := func(files map[string][]byte, closeTar bool) []byte {
		var tarBuf bytes.Buffer
		tw := tar.NewWriter(&tarBuf)
		for name, content := range files {
			if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(content)), Mode: 0o644}); err != nil {
				t.Fatal(err)
			}
			if _, err := tw.Write(content); err != nil {
				t.Fatal(err)
			}
		}
		if closeTar {
			tw.Close()
		} else {
			tw.Flush() // segments of one tar stream: no end marker
		}
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		if _, err := zw.Write(tarBuf.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	dataTGZ := gz(map[string][]byte{"usr/share/app/hello.txt": []byte("hello")}, true)
	dataHash := sha256.Sum256(dataTGZ)
	ctlTGZ := gz(map[string][]byte{".PKGINFO": fmt.Appendf(nil, "pkgname = app\npkgver = 1.0-r0\ndatahash = %x\n", dataHash)}, false)
	ctlSum := sha1.Sum(ctlTGZ)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, ctlSum[:])
	if err != nil {
		t.Fatal(err)
	}
	sigTGZ := gz(map[string][]byte{".SIGN.RSA.vigil.rsa.pub": sig}, false)
	apk := slicesConcat(sigTGZ, ctlTGZ, dataTGZ)

	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pub := strfmt.Base64(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	body := canonical(t, &models.Alpine{APIVersion: conv.Pointer("0.0.1"), Spec: models.AlpineV001Schema{
		PublicKey: &models.AlpineV001SchemaPublicKey{Content: &pub},
		Package:   &models.AlpineV001SchemaPackage{Content: apk},
	}})
	sum := sha256.Sum256(der)
	return body, hex.EncodeToString(sum[:])
}
