package identitytest

// Proposed entries for every Rekor v1 kind rekor-server v1.5.4 accepts,
// built at test time from keys the caller controls, as rekor-cli would
// upload them. Pass one to [Canonical] for the body rekor-server stores,
// or POST it to a real rekor-server. Every builder produces a fresh,
// never-seen entry (fresh keys or fresh signatures), so a real log never
// answers 409 Conflict.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto"
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
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/conv"
	"github.com/google/rpmpack"
	"github.com/sassoftware/relic/v8/lib/certloader"
	"github.com/sassoftware/relic/v8/lib/pkcs7"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	"github.com/sassoftware/relic/v8/lib/signjar"
	"github.com/sassoftware/relic/v8/lib/zipslicer"
	"github.com/sigstore/rekor/pkg/generated/models"
	rekorssh "github.com/sigstore/rekor/pkg/pki/ssh"
	"github.com/theupdateframework/go-tuf/data"
	"github.com/theupdateframework/go-tuf/pkg/keys"
	"github.com/theupdateframework/go-tuf/sign"
	"github.com/veraison/go-cose"
	"golang.org/x/crypto/ssh"

	_ "github.com/sigstore/rekor/pkg/types/alpine/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/cose/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/helm/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.2"
	_ "github.com/sigstore/rekor/pkg/types/jar/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/rekord/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/rfc3161/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/rpm/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/tuf/v0.0.1"
)

// Canonical runs a proposed entry through rekor's insertion path
// (types.CreateVersionedEntry, which verifies the signature, then
// types.CanonicalizeEntry) and returns the body rekor-server would store.
func Canonical(tb TB, pe models.ProposedEntry) []byte {
	tb.Helper()
	return canonicalize(tb, pe)
}

// HashedRekordEntry returns a hashedrekord v0.0.1 proposed entry for a
// SHA-256 digest, its signature and the verification material (PEM public
// key, or certificate and chain).
func HashedRekordEntry(digest, sig, material []byte) models.ProposedEntry {
	return &models.Hashedrekord{
		APIVersion: conv.Pointer("0.0.1"),
		Spec: models.HashedrekordV001Schema{
			Data: &models.HashedrekordV001SchemaData{Hash: &models.HashedrekordV001SchemaDataHash{
				Algorithm: conv.Pointer(models.HashedrekordV001SchemaDataHashAlgorithmSha256),
				Value:     conv.Pointer(hex.EncodeToString(digest)),
			}},
			Signature: &models.HashedrekordV001SchemaSignature{
				Content:   sig,
				PublicKey: &models.HashedrekordV001SchemaSignaturePublicKey{Content: material},
			},
		},
	}
}

// HashedRekord returns a hashedrekord v0.0.1 proposed entry for artifact
// signed by s.
func HashedRekord(tb TB, s Signer, artifact []byte) models.ProposedEntry {
	tb.Helper()
	digest := sha256.Sum256(artifact)
	return HashedRekordEntry(digest[:], s.sign(tb, digest[:]), s.VerifierPEM(tb))
}

// DSSEEntry returns a dsse v0.0.1 proposed entry for a signed DSSE envelope
// (JSON, see [SignDSSE]) and the verification material of its signers.
func DSSEEntry(envelope []byte, materials ...[]byte) models.ProposedEntry {
	verifiers := make([]strfmt.Base64, len(materials))
	for i, m := range materials {
		verifiers[i] = m
	}
	return &models.DSSE{
		APIVersion: conv.Pointer("0.0.1"),
		Spec: models.DSSEV001Schema{ProposedContent: &models.DSSEV001SchemaProposedContent{
			Envelope:  conv.Pointer(string(envelope)),
			Verifiers: verifiers,
		}},
	}
}

// DSSE returns a dsse v0.0.1 proposed entry for an in-toto payload signed
// by every signer.
func DSSE(tb TB, payload []byte, signers ...Signer) models.ProposedEntry {
	tb.Helper()
	env := DSSEEnvelope(tb, InTotoPayloadType, payload, signers...)
	var materials [][]byte
	for _, s := range signers {
		materials = append(materials, s.VerifierPEM(tb))
	}
	return DSSEEntry(env, materials...)
}

func signECDSA(tb TB, s Signer, msg []byte) []byte {
	tb.Helper()
	d := sha256.Sum256(msg)
	return s.sign(tb, d[:])
}

