// Package search answers "what did this identity sign" and "who signed
// this digest" from the index (package index), and proves every answer:
// each result carries an inclusion proof of its entry in the latest
// checkpoint the monitor verified for its log, so that a third party with
// the log's key can check it without trusting Vigil.
//
// [Service] runs queries; [Service.Handler] serves them as JSON:
//
//	GET /api/v1/search?subject=&issuer=&digest=&fingerprint=&extension.<oid>=&log=&since=&until=&limit=&cursor=
//	GET /api/v1/entries/{log}/{index}
//
// Parameters are parsed by [ParseQuery] into an index.Query; values only
// ever travel to the database as parameters.
package search

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigil-tlog/vigil/internal/index"
)

// ErrNoIndex is the answer of a [Service] without an index (index.disabled
// in the config).
var ErrNoIndex = errors.New("no index is configured (index.disabled is set): search and the entry view need it")

// Prover proves entries of the monitor's logs.
type Prover interface {
	// Prove returns the inclusion proof of the entry idx of log, whose
	// leaf hash is leaf, in the latest checkpoint the monitor verified for
	// the log, checked against that checkpoint's root.
	Prove(ctx context.Context, log string, idx uint64, leaf []byte) (*Proof, error)
	// Fetch returns the entry idx of log as the log serves it now, checked
	// against leaf, and the DER certificates of its signers.
	Fetch(ctx context.Context, log string, idx uint64, leaf []byte) (body []byte, certs [][]byte, err error)
}

// Service runs searches. Its methods are safe for concurrent use.
type Service struct {
	index  *index.Store // nil: ErrNoIndex
	prover Prover       // nil: results carry no proofs
	logger *slog.Logger
}

// New returns a service over ix (nil: every search is ErrNoIndex) that
// proves results with p (nil: no proofs).
func New(ix *index.Store, p Prover, logger *slog.Logger) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Service{index: ix, prover: p, logger: logger}
}

// proofTimeout bounds one result's proof; proofParallel the proofs of a
// page fetched at once.
const (
	proofTimeout  = 10 * time.Second
	proofParallel = 8
)

// Search runs q and proves its results. A malformed query is an
// *index.QueryError.
func (s *Service) Search(ctx context.Context, q index.Query) (*Response, error) {
	if s.index == nil {
		return nil, ErrNoIndex
	}
	page, err := s.index.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	resp := &Response{Results: make([]Result, len(page.Results)), Next: page.Next}
	for i, r := range page.Results {
		resp.Results[i] = resultOf(r)
	}
	s.prove(ctx, page.Results, resp.Results)
	return resp, nil
}

// Entry returns the indexed entry idx of log, fetched again from the log
// and proven. An entry the index does not hold is os.ErrNotExist.
func (s *Service) Entry(ctx context.Context, log string, idx uint64) (*Entry, error) {
	if s.index == nil {
		return nil, ErrNoIndex
	}
	rec, err := s.index.Entry(ctx, log, idx)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("entry %d of log %q is not in the index: %w", idx, log, errNotExist)
	}
	rs := []Result{resultOf(*rec)}
	s.prove(ctx, []index.Record{*rec}, rs)
	e := &Entry{Result: rs[0]}
	if s.prover != nil {
		fctx, cancel := context.WithTimeout(ctx, proofTimeout)
		defer cancel()
		e.Body, e.Certificates, err = s.prover.Fetch(fctx, log, idx, rec.LeafHash)
		if err != nil {
			e.FetchError = err.Error()
		}
	}
	return e, nil
}

// prove fills the proofs of rs (the results of recs), at most
// proofParallel at once, each bounded by proofTimeout. A proof that fails
// leaves its error in the result: the rest of the answer stands.
func (s *Service) prove(ctx context.Context, recs []index.Record, rs []Result) {
	if s.prover == nil {
		for i := range rs {
			rs[i].ProofError = "inclusion proofs are turned off (api.proofs: false)"
		}
		return
	}
	sem := make(chan struct{}, proofParallel)
	var wg sync.WaitGroup
	for i := range recs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			pctx, cancel := context.WithTimeout(ctx, proofTimeout)
			defer cancel()
			p, err := s.prover.Prove(pctx, recs[i].Log, recs[i].Index, recs[i].LeafHash)
			if err != nil {
				rs[i].ProofError = err.Error()
				s.logger.DebugContext(ctx, "no inclusion proof for a search result", "log", recs[i].Log, "index", recs[i].Index, "err", err)
				return
			}
			rs[i].Proof = p
		}()
	}
	wg.Wait()
}

