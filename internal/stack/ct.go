package stack

// The stack's certificate transparency logs.
//
//	CT log         ct_server (RFC 6962 API on Trillian)   POST {CT_URL}/ct/v1/add-chain, add-pre-chain; GET get-sth
//	static-ct log  tesseract POSIX (C2SP static-ct-api)   POST {STATIC_CT_WRITE_URL}/ct/v1/add-chain, add-pre-chain
//	                                                      GET {STATIC_CT_READ_URL}/checkpoint, tile/..., issuer/...
//
// Both take the same add-chain requests and answer with an SCT. ct_server
// answers once Trillian has queued the entry (it is sequenced within the
// signer's 100ms interval); tesseract once a published checkpoint covers it,
// and its SCT carries the entry's index (the leaf_index extension). Both
// accept chains ending in Fulcio's root (FULCIO_ROOT) or loadgen's test CA
// ($STACK_DIR/testca/ca.crt): CT_ROOTS. Fulcio logs the precertificate of
// every certificate it issues in the CT log and embeds the SCT.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	ct "github.com/google/certificate-transparency-go"
)

// AddCTChain submits chain (DER certificates, leaf first, up to a root the log
// trusts) to the CT log at logURL (ct_server: CT_URL; tesseract:
// STATIC_CT_WRITE_URL): with add-pre-chain when precert (the leaf carries the
// poison extension, see identitytest.TestCA.IssueChain), else add-chain. It
// returns the log's SCT, unverified. A refused chain is a [*StatusError]
// carrying the log's answer. Unlike ct-go's client it does not retry.
func AddCTChain(ctx context.Context, logURL string, chain [][]byte, precert bool) (*ct.SignedCertificateTimestamp, error) {
	if len(chain) == 0 {
		return nil, errors.New("adding chain to CT log: empty chain")
	}
	path, what := ct.AddChainPath, "certificate"
	if precert {
		path, what = ct.AddPreChainPath, "precertificate"
	}
	body, err := json.Marshal(ct.AddChainRequest{Chain: chain})
	if err != nil {
		return nil, fmt.Errorf("encoding add-chain request: %w", err)
	}
	var sct *ct.SignedCertificateTimestamp
	err = postJSON(ctx, strings.TrimSuffix(logURL, "/")+path, body, func(raw []byte) error {
		var resp ct.AddChainResponse
		if err := json.Unmarshal(raw, &resp); err != nil {
			return err
		}
		sct, err = resp.ToSignedCertificateTimestamp()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("adding %s chain to CT log: %w", what, err)
	}
	return sct, nil
}

// FetchCTSTH returns the signed tree head the RFC 6962 CT log at logURL
// serves (GET {logURL}/ct/v1/get-sth), unverified.
func FetchCTSTH(ctx context.Context, logURL string) (*ct.GetSTHResponse, error) {
	raw, err := get(ctx, strings.TrimSuffix(logURL, "/")+ct.GetSTHPath)
	if err != nil {
		return nil, fmt.Errorf("fetching CT log STH: %w", err)
	}
	var sth ct.GetSTHResponse
	if err := json.Unmarshal(raw, &sth); err != nil {
		return nil, fmt.Errorf("decoding CT log STH: %w", err)
	}
	return &sth, nil
}

// FetchStaticCTCheckpoint returns the raw checkpoint the static-ct read side
// at readURL serves and the tree size on its second line.
func FetchStaticCTCheckpoint(ctx context.Context, readURL string) ([]byte, int64, error) {
	return fetchCheckpoint(ctx, readURL, "static-ct")
}

// StaticCTLeafIndex returns the leaf_index extension of an SCT from a
// static-ct-api log (c2sp.org/static-ct-api: the entry's index, a uint40),
// and false when the SCT has none (an RFC 6962 log's SCT).
func StaticCTLeafIndex(sct *ct.SignedCertificateTimestamp) (int64, bool) {
	ext := []byte(sct.Extensions)
	for len(ext) >= 3 {
		typ, n := ext[0], int(binary.BigEndian.Uint16(ext[1:3]))
		if len(ext) < 3+n {
			return 0, false
		}
		if data := ext[3 : 3+n]; typ == 0 && n == 5 { // leaf_index(0)
			var b [8]byte
			copy(b[3:], data)
			return int64(binary.BigEndian.Uint64(b[:])), true
		}
		ext = ext[3+n:]
	}
	return 0, false
}
