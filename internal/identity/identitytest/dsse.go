package identitytest

// DSSE envelopes and the in-toto statements they carry.

import (
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// InTotoPayloadType is the DSSE payload type of in-toto statements.
const InTotoPayloadType = "application/vnd.in-toto+json"

// PAE is the DSSE v1 pre-authentication encoding that DSSE signatures cover:
//
//	"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
func PAE(payloadType string, payload []byte) []byte {
	return append(fmt.Appendf(nil, "DSSEv1 %d %s %d ", len(payloadType), payloadType, len(payload)), payload...)
}

// dsseEnvelope is the JSON envelope (payload and sig in standard base64).
type dsseEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     string          `json:"payload"`
	Signatures  []dsseSignature `json:"signatures"`
}

type dsseSignature struct {
	KeyID string `json:"keyid"`
	Sig   string `json:"sig"`
}

// SignDSSE signs payload as a DSSE envelope, one signature per signer in
// order. It returns the envelope JSON and the raw signatures (each over the
// SHA-256 of [PAE]).
func SignDSSE(payloadType string, payload []byte, signers ...crypto.Signer) (envelope []byte, sigs [][]byte, err error) {
	env := dsseEnvelope{PayloadType: payloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	d := sha256.Sum256(PAE(payloadType, payload))
	for _, s := range signers {
		sig, err := SignDigest(s, d[:])
		if err != nil {
			return nil, nil, fmt.Errorf("signing DSSE envelope: %w", err)
		}
		sigs = append(sigs, sig)
		env.Signatures = append(env.Signatures, dsseSignature{Sig: base64.StdEncoding.EncodeToString(sig)})
	}
	envelope, err = json.Marshal(env)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding DSSE envelope: %w", err)
	}
	return envelope, sigs, nil
}

// DSSEEnvelope returns a DSSE envelope (JSON) over payload signed by each
// signer in turn.
func DSSEEnvelope(tb TB, payloadType string, payload []byte, signers ...Signer) []byte {
	tb.Helper()
	keys := make([]crypto.Signer, len(signers))
	for i, s := range signers {
		keys[i] = s.Key
	}
	env, _, err := SignDSSE(payloadType, payload, keys...)
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// InTotoStatement returns an in-toto v1 statement with an SLSA provenance v1
// predicate about one artifact, as attestations in Rekor usually are.
func InTotoStatement(name string, artifact []byte) []byte {
	d := sha256.Sum256(artifact)
	type subject struct {
		Name   string            `json:"name"`
		Digest map[string]string `json:"digest"`
	}
	st := struct {
		Type          string    `json:"_type"`
		Subject       []subject `json:"subject"`
		PredicateType string    `json:"predicateType"`
		Predicate     any       `json:"predicate"`
	}{
		Type:          "https://in-toto.io/Statement/v1",
		Subject:       []subject{{Name: name, Digest: map[string]string{"sha256": hex.EncodeToString(d[:])}}},
		PredicateType: "https://slsa.dev/provenance/v1",
		Predicate: map[string]any{
			"buildDefinition": map[string]any{"buildType": "https://vigil.invalid/test-build/v1", "externalParameters": map[string]any{}},
			"runDetails":      map[string]any{"builder": map[string]any{"id": "https://vigil.invalid/builder"}},
		},
	}
	b, err := json.Marshal(st)
	if err != nil {
		panic("marshaling a static in-toto statement: " + err.Error()) // only strings and maps
	}
	return b
}
