// Package ctleaftest holds test fixtures for the certificate transparency
// kinds: an in-memory CT log that signs SCTs and tree heads with an ECDSA
// P-256 key as ct_server does (RFC 6962 structures serialized by
// certificate-transparency-go, proofs by transparency-dev/merkle), and a
// certificate authority that issues Fulcio-shaped precertificates and the
// final certificates with their SCTs embedded.
//
// Production code must not import it.
package ctleaftest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"sync"
	"time"

	ct "github.com/google/certificate-transparency-go"
	cttls "github.com/google/certificate-transparency-go/tls"
	"github.com/google/certificate-transparency-go/x509util"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
)

// Log is an in-memory CT log. It is safe for concurrent use.
type Log struct {
	Key    *ecdsa.PrivateKey
	LogID  [32]byte
	Origin string

	mu     sync.Mutex
	leaves [][]byte
	extra  [][]byte
	tree   *testonly.Tree
}

// NewLog returns an empty log with a fresh ECDSA P-256 key and checkpoint
// origin origin.
func NewLog(origin string) (*Log, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	id, err := ctleaf.LogID(k.Public())
	if err != nil {
		return nil, err
	}
	return &Log{Key: k, LogID: id, Origin: origin, tree: testonly.New(rfc6962.DefaultHasher)}, nil
}

// Public returns the log's public key.
func (l *Log) Public() crypto.PublicKey { return l.Key.Public() }

// KeyHash returns the note key hash of the log's checkpoints.
func (l *Log) KeyHash() uint32 { return ctleaf.KeyHash(l.Origin, l.LogID) }

// sign makes a TLS DigitallySigned over data.
func (l *Log) sign(data []byte) (ct.DigitallySigned, error) {
	ds, err := cttls.CreateSignature(*l.Key, cttls.SHA256, data) // ct-go takes the key by value
	if err != nil {
		return ct.DigitallySigned{}, fmt.Errorf("signing: %w", err)
	}
	return ct.DigitallySigned(ds), nil
}

// AddChain logs chain (DER: the certificate or precertificate, then its
// issuers) as add-chain or add-pre-chain would at timestamp ts (Unix
// milliseconds), and returns the entry's index and its SCT.
func (l *Log) AddChain(chain [][]byte, precert bool, ts uint64) (uint64, *ct.SignedCertificateTimestamp, error) {
	if len(chain) == 0 {
		return 0, nil, errors.New("empty chain")
	}
	raw := make([]ct.ASN1Cert, len(chain))
	for i, c := range chain {
		raw[i] = ct.ASN1Cert{Data: c}
	}
	typ := ct.X509LogEntryType
	var extra any = ct.CertificateChain{Entries: raw[1:]}
	if precert {
		typ = ct.PrecertLogEntryType
		extra = ct.PrecertChainEntry{PreCertificate: raw[0], CertificateChain: raw[1:]}
	}
	leaf, err := ct.MerkleTreeLeafFromRawChain(raw, typ, ts)
	if err != nil {
		return 0, nil, fmt.Errorf("building leaf: %w", err)
	}
	sct := &ct.SignedCertificateTimestamp{SCTVersion: ct.V1, LogID: ct.LogID{KeyID: l.LogID}, Timestamp: ts}
	input, err := ct.SerializeSCTSignatureInput(*sct, ct.LogEntry{Leaf: *leaf})
	if err != nil {
		return 0, nil, fmt.Errorf("serializing SCT input: %w", err)
	}
	if sct.Signature, err = l.sign(input); err != nil {
		return 0, nil, err
	}
	leafBytes, err := cttls.Marshal(*leaf)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding leaf: %w", err)
	}
	extraBytes, err := cttls.Marshal(extra)
	if err != nil {
		return 0, nil, fmt.Errorf("encoding extra data: %w", err)
	}
	return l.Append(leafBytes, extraBytes), sct, nil
}

// Append adds a leaf and its extra data as they are, valid or not, and
// returns its index.
func (l *Log) Append(leaf, extra []byte) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leaves = append(l.leaves, leaf)
	l.extra = append(l.extra, extra)
	l.tree.AppendData(leaf)
	return uint64(len(l.leaves) - 1)
}

// Size returns the number of entries.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.leaves))
}

// Entry returns entry i: its MerkleTreeLeaf and extra data.
func (l *Log) Entry(i uint64) (leaf, extra []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.leaves[i], l.extra[i]
}

// LeafHash returns the leaf hash of entry i.
func (l *Log) LeafHash(i uint64) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.LeafHash(i)
}

// Root returns the root hash of the first size entries.
func (l *Log) Root(size uint64) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.HashAt(size)
}

// InclusionProof returns the audit path of entry index in the tree of size
// entries.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.InclusionProof(index, size)
}

// ConsistencyProof returns the proof that the tree of size from is a prefix
// of the tree of size to.
func (l *Log) ConsistencyProof(from, to uint64) ([][]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.ConsistencyProof(from, to)
}

