package ctleaftest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
)

// NewLogFromKey returns an empty in-memory log that signs with k: with a
// real log's key, its SCTs verify as that log's promises, though the real
// log never saw the certificates (what a log that breaks its promise
// does).
func NewLogFromKey(origin string, k *ecdsa.PrivateKey) (*Log, error) {
	id, err := ctleaf.LogID(k.Public())
	if err != nil {
		return nil, err
	}
	return &Log{Key: k, LogID: id, Origin: origin, tree: testonly.New(rfc6962.DefaultHasher)}, nil
}

// NewCAFrom returns a CA issuing from root with its key, such as a real
// Fulcio's CA.
func NewCAFrom(root *x509.Certificate, key *ecdsa.PrivateKey) *CA {
	return &CA{Root: root, key: key, serial: time.Now().UnixNano()}
}
