package identity

// Artifact digests: what an entry is about, beside who signed it.

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/sassoftware/relic/v8/lib/pkcs9"
	common "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
)

// DigestsV1 returns the digests of the artifacts a Rekor v1 entry is
// about, from its body (as [ParseV1] takes it), each as
// "<algorithm>:<lower-case hex>", sorted, without duplicates:
//
//	hashedrekord:0.0.1  spec.data.hash                          sha256, sha384 or sha512
//	rekord:0.0.1        spec.data.hash
//	intoto:0.0.1/0.0.2  spec.content.hash, spec.content.payloadHash
//	dsse:0.0.1          spec.envelopeHash, spec.payloadHash
//	cose:0.0.1          spec.data.envelopeHash, spec.data.payloadHash
//	helm:0.0.1          spec.chart.hash
//	jar:0.0.1           spec.archive.hash
//	rpm:0.0.1           spec.package.hash
//	alpine:0.0.1        spec.package.hash
//	rfc3161:0.0.1       the message imprint of the timestamp in spec.tsr.content
//	tuf:0.0.1           none
//
// Each hash is an object {"algorithm": "sha256", "value": "<hex>"} (field
// names from rekor's pkg/generated/models); the algorithm is one of
// sha256, sha384, sha512 (and sha1, which the schemas do not allow but an
// RFC 3161 imprint may use), and the value hex of that digest's length.
// An absent hash is no digest. A body that is not JSON, whose spec is
// missing, or with a hash of another shape, an unknown algorithm or a
// value that is not such hex, is a *MalformedError naming the field. An
// entry of a kind or version this package does not know has no digests
// and no error, as does an RFC 3161 imprint of a hash other than those.
//
// It decodes only the fields it needs, with go-json-experiment, whose
// decoder skips the others several times faster than encoding/json, and
// for the canonical hashedrekord body that is the bulk of a log reads the
// hash where canonical JSON puts it, then only checks that the body is
// valid JSON. It is therefore stricter than [ParseV1] (encoding/json) in
// what no canonical body holds: names are matched exactly, and duplicate
// names and invalid UTF-8 are errors. It does not check the signature
// fields, as ParseV1 does: a body malformed only there has its digests.
func DigestsV1(body []byte) ([]string, error) {
	if ds, ok := digestsV1Canonical(body); ok {
		return ds, nil
	}
	return digestsV1General(body)
}

// digestsV1General is DigestsV1 for every body.
func digestsV1General(body []byte) ([]string, error) {
	kind := sniffV1(body)
	// As in ParseV1: a sniffed (canonical) body is decoded in one pass.
	spec, whole := body, kind != ""
	if !whole {
		var env struct {
			Kind       string         `json:"kind"`
			APIVersion string         `json:"apiVersion"`
			Spec       jsontext.Value `json:"spec"`
		}
		if err := jsonv2.Unmarshal(body, &env); err != nil {
			return nil, &MalformedError{Err: fmt.Errorf("decoding entry body: %w", err)}
		}
		var ok bool
		if kind, ok = lookupV1Kind(env.Kind, env.APIVersion); !ok {
			return nil, nil
		}
		if len(env.Spec) == 0 || string(env.Spec) == "null" {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec")}
		}
		spec = env.Spec
	}
	var d digestSet
	if err := d.addV1Entry(kind, spec, whole); err != nil {
		return nil, &MalformedError{Kind: kind, Err: err}
	}
	return d.result(), nil
}

// canonicalHashedRekord is how a canonical hashedrekord body starts, up to
// its hash object (RFC 8785 sorts names: apiVersion, kind, spec; data,
// signature; algorithm, value).
const canonicalHashedRekord = `{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":`

// digestsV1Canonical reads the digest of a canonical hashedrekord body
// whose hash is plain lower-case hex of a known algorithm, in a valid JSON
// body (which, valid without duplicate names, has no other hash): what
// digestsV1General reads of it. ok is false for anything else.
func digestsV1Canonical(body []byte) (ds []string, ok bool) {
	rest, ok := bytes.CutPrefix(body, []byte(canonicalHashedRekord))
	if !ok {
		return nil, false
	}
	alg, value, rest, ok := cutPair(rest, "algorithm", "value")
	if !ok || !bytes.HasPrefix(rest, []byte("}")) {
		return nil, false
	}
	size, known := digestSizes[string(alg)]
	if !known || len(value) != 2*size || !isLowerHex(value) || !jsontext.Value(body).IsValid() {
		return nil, false
	}
	return []string{string(alg) + ":" + string(value)}, true
}

