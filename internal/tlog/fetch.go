package rekor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
)

// Entry is one log entry as the log served it.
type Entry struct {
	// Index is the entry's index in its tree (for Rekor v1 shards: the index
	// in the shard's Trillian tree, not the log-wide virtual index).
	Index uint64
	// LogIndex is the index clients see: Rekor v1's virtual index (shard
	// offset + Index); Index for Rekor v2.
	LogIndex uint64
	// UUID is the Rekor v1 entry UUID; "" for v2.
	UUID string
	// Data is the leaf data: the Merkle leaf is RFC 6962 leaf hash of Data.
	// Rekor v1: the canonicalized entry body; Rekor v2: the entry bundle's
	// entry. It shares its array with the response it came in.
	Data []byte
	// LeafHash is the RFC 6962 leaf hash of Data, computed by the fetching
	// goroutine (so hashing runs in parallel with the in-order consumer).
	LeafHash []byte

	// hold is the budget share of the response Data is part of.
	hold *hold
	// last marks the last entry of its response.
	last bool
}

// LastOfResponse reports whether e is the last entry of the response it
// came in. A consumer that keeps entries (EntriesOptions.Retain) must not
// keep one past the last of its response while waiting for later entries:
// the next response may need the budget they hold.
func (e Entry) LastOfResponse() bool { return e.last }

// Release gives the entry's part of the memory budget back: once every
// entry of a response is released, the budget no longer counts the
// response. Call it once per entry handed to the fn of Entries with
// EntriesOptions.Retain, when done with Data (which stays valid). It does
// nothing for an entry that holds no share, and is safe to call from any
// goroutine.
func (e Entry) Release() {
	if e.hold != nil {
		e.hold.release()
	}
}

// EntriesOptions tunes entry fetching.
type EntriesOptions struct {
	// Workers is the number of requests in flight (default 16).
	Workers int
	// Budget bounds the bytes of responses held at once; it may be shared
	// by concurrent scans. Nil means a budget of DefaultMemoryBudget for
	// this call alone. Each response is limited to Budget.Size()/Workers
	// bytes, or to the largest answer a log may legitimately give if that
	// is more.
	Budget *Budget
	// Retain says that fn keeps entries after it returns: each then holds
	// its share of the budget until the caller calls its Release method,
	// which must not wait for later entries (see Entry.LastOfResponse).
	// Without Retain, an entry's share is released when fn returns.
	Retain bool
}

type entriesOpts struct {
	workers int
	budget  *Budget
	retain  bool
}

func (o EntriesOptions) resolve() entriesOpts {
	r := entriesOpts{workers: o.Workers, budget: o.Budget, retain: o.Retain}
	if r.workers <= 0 {
		r.workers = 16
	}
	if r.budget == nil {
		r.budget = NewBudget(DefaultMemoryBudget)
	}
	return r
}

// maxRetrieve is the number of entries one Rekor v1 retrieve request may ask
// for (rekor-server's limit).
const maxRetrieve = 10

