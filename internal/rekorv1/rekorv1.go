// Package rekorv1 reads a Rekor v1 log (rekor-server on Trillian) through
// its REST API, as the tlog.Log that the monitor checks: the signed tree
// head with the API's claims and inactive shards, consistency proofs,
// entries (retrieved ten at a time) and, for a scan that starts mid-tree,
// the compact range taken from an entry's inclusion proof. Rekor v1 serves
// inclusion proofs at its current tree size only: a proof at an earlier
// size is derived from one and a consistency proof (see
// [Log.InclusionProof]).
//
// Rekor v1 signs its checkpoints as its hostname (--rekor_server.hostname,
// by default the machine's, so a pod's name in Kubernetes): a signature
// counts by key hint and key whatever name it carries, and the tree ID in
// the origin must match (see checkpoint.ParseRekorV1).
package rekorv1

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sigstore/rekor/pkg/generated/models"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// maxJSON bounds the Rekor v1 log-info and proof responses.
const maxJSON = 1 << 20

// maxV1Entry is the largest answer for one Rekor v1 entry: a leaf under
// Trillian's default 4 MiB gRPC message limit, base64-encoded (4/3), an
// attestation of up to rekor-server's default max_attestation_size (100
// KiB, base64) and the verification (inclusion proof, signed entry
// timestamp), rounded up. A per-response limit never goes below it.
const maxV1Entry = 6 << 20

// Log reads a Rekor v1 log through its REST API:
//
//	GET /api/v1/log                                         -> models.LogInfo
//	GET /api/v1/log/proof?firstSize=F&lastSize=L&treeID=T   -> models.ConsistencyProof
//	POST /api/v1/log/entries/retrieve {"logIndexes":[...]}  -> []models.LogEntry
//	GET /api/v1/log/entries?logIndex=I                      -> models.LogEntry (with its inclusion proof)
//
// A Log is safe for concurrent use.
type Log struct {
	base   string // without trailing slash
	c      *http.Client
	origin string // configured hostname, for verifiers
}

var (
	_ tlog.Log       = (*Log)(nil)
	_ tlog.Explainer = (*Log)(nil)
	_ tlog.Renamer   = (*Log)(nil)
)

// New returns a reader for the Rekor v1 log at o.URL (e.g.
// https://rekor.example.com).
func New(o tlog.Options) (*Log, error) {
	if _, err := o.BaseURL("rekor v1"); err != nil {
		return nil, err
	}
	return &Log{base: strings.TrimSuffix(o.URL, "/"), c: o.Client, origin: o.Origin}, nil
}

// Open is New as a tlog.Open, for the monitor's table of kinds.
func Open(o tlog.Options) (tlog.Log, error) {
	l, err := New(o)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Head fetches GET /api/v1/log.
func (l *Log) Head(ctx context.Context) (*tlog.Head, error) {
	u := l.base + "/api/v1/log"
	body, err := tlog.Get(ctx, l.c, u, maxJSON)
	if err != nil {
		return nil, err
	}
	head, err := parseLogInfo(body)
	if err != nil {
		return nil, fmt.Errorf("decoding log info from %s: %w", u, err)
	}
	return head, nil
}

// parseLogInfo decodes a GET /api/v1/log answer (models.LogInfo).
func parseLogInfo(body []byte) (*tlog.Head, error) {
	var info models.LogInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, err
	}
	h, err := decodeV1Tree(info.TreeID, info.SignedTreeHead, info.TreeSize, info.RootHash)
	if err != nil {
		return nil, err
	}
	head := &tlog.Head{Note: h.Note, TreeID: h.TreeID, Size: h.Size, Root: h.Root, HasClaims: true}
	for i, s := range info.InactiveShards {
		if s == nil {
			return nil, fmt.Errorf("inactiveShards[%d] is null", i)
		}
		sh, err := decodeV1Tree(s.TreeID, s.SignedTreeHead, s.TreeSize, s.RootHash)
		if err != nil {
			return nil, fmt.Errorf("inactiveShards[%d]: %w", i, err)
		}
		head.Inactive = append(head.Inactive, *sh)
	}
	return head, nil
}

func decodeV1Tree(treeID, sth *string, size *int64, root *string) (*tlog.Shard, error) {
	switch {
	case treeID == nil || *treeID == "":
		return nil, errors.New("missing treeID")
	case sth == nil || *sth == "":
		return nil, errors.New("missing signedTreeHead")
	case size == nil || *size < 0:
		return nil, errors.New("missing or negative treeSize")
	case root == nil:
		return nil, errors.New("missing rootHash")
	}
	if _, err := strconv.ParseInt(*treeID, 10, 64); err != nil {
		return nil, fmt.Errorf("treeID %q is not a number", *treeID)
	}
	r, err := hex.DecodeString(*root)
	if err != nil {
		return nil, fmt.Errorf("rootHash is not hex: %w", err)
	}
	return &tlog.Shard{TreeID: *treeID, Note: []byte(*sth), Size: uint64(*size), Root: r}, nil
}

// ConsistencyProof fetches the proof that tree treeID at size from is a
// prefix of the same tree at size to. It returns an empty proof when from is 0
// or equals to, without asking the log (Rekor rejects firstSize=0).
func (l *Log) ConsistencyProof(ctx context.Context, treeID string, from, to uint64) ([][]byte, error) {
	if from == 0 || from == to {
		return nil, nil
	}
	q := url.Values{}
	q.Set("firstSize", strconv.FormatUint(from, 10))
	q.Set("lastSize", strconv.FormatUint(to, 10))
	if treeID != "" {
		q.Set("treeID", treeID)
	}
	u := l.base + "/api/v1/log/proof?" + q.Encode()
	body, err := tlog.Get(ctx, l.c, u, maxJSON)
	if err != nil {
		return nil, err
	}
	var p models.ConsistencyProof
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decoding consistency proof from %s: %w", u, err)
	}
	out := make([][]byte, len(p.Hashes))
	for i, h := range p.Hashes {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("decoding consistency proof from %s: hashes[%d] %q is not a hex SHA-256", u, i, h)
		}
		out[i] = b
	}
	return out, nil
}