// cutPair reads {"<k1>":"<v1>","<k2>":"<v2>"} at the start of b, both
// values strings without escapes, and returns them and what follows.
func cutPair(b []byte, k1, k2 string) (v1, v2, rest []byte, ok bool) {
	if b, ok = bytes.CutPrefix(b, []byte(`{"`+k1+`":"`)); !ok {
		return nil, nil, nil, false
	}
	if v1, b, ok = bytes.Cut(b, []byte(`"`)); !ok || bytes.IndexByte(v1, '\\') >= 0 {
		return nil, nil, nil, false
	}
	if b, ok = bytes.CutPrefix(b, []byte(`,"`+k2+`":"`)); !ok {
		return nil, nil, nil, false
	}
	if v2, b, ok = bytes.Cut(b, []byte(`"`)); !ok || bytes.IndexByte(v2, '\\') >= 0 {
		return nil, nil, nil, false
	}
	rest, ok = bytes.CutPrefix(b, []byte("}"))
	return v1, v2, rest, ok
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// decodeDigestSpec is decodeSpec with go-json-experiment (see DigestsV1).
func decodeDigestSpec[T any](data []byte, whole bool) (*T, error) {
	var err error
	var w struct {
		Spec *T `json:"spec"`
	}
	if whole {
		err = jsonv2.Unmarshal(data, &w)
	} else {
		w.Spec = new(T)
		err = jsonv2.Unmarshal(data, w.Spec)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding spec: %w", err)
	}
	if w.Spec == nil {
		return nil, errors.New("missing spec")
	}
	return w.Spec, nil
}

// v1Hash is the hash object of every Rekor v1 schema (e.g.
// models.HashedrekordV001SchemaDataHash).
type v1Hash struct {
	Algorithm *string `json:"algorithm"`
	Value     *string `json:"value"`
}

// Only the hash fields of each kind's spec (see DigestsV1), so that the
// other fields are skipped, not decoded.
type (
	dataHashSpec struct {
		Data *struct {
			Hash *v1Hash `json:"hash"`
		} `json:"data"`
	}
	coseHashSpec struct {
		Data *struct {
			EnvelopeHash *v1Hash `json:"envelopeHash"`
			PayloadHash  *v1Hash `json:"payloadHash"`
		} `json:"data"`
	}
	intotoHashSpec struct {
		Content *struct {
			Hash        *v1Hash `json:"hash"`
			PayloadHash *v1Hash `json:"payloadHash"`
		} `json:"content"`
	}
	dsseHashSpec struct {
		EnvelopeHash *v1Hash `json:"envelopeHash"`
		PayloadHash  *v1Hash `json:"payloadHash"`
	}
	helmHashSpec struct {
		Chart *struct {
			Hash *v1Hash `json:"hash"`
		} `json:"chart"`
	}
	jarHashSpec struct {
		Archive *struct {
			Hash *v1Hash `json:"hash"`
		} `json:"archive"`
	}
	packageHashSpec struct {
		Package *struct {
			Hash *v1Hash `json:"hash"`
		} `json:"package"`
	}
	tsrSpec struct {
		Tsr *struct {
			Content []byte `json:"content"`
		} `json:"tsr"`
	}
)

// digestSet collects digests; result sorts them and drops duplicates.
type digestSet []string

func (d *digestSet) result() []string {
	if len(*d) == 0 {
		return nil
	}
	slices.Sort(*d)
	return slices.Compact(*d)
}

// addV1Entry adds the digests of a Rekor v1 entry of kind (see DigestsV1); spec is
// the spec or, when whole, the whole body.
func (d *digestSet) addV1Entry(kind string, spec []byte, whole bool) error {
	switch kind {
	case KindHashedRekordV001, KindRekordV001:
		s, err := decodeDigestSpec[dataHashSpec](spec, whole)
		if err != nil || s.Data == nil {
			return err
		}
		return d.addV1("spec.data.hash", s.Data.Hash)
	case KindCOSEV001:
		s, err := decodeDigestSpec[coseHashSpec](spec, whole)
		if err != nil || s.Data == nil {
			return err
		}
		if err := d.addV1("spec.data.envelopeHash", s.Data.EnvelopeHash); err != nil {
			return err
		}
		return d.addV1("spec.data.payloadHash", s.Data.PayloadHash)
	case KindIntotoV001, KindIntotoV002:
		s, err := decodeDigestSpec[intotoHashSpec](spec, whole)
		if err != nil || s.Content == nil {
			return err
		}
		if err := d.addV1("spec.content.hash", s.Content.Hash); err != nil {
			return err
		}
		return d.addV1("spec.content.payloadHash", s.Content.PayloadHash)
	case KindDSSEV001:
		s, err := decodeDigestSpec[dsseHashSpec](spec, whole)
		if err != nil {
			return err
		}
		if err := d.addV1("spec.envelopeHash", s.EnvelopeHash); err != nil {
			return err
		}
		return d.addV1("spec.payloadHash", s.PayloadHash)
	case KindHelmV001:
		s, err := decodeDigestSpec[helmHashSpec](spec, whole)
		if err != nil || s.Chart == nil {
			return err
		}
		return d.addV1("spec.chart.hash", s.Chart.Hash)
	case KindJARV001:
		s, err := decodeDigestSpec[jarHashSpec](spec, whole)
		if err != nil || s.Archive == nil {
			return err
		}
		return d.addV1("spec.archive.hash", s.Archive.Hash)
	case KindRPMV001, KindAlpineV001:
		s, err := decodeDigestSpec[packageHashSpec](spec, whole)
		if err != nil || s.Package == nil {
			return err
		}
		return d.addV1("spec.package.hash", s.Package.Hash)
	case KindRFC3161V001:
		s, err := decodeDigestSpec[tsrSpec](spec, whole)
		if err != nil || s.Tsr == nil || len(s.Tsr.Content) == 0 {
			return err
		}
		dg, err := tsrImprint(s.Tsr.Content)
		if err != nil {
			return fmt.Errorf("spec.tsr.content: %w", err)
		}
		if dg != "" {
			*d = append(*d, dg)
		}
		return nil
	}
	return nil // tuf:0.0.1 names no artifact
}

// digestSizes are the digest sizes of the algorithm names Rekor v1 uses.
var digestSizes = map[string]int{"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

// addV1 adds the digest of the hash object at field, unless it is absent.
func (d *digestSet) addV1(field string, h *v1Hash) error {
	if h == nil {
		return nil
	}
	if h.Algorithm == nil || *h.Algorithm == "" {
		return fmt.Errorf("%s: missing algorithm", field)
	}
	alg := *h.Algorithm
	size, ok := digestSizes[alg]
	if !ok {
		return fmt.Errorf("%s: algorithm %q is not sha256, sha384, sha512 or sha1", field, alg)
	}
	if h.Value == nil || *h.Value == "" {
		return fmt.Errorf("%s: missing value", field)
	}
	b, err := hex.DecodeString(*h.Value)
	if err != nil || len(b) != size {
		return fmt.Errorf("%s: value %q is not the hex of a %s digest (%d bytes)", field, *h.Value, alg, size)
	}
	*d = append(*d, alg+":"+hex.EncodeToString(b))
	return nil
}

// hashOIDs names the digest algorithms of an RFC 3161 message imprint.
var hashOIDs = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, "sha256"},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, "sha384"},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, "sha512"},
	{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, "sha1"},
}

