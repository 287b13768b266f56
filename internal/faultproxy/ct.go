package faultproxy

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
)

// CTSigner signs tree heads as a certificate transparency log does (an
// RFC 6962 TreeHeadSignature), for any size, timestamp and root: with the
// log's own key it forges what only the log could have signed.
type CTSigner struct {
	key   *ecdsa.PrivateKey
	logID [32]byte
}

// NewCTSigner returns a signer of tree heads with key.
func NewCTSigner(key *ecdsa.PrivateKey) (*CTSigner, error) {
	id, err := ctleaf.LogID(key.Public())
	if err != nil {
		return nil, err
	}
	return &CTSigner{key: key, logID: id}, nil
}

// STH returns a get-sth answer (JSON) for size, ts (Unix milliseconds)
// and root, signed.
func (s *CTSigner) STH(size, ts uint64, root []byte) []byte {
	if len(root) != sha256.Size {
		panic(fmt.Sprintf("faultproxy: CT tree head root of %d bytes", len(root)))
	}
	var h ct.SHA256Hash
	copy(h[:], root)
	input, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: size, Timestamp: ts, SHA256RootHash: h})
	if err != nil {
		panic("faultproxy: serializing tree head: " + err.Error())
	}
	ds, err := cttls.CreateSignature(*s.key, cttls.SHA256, input) // ct-go takes the key by value
	if err != nil {
		panic("faultproxy: signing tree head: " + err.Error())
	}
	sig, err := cttls.Marshal(ds)
	if err != nil {
		panic("faultproxy: encoding tree head signature: " + err.Error())
	}
	b, err := json.Marshal(ct.GetSTHResponse{TreeSize: size, Timestamp: ts, SHA256RootHash: h[:], TreeHeadSignature: sig})
	if err != nil {
		panic("faultproxy: encoding get-sth answer: " + err.Error())
	}
	return b
}

// Checkpoint returns the tree head in the static-ct-api checkpoint form
// (an RFC6962NoteSignature) under origin.
func (s *CTSigner) Checkpoint(origin string, size, ts uint64, root []byte) []byte {
	b, err := ctleaf.FromSTH(s.STH(size, ts, root), origin, ctleaf.KeyHash(origin, s.logID))
	if err != nil {
		panic("faultproxy: checkpoint form: " + err.Error())
	}
	return b
}

// ParseSTH reads the size, timestamp and root of a get-sth answer without
// verifying it.
func ParseSTH(raw []byte) (size, ts uint64, root []byte, err error) {
	var sth ct.GetSTHResponse
	if err := json.Unmarshal(raw, &sth); err != nil {
		return 0, 0, nil, err
	}
	return sth.TreeSize, sth.Timestamp, sth.SHA256RootHash, nil
}

// Stream makes the responses to matching paths a 200 of n bytes of filler,
// written in small pieces without a Content-Length, so that neither the
// proxy nor the size header bounds what the client reads: only the
// client's own limit does. The function it returns reports how many of
// these responses were written to the end (a client that enforces a limit
// below n hangs up before).
func (p *Proxy) Stream(match func(path string) bool, n int64) (completed func() int64) {
	var done atomic.Int64
	chunk := make([]byte, 32<<10)
	for i := range chunk {
		chunk[i] = 'A'
	}
	p.setSpecial(func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r.URL.Path) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		for left := n; left > 0; {
			k := min(left, int64(len(chunk)))
			if _, err := w.Write(chunk[:k]); err != nil {
				return true
			}
			left -= k
		}
		done.Add(1)
		return true
	})
	return done.Load
}
