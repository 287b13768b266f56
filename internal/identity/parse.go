package identity

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-openapi/runtime"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/pki/minisign"
	"github.com/sigstore/rekor/pkg/pki/pgp"
	pkitypes "github.com/sigstore/rekor/pkg/pki/pkitypes"
	pkissh "github.com/sigstore/rekor/pkg/pki/ssh"
	pkituf "github.com/sigstore/rekor/pkg/pki/tuf"
	pkix509 "github.com/sigstore/rekor/pkg/pki/x509"
	"github.com/sigstore/rekor/pkg/types"
	"golang.org/x/crypto/ssh"

	// Register every Rekor v1 entry kind with the rekor type registry, for
	// the kinds decoded through types.UnmarshalEntry.
	_ "github.com/sigstore/rekor/pkg/types/alpine/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/cose/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/dsse/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/helm/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/intoto/v0.0.2"
	_ "github.com/sigstore/rekor/pkg/types/jar/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/rekord/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/rfc3161/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/rpm/v0.0.1"
	_ "github.com/sigstore/rekor/pkg/types/tuf/v0.0.1"
)

// Entry kinds as reported in [Identity.EntryKind] and [MalformedError.Kind].
const (
	KindHashedRekordV001 = "hashedrekord:0.0.1"
	KindRekordV001       = "rekord:0.0.1"
	KindIntotoV001       = "intoto:0.0.1"
	KindIntotoV002       = "intoto:0.0.2"
	KindDSSEV001         = "dsse:0.0.1"
	KindCOSEV001         = "cose:0.0.1"
	KindJARV001          = "jar:0.0.1"
	KindRPMV001          = "rpm:0.0.1"
	KindAlpineV001       = "alpine:0.0.1"
	KindHelmV001         = "helm:0.0.1"
	KindTUFV001          = "tuf:0.0.1"
	KindRFC3161V001      = "rfc3161:0.0.1"
	KindHashedRekordV002 = "hashedrekord:0.0.2"
	KindDSSEV002         = "dsse:0.0.2"
)

// v1Kinds lists the known Rekor v1 kinds and versions.
var v1Kinds = [...]struct{ kind, version, name string }{
	{"hashedrekord", "0.0.1", KindHashedRekordV001},
	{"dsse", "0.0.1", KindDSSEV001},
	{"intoto", "0.0.2", KindIntotoV002},
	{"intoto", "0.0.1", KindIntotoV001},
	{"rekord", "0.0.1", KindRekordV001},
	{"cose", "0.0.1", KindCOSEV001},
	{"jar", "0.0.1", KindJARV001},
	{"rpm", "0.0.1", KindRPMV001},
	{"alpine", "0.0.1", KindAlpineV001},
	{"helm", "0.0.1", KindHelmV001},
	{"tuf", "0.0.1", KindTUFV001},
	{"rfc3161", "0.0.1", KindRFC3161V001},
}

func lookupV1Kind[S ~string | ~[]byte](kind, version S) (string, bool) {
	for _, k := range v1Kinds {
		if string(kind) == k.kind && string(version) == k.version {
			return k.name, true
		}
	}
	return "", false
}

// sniffV1 recognizes the canonical (RFC 8785, keys sorted) prefix
//
//	{"apiVersion":"0.0.1","kind":"hashedrekord","spec":
//
// that rekor-server stores, so that the spec can be decoded in the same
// pass as the envelope. It returns "" for anything else, which then takes
// the general path.
func sniffV1(body []byte) string {
	rest, ok := bytes.CutPrefix(body, []byte(`{"apiVersion":"`))
	if !ok {
		return ""
	}
	version, rest, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return ""
	}
	rest, ok = bytes.CutPrefix(rest, []byte(`,"kind":"`))
	if !ok {
		return ""
	}
	kind, rest, ok := bytes.Cut(rest, []byte(`"`))
	if !ok || !bytes.HasPrefix(rest, []byte(`,"spec":`)) {
		return ""
	}
	name, _ := lookupV1Kind(kind, version)
	return name
}

// ParseV1 is [Parser.ParseV1] without a cache.
func ParseV1(body []byte) ([]Identity, error) { return (*Parser)(nil).ParseV1(body) }

// ParseV2 is [Parser.ParseV2] without a cache.
func ParseV2(leaf []byte) ([]Identity, error) { return (*Parser)(nil).ParseV2(leaf) }