// tsrImprint returns the message imprint of a DER RFC 3161 timestamp
// response (TimeStampResp, its token's TSTInfo) as a digest, or "" for an
// imprint of another hash algorithm.
func tsrImprint(der []byte) (string, error) {
	var resp pkcs9.TimeStampResp
	rest, err := asn1.Unmarshal(der, &resp)
	if err != nil {
		return "", fmt.Errorf("parsing timestamp response: %w", err)
	}
	if len(rest) != 0 {
		return "", errors.New("parsing timestamp response: trailing data")
	}
	// The token's EncapsulatedContentInfo: eContent is an OCTET STRING
	// holding the TSTInfo's DER (RFC 5652), or, as relic's builder writes
	// it, the TSTInfo itself.
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Explicit    asn1.RawValue // [0] EXPLICIT eContent
	}
	var content asn1.RawValue
	if _, err := asn1.Unmarshal(resp.TimeStampToken.Content.ContentInfo.Raw, &ci); err != nil {
		return "", fmt.Errorf("reading the timestamp token's content: %w", err)
	}
	if ci.Explicit.Class != asn1.ClassContextSpecific || ci.Explicit.Tag != 0 {
		return "", errors.New("reading the timestamp token's content: no eContent")
	}
	if _, err := asn1.Unmarshal(ci.Explicit.Bytes, &content); err != nil {
		return "", fmt.Errorf("reading the timestamp token's content: %w", err)
	}
	info := content.FullBytes
	if content.Class == asn1.ClassUniversal && content.Tag == asn1.TagOctetString {
		info = content.Bytes
	}
	var tst pkcs9.TSTInfo
	if rest, err := asn1.Unmarshal(info, &tst); err != nil || len(rest) != 0 {
		return "", fmt.Errorf("parsing TSTInfo: %w (%d bytes after it)", err, len(rest))
	}
	return imprintDigest(tst.MessageImprint.HashAlgorithm, tst.MessageImprint.HashedMessage)
}