// Entries calls fn for the entries [from, to) of Rekor v1 tree treeID in
// index order, fetching them with bounded parallel POST
// /api/v1/log/entries/retrieve requests of 10 log indexes each. offset is
// the tree's first virtual log index (the sizes of the shards before it).
// An answer over its limit (see EntriesOptions.Budget) is asked for again
// entry by entry (the limit always allows the largest legitimate entry); a
// single entry over the limit is an error wrapping a *BodyTooLargeError. It stops at the first error, from the log or from fn.
func (l *V1) Entries(ctx context.Context, offset, from, to uint64, opts EntriesOptions, fn func(Entry) error) error {
	o := opts.resolve()
	limit, setting := o.budget.limit(o.workers, maxV1Entry), o.budget.setting(o.workers, maxV1Entry)
	batches := func(yield func(uint64) bool) {
		for first := from; first < to; first += maxRetrieve {
			if !yield(first) {
				return
			}
		}
	}
	fetch := func(ctx context.Context, first uint64, s *slot) ([]Entry, error) {
		var parts []retrieved
		if err := l.retrieve(ctx, s, limit, setting, offset, first, int(min(maxRetrieve, to-first)), &parts); err != nil {
			return nil, err
		}
		s.pass() // decode in parallel with the next jobs' reads
		var out []Entry
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
	return fetchOrdered(ctx, o, v1Lookahead*o.workers, batches, fetch, from, to, fn)
}

// v1Lookahead is how many retrieve requests per worker may be started
// ahead of the oldest unfinished one.
const v1Lookahead = 4

// fetchOrdered runs fetch for each job with at most workers in flight and
// hands the results to fn in job order, checking that they are the entries
// [from, to) in sequence. At most depth (>= workers) jobs are started ahead
// of the one fn is waiting for: finished jobs behind a slow one wait in
// memory, and when depth of them do, no new job starts until the slow one
// finishes (head-of-line blocking). Each job gets a slot in line for the
// budget (see budget.go); what its slot holds when fetch returns becomes
// the share of the entries it returns. When it returns, every share but
// those of entries handed to fn is back in the budget.
func fetchOrdered[J any](ctx context.Context, o entriesOpts, depth int, jobs iter.Seq[J], fetch func(context.Context, J, *slot) ([]Entry, error), from, to uint64, fn func(Entry) error) error {
	type future struct {
		done chan struct{}
		out  []Entry
		err  error
	}
	release := func(es []Entry) {
		for _, e := range es {
			e.Release()
		}
	}
	// abandon releases a future's entries once it is done.
	abandon := func(f *future) { <-f.done; release(f.out) }
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan *future, max(depth, o.workers))
	go func() {
		defer close(queue)
		sem := make(chan struct{}, o.workers)
		turn := make(chan struct{})
		close(turn)
		for j := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			f := &future{done: make(chan struct{})}
			s := &slot{b: o.budget, turn: turn, next: make(chan struct{})}
			turn = s.next
			go func() {
				defer func() { <-sem; close(f.done) }()
				out, err := fetch(ctx, j, s)
				s.pass()
				if err != nil || len(out) == 0 {
					s.giveBack(s.held)
					f.err = err
					return
				}
				h := &hold{b: s.b, n: s.held}
				h.refs.Store(int64(len(out)))
				for i := range out {
					out[i].hold = h
				}
				out[len(out)-1].last = true
				f.out = out
			}()
			select {
			case queue <- f:
			case <-ctx.Done():
				abandon(f)
				return
			}
		}
	}()
	// stop cancels the jobs still running and releases what they fetched,
	// so that a scan that ends holds nothing of the budget (but what it
	// handed to fn).
	stop := func() {
		cancel()
		for f := range queue {
			abandon(f)
		}
	}
	next := from
	for f := range queue {
		select {
		case <-f.done:
		case <-ctx.Done():
			stop()
			abandon(f)
			return ctx.Err()
		}
		if f.err != nil {
			stop()
			return f.err
		}
		for i, e := range f.out {
			if e.Index != next {
				release(f.out[i:])
				stop()
				return fmt.Errorf("log served entry %d where %d was due", e.Index, next)
			}
			err := fn(e)
			if !o.retain {
				e.Release()
			}
			if err != nil {
				release(f.out[i+1:])
				stop()
				return err
			}
			next++
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if next != to {
		return fmt.Errorf("fetched entries %d to %d, want up to %d", from, next, to)
	}
	return nil
}

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
func (l *V1) retrieve(ctx context.Context, s *slot, limit int64, setting string, offset, first uint64, n int, out *[]retrieved) error {
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
	raw, err := fetchShared(ctx, l.c, req, s, limit, setting)
	if errors.Is(err, ErrBodyTooLarge) && n > 1 {
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
func parseRetrieve(raw []byte, offset, first uint64, n int) ([]Entry, error) {
	if n <= 0 {
		return nil, fmt.Errorf("asked for %d entries", n)
	}
	lo := offset + first
	out := make([]Entry, n)
	found := make([]bool, n)
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw))
	if err := readDelim(dec, '['); err != nil {
		return nil, err
	}
	for dec.PeekKind() != ']' {
		if err := readDelim(dec, '{'); err != nil {
			return nil, err
		}
		for dec.PeekKind() != '}' {
			tok, err := dec.ReadToken()
			if err != nil {
				return nil, err
			}
			uuid := tok.String()
			idx, data, err := parseV1Entry(dec)
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
			out[i] = Entry{Index: first + i, LogIndex: idx, UUID: uuid, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data)}
		}
		if err := readDelim(dec, '}'); err != nil {
			return nil, err
		}
	}
	if err := readDelim(dec, ']'); err != nil {
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

// readDelim reads the JSON delimiter want ('[', ']', '{' or '}').
func readDelim(dec *jsontext.Decoder, want jsontext.Kind) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != want {
		return fmt.Errorf("found a JSON %s where %s was due", tok.Kind(), want)
	}
	return nil
}

// parseV1Entry reads one models.LogEntryAnon object, keeping its logIndex
// and base64-decoded body (decoded in place, see parseRetrieve).
func parseV1Entry(dec *jsontext.Decoder) (uint64, []byte, error) {
	if err := readDelim(dec, '{'); err != nil {
		return 0, nil, err
	}
	var (
		idx          uint64
		data         []byte
		hasIdx, body bool
	)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return 0, nil, err
		}
		switch tok.String() {
		case "logIndex":
			v, err := dec.ReadValue()
			if err != nil {
				return 0, nil, err
			}
			if v.Kind() != '0' {
				return 0, nil, fmt.Errorf("logIndex is a JSON %s, want a number", v.Kind())
			}
			if idx, err = strconv.ParseUint(string(v), 10, 63); err != nil {
				return 0, nil, fmt.Errorf("logIndex %s is not an index", v)
			}
			hasIdx = true
		case "body":
			v, err := dec.ReadValue()
			if err != nil {
				return 0, nil, err
			}
			if v.Kind() != '"' {
				return 0, nil, fmt.Errorf("body is a JSON %s, want a base64 string", v.Kind())
			}
			if data, err = decodeBase64String(v); err != nil {
				return 0, nil, fmt.Errorf("decoding body: %w", err)
			}
			body = true
		default:
			if err := dec.SkipValue(); err != nil {
				return 0, nil, err
			}
		}
	}
	if err := readDelim(dec, '}'); err != nil {
		return 0, nil, err
	}
	switch {
	case !hasIdx:
		return 0, nil, errors.New("no logIndex")
	case !body:
		return 0, nil, errors.New("no body")
	}
	return idx, data, nil
}