// ParseV1 returns the signers of a Rekor v1 entry. body is the decoded
// "body" field of a log entry, the canonical JSON
//
//	{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{...}}
//
// It returns at least one Identity, or a *MalformedError (wrapping
// [ErrUnknownKind] for kinds not listed in the package documentation). The
// exception is rfc3161, whose timestamp response need not embed the TSA
// certificate: such an entry has no identity and no error.
func (p *Parser) ParseV1(body []byte) ([]Identity, error) {
	kind := sniffV1(body)
	// When sniffed, the whole body is decoded into struct{Spec} in one pass.
	spec, whole := body, kind != ""
	if !whole {
		var env struct {
			Kind       string          `json:"kind"`
			APIVersion string          `json:"apiVersion"`
			Spec       json.RawMessage `json:"spec"`
		}
		if err := json.Unmarshal(body, &env); err != nil {
			return nil, &MalformedError{Err: fmt.Errorf("decoding entry body: %w", err)}
		}
		var ok bool
		if kind, ok = lookupV1Kind(env.Kind, env.APIVersion); !ok {
			return nil, &MalformedError{Kind: env.Kind + ":" + env.APIVersion, Err: ErrUnknownKind}
		}
		if len(env.Spec) == 0 || string(env.Spec) == "null" {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec")}
		}
		spec = env.Spec
	}
	ids, err := p.parseV1(kind, body, spec, whole)
	if err != nil {
		return nil, &MalformedError{Kind: kind, Err: err}
	}
	for i := range ids {
		ids[i].EntryKind = kind
	}
	return ids, nil
}

// decodeSpec decodes the spec of an entry into a rekor model type. When
// whole is set, data is the entire entry body and the spec is taken from
// its "spec" field in the same pass.
func decodeSpec[T any](data []byte, whole bool) (*T, error) {
	var err error
	var w struct {
		Spec *T `json:"spec"`
	}
	if whole {
		err = json.Unmarshal(data, &w)
	} else {
		w.Spec = new(T)
		err = json.Unmarshal(data, w.Spec)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding spec: %w", err)
	}
	if w.Spec == nil {
		return nil, errors.New("missing spec")
	}
	return w.Spec, nil
}

func (p *Parser) parseV1(kind string, body, spec []byte, whole bool) ([]Identity, error) {
	switch kind {
	case KindHashedRekordV001:
		s, err := decodeSpec[hashedrekordVerifier](spec, whole)
		if err != nil {
			return nil, err
		}
		if s.Signature == nil || s.Signature.PublicKey == nil || isNull(s.Signature.PublicKey.Content) {
			return nil, errors.New("missing spec.signature.publicKey.content")
		}
		id, err := p.fromBase64PEM(s.Signature.PublicKey.Content)
		if err != nil {
			return nil, fmt.Errorf("spec.signature.publicKey.content: %w", err)
		}
		return []Identity{*id}, nil
	case KindDSSEV001:
		s, err := decodeSpec[dsseVerifiers](spec, whole)
		if err != nil {
			return nil, err
		}
		if len(s.Signatures) == 0 {
			return nil, errors.New("missing spec.signatures")
		}
		ids := make([]Identity, 0, len(s.Signatures))
		for i, sig := range s.Signatures {
			if sig == nil || isNull(sig.Verifier) {
				return nil, fmt.Errorf("missing spec.signatures[%d].verifier", i)
			}
			id, err := p.fromBase64PEM(sig.Verifier)
			if err != nil {
				return nil, fmt.Errorf("spec.signatures[%d].verifier: %w", i, err)
			}
			ids = append(ids, *id)
		}
		return ids, nil
	case KindIntotoV001:
		s, err := decodeSpec[models.IntotoV001Schema](spec, whole)
		if err != nil {
			return nil, err
		}
		if s.PublicKey == nil || len(*s.PublicKey) == 0 {
			return nil, errors.New("missing spec.publicKey")
		}
		return p.pemIdentities(*s.PublicKey)
	case KindIntotoV002:
		s, err := decodeSpec[models.IntotoV002Schema](spec, whole)
		if err != nil {
			return nil, err
		}
		if s.Content == nil || s.Content.Envelope == nil || len(s.Content.Envelope.Signatures) == 0 {
			return nil, errors.New("missing spec.content.envelope.signatures")
		}
		sigs := s.Content.Envelope.Signatures
		ids := make([]Identity, 0, len(sigs))
		for i, sig := range sigs {
			if sig == nil || sig.PublicKey == nil || len(*sig.PublicKey) == 0 {
				return nil, fmt.Errorf("missing spec.content.envelope.signatures[%d].publicKey", i)
			}
			id, err := p.fromPEM(*sig.PublicKey)
			if err != nil {
				return nil, fmt.Errorf("spec.content.envelope.signatures[%d].publicKey: %w", i, err)
			}
			ids = append(ids, *id)
		}
		return ids, nil
	case KindCOSEV001:
		s, err := decodeSpec[models.CoseV001Schema](spec, whole)
		if err != nil {
			return nil, err
		}
		if s.PublicKey == nil || len(*s.PublicKey) == 0 {
			return nil, errors.New("missing spec.publicKey")
		}
		return p.pemIdentities(*s.PublicKey)
	case KindRFC3161V001:
		s, err := decodeSpec[models.Rfc3161V001Schema](spec, whole)
		if err != nil {
			return nil, err
		}
		if s.Tsr == nil || s.Tsr.Content == nil || len(*s.Tsr.Content) == 0 {
			return nil, errors.New("missing spec.tsr.content")
		}
		return tsrIdentities(*s.Tsr.Content)
	default:
		return p.genericIdentities(body)
	}
}