// STH returns the signed tree head of the first size entries at timestamp
// ts (Unix milliseconds), as get-sth serves it.
func (l *Log) STH(size, ts uint64) (*ct.GetSTHResponse, error) {
	if size > l.Size() {
		return nil, fmt.Errorf("tree size %d is over the log's %d", size, l.Size())
	}
	var root ct.SHA256Hash
	copy(root[:], l.Root(size))
	input, err := ct.SerializeSTHSignatureInput(ct.SignedTreeHead{Version: ct.V1, TreeSize: size, Timestamp: ts, SHA256RootHash: root})
	if err != nil {
		return nil, fmt.Errorf("serializing tree head: %w", err)
	}
	ds, err := l.sign(input)
	if err != nil {
		return nil, err
	}
	sig, err := cttls.Marshal(ds)
	if err != nil {
		return nil, fmt.Errorf("encoding tree head signature: %w", err)
	}
	return &ct.GetSTHResponse{TreeSize: size, Timestamp: ts, SHA256RootHash: root[:], TreeHeadSignature: sig}, nil
}

// STHJSON is STH as JSON.
func (l *Log) STHJSON(size, ts uint64) ([]byte, error) {
	sth, err := l.STH(size, ts)
	if err != nil {
		return nil, err
	}
	return json.Marshal(sth)
}

// Checkpoint returns the signed checkpoint (static-ct-api form) of the
// first size entries at timestamp ts.
func (l *Log) Checkpoint(size, ts uint64) ([]byte, error) {
	j, err := l.STHJSON(size, ts)
	if err != nil {
		return nil, err
	}
	return ctleaf.FromSTH(j, l.Origin, l.KeyHash())
}

// CA is a certificate authority issuing Fulcio-shaped code-signing
// certificates (an email or URI SAN, the OIDC issuer in extensions
// 1.3.6.1.4.1.57264.1.1 and .8) from a self-signed ECDSA P-256 root, each
// as a precertificate first and then as the final certificate with the
// SCT of the precertificate embedded, as Fulcio does.
type CA struct {
	Root *x509.Certificate
	key  *ecdsa.PrivateKey

	mu     sync.Mutex
	serial int64
}

// NewCA returns a CA with a fresh root.
func NewCA() (*CA, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"vigil-test"}, CommonName: "vigil-test-ct-root"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		return nil, fmt.Errorf("creating root: %w", err)
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Root: root, key: k, serial: now.UnixNano()}, nil
}

// Issued is what a CA issued for one signing: the precertificate, the
// final certificate with the SCT embedded, and where the log put the
// precertificate.
type Issued struct {
	// Precert and Final are DER certificates with the same
	// TBSCertificate but for the poison extension (Precert) and the SCT
	// list (Final).
	Precert, Final []byte
	// Issuer is the issuing CA certificate (DER): the root.
	Issuer []byte
	// SCT is the log's SCT for Precert, embedded in Final.
	SCT *ct.SignedCertificateTimestamp
	// Index is the precertificate's entry in the log.
	Index uint64
}

// OIDs of the Fulcio OIDC issuer extensions, and of the CT extensions.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuer   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
	oidPoison   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 3}
	oidSCTList  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}
)

// Issue issues a certificate for pub with subject alternative name san
// (a URI when it parses as one with a scheme, else an email address) and
// OIDC issuer oidcIssuer: it logs the precertificate in l at timestamp ts
// (Unix milliseconds) and embeds the SCT in the final certificate.
func (ca *CA) Issue(l *Log, pub crypto.PublicKey, san, oidcIssuer string, ts uint64) (*Issued, error) {
	issuerDER, err := asn1.MarshalWithParams(oidcIssuer, "utf8")
	if err != nil {
		return nil, err
	}
	ca.mu.Lock()
	ca.serial++
	serial := ca.serial
	ca.mu.Unlock()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(serial),
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       now.Add(10 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		AuthorityKeyId: ca.Root.SubjectKeyId,
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(oidcIssuer)},
			{Id: oidIssuer, Value: issuerDER},
		},
	}
	if u, err := url.Parse(san); err == nil && u.Scheme != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{san}
	}
	exts := tmpl.ExtraExtensions
	tmpl.ExtraExtensions = append(exts[:len(exts):len(exts)], pkix.Extension{Id: oidPoison, Critical: true, Value: []byte{0x05, 0x00}})
	pre, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Root, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("creating precertificate: %w", err)
	}
	index, sct, err := l.AddChain([][]byte{pre, ca.Root.Raw}, true, ts)
	if err != nil {
		return nil, fmt.Errorf("logging precertificate: %w", err)
	}
	list, err := x509util.MarshalSCTsIntoSCTList([]*ct.SignedCertificateTimestamp{sct})
	if err != nil {
		return nil, err
	}
	listTLS, err := cttls.Marshal(*list)
	if err != nil {
		return nil, err
	}
	listDER, err := asn1.Marshal(listTLS)
	if err != nil {
		return nil, err
	}
	tmpl.ExtraExtensions = append(exts[:len(exts):len(exts)], pkix.Extension{Id: oidSCTList, Value: listDER})
	final, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Root, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("creating certificate: %w", err)
	}
	return &Issued{Precert: pre, Final: final, Issuer: ca.Root.Raw, SCT: sct, Index: index}, nil
}

// NewKey returns a fresh ECDSA P-256 key for a certificate.
func NewKey() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// IssuerKeyHash returns the SHA-256 of the CA's SubjectPublicKeyInfo, as a
// precertificate leaf names its issuer.
func (ca *CA) IssuerKeyHash() [32]byte { return sha256.Sum256(ca.Root.RawSubjectPublicKeyInfo) }
