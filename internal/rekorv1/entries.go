package rekorv1

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/tlog"
)

// maxRetrieve is the number of entries one Rekor v1 retrieve request may ask
// for (rekor-server's limit).
const maxRetrieve = 10

// Entries calls fn for the entries [from, to) of Rekor v1 tree t in index
// order, fetching them with bounded parallel POST
// /api/v1/log/entries/retrieve requests of 10 log indexes each, at the
// virtual log indexes t.Offset+i. An answer over its limit (see
// tlog.EntriesOptions.Budget) is asked for again entry by entry (the limit
// always allows the largest legitimate entry); a single entry over the
// limit is an error wrapping a *tlog.BodyTooLargeError. It stops at the
// first error, from the log or from fn.
func (l *Log) Entries(ctx context.Context, t tlog.Tree, from, to uint64, opts tlog.EntriesOptions, fn func(tlog.Entry) error) error {
	offset := t.Offset
	limit, setting := opts.Limit(maxV1Entry)
	workers := opts.InFlight()
	batches := func(yield func(uint64) bool) {
		for first := from; first < to; first += maxRetrieve {
			if !yield(first) {
				return
			}
		}
	}
	fetch := func(ctx context.Context, first uint64, s *tlog.Slot) ([]tlog.Entry, error) {
		var parts []retrieved
		if err := l.retrieve(ctx, s, limit, setting, offset, first, int(min(maxRetrieve, to-first)), &parts); err != nil {
			return nil, err
		}
		s.Pass() // decode in parallel with the next jobs' reads
		var out []tlog.Entry
		for _, p := range parts {
			es, err := parseRetrieve(p.body, offset, p.first, p.n)
			if err != nil {
				return nil, fmt.Errorf("decoding entries %d+%d from %s: %w", offset+p.first, p.n, l.base+retrievePath, err)
			}
			out = append(out, es...)
		}
		return out, nil
	}
	// A retrieve answer is 10 entries: let finished ones queue up deep
	// behind a slow one, so that a slow request does not stall the others.
	return tlog.FetchOrdered(ctx, opts, v1Lookahead*workers, batches, fetch, from, to, fn)
}

// v1Lookahead is how many retrieve requests per worker may be started
// ahead of the oldest unfinished one.
const v1Lookahead = 4

const retrievePath = "/api/v1/log/entries/retrieve"

// retrieved is the raw answer for n entries from first.
type retrieved struct {
	first uint64
	n     int
	body  []byte
}

// retrieve fetches the answers for n entries of the tree from index first,
// asking for each entry alone when the answer is over limit, and appends
// them to out.
func (l *Log) retrieve(ctx context.Context, s *tlog.Slot, limit int64, setting string, offset, first uint64, n int, out *[]retrieved) error {
	q := models.SearchLogQuery{LogIndexes: make([]*int64, n)}
	for i := range n {
		v := int64(offset + first + uint64(i))
		q.LogIndexes[i] = &v
	}
	body, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("encoding retrieve query: %w", err)
	}
	u := l.base + retrievePath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request for %s: %w", u, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	raw, err := tlog.FetchShared(ctx, l.c, req, s, limit, setting)
	if errors.Is(err, tlog.ErrBodyTooLarge) && n > 1 {
		// Ask for each entry alone: the limit allows the largest one.
		for i := range n {
			if err := l.retrieve(ctx, s, limit, setting, offset, first+uint64(i), 1, out); err != nil {
				return err
			}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("retrieving entries %d+%d: %w", offset+first, n, err)
	}
	*out = append(*out, retrieved{first: first, n: n, body: raw})
	return nil
}

// parseRetrieve decodes a Rekor v1 retrieve answer (a JSON array of
// models.LogEntry: objects mapping each entry's UUID to its body,
// logIndex, verification, ...) that must hold exactly the entries of log
// indexes offset+first to offset+first+n-1, each once. Only body and
// logIndex are read. Bodies are base64-decoded in place: the entries'
// Data share raw's array, and raw must not be used afterwards.
func parseRetrieve(raw []byte, offset, first uint64, n int) ([]tlog.Entry, error) {
	if n <= 0 {
		return nil, fmt.Errorf("asked for %d entries", n)
	}
	lo := offset + first
	out := make([]tlog.Entry, n)
	found := make([]bool, n)
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw))
	if err := tlog.ReadDelim(dec, '['); err != nil {
		return nil, err
	}
	for dec.PeekKind() != ']' {
		if err := tlog.ReadDelim(dec, '{'); err != nil {
			return nil, err
		}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			uuid := tok.String()
			idx, data, at, err := parseV1Entry(dec)
			if err != nil {
				return nil, fmt.Errorf("entry %q: %w", uuid, err)
			}
			if idx < lo || idx-lo >= uint64(n) {
				return nil, fmt.Errorf("log returned entry %q with log index %d, want %d to %d", uuid, idx, lo, lo+uint64(n)-1)
			}
			i := idx - lo
			if found[i] {
				return nil, fmt.Errorf("log returned log index %d twice", idx)
			}
			found[i] = true
			out[i] = tlog.Entry{Index: first + i, LogIndex: idx, UUID: uuid, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data), Time: at}
		}
		if err := tlog.ReadDelim(dec, '}'); err != nil {
			return nil, err
		}
	}
	if err := tlog.ReadDelim(dec, ']'); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, fmt.Errorf("data after the JSON array")
	}
	for i, ok := range found {
		if !ok {
			return nil, fmt.Errorf("log did not return entry %d", lo+uint64(i))
		}
	}
	return out, nil
}