// hashedrekordVerifier and dsseVerifiers select, from the JSON of
// models.HashedrekordV001Schema and models.DSSEV001Schema (same field
// names), the only field this package needs, kept as the raw JSON string.
// Decoding the full model costs twice as much (go-openapi's strfmt.Base64
// unmarshals every byte field twice), and keeping the still-encoded
// verifier lets a cache hit skip base64 and PEM decoding altogether. The
// decoded verifier is what the model would hold: TestFastPathMatchesModels
// checks this.
type hashedrekordVerifier struct {
	Signature *struct {
		PublicKey *struct {
			Content json.RawMessage `json:"content"`
		} `json:"publicKey"`
	} `json:"signature"`
}

type dsseVerifiers struct {
	Signatures []*struct {
		Verifier json.RawMessage `json:"verifier"`
	} `json:"signatures"`
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// fromBase64PEM parses a JSON string holding base64-encoded PEM.
func (p *Parser) fromBase64PEM(raw json.RawMessage) (*Identity, error) {
	return p.cached(formatJSONBase64PEM, raw, func(raw []byte) (*Identity, error) {
		material, err := decodeJSONBase64(raw)
		if err != nil {
			return nil, fmt.Errorf("decoding base64: %w", err)
		}
		return p.parsePEM(material)
	})
}

// decodeJSONBase64 decodes a JSON string of standard base64 as
// encoding/json (and strfmt.Base64) would, skipping the generic decoder
// for the usual string without escapes.
func decodeJSONBase64(raw []byte) ([]byte, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		s := raw[1 : len(raw)-1]
		out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
		n, err := base64.StdEncoding.Decode(out, s)
		if err != nil {
			return nil, err
		}
		return out[:n], nil
	}
	var out []byte
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (p *Parser) pemIdentities(material []byte) ([]Identity, error) {
	id, err := p.fromPEM(material)
	if err != nil {
		return nil, err
	}
	return []Identity{*id}, nil
}

// genericIdentities decodes body through the rekor type registry, which
// validates the entry against its schema, and asks the entry for its
// verifiers.
func (p *Parser) genericIdentities(body []byte) ([]Identity, error) {
	pe, err := models.UnmarshalProposedEntry(bytes.NewReader(body), runtime.JSONConsumer())
	if err != nil {
		return nil, fmt.Errorf("decoding entry: %w", err)
	}
	entry, err := types.UnmarshalEntry(pe)
	if err != nil {
		return nil, fmt.Errorf("unmarshaling entry: %w", err)
	}
	verifiers, err := entry.Verifiers()
	if err != nil {
		return nil, fmt.Errorf("reading verifiers: %w", err)
	}
	var ids []Identity
	for _, v := range verifiers {
		got, err := p.verifierIdentities(v)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	if len(ids) == 0 {
		return nil, errors.New("entry has no usable verifier")
	}
	return ids, nil
}

func (p *Parser) verifierIdentities(v pkitypes.PublicKey) ([]Identity, error) {
	var keyType KeyType
	switch v := v.(type) {
	case *pkix509.PublicKey:
		// The canonical value is the PEM key, certificate or chain.
		material, err := v.CanonicalValue()
		if err != nil {
			return nil, fmt.Errorf("encoding x509 verifier: %w", err)
		}
		return p.pemIdentities(material)
	case *pgp.PublicKey:
		// rekor's Identities skips EdDSA, ECDSA and DSA keys; read the
		// key ring ourselves so every key has a fingerprint.
		return pgpIdentities(v)
	case *pkissh.PublicKey:
		keyType = KeySSH
	case *minisign.PublicKey:
		keyType = KeyMinisign
	case *pkituf.PublicKey:
		keyType = KeyTUF
	default:
		keyType = KeyPKIX
	}
	rids, err := v.Identities()
	if err != nil {
		return nil, fmt.Errorf("reading %s verifier identities: %w", keyType, err)
	}
	emails := v.EmailAddresses()
	ids := make([]Identity, 0, len(rids))
	for _, rid := range rids {
		fp := rid.Fingerprint
		if keyType == KeySSH {
			// rekor reports OpenSSH's "SHA256:base64"; use hex like
			// every other fingerprint.
			k, ok := rid.Crypto.(ssh.PublicKey)
			if !ok {
				return nil, fmt.Errorf("unexpected ssh verifier type %T", rid.Crypto)
			}
			if c, ok := k.(*ssh.Certificate); ok {
				k = c.Key
			}
			sum := sha256.Sum256(k.Marshal())
			fp = hex.EncodeToString(sum[:])
		}
		ids = append(ids, Identity{KeyType: keyType, Emails: emails, KeyFingerprint: fp})
	}
	return ids, nil
}

// pgpIdentities returns one identity per primary key and subkey, each
// carrying the e-mail addresses of its entity's user IDs.
func pgpIdentities(v *pgp.PublicKey) ([]Identity, error) {
	armored, err := v.CanonicalValue()
	if err != nil {
		return nil, fmt.Errorf("encoding pgp verifier: %w", err)
	}
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, fmt.Errorf("reading pgp key ring: %w", err)
	}
	var ids []Identity
	for _, e := range ring {
		if e.PrimaryKey == nil {
			continue
		}
		var emails []string
		for _, uid := range e.Identities {
			if uid != nil && uid.UserId != nil && uid.UserId.Email != "" {
				emails = append(emails, uid.UserId.Email)
			}
		}
		slices.Sort(emails) // map order above
		ids = append(ids, Identity{KeyType: KeyPGP, Emails: emails, KeyFingerprint: hex.EncodeToString(e.PrimaryKey.Fingerprint)})
		for _, sub := range e.Subkeys {
			if sub.PublicKey != nil {
				ids = append(ids, Identity{KeyType: KeyPGP, Emails: emails, KeyFingerprint: hex.EncodeToString(sub.PublicKey.Fingerprint)})
			}
		}
	}
	return ids, nil
}

// tsrIdentities returns the signer of an RFC 3161 timestamp response, with
// the response's other certificates as intermediates.
func tsrIdentities(der []byte) ([]Identity, error) {
	var resp pkcs9.TimeStampResp
	rest, err := asn1.Unmarshal(der, &resp)
	if err != nil {
		return nil, fmt.Errorf("parsing timestamp response: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("parsing timestamp response: trailing data")
	}
	sd := &resp.TimeStampToken.Content
	if len(sd.SignerInfos) == 0 {
		return nil, errors.New("timestamp response has no signer")
	}
	if len(sd.Certificates) == 0 {
		return nil, nil
	}
	certs, err := sd.Certificates.Parse()
	if err != nil {
		return nil, fmt.Errorf("parsing timestamp response certificates: %w", err)
	}
	signer, err := sd.SignerInfos[0].FindCertificate(certs)
	if err != nil {
		return nil, nil // certificates present, but not the signer's
	}
	var others []*x509.Certificate
	for _, c := range certs {
		if c != signer {
			others = append(others, c)
		}
	}
	id, err := certIdentity(signer, others)
	if err != nil {
		return nil, err
	}
	return []Identity{*id}, nil
}