var errNotExist = os.ErrNotExist

func hexOf(b []byte) string { return hex.EncodeToString(b) }

// Search parameters, as the search page and the JSON API take them.
const (
	ParamSubject     = "subject"
	ParamIssuer      = "issuer"
	ParamDigest      = "digest"
	ParamFingerprint = "fingerprint"
	ParamLog         = "log"
	ParamSince       = "since"
	ParamUntil       = "until"
	ParamCursor      = "cursor"
	ParamLimit       = "limit"
	// ParamExtension prefixes a Fulcio extension's dotted OID:
	// extension.1.3.6.1.4.1.57264.1.12=https://github.com/acme/app.
	ParamExtension = "extension."
)

// ParseQuery returns the index query that the URL parameters v describe:
//
//	subject, issuer, digest, fingerprint, log   exact values (see index.Query)
//	extension.<oid>                             a Fulcio extension's value, by dotted OID; any number of them
//	since, until                                RFC 3339 ("2024-05-01T12:00:00Z"), or a date ("2024-05-01",
//	                                            UTC): since from the start of that day, until to its end
//	                                            (entries of the until day included)
//	cursor                                      the next-page cursor of the previous page
//	limit                                       page size, 1 to index.MaxLimit (default index.DefaultLimit)
//
// Leading and trailing spaces are trimmed, and empty values are ignored
// (an HTML form sends its empty fields). Each parameter may appear once.
// ParseQuery does no I/O. A parameter it does not know, a repeated one or
// a malformed value is an error: an *index.QueryError whose Field names the
// parameter. It does not check what the index checks when it runs the
// query (the form of digests and fingerprints, the cursor).
func ParseQuery(v url.Values) (index.Query, error) {
	var q index.Query
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := v[k]
		if len(vals) > 1 {
			return index.Query{}, &index.QueryError{Field: k, Value: strings.Join(vals, ","), Reason: "given more than once"}
		}
		val := ""
		if len(vals) == 1 {
			val = strings.TrimSpace(vals[0])
		}
		known := true
		switch k {
		case ParamSubject:
			q.Subject = val
		case ParamIssuer:
			q.Issuer = val
		case ParamDigest:
			q.Digest = val
		case ParamFingerprint:
			q.Fingerprint = val
		case ParamLog:
			q.Log = val
		case ParamCursor:
			q.Cursor = val
		case ParamSince, ParamUntil, ParamLimit:
			// Parsed below, once the key is known to be single.
		default:
			oid, ok := strings.CutPrefix(k, ParamExtension)
			if !ok {
				known = false
				break
			}
			if !ValidOID(oid) {
				return index.Query{}, &index.QueryError{Field: k, Value: val, Reason: "want a dotted OID after extension., e.g. extension.1.3.6.1.4.1.57264.1.12"}
			}
			if val != "" {
				if q.Extensions == nil {
					q.Extensions = make(map[string]string)
				}
				q.Extensions[oid] = val
			}
		}
		if !known {
			return index.Query{}, &index.QueryError{Field: k, Value: val, Reason: "unknown parameter (want subject, issuer, digest, fingerprint, log, since, until, extension.<oid>, cursor or limit)"}
		}
		if val == "" {
			continue
		}
		switch k {
		case ParamSince:
			t, err := parseTime(k, val, false)
			if err != nil {
				return index.Query{}, err
			}
			q.Since = t
		case ParamUntil:
			t, err := parseTime(k, val, true)
			if err != nil {
				return index.Query{}, err
			}
			q.Until = t
		case ParamLimit:
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 || n > index.MaxLimit {
				return index.Query{}, &index.QueryError{Field: k, Value: val, Reason: fmt.Sprintf("want a whole number from 1 to %d", index.MaxLimit)}
			}
			q.Limit = n
		}
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since) {
		return index.Query{}, &index.QueryError{Field: ParamUntil, Value: v.Get(ParamUntil), Reason: "not after since"}
	}
	return q, nil
}

// parseTime parses the since or until parameter: RFC 3339, or a date
// (UTC), which means the start of the day, or for until (end) the start of
// the next.
func parseTime(field, s string, end bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, &index.QueryError{Field: field, Value: s, Reason: "want RFC 3339 (2024-05-01T12:00:00Z) or a date (2024-05-01)"}
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// ValidOID reports whether s is a dotted decimal OID of at least two
// arcs.
func ValidOID(s string) bool {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 {
		return false
	}
	for _, a := range arcs {
		if a == "" || len(a) > 1 && a[0] == '0' || len(a) > 40 {
			return false
		}
		for _, c := range a {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