func rekord(format string, sig, pub, artifact []byte) models.ProposedEntry {
	sigB, pubB := strfmt.Base64(sig), strfmt.Base64(pub)
	return &models.Rekord{APIVersion: conv.Pointer("0.0.1"), Spec: models.RekordV001Schema{
		Signature: &models.RekordV001SchemaSignature{
			Format:    conv.Pointer(format),
			Content:   &sigB,
			PublicKey: &models.RekordV001SchemaSignaturePublicKey{Content: &pubB},
		},
		Data: &models.RekordV001SchemaData{Content: artifact},
	}}
}

// RekordX509 returns a rekord v0.0.1 entry (x509 format) for artifact
// signed by s, with the artifact inline.
func RekordX509(tb TB, s Signer, artifact []byte) models.ProposedEntry {
	tb.Helper()
	return rekord(models.RekordV001SchemaSignatureFormatX509, signECDSA(tb, s, artifact), s.VerifierPEM(tb), artifact)
}

// PGPKey is an OpenPGP EdDSA key with an ECDH subkey and one user ID.
type PGPKey struct {
	Entity *openpgp.Entity
	// Armored is the armored public key.
	Armored []byte
}

// NewPGPKey returns a fresh key whose user ID is "Test Signer <email>".
func NewPGPKey(tb TB, email string) PGPKey {
	tb.Helper()
	e, err := openpgp.NewEntity("Test Signer", "", email, &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		tb.Fatalf("creating pgp key: %v", err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		tb.Fatalf("serializing pgp key: %v", err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return PGPKey{Entity: e, Armored: buf.Bytes()}
}

// Fingerprints returns the hex fingerprints of the primary key and of
// each subkey.
func (k PGPKey) Fingerprints() []string {
	fps := []string{hex.EncodeToString(k.Entity.PrimaryKey.Fingerprint)}
	for _, s := range k.Entity.Subkeys {
		fps = append(fps, hex.EncodeToString(s.PublicKey.Fingerprint))
	}
	return fps
}

// detachSign returns a binary detached signature of msg.
func (k PGPKey) detachSign(msg []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, k.Entity, bytes.NewReader(msg), nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// RekordPGP returns a rekord v0.0.1 entry (pgp format) for artifact with
// an armored detached signature by k.
func RekordPGP(tb TB, k PGPKey, artifact []byte) models.ProposedEntry {
	tb.Helper()
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, k.Entity, bytes.NewReader(artifact), nil); err != nil {
		tb.Fatalf("signing: %v", err)
	}
	return rekord(models.RekordV001SchemaSignatureFormatPgp, sig.Bytes(), k.Armored, artifact)
}

// RekordSSH returns a rekord v0.0.1 entry (ssh format) for artifact signed
// by a fresh Ed25519 SSH key whose authorized_keys line carries comment,
// and the key's fingerprint: hex SHA-256 of the wire-format key, and the
// OpenSSH "SHA256:..." form.
func RekordSSH(tb TB, comment string, artifact []byte) (pe models.ProposedEntry, hexFP, opensshFP string) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		tb.Fatal(err)
	}
	armoredSig, err := rekorssh.Sign(string(pem.EncodeToMemory(block)), bytes.NewReader(artifact))
	if err != nil {
		tb.Fatalf("signing: %v", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	authorized := bytes.TrimSpace(ssh.MarshalAuthorizedKey(sshPub))
	authorized = append(authorized, " "+comment+"\n"...)
	sum := sha256.Sum256(sshPub.Marshal())
	return rekord(models.RekordV001SchemaSignatureFormatSSH, armoredSig, authorized, artifact),
		hex.EncodeToString(sum[:]), ssh.FingerprintSHA256(sshPub)
}

// RekordMinisign returns a rekord v0.0.1 entry (minisign format) for
// artifact signed by a fresh key in minisign's legacy "Ed" format, and
// the key's fingerprint (hex SHA-256 of its PKIX DER).
func RekordMinisign(tb TB, artifact []byte) (models.ProposedEntry, string) {
	tb.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keyID := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	pubFile := fmt.Sprintf("untrusted comment: minisign public key 0807060504030201\n%s\n",
		base64.StdEncoding.EncodeToString(concat([]byte("Ed"), keyID, pub)))
	sig := ed25519.Sign(priv, artifact)
	trusted := "timestamp:1700000000\tfile:artifact"
	global := ed25519.Sign(priv, concat(sig, []byte(trusted)))
	sigFile := fmt.Sprintf("untrusted comment: signature from minisign secret key\n%s\ntrusted comment: %s\n%s\n",
		base64.StdEncoding.EncodeToString(concat([]byte("Ed"), keyID, sig)), trusted, base64.StdEncoding.EncodeToString(global))
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return rekord(models.RekordV001SchemaSignatureFormatMinisign, []byte(sigFile), []byte(pubFile), artifact), hex.EncodeToString(sum[:])
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// IntotoV001 returns an intoto v0.0.1 entry: a DSSE envelope over payload
// signed by s.
func IntotoV001(tb TB, s Signer, payload []byte) models.ProposedEntry {
	tb.Helper()
	env := DSSEEnvelope(tb, InTotoPayloadType, payload, s)
	pub := strfmt.Base64(s.VerifierPEM(tb))
	return &models.Intoto{APIVersion: conv.Pointer("0.0.1"), Spec: models.IntotoV001Schema{
		Content:   &models.IntotoV001SchemaContent{Envelope: string(env)},
		PublicKey: &pub,
	}}
}

// IntotoV002Entry returns an intoto v0.0.2 proposed entry for a signed
// DSSE envelope (JSON, see [SignDSSE]) and the verification material of
// each signature, as rekor-cli uploads it: payload and signatures
// base64-encoded once more on the wire, the hash over the envelope JSON.
func IntotoV002Entry(envelope []byte, materials ...[]byte) (models.ProposedEntry, error) {
	var env dsseEnvelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, fmt.Errorf("decoding DSSE envelope: %w", err)
	}
	if len(env.Signatures) != len(materials) {
		return nil, fmt.Errorf("DSSE envelope has %d signatures for %d verifiers", len(env.Signatures), len(materials))
	}
	e := &models.IntotoV002SchemaContentEnvelope{
		PayloadType: conv.Pointer(env.PayloadType),
		Payload:     strfmt.Base64(env.Payload),
	}
	for i, m := range materials {
		sig, pub := strfmt.Base64(env.Signatures[i].Sig), strfmt.Base64(m)
		e.Signatures = append(e.Signatures, &models.IntotoV002SchemaContentEnvelopeSignaturesItems0{Sig: &sig, PublicKey: &pub})
	}
	h := sha256.Sum256(envelope)
	return &models.Intoto{APIVersion: conv.Pointer("0.0.2"), Spec: models.IntotoV002Schema{
		Content: &models.IntotoV002SchemaContent{
			Envelope: e,
			Hash: &models.IntotoV002SchemaContentHash{
				Algorithm: conv.Pointer(models.IntotoV002SchemaContentHashAlgorithmSha256),
				Value:     conv.Pointer(hex.EncodeToString(h[:])),
			},
		},
	}}, nil
}

// IntotoV002 returns an intoto v0.0.2 entry: a DSSE envelope over payload
// signed by every signer (see [IntotoV002Entry]).
func IntotoV002(tb TB, payload []byte, signers ...Signer) models.ProposedEntry {
	tb.Helper()
	env := DSSEEnvelope(tb, InTotoPayloadType, payload, signers...)
	var materials [][]byte
	for _, s := range signers {
		materials = append(materials, s.VerifierPEM(tb))
	}
	pe, err := IntotoV002Entry(env, materials...)
	if err != nil {
		tb.Fatal(err)
	}
	return pe
}

// Cose returns a cose v0.0.1 entry: a COSE_Sign1 message over payload
// signed by s (ES256).
func Cose(tb TB, s Signer, payload []byte) models.ProposedEntry {
	tb.Helper()
	signer, err := cose.NewSigner(cose.AlgorithmES256, s.Key)
	if err != nil {
		tb.Fatal(err)
	}
	msg := cose.NewSign1Message()
	msg.Payload = payload
	msg.Headers.Protected.SetAlgorithm(cose.AlgorithmES256)
	msg.Headers.Protected[cose.HeaderLabelContentType] = "application/json"
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		tb.Fatalf("signing: %v", err)
	}
	raw, err := msg.MarshalCBOR()
	if err != nil {
		tb.Fatal(err)
	}
	pub := strfmt.Base64(s.VerifierPEM(tb))
	return &models.Cose{APIVersion: conv.Pointer("0.0.1"), Spec: models.CoseV001Schema{
		Message:   raw,
		PublicKey: &pub,
		Data:      &models.CoseV001SchemaData{},
	}}
}

// Helm returns a helm v0.0.1 entry: a chart provenance file clear-signed
// by k.
func Helm(tb TB, k PGPKey) models.ProposedEntry {
	tb.Helper()
	chart := []byte("not really a chart archive")
	sum := sha256.Sum256(chart)
	doc := fmt.Sprintf("apiVersion: v2\nname: test\nversion: 0.1.0\n\n...\nfiles:\n  test-0.1.0.tgz: sha256:%s\n", hex.EncodeToString(sum[:]))
	var prov bytes.Buffer
	w, err := clearsign.Encode(&prov, k.Entity.PrivateKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.Write([]byte(doc)); err != nil {
		tb.Fatal(err)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	pub := strfmt.Base64(k.Armored)
	return &models.Helm{APIVersion: conv.Pointer("0.0.1"), Spec: models.HelmV001Schema{
		PublicKey: &models.HelmV001SchemaPublicKey{Content: &pub},
		Chart: &models.HelmV001SchemaChart{Provenance: &models.HelmV001SchemaChartProvenance{
			Content: prov.Bytes(),
		}},
	}}
}

// TUF returns a tuf v0.0.1 entry whose metadata is a root signed by its
// fresh Ed25519 key, and that key's fingerprint (hex SHA-256 of its PKIX
// DER).
func TUF(tb TB) (models.ProposedEntry, string) {
	tb.Helper()
	signer, err := keys.GenerateEd25519Key()
	if err != nil {
		tb.Fatal(err)
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
		tb.Fatalf("signing root: %v", err)
	}
	raw, err := json.Marshal(signed)
	if err != nil {
		tb.Fatal(err)
	}
	var content any
	if err := json.Unmarshal(raw, &content); err != nil {
		tb.Fatal(err)
	}
	var pub struct {
		Public string `json:"public"`
	}
	if err := json.Unmarshal(signer.PublicData().Value, &pub); err != nil {
		tb.Fatal(err)
	}
	rawPub, err := hex.DecodeString(pub.Public)
	if err != nil {
		tb.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(rawPub))
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return &models.TUF{APIVersion: conv.Pointer("0.0.1"), Spec: models.TUFV001Schema{
		Metadata: &models.TUFV001SchemaMetadata{Content: content},
		Root:     &models.TUFV001SchemaRoot{Content: content},
	}}, hex.EncodeToString(sum[:])
}

// TimestampResponse returns a DER RFC 3161 timestamp response signed by
// tsa, with the TSA's certificate and chain embedded when withCerts.
func TimestampResponse(tb TB, tsa Signer, withCerts bool) []byte {
	tb.Helper()
	digest := sha256.Sum256([]byte("timestamped"))
	genTime, err := asn1.Marshal(time.Now().UTC().Truncate(time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tb.Fatal(err)
	}
	info := pkcs9.TSTInfo{
		Version: 1,
		Policy:  asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2},
		MessageImprint: pkcs9.MessageImprint{
			HashAlgorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}},
			HashedMessage: digest[:],
		},
		SerialNumber: serial,
		GenTime:      asn1.RawValue{FullBytes: genTime},
	}
	certs := append([]*x509.Certificate{tsa.Cert}, tsa.Chain...)
	b := pkcs7.NewBuilder(tsa.Key, certs, crypto.SHA256)
	if err := b.SetContent(pkcs9.OidTSTInfo, info); err != nil {
		tb.Fatal(err)
	}
	psd, err := b.Sign()
	if err != nil {
		tb.Fatalf("signing timestamp: %v", err)
	}
	if !withCerts {
		// The builder needs the certificate to fill in the signer's
		// issuer and serial; drop it afterwards.
		psd.Content.Certificates = nil
	}
	der, err := asn1.Marshal(pkcs9.TimeStampResp{Status: pkcs9.PKIStatusInfo{Status: pkcs9.StatusGranted}, TimeStampToken: *psd})
	if err != nil {
		tb.Fatal(err)
	}
	return der
}

// RFC3161 returns an rfc3161 v0.0.1 entry for a timestamp response (see
// [TimestampResponse]). rekor refuses to insert a response without
// certificates.
func RFC3161(tsr []byte) models.ProposedEntry {
	content := strfmt.Base64(tsr)
	return &models.Rfc3161{APIVersion: conv.Pointer("0.0.1"), Spec: models.Rfc3161V001Schema{
		Tsr: &models.Rfc3161V001SchemaTsr{Content: &content},
	}}
}

// Jar returns a jar v0.0.1 entry: a one-class JAR signed by s with
// relic's signjar (as rekor's jar e2e test does). s must have a
// certificate.
func Jar(tb TB, s Signer) models.ProposedEntry {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "app.jar")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	for name, content := range map[string]string{
		"com/example/Hello.class": "HelloWorld!",
		"META-INF/MANIFEST.MF":    "Manifest-Version: 1.0\r\nCreated-By: vigil test\r\n\r\n",
	} {
		w, err := zw.Create(name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write([]byte(content)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	var tarBuf bytes.Buffer
	if err := zipslicer.ZipToTar(f, &tarBuf); err != nil {
		tb.Fatal(err)
	}
	jd, err := signjar.DigestJarStream(&tarBuf, crypto.SHA256)
	if err != nil {
		tb.Fatalf("digesting jar: %v", err)
	}
	patch, _, err := jd.Sign(tb.Context(), &certloader.Certificate{PrivateKey: s.Key, Leaf: s.Cert}, "vigil", false, true, false)
	if err != nil {
		tb.Fatalf("signing jar: %v", err)
	}
	if err := patch.Apply(f, path); err != nil {
		tb.Fatal(err)
	}
	jar, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return &models.Jar{APIVersion: conv.Pointer("0.0.1"), Spec: models.JarV001Schema{
		Archive: &models.JarV001SchemaArchive{Content: jar},
	}}
}

// Alpine returns an alpine v0.0.1 entry: an APK (signature, control and
// data gzip streams, as rekor's alpine e2e test builds it) signed by a
// fresh RSA key, and the key's fingerprint (hex SHA-256 of its PKIX DER).
func Alpine(tb TB) (models.ProposedEntry, string) {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	gz := func(files map[string][]byte, closeTar bool) []byte {
		var tarBuf bytes.Buffer
		tw := tar.NewWriter(&tarBuf)
		for name, content := range files {
			if err := tw.WriteHeader(&tar.Header{Name: name, Size: int64(len(content)), Mode: 0o644}); err != nil {
				tb.Fatal(err)
			}
			if _, err := tw.Write(content); err != nil {
				tb.Fatal(err)
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
			tb.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			tb.Fatal(err)
		}
		return out.Bytes()
	}
	dataTGZ := gz(map[string][]byte{"usr/share/app/hello.txt": []byte("hello")}, true)
	dataHash := sha256.Sum256(dataTGZ)
	ctlTGZ := gz(map[string][]byte{".PKGINFO": fmt.Appendf(nil, "pkgname = app\npkgver = 1.0-r0\ndatahash = %x\n", dataHash)}, false)
	ctlSum := sha1.Sum(ctlTGZ)
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, ctlSum[:])
	if err != nil {
		tb.Fatal(err)
	}
	sigTGZ := gz(map[string][]byte{".SIGN.RSA.vigil.rsa.pub": sig}, false)
	apk := concat(sigTGZ, ctlTGZ, dataTGZ)

	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	pub := strfmt.Base64(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	sum := sha256.Sum256(der)
	return &models.Alpine{APIVersion: conv.Pointer("0.0.1"), Spec: models.AlpineV001Schema{
		PublicKey: &models.AlpineV001SchemaPublicKey{Content: &pub},
		Package:   &models.AlpineV001SchemaPackage{Content: apk},
	}}, hex.EncodeToString(sum[:])
}

// RPM returns an rpm v0.0.1 entry: a one-file package built with rpmpack
// (as rekor's rpm e2e test builds it) and signed by k.
func RPM(tb TB, k PGPKey) models.ProposedEntry {
	tb.Helper()
	suffix := make([]byte, 8)
	if _, err := rand.Read(suffix); err != nil {
		tb.Fatal(err)
	}
	r, err := rpmpack.NewRPM(rpmpack.RPMMetaData{
		Name:    "vigil-test-" + hex.EncodeToString(suffix),
		Version: "1.0",
		Release: "1",
		Arch:    "noarch",
	})
	if err != nil {
		tb.Fatalf("creating rpm: %v", err)
	}
	r.SetPGPSigner(k.detachSign)
	r.AddFile(rpmpack.RPMFile{Name: "/usr/share/vigil-test/hello.txt", Body: []byte("hello " + hex.EncodeToString(suffix)), Mode: 0o100644, Owner: "root", Group: "root"})
	var buf bytes.Buffer
	if err := r.Write(&buf); err != nil {
		tb.Fatalf("writing rpm: %v", err)
	}
	pub := strfmt.Base64(k.Armored)
	return &models.Rpm{APIVersion: conv.Pointer("0.0.1"), Spec: models.RpmV001Schema{
		PublicKey: &models.RpmV001SchemaPublicKey{Content: &pub},
		Package:   &models.RpmV001SchemaPackage{Content: buf.Bytes()},
	}}
}
