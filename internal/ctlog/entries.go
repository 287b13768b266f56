package ctlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/vigil-tlog/vigil/internal/ctleaf"
	"github.com/vigil-tlog/vigil/internal/tlog"
)

// job is one batch of entries: [first, first+n).
type job struct{ first, n uint64 }

// Entries calls fn for the entries [from, to) of the tree t in index order,
// fetching batches of 256 with bounded parallel get-entries requests. A
// batch the log answers in part is asked for again from where the answer
// ended; an answer over its limit (see tlog.EntriesOptions.Budget; never
// below the largest legitimate answer for one entry, maxEntry) is asked
// for again in halves, and a single entry over the limit is an error
// wrapping a *tlog.BodyTooLargeError. An answer with more entries than
// asked, with none, or that does not decode, is an error. Each entry's
// Data is its leaf_input, Extra its extra_data. It stops at the first
// error, from the log or from fn.
func (l *Log) Entries(ctx context.Context, t tlog.Tree, from, to uint64, opts tlog.EntriesOptions, fn func(tlog.Entry) error) error {
	if from >= to {
		return nil
	}
	if to > t.Size {
		return fmt.Errorf("entries %d to %d asked of a tree of size %d", from, to, t.Size)
	}
	limit, setting := opts.Limit(maxEntry)
	jobs := func(yield func(job) bool) {
		for first := from; first < to; first += batch {
			if !yield(job{first, min(batch, to-first)}) {
				return
			}
		}
	}
	fetch := func(ctx context.Context, j job, s *tlog.Slot) ([]tlog.Entry, error) {
		out, err := l.fetchBatch(ctx, s, limit, setting, j)
		if err != nil {
			return nil, err
		}
		s.Pass() // hash in parallel with the next jobs' reads
		for i := range out {
			out[i].LeafHash = rfc6962.DefaultHasher.HashLeaf(out[i].Data)
			out[i].Time, _ = ctleaf.LeafTime(out[i].Data)
		}
		return out, nil
	}
	// A batch is up to 256 entries: keep the lookahead at one per worker.
	return tlog.FetchOrdered(ctx, opts, opts.InFlight(), jobs, fetch, from, to, fn)
}

// fetchBatch reads the entries of j, asking again for what an answer
// left out and in halves for what was too large. Every answer yields at
// least one entry and every too-large answer halves the request, so a job
// makes at most j.n + log2(j.n) requests.
func (l *Log) fetchBatch(ctx context.Context, s *tlog.Slot, limit int64, setting string, j job) ([]tlog.Entry, error) {
	out := make([]tlog.Entry, 0, j.n)
	next, end, ask := j.first, j.first+j.n, j.n
	for next < end {
		n := min(ask, end-next)
		u := fmt.Sprintf("%sget-entries?start=%d&end=%d", l.base, next, next+n-1)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("building request for %s: %w", u, err)
		}
		req.Header.Set("Accept", "application/json")
		raw, err := tlog.FetchShared(ctx, l.c, req, s, limit, setting)
		if errors.Is(err, tlog.ErrBodyTooLarge) && n > 1 {
			ask = n / 2
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetching entries %d to %d: %w", next, next+n-1, err)
		}
		es, err := parseEntries(raw, next, n)
		if err != nil {
			return nil, fmt.Errorf("decoding entries %d to %d from %s: %w", next, next+n-1, u, err)
		}
		out = append(out, es...)
		next += uint64(len(es))
	}
	return out, nil
}

// parseEntries decodes a get-entries answer for the n entries from first:
// a JSON object whose "entries" array holds, for each entry from first on
// (at least one, at most n), an object with the base64 "leaf_input" and
// "extra_data". Other members are skipped. The base64 is decoded in place:
// the entries' Data and Extra share raw's array, and raw must not be used
// afterwards.
func parseEntries(raw []byte, first, n uint64) ([]tlog.Entry, error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw))
	if err := tlog.ReadDelim(dec, '{'); err != nil {
		return nil, err
	}
	var out []tlog.Entry
	seen := false
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, err
		}
		if tok.String() != "entries" {
			if err := dec.SkipValue(); err != nil {
				return nil, err
			}
			continue
		}
		if seen {
			return nil, errors.New(`"entries" appears twice`)
		}
		seen = true
		if err := tlog.ReadDelim(dec, '['); err != nil {
			return nil, err
		}
		for dec.PeekKind() != ']' {
			if uint64(len(out)) == n {
				return nil, fmt.Errorf("log returned more than the %d entries asked for", n)
			}
			idx := first + uint64(len(out))
			leaf, extra, err := parseLeafEntry(dec)
			if err != nil {
				return nil, fmt.Errorf("entry %d: %w", idx, err)
			}
			if out == nil {
				out = make([]tlog.Entry, 0, n)
			}
			out = append(out, tlog.Entry{Index: idx, LogIndex: idx, Data: leaf, Extra: extra})
		}
		if err := tlog.ReadDelim(dec, ']'); err != nil {
			return nil, err
		}
	}
	if err := tlog.ReadDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("log returned no entries (asked for %d)", n)
	}
	return out, nil
}

// parseLeafEntry reads one ct.LeafEntry object, keeping its base64-decoded
// leaf_input and extra_data (decoded in place, see parseEntries). A
// missing extra_data is nil.
func parseLeafEntry(dec *jsontext.Decoder) (leaf, extra []byte, err error) {
	if err := tlog.ReadDelim(dec, '{'); err != nil {
		return nil, nil, err
	}
	var hasLeaf, hasExtra bool
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, nil, err
		}
		name := tok.String()
		var dst *[]byte
		var has *bool
		switch name {
		case "leaf_input":
			dst, has = &leaf, &hasLeaf
		case "extra_data":
			dst, has = &extra, &hasExtra
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if *has {
			return nil, nil, fmt.Errorf("%s appears twice", name)
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, nil, err
		}
		if v.Kind() != '"' {
			return nil, nil, fmt.Errorf("%s is a JSON %s, want a base64 string", name, v.Kind())
		}
		if *dst, err = tlog.DecodeBase64String(v); err != nil {
			return nil, nil, fmt.Errorf("decoding %s: %w", name, err)
		}
		*has = true
	}
	if err := tlog.ReadDelim(dec, '}'); err != nil {
		return nil, nil, err
	}
	if !hasLeaf {
		return nil, nil, errors.New("no leaf_input")
	}
	return leaf, extra, nil
}