// decodeBase64String decodes the standard base64 in the JSON string v (with
// its quotes), in place unless the string has escapes.
func decodeBase64String(v jsontext.Value) ([]byte, error) {
	src := v[1 : len(v)-1]
	if bytes.IndexByte(src, '\\') >= 0 {
		s, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return nil, err
		}
		return base64.StdEncoding.DecodeString(string(s))
	}
	// A JSON string holds no raw newlines (which base64 decoding would
	// skip), so standard base64 is whole quanta with '=' only at the end,
	// and can be decoded chunk by chunk, each chunk written over bytes
	// already read.
	if len(src)%4 != 0 || bytes.IndexByte(src[:max(len(src)-4, 0)], '=') >= 0 {
		return nil, errors.New("not standard base64")
	}
	var tmp [3 * 1024]byte
	w := 0
	for r := 0; r < len(src); r += 4096 {
		n, err := base64.StdEncoding.Decode(tmp[:], src[r:min(r+4096, len(src))])
		if err != nil {
			return nil, fmt.Errorf("not standard base64: %w", err)
		}
		w += copy(src[w:], tmp[:n])
	}
	return src[:w:w], nil
}

// InclusionProof returns the entry at index of the tree whose first virtual
// log index is offset, with the inclusion proof the log serves with it (for
// the tree size the log has when asked: treeSize).
func (l *V1) InclusionProof(ctx context.Context, offset, index uint64) (e Entry, proof [][]byte, treeSize uint64, err error) {
	u := fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", l.base, offset+index)
	raw, err := get(ctx, l.c, u, maxV1Entry)
	if err != nil {
		return Entry{}, nil, 0, err
	}
	var m models.LogEntry
	if err := json.Unmarshal(raw, &m); err != nil {
		return Entry{}, nil, 0, fmt.Errorf("decoding %s: %w", u, err)
	}
	for uuid, le := range m {
		if le.LogIndex == nil || uint64(*le.LogIndex) != offset+index {
			return Entry{}, nil, 0, fmt.Errorf("%s: log returned entry %s with log index %s", u, uuid, formatIndex(le.LogIndex))
		}
		b64, ok := le.Body.(string)
		if !ok {
			return Entry{}, nil, 0, fmt.Errorf("%s: body is %T, want base64 string", u, le.Body)
		}
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return Entry{}, nil, 0, fmt.Errorf("%s: decoding body: %w", u, err)
		}
		v := le.Verification
		if v == nil || v.InclusionProof == nil || v.InclusionProof.TreeSize == nil || v.InclusionProof.LogIndex == nil {
			return Entry{}, nil, 0, fmt.Errorf("%s: entry has no inclusion proof", u)
		}
		p := v.InclusionProof
		if uint64(*p.LogIndex) != index {
			return Entry{}, nil, 0, fmt.Errorf("%s: inclusion proof is for index %d, want %d", u, *p.LogIndex, index)
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			if hashes[i], err = hex.DecodeString(h); err != nil || len(hashes[i]) != 32 {
				return Entry{}, nil, 0, fmt.Errorf("%s: inclusion proof hash %d is not a hex SHA-256", u, i)
			}
		}
		return Entry{Index: index, LogIndex: offset + index, UUID: uuid, Data: data}, hashes, uint64(*p.TreeSize), nil
	}
	return Entry{}, nil, 0, fmt.Errorf("%s: no entry in response", u)
}

