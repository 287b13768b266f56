package identity

import (
	"errors"
	"fmt"

	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"
)

// v2Unmarshal tolerates fields added by later Rekor v2 versions: an entry
// the log accepted is not malformed because this monitor is older.
var v2Unmarshal = protojson.UnmarshalOptions{DiscardUnknown: true}

// ParseV2 returns the signers of a Rekor v2 entry. leaf is one entry of a
// tile's entry bundle: rekor-tiles stores
// jsoncanonicalizer.Transform(protojson.Marshal(entry)) for a
// dev.sigstore.rekor.v2.Entry, e.g.
//
//	{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":
//	 {"data":{"algorithm":"SHA2_256","digest":"..."},"signature":{"content":"...",
//	 "verifier":{"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{"rawBytes":"..."}}}}}}
//
// Verifiers hold DER: a SubjectPublicKeyInfo (publicKey.rawBytes) or a
// certificate (x509Certificate.rawBytes). It returns at least one Identity
// or a *MalformedError.
func (p *Parser) ParseV2(leaf []byte) ([]Identity, error) {
	var e pb.Entry
	if err := v2Unmarshal.Unmarshal(leaf, &e); err != nil {
		return nil, &MalformedError{Err: fmt.Errorf("decoding entry: %w", err)}
	}
	var kind string
	var sigs []*pb.Signature
	switch {
	case e.GetKind() == "hashedrekord" && e.GetApiVersion() == "0.0.2":
		kind = KindHashedRekordV002
		hr := e.GetSpec().GetHashedRekordV002()
		if hr == nil {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec.hashedRekordV002")}
		}
		sigs = []*pb.Signature{hr.GetSignature()}
	case e.GetKind() == "dsse" && e.GetApiVersion() == "0.0.2":
		kind = KindDSSEV002
		d := e.GetSpec().GetDsseV002()
		if d == nil {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec.dsseV002")}
		}
		sigs = d.GetSignatures()
		if len(sigs) == 0 {
			return nil, &MalformedError{Kind: kind, Err: errors.New("missing spec.dsseV002.signatures")}
		}
	default:
		return nil, &MalformedError{Kind: e.GetKind() + ":" + e.GetApiVersion(), Err: ErrUnknownKind}
	}
	ids := make([]Identity, 0, len(sigs))
	for i, sig := range sigs {
		id, err := p.v2Verifier(sig.GetVerifier())
		if err != nil {
			return nil, &MalformedError{Kind: kind, Err: fmt.Errorf("signature %d: %w", i, err)}
		}
		ids = append(ids, *id)
		ids[len(ids)-1].EntryKind = kind
	}
	return ids, nil
}

func (p *Parser) v2Verifier(v *pb.Verifier) (*Identity, error) {
	if der := v.GetX509Certificate().GetRawBytes(); len(der) > 0 {
		return p.fromCertDER(der)
	}
	if der := v.GetPublicKey().GetRawBytes(); len(der) > 0 {
		return p.fromSPKI(der)
	}
	return nil, errors.New("missing verifier")
}