func imprintDigest(alg pkix.AlgorithmIdentifier, sum []byte) (string, error) {
	for _, h := range hashOIDs {
		if alg.Algorithm.Equal(h.oid) {
			if len(sum) != digestSizes[h.name] {
				return "", fmt.Errorf("message imprint: %d bytes of %s, want %d", len(sum), h.name, digestSizes[h.name])
			}
			return h.name + ":" + hex.EncodeToString(sum), nil
		}
	}
	return "", nil
}

// DigestsV2 returns the digests of the artifacts a Rekor v2 entry is
// about, from its leaf (as [ParseV2] takes it), as [DigestsV1] does:
//
//	hashedrekord:0.0.2  spec.hashedRekordV002.data
//	dsse:0.0.2          spec.dsseV002.payloadHash
//
// Each is a HashOutput {"algorithm": "SHA2_256", "digest": "<base64>"}:
// SHA2_256, SHA2_384 and SHA2_512 give "sha256:", "sha384:" and "sha512:",
// SHA3_256 and SHA3_384 "sha3-256:" and "sha3-384:". An absent or empty
// HashOutput is no digest. A leaf that protojson cannot decode, a spec
// without the member its kind needs, or a HashOutput with no algorithm,
// another one, or a digest of the wrong length, is a *MalformedError. Other
// kinds have no digests and no error.
//
// A canonical leaf (what rekor-tiles writes) is read where canonical JSON
// puts the HashOutput, after checking that the leaf is valid JSON; others
// are decoded, like ParseV2 does, for the fields needed only with
// go-json-experiment, and anything unusual in them is left to protojson,
// which decides. The other fields are not checked (ParseV2 checks the
// signatures'): a leaf malformed only there has its digests.
func DigestsV2(leaf []byte) ([]string, error) {
	if ds, ok := digestsV2Canonical(leaf); ok {
		return ds, nil
	}
	if ds, ok := digestsV2Fast(leaf); ok {
		return ds, nil
	}
	return digestsV2Proto(leaf)
}

// How the canonical leaves of the two kinds start, up to their
// HashOutput (RFC 8785 sorts names).
const (
	canonicalHashedRekordV2 = `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":`
	canonicalDSSEV2         = `{"apiVersion":"0.0.2","kind":"dsse","spec":{"dsseV002":{"payloadHash":`
)

// digestsV2Canonical reads the digest of a canonical hashedrekord or dsse
// leaf whose HashOutput is a known algorithm's name and a padded standard
// base64 digest of its size, in a valid JSON leaf (no duplicate names, so
// no other HashOutput): what digestsV2Fast reads of it. ok is false for
// anything else.
func digestsV2Canonical(leaf []byte) (ds []string, ok bool) {
	rest, ok := bytes.CutPrefix(leaf, []byte(canonicalHashedRekordV2))
	if !ok {
		if rest, ok = bytes.CutPrefix(leaf, []byte(canonicalDSSEV2)); !ok {
			return nil, false
		}
	}
	name, b64, _, ok := cutPair(rest, "algorithm", "digest")
	if !ok {
		return nil, false
	}
	alg, known := common.HashAlgorithm_value[string(name)]
	a, sized := v2Algorithms[common.HashAlgorithm(alg)]
	if !known || !sized || base64.StdEncoding.EncodedLen(a.size) != len(b64) {
		return nil, false
	}
	var digest [64]byte
	if n, err := base64.StdEncoding.Strict().Decode(digest[:], b64); err != nil || n != a.size || !jsontext.Value(leaf).IsValid() {
		return nil, false
	}
	return []string{a.name + ":" + hex.EncodeToString(digest[:a.size])}, true
}