// parseV1Entry reads one models.LogEntryAnon object, keeping its logIndex,
// base64-decoded body (decoded in place, see parseRetrieve) and
// integratedTime (the zero Time when absent).
func parseV1Entry(dec *jsontext.Decoder) (uint64, []byte, time.Time, error) {
	if err := tlog.ReadDelim(dec, '{'); err != nil {
		return 0, nil, time.Time{}, err
	}
	var (
		idx          uint64
		data         []byte
		at           time.Time
		hasIdx, body bool
	)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return 0, nil, time.Time{}, err
		}
		switch tok.String() {
		case "logIndex":
			v, err := dec.ReadValue()
			if err != nil {
				return 0, nil, time.Time{}, err
			}
			if v.Kind() != '0' {
				return 0, nil, time.Time{}, fmt.Errorf("logIndex is a JSON %s, want a number", v.Kind())
			}
			if idx, err = strconv.ParseUint(string(v), 10, 63); err != nil {
				return 0, nil, time.Time{}, fmt.Errorf("logIndex %s is not an index", v)
			}
			hasIdx = true
		case "integratedTime":
			v, err := dec.ReadValue()
			if err != nil {
				return 0, nil, time.Time{}, err
			}
			if at, err = parseIntegratedTime(v); err != nil {
				return 0, nil, time.Time{}, err
			}
		case "body":
			v, err := dec.ReadValue()
			if err != nil {
				return 0, nil, time.Time{}, err
			}
			if v.Kind() != '"' {
				return 0, nil, time.Time{}, fmt.Errorf("body is a JSON %s, want a base64 string", v.Kind())
			}
			if data, err = tlog.DecodeBase64String(v); err != nil {
				return 0, nil, time.Time{}, fmt.Errorf("decoding body: %w", err)
			}
			body = true
		default:
			if err := dec.SkipValue(); err != nil {
				return 0, nil, time.Time{}, err
			}
		}
	}
	if err := tlog.ReadDelim(dec, '}'); err != nil {
		return 0, nil, time.Time{}, err
	}
	switch {
	case !hasIdx:
		return 0, nil, time.Time{}, errors.New("no logIndex")
	case !body:
		return 0, nil, time.Time{}, errors.New("no body")
	}
	return idx, data, at, nil
}

// parseIntegratedTime decodes an entry's integratedTime: Unix seconds, as
// a JSON integer (models.LogEntryAnon's int64).
func parseIntegratedTime(v jsontext.Value) (time.Time, error) {
	if v.Kind() != '0' {
		return time.Time{}, fmt.Errorf("integratedTime is a JSON %s, want a number", v.Kind())
	}
	sec, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("integratedTime %s is not a time in Unix seconds", v)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// EntryAndProof returns the entry at index of the tree whose first virtual
// log index is offset (GET /api/v1/log/entries?logIndex=offset+index), with
// the inclusion proof the log serves with it: for the tree size the log
// has when asked, treeSize. An entry the log does not hold is an error
// wrapping os.ErrNotExist (HTTP 404).
func (l *Log) EntryAndProof(ctx context.Context, offset, index uint64) (e tlog.Entry, proof [][]byte, treeSize uint64, err error) {
	u := fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", l.base, offset+index)
	raw, err := tlog.Get(ctx, l.c, u, maxV1Entry)
	if err != nil {
		return tlog.Entry{}, nil, 0, err
	}
	var m models.LogEntry
	if err := json.Unmarshal(raw, &m); err != nil {
		return tlog.Entry{}, nil, 0, fmt.Errorf("decoding %s: %w", u, err)
	}
	for uuid, le := range m {
		if le.LogIndex == nil || uint64(*le.LogIndex) != offset+index {
			return tlog.Entry{}, nil, 0, fmt.Errorf("%s: log returned entry %s with log index %s", u, uuid, formatIndex(le.LogIndex))
		}
		b64, ok := le.Body.(string)
		if !ok {
			return tlog.Entry{}, nil, 0, fmt.Errorf("%s: body is %T, want base64 string", u, le.Body)
		}
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return tlog.Entry{}, nil, 0, fmt.Errorf("%s: decoding body: %w", u, err)
		}
		v := le.Verification
		if v == nil || v.InclusionProof == nil || v.InclusionProof.TreeSize == nil || v.InclusionProof.LogIndex == nil {
			return tlog.Entry{}, nil, 0, fmt.Errorf("%s: entry has no inclusion proof", u)
		}
		p := v.InclusionProof
		if uint64(*p.LogIndex) != index {
			return tlog.Entry{}, nil, 0, fmt.Errorf("%s: inclusion proof is for index %d, want %d", u, *p.LogIndex, index)
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			if hashes[i], err = hex.DecodeString(h); err != nil || len(hashes[i]) != 32 {
				return tlog.Entry{}, nil, 0, fmt.Errorf("%s: inclusion proof hash %d is not a hex SHA-256", u, i)
			}
		}
		var at time.Time
		if le.IntegratedTime != nil {
			at = time.Unix(*le.IntegratedTime, 0).UTC()
		}
		e := tlog.Entry{Index: index, LogIndex: offset + index, UUID: uuid, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data), Time: at}
		return e, hashes, uint64(*p.TreeSize), nil
	}
	return tlog.Entry{}, nil, 0, fmt.Errorf("%s: no entry in response", u)
}

// formatIndex formats an optional index of the API's models.
func formatIndex(p *int64) string {
	if p == nil {
		return "(none)"
	}
	return strconv.FormatInt(*p, 10)
}
