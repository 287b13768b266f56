package search

import (
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
)

// Response is one page of search results, as GET /api/v1/search returns it.
type Response struct {
	// Results are newest first within a log (see package index).
	Results []Result `json:"results"`
	// Next is the cursor of the next page (the cursor parameter); empty on
	// the last page. A page may be short, even empty, with Next set: a
	// search reads a bounded number of candidates per call.
	Next string `json:"next,omitempty"`
}

// Result is one indexed entry, with the proof that it is in a checkpoint
// the monitor verified.
type Result struct {
	Log   string `json:"log"`
	Index uint64 `json:"index"`
	// Kind is "kind:apiVersion" (e.g. "hashedrekord:0.0.1") or a CT kind
	// ("ct:x509", "ct:precert").
	Kind    string   `json:"kind"`
	Digests []string `json:"digests,omitempty"`
	// LeafHash is the RFC 6962 leaf hash of the entry, hex.
	LeafHash string `json:"leaf_hash"`
	// Time is when the log took the entry in, if the log says (Rekor v1's
	// integrated time, a CT timestamp).
	Time       *time.Time `json:"time,omitempty"`
	Identities []Identity `json:"identities"`
	// Proof proves LeafHash part of the latest checkpoint the monitor
	// verified for Log, checked by the monitor before it answers; nil
	// when it could not be had, with ProofError saying why.
	Proof      *Proof `json:"inclusion_proof,omitempty"`
	ProofError string `json:"inclusion_proof_error,omitempty"`
}

// Identity is one signer of a result's entry.
type Identity struct {
	Subjects        []string          `json:"subjects,omitempty"`
	Issuer          string            `json:"issuer,omitempty"`
	Extensions      map[string]string `json:"extensions,omitempty"`
	CertFingerprint string            `json:"cert_fingerprint,omitempty"`
	KeyFingerprint  string            `json:"key_fingerprint,omitempty"`
}

// Proof is an RFC 6962 inclusion proof: with LeafHash it recomputes
// RootHash, the root of the signed Checkpoint. Anyone with the log's key
// can check it without trusting Vigil.
type Proof struct {
	// LeafIndex is the leaf's index in the tree the checkpoint signs: the
	// entry's index, less the shard's offset for a Rekor v1 shard.
	LeafIndex uint64 `json:"leaf_index"`
	TreeSize  uint64 `json:"tree_size"`
	// RootHash is hex.
	RootHash string `json:"root_hash"`
	// Hashes are the audit path, hex, from the leaf up.
	Hashes []string `json:"hashes"`
	// Checkpoint is the signed note the monitor verified, as the log
	// signed it.
	Checkpoint string `json:"checkpoint"`
}

// Entry is one entry as GET /api/v1/entries/{log}/{index} returns it: the
// indexed result and the entry itself, fetched again from the log and
// checked against the indexed leaf hash.
type Entry struct {
	Result
	// Body is the entry's leaf data as the log serves it (Rekor v1: the
	// canonicalized body; Rekor v2: the entry; CT: the MerkleTreeLeaf).
	Body []byte `json:"body"`
	// Certificates are the DER certificates of the entry's signers, the
	// signing certificate first for each signer that has one.
	Certificates [][]byte `json:"certificates,omitempty"`
	// FetchError says why Body could not be had from the log now; the
	// indexed fields stand.
	FetchError string `json:"fetch_error,omitempty"`
}

// resultOf is r without its proof.
func resultOf(r index.Record) Result {
	out := Result{Log: r.Log, Index: r.Index, Kind: r.Kind, Digests: r.Digests, LeafHash: hexOf(r.LeafHash)}
	if !r.Time.IsZero() {
		t := r.Time.UTC()
		out.Time = &t
	}
	out.Identities = make([]Identity, len(r.Identities))
	for i, id := range r.Identities {
		out.Identities[i] = Identity{Subjects: id.Subjects, Issuer: id.Issuer, Extensions: id.Extensions,
			CertFingerprint: id.CertFingerprint, KeyFingerprint: id.KeyFingerprint}
	}
	return out
}