// v2Digests mirrors the digest fields of a canonical Rekor v2 leaf.
type v2Digests struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		HashedRekordV002 *struct {
			Data *v2Hash `json:"data"`
		} `json:"hashedRekordV002"`
		DSSEV002 *struct {
			PayloadHash *v2Hash `json:"payloadHash"`
		} `json:"dsseV002"`
	} `json:"spec"`
}

type v2Hash struct {
	Algorithm string `json:"algorithm"`
	Digest    []byte `json:"digest"`
}

// digestsV2Fast decodes well-formed hashedrekord and dsse 0.0.2 leaves;
// ok is false for anything else, including every error.
func digestsV2Fast(leaf []byte) (ds []string, ok bool) {
	var e v2Digests
	if jsonv2.Unmarshal(leaf, &e) != nil || e.APIVersion != "0.0.2" {
		return nil, false
	}
	var h *v2Hash
	switch {
	case e.Kind == "hashedrekord" && e.Spec.HashedRekordV002 != nil && e.Spec.DSSEV002 == nil:
		h = e.Spec.HashedRekordV002.Data
	case e.Kind == "dsse" && e.Spec.DSSEV002 != nil && e.Spec.HashedRekordV002 == nil:
		h = e.Spec.DSSEV002.PayloadHash
	default:
		return nil, false
	}
	if h == nil {
		return nil, true
	}
	alg, known := common.HashAlgorithm_value[h.Algorithm]
	if !known {
		return nil, false
	}
	dg, err := hashOutputDigest("", common.HashAlgorithm(alg), h.Digest)
	if err != nil {
		return nil, false
	}
	if dg == "" {
		return nil, true
	}
	return []string{dg}, true
}

// digestsV2Proto decodes a leaf into rekor-tiles' types with protojson:
// the reference path, and the one that reports what is malformed.
func digestsV2Proto(leaf []byte) ([]string, error) {
	var e pb.Entry
	if err := v2Unmarshal.Unmarshal(leaf, &e); err != nil {
		return nil, &MalformedError{Err: fmt.Errorf("decoding entry: %w", err)}
	}
	var (
		kind, field string
		h           *common.HashOutput
	)
	switch {
	case e.GetKind() == "hashedrekord" && e.GetApiVersion() == "0.0.2":
		kind, field = KindHashedRekordV002, "spec.hashedRekordV002.data"
		hr := e.GetSpec().GetHashedRekordV002()
		if hr == nil {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec.hashedRekordV002")}
		}
		h = hr.GetData()
	case e.GetKind() == "dsse" && e.GetApiVersion() == "0.0.2":
		kind, field = KindDSSEV002, "spec.dsseV002.payloadHash"
		d := e.GetSpec().GetDsseV002()
		if d == nil {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec.dsseV002")}
		}
		h = d.GetPayloadHash()
	default:
		return nil, nil
	}
	dg, err := hashOutputDigest(field, h.GetAlgorithm(), h.GetDigest())
	if err != nil {
		return nil, &MalformedError{Kind: kind, Err: err}
	}
	if dg == "" {
		return nil, nil
	}
	return []string{dg}, nil
}

// v2Algorithms names the hash algorithms of a HashOutput, with their
// digest sizes.
var v2Algorithms = map[common.HashAlgorithm]struct {
	name string
	size int
}{
	common.HashAlgorithm_SHA2_256: {"sha256", 32},
	common.HashAlgorithm_SHA2_384: {"sha384", 48},
	common.HashAlgorithm_SHA2_512: {"sha512", 64},
	common.HashAlgorithm_SHA3_256: {"sha3-256", 32},
	common.HashAlgorithm_SHA3_384: {"sha3-384", 48},
}

// hashOutputDigest formats the HashOutput at field; "" when it is empty
// (no algorithm, no digest: protojson's absent message).
func hashOutputDigest(field string, alg common.HashAlgorithm, digest []byte) (string, error) {
	if alg == common.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED && len(digest) == 0 {
		return "", nil
	}
	a, ok := v2Algorithms[alg]
	switch {
	case alg == common.HashAlgorithm_HASH_ALGORITHM_UNSPECIFIED:
		return "", fmt.Errorf("%s: digest without an algorithm", field)
	case !ok:
		return "", fmt.Errorf("%s: unknown algorithm %v", field, alg)
	case len(digest) != a.size:
		return "", fmt.Errorf("%s: digest of %d bytes, want %d for %v", field, len(digest), a.size, alg)
	}
	return a.name + ":" + hex.EncodeToString(digest), nil
}