// formatIndex formats an optional index of the API's models.
func formatIndex(p *int64) string {
	if p == nil {
		return "(none)"
	}
	return strconv.FormatInt(*p, 10)
}

// Entries calls fn for the entries [from, to) of a tree of size treeSize in
// index order, fetching entry bundles (tile/entries/N[.p/W], ranges from
// tessera's layout package) with bounded parallelism. A bundle over its
// limit (see EntriesOptions.Budget; never below the largest bundle the
// tlog-tiles format allows) is an error wrapping a *BodyTooLargeError. It
// stops at the first error.
func (l *V2) Entries(ctx context.Context, treeSize, from, to uint64, opts EntriesOptions, fn func(Entry) error) error {
	if from >= to {
		return nil
	}
	o := opts.resolve()
	limit, setting := o.budget.limit(o.workers, maxBundle), o.budget.setting(o.workers, maxBundle)
	fetch := func(ctx context.Context, ri layout.RangeInfo, s *slot) ([]Entry, error) {
		raw, err := l.readBundle(ctx, s, ri.Index, ri.Partial, limit, setting)
		if err != nil {
			return nil, err
		}
		s.pass() // parse and hash in parallel with the next jobs' reads
		return parseBundle(raw, ri)
	}
	// A bundle is up to 256 entries: keep the lookahead at one per worker.
	return fetchOrdered(ctx, o, o.workers, layout.Range(from, to-from, treeSize), fetch, from, to, fn)
}

// parseBundle returns the entries ri covers of an entry bundle (C2SP
// tlog-tiles: each entry a big-endian uint16 length and its bytes, 256
// entries in a full bundle), slicing raw.
func parseBundle(raw []byte, ri layout.RangeInfo) ([]Entry, error) {
	first, n := uint64(ri.First), uint64(ri.N)
	if n == 0 || first+n > layout.EntryBundleWidth {
		return nil, fmt.Errorf("entry bundle %d: asked for %d entries from %d", ri.Index, n, first)
	}
	out := make([]Entry, 0, n)
	base := ri.Index * layout.EntryBundleWidth
	var count uint64
	for at := 0; at < len(raw); count++ {
		if count == layout.EntryBundleWidth {
			return nil, fmt.Errorf("entry bundle %d holds more than %d entries", ri.Index, layout.EntryBundleWidth)
		}
		if len(raw)-at < 2 {
			return nil, fmt.Errorf("entry bundle %d: dangling byte at %d", ri.Index, at)
		}
		size := int(binary.BigEndian.Uint16(raw[at:]))
		at += 2
		if len(raw)-at < size {
			return nil, fmt.Errorf("entry bundle %d: entry %d needs %d bytes at %d, the bundle has %d", ri.Index, count, size, at, len(raw))
		}
		if count >= first && count < first+n {
			data := raw[at : at+size : at+size]
			out = append(out, Entry{Index: base + count, LogIndex: base + count, Data: data, LeafHash: rfc6962.DefaultHasher.HashLeaf(data)})
		}
		at += size
	}
	if count < first+n {
		return nil, fmt.Errorf("entry bundle %d has %d entries, want at least %d", ri.Index, count, first+n)
	}
	return out, nil
}

// RangeNodes returns the compact range of the first size leaves, read from
// the log's tiles (tessera's FetchRangeNodes).
func (l *V2) RangeNodes(ctx context.Context, size uint64) ([][]byte, error) {
	nodes, err := client.FetchRangeNodes(ctx, size, l.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("fetching compact range of size %d from tiles: %w", size, err)
	}
	return nodes, nil
}
