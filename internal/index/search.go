package index

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Query planning thresholds (variables for tests).
var (
	// mergeMax is the most principals whose postings one statement merges
	// (a UNION ALL of ordered, limited scans, one per principal).
	mergeMax = 64
	// sortMax is the most postings a statement sorts when a query's
	// principals are more than mergeMax. Above it the engine scans entries
	// in order instead: so many matches are likely dense.
	sortMax = 20000
	// maxBatch bounds the candidates one statement reads (the first reads
	// the page's limit, plus one).
	maxBatch = 2000
	// maxScan is MaxScan.
	maxScan = MaxScan
)

// Sources of candidate entries.
const (
	srcScan  = iota // the entries table
	srcHash         // the postings of one digest, fingerprint or volatile extension
	srcMerge        // the postings of up to mergeMax principals, merged
	srcSort         // the postings of many principals, sorted
	srcNone         // nothing can match
)

// plan is how a query reads its candidates.
type plan struct {
	src        int
	hash       int64
	principals []int64
	pset       map[int64]bool // principals, when the query has identity terms
	vols       []vol          // the query's volatile extensions
	log        int64          // 0: any
}

// candidate is an entry as a source returns it.
type candidate struct {
	p    pos
	kind int64
	ts   *int64
	leaf []byte
	data []byte
	d    *entryData
}

// Search returns a page of the records q selects, newest first (see the
// package documentation for the order and the cursor). A malformed query
// is a [*QueryError]. A query naming a log, subject, issuer or extension
// value the index has never seen matches nothing.
func (s *Store) Search(ctx context.Context, q Query) (Page, error) {
	n, err := normalizeQuery(&q)
	if err != nil {
		return Page{}, err
	}
	start := startPos
	if q.Cursor != "" {
		if start, err = decodeCursor(q.Cursor, n.tag); err != nil {
			return Page{}, err
		}
	}
	pl, err := s.plan(ctx, n)
	if err != nil {
		return Page{}, fmt.Errorf("index: planning a search: %w", err)
	}
	if pl.src == srcNone {
		return Page{}, nil
	}
	if pl.log != 0 {
		// A cursor of this query is in this log; clamp anything else.
		switch {
		case start.log > pl.log:
			start = pos{pl.log, math.MaxInt64}
		case start.log < pl.log:
			return Page{}, nil
		}
	}

	var (
		found   []*candidate
		scanned int
		at      = start
		batch   = n.limit + 1
		next    string
	)
scan:
	for {
		batch = min(batch, maxScan-scanned)
		cs, err := s.fetch(ctx, pl, n, at, batch)
		if err != nil {
			return Page{}, fmt.Errorf("index: searching: %w", err)
		}
		for _, c := range cs {
			if c.p == at {
				continue // the same entry again, through another of its signers' principals
			}
			scanned++
			at = c.p
			if c.d, err = decodeData(c.data); err != nil {
				return Page{}, fmt.Errorf("index: entry %d of log %d: %w", c.p.idx, c.p.log, err)
			}
			if !n.matches(c, &pl) {
				continue
			}
			found = append(found, c)
			if len(found) > n.limit {
				found = found[:n.limit]
				next = encodeCursor(found[n.limit-1].p, n.tag)
				break scan
			}
		}
		if len(cs) < batch {
			break // no more candidates
		}
		if scanned >= maxScan {
			next = encodeCursor(at, n.tag)
			break
		}
		batch = min(batch*4, maxBatch)
	}
	recs, err := s.records(ctx, found)
	if err != nil {
		return Page{}, err
	}
	return Page{Results: recs, Next: next}, nil
}

// matches checks a candidate against the whole query: sources only narrow
// by prefix, principal or position.
func (q *nq) matches(c *candidate, pl *plan) bool {
	if pl.log != 0 && c.p.log != pl.log {
		return false
	}
	if q.since != nil && (c.ts == nil || *c.ts < *q.since) {
		return false
	}
	if q.until != nil && (c.ts == nil || *c.ts >= *q.until) {
		return false
	}
	if q.digest != nil {
		ok := false
		for _, g := range c.d.digests {
			if (q.digest.code == 0 || q.digest.code == g.code) && bytes.Equal(g.raw, q.digest.raw) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if q.fingerprint == nil && pl.pset == nil && len(pl.vols) == 0 {
		return true
	}
	for _, s := range c.d.signers {
		if q.fingerprint != nil && !bytes.Equal(s.cert, q.fingerprint) && !bytes.Equal(s.key, q.fingerprint) {
			continue
		}
		if pl.pset != nil && !pl.pset[s.principal] {
			continue
		}
		if !hasVols(s.vols, pl.vols) {
			continue
		}
		return true
	}
	return false
}

// hasVols reports whether have holds every one of want.
func hasVols(have, want []vol) bool {
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h vol) bool { return h.attr == w.attr && bytes.Equal(h.value, w.value) }) {
			return false
		}
	}
	return true
}

// plan chooses where a query's candidates come from.
func (s *Store) plan(ctx context.Context, q *nq) (plan, error) {
	var pl plan
	if q.log != "" {
		id, ok, err := s.readName(ctx, nsLog, q.log)
		if err != nil || !ok {
			return plan{src: srcNone}, err
		}
		pl.log = id
	}
	for _, t := range q.vols {
		attr, ok, err := s.readName(ctx, nsAttr, t.attr)
		if err != nil || !ok {
			return plan{src: srcNone}, err
		}
		pl.vols = append(pl.vols, vol{attr, []byte(t.value)})
	}
	var total int64 // entries of the principals in pset
	if ts := q.identityTerms(); len(ts) > 0 {
		ids, n, err := s.principalsWith(ctx, ts)
		if err != nil || len(ids) == 0 {
			return plan{src: srcNone}, err
		}
		pl.pset = make(map[int64]bool, len(ids))
		for _, id := range ids {
			pl.pset[id] = true
		}
		pl.principals, total = ids, n
	}
	switch {
	case q.digest != nil:
		pl.src, pl.hash = srcHash, hashKey(q.digest.raw)
	case q.fingerprint != nil:
		pl.src, pl.hash = srcHash, hashKey(q.fingerprint)
	case len(pl.vols) > 0:
		pl.src, pl.hash = srcHash, volKey(pl.vols[0].attr, pl.vols[0].value)
	case pl.pset != nil && len(pl.principals) <= mergeMax:
		pl.src = srcMerge
	case pl.pset != nil && total <= int64(sortMax):
		pl.src = srcSort
	default:
		pl.src = srcScan
	}
	return pl, nil
}

// principalsWith returns the principals that hold every one of ts, and
// how many entries they have in all; none when a term is unknown. A common
// issuer may have thousands of principals: they come back as one array.
func (s *Store) principalsWith(ctx context.Context, ts []term) (ids []int64, total int64, err error) {
	var (
		q    strings.Builder
		args []any
	)
	q.WriteString("SELECT " + s.db.dialect.aggInts("id") + ", CAST(coalesce(sum(n), 0) AS bigint) FROM principals WHERE id IN (")
	for i, t := range ts {
		id, ok, err := s.readTerm(ctx, t)
		if err != nil || !ok {
			return nil, 0, err
		}
		if i > 0 {
			q.WriteString(" INTERSECT ")
		}
		q.WriteString("SELECT principal FROM principal_terms WHERE term = ?")
		args = append(args, id)
	}
	q.WriteString(")")
	agg := s.db.dialect.aggDest()
	if _, err := queryRow(ctx, s.db.read, q.String(), args, agg.dest(), &total); err != nil {
		return nil, 0, err
	}
	ids, err = agg.ints()
	return ids, total, err
}

const candidateCols = "e.log, e.idx, e.kind, e.ts, e.leaf, e.data"

// fetch reads up to n candidates strictly after at, in order.
func (s *Store) fetch(ctx context.Context, pl plan, q *nq, at pos, n int) ([]*candidate, error) {
	var (
		b    strings.Builder
		args []any
	)
	// where appends the position and time conditions on postings or
	// entries alias a.
	where := func(a string) {
		if pl.log != 0 {
			b.WriteString(a + ".log = ? AND " + a + ".idx < ?")
			args = append(args, pl.log, at.idx)
		} else {
			b.WriteString("(" + a + ".log, " + a + ".idx) < (?, ?)")
			args = append(args, at.log, at.idx)
		}
		if q.since != nil {
			b.WriteString(" AND e.ts >= ?")
			args = append(args, *q.since)
		}
		if q.until != nil {
			b.WriteString(" AND e.ts < ?")
			args = append(args, *q.until)
		}
	}
	// postings appends a scan of table t's postings for key condition
	// cond (with its arguments), in order. When the query filters on time
	// the postings are joined to their entries for the condition (SQLite
	// takes CROSS JOIN as "postings first"; PostgreSQL plans it as any
	// join); else they are positions only, index-only reads, and the
	// statement joins entries to the n positions it picks (wrap), not to
	// every one it merges or sorts.
	timed := q.since != nil || q.until != nil
	d := s.db.dialect
	cols := "p.log, p.idx"
	if timed {
		cols = candidateCols
	}
	postings := func(t postingTable, cond string, condArgs ...any) {
		if t.seg {
			segPostings(&b, &args, d, t, cond, condArgs, pl.log, at, timed, n, where)
			return
		}
		if timed {
			b.WriteString("SELECT " + cols + " FROM " + t.name + " p CROSS JOIN entries e WHERE e.log = p.log AND e.idx = p.idx AND p." + t.key + cond + " AND ")
		} else {
			b.WriteString("SELECT " + cols + " FROM " + t.name + " p WHERE p." + t.key + cond + " AND ")
		}
		args = append(args, condArgs...)
		where("p")
		b.WriteString(" ORDER BY p.log DESC, p.idx DESC LIMIT ?")
		args = append(args, n)
	}
	wrap := func(f func()) {
		if timed {
			f()
			return
		}
		b.WriteString("SELECT " + candidateCols + " FROM (")
		f()
		b.WriteString(") AS p CROSS JOIN entries e WHERE e.log = p.log AND e.idx = p.idx ORDER BY p.log DESC, p.idx DESC")
	}
	switch pl.src {
	case srcScan:
		b.WriteString("SELECT " + candidateCols + " FROM entries e WHERE ")
		where("e")
		b.WriteString(" ORDER BY e.log DESC, e.idx DESC LIMIT ?")
		args = append(args, n)
	case srcHash:
		wrap(func() { postings(hashPostings, " = ?", pl.hash) })
	case srcSort:
		wrap(func() { postings(principalPostings, " "+d.inInts(), d.intsArg(pl.principals)) })
	case srcMerge:
		if len(pl.principals) == 1 {
			wrap(func() { postings(principalPostings, " = ?", pl.principals[0]) })
			break
		}
		wrap(func() {
			for i, p := range pl.principals {
				if i > 0 {
					b.WriteString(" UNION ALL ")
				}
				b.WriteString("SELECT * FROM (")
				postings(principalPostings, " = ?", p)
				b.WriteString(") AS s" + strconv.Itoa(i))
			}
			b.WriteString(" ORDER BY log DESC, idx DESC LIMIT ?")
			args = append(args, n)
		})
	default:
		return nil, fmt.Errorf("bad plan source %d", pl.src)
	}
	rs, err := s.db.read.query(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var cs []*candidate
	for rs.Next() {
		c := &candidate{}
		if err := rs.Scan(&c.p.log, &c.p.idx, &c.kind, &c.ts, &c.leaf, &c.data); err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, rs.Err()
}

// segPostings appends a scan of the postings of segmented table t (see
// hashSegShift) for key condition cond, in order: segment by segment,
// newest first, as hash_segs lists them. In SQLite the segments drive a
// nested loop whose rows come in order and stop at the limit. PostgreSQL
// would sort every posting of the key in every segment (it scans the
// small hash_segs whole); a LATERAL limit per segment bounds that to n
// postings a segment.
func segPostings(b *strings.Builder, args *[]any, d dialect, t postingTable, cond string, condArgs []any, log int64, at pos, timed bool, n int, where func(string)) {
	cols := "p.log, p.idx"
	if timed {
		cols = candidateCols
	}
	bound := func() {
		if log != 0 {
			b.WriteString("s.log = ? AND s.seg <= ?")
			*args = append(*args, log, seg(at.idx))
		} else {
			b.WriteString("(s.log, s.seg) <= (?, ?)")
			*args = append(*args, at.log, seg(at.idx))
		}
	}
	from := t.name + " p"
	if timed {
		from += " CROSS JOIN entries e"
	}
	inner := func() {
		if timed {
			b.WriteString("e.log = p.log AND e.idx = p.idx AND ")
		}
		b.WriteString("p.log = s.log AND p.seg = s.seg AND p." + t.key + cond + " AND ")
		*args = append(*args, condArgs...)
		where("p")
	}
	if d == dialectPostgres {
		outer := "x.log, x.idx"
		if timed {
			outer = "x.log, x.idx, x.kind, x.ts, x.leaf, x.data"
		}
		b.WriteString("SELECT " + outer + " FROM hash_segs s CROSS JOIN LATERAL (SELECT " + cols + " FROM " + from + " WHERE ")
		inner()
		b.WriteString(" ORDER BY p.idx DESC LIMIT ?) AS x WHERE ")
		*args = append(*args, n)
		bound()
		b.WriteString(" ORDER BY s.log DESC, s.seg DESC, x.idx DESC LIMIT ?")
		*args = append(*args, n)
		return
	}
	b.WriteString("SELECT " + cols + " FROM hash_segs s CROSS JOIN " + from + " WHERE ")
	bound()
	b.WriteString(" AND ")
	inner()
	b.WriteString(" ORDER BY s.log DESC, s.seg DESC, p.idx DESC LIMIT ?")
	*args = append(*args, n)
}

// records turns candidates into records, loading the names and principals
// they refer to.
func (s *Store) records(ctx context.Context, cs []*candidate) ([]Record, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	var missing []int64
	for _, c := range cs {
		for _, sg := range c.d.signers {
			if sg.principal != 0 && !s.cache.idents.Contains(sg.principal) {
				missing = append(missing, sg.principal)
			}
		}
	}
	if err := s.loadPrincipals(ctx, missing); err != nil {
		return nil, fmt.Errorf("index: loading signers: %w", err)
	}
	recs := make([]Record, len(cs))
	for i, c := range cs {
		if err := s.record(ctx, c, &recs[i]); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (s *Store) record(ctx context.Context, c *candidate, r *Record) error {
	var err error
	if r.Log, err = s.nameOf(ctx, c.p.log); err != nil {
		return err
	}
	if r.Kind, err = s.nameOf(ctx, c.kind); err != nil {
		return err
	}
	r.Index = uint64(c.p.idx)
	r.LeafHash = c.leaf
	if c.ts != nil {
		r.Time = time.UnixMilli(*c.ts).UTC()
	}
	for _, g := range c.d.digests {
		r.Digests = append(r.Digests, g.String())
	}
	for _, sg := range c.d.signers {
		id := Identity{CertFingerprint: hexOrEmpty(sg.cert), KeyFingerprint: hexOrEmpty(sg.key)}
		for _, v := range sg.vols {
			oid, err := s.nameOf(ctx, v.attr)
			if err != nil {
				return err
			}
			if id.Extensions == nil {
				id.Extensions = map[string]string{}
			}
			id.Extensions[oid] = string(v.value)
		}
		if sg.principal != 0 {
			p, ok := s.cache.idents.Get(sg.principal)
			if !ok {
				if err := s.loadPrincipals(ctx, []int64{sg.principal}); err != nil {
					return fmt.Errorf("index: loading signers: %w", err)
				}
				if p, ok = s.cache.idents.Get(sg.principal); !ok {
					return fmt.Errorf("index: principal %d is missing", sg.principal)
				}
			}
			id.Subjects = append([]string(nil), p.subjects...)
			id.Issuer = p.issuer
			if p.exts != nil && id.Extensions == nil {
				id.Extensions = make(map[string]string, len(p.exts))
			}
			for k, v := range p.exts {
				id.Extensions[k] = v
			}
		}
		r.Identities = append(r.Identities, id)
	}
	return nil
}

func hexOrEmpty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// loadPrincipals reads principals ids into the cache.
func (s *Store) loadPrincipals(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	d := s.db.dialect
	rs, err := s.db.read.query(ctx, "SELECT id, terms FROM principals WHERE id "+d.inInts(), d.intsArg(ids))
	if err != nil {
		return err
	}
	blobs := map[int64][]int64{}
	var termIDs []int64
	for rs.Next() {
		var (
			id   int64
			blob []byte
		)
		if err := rs.Scan(&id, &blob); err != nil {
			rs.Close()
			return err
		}
		ts, err := decodeIDs(blob)
		if err != nil {
			rs.Close()
			return err
		}
		blobs[id] = ts
		termIDs = append(termIDs, ts...)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	type tv struct {
		attr  int64
		value []byte
	}
	terms := map[int64]tv{}
	rs, err = s.db.read.query(ctx, "SELECT id, attr, value FROM terms WHERE id "+d.inInts(), d.intsArg(termIDs))
	if err != nil {
		return err
	}
	for rs.Next() {
		var (
			id int64
			t  tv
		)
		if err := rs.Scan(&id, &t.attr, &t.value); err != nil {
			rs.Close()
			return err
		}
		terms[id] = t
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for id, ts := range blobs {
		p := &principal{}
		for _, tid := range ts {
			t, ok := terms[tid]
			if !ok {
				return fmt.Errorf("term %d of principal %d is missing", tid, id)
			}
			attr, err := s.nameOf(ctx, t.attr)
			if err != nil {
				return err
			}
			switch attr {
			case attrSubject:
				p.subjects = append(p.subjects, string(t.value))
			case attrIssuer:
				p.issuer = string(t.value)
			default:
				if p.exts == nil {
					p.exts = map[string]string{}
				}
				p.exts[attr] = string(t.value)
			}
		}
		s.cache.idents.Add(id, p)
	}
	return nil
}

// readName returns the id of a committed name.
func (s *Store) readName(ctx context.Context, ns int, name string) (int64, bool, error) {
	if id, ok := s.cache.name(ns, name); ok {
		return id, true, nil
	}
	id, ok, err := lookupKeyed(ctx, s.db.dialect, s.db.read, keyedNames, int64(ns), []byte(name))
	if err != nil || !ok {
		return 0, false, err
	}
	s.cache.putName(ns, name, id)
	return id, true, nil
}

// nameOf returns the name with id.
func (s *Store) nameOf(ctx context.Context, id int64) (string, error) {
	if name, ok := s.cache.nameOf(id); ok {
		return name, nil
	}
	var (
		ns   int
		name []byte
	)
	ok, err := queryRow(ctx, s.db.read, "SELECT ns, name FROM names WHERE id = ?", []any{id}, &ns, &name)
	if err != nil {
		return "", fmt.Errorf("index: reading name %d: %w", id, err)
	}
	if !ok {
		return "", fmt.Errorf("index: name %d is missing", id)
	}
	s.cache.putName(ns, string(name), id)
	return string(name), nil
}

// readTerm returns the id of a committed term.
func (s *Store) readTerm(ctx context.Context, t term) (int64, bool, error) {
	attr, ok, err := s.readName(ctx, nsAttr, t.attr)
	if err != nil || !ok {
		return 0, false, err
	}
	k := termID{attr, t.value}
	if id, ok := s.cache.terms.Get(k); ok {
		return id, true, nil
	}
	id, ok, err := lookupKeyed(ctx, s.db.dialect, s.db.read, keyedTerms, attr, []byte(t.value))
	if err != nil || !ok {
		return 0, false, err
	}
	s.cache.terms.Add(k, id)
	return id, true, nil
}

// Entry returns the record of entry index of log, or nil and no error
// when the index does not hold it.
func (s *Store) Entry(ctx context.Context, log string, index uint64) (*Record, error) {
	id, ok, err := s.readName(ctx, nsLog, log)
	if err != nil {
		return nil, fmt.Errorf("index: looking up log %s: %w", log, err)
	}
	if !ok || index >= math.MaxInt64 {
		return nil, nil
	}
	c := &candidate{p: pos{id, int64(index)}}
	ok, err = queryRow(ctx, s.db.read, "SELECT kind, ts, leaf, data FROM entries WHERE log = ? AND idx = ?",
		[]any{id, int64(index)}, &c.kind, &c.ts, &c.leaf, &c.data)
	if err != nil {
		return nil, fmt.Errorf("index: reading entry %d of %s: %w", index, log, err)
	}
	if !ok {
		return nil, nil
	}
	if c.d, err = decodeData(c.data); err != nil {
		return nil, fmt.Errorf("index: entry %d of %s: %w", index, log, err)
	}
	recs, err := s.records(ctx, []*candidate{c})
	if err != nil {
		return nil, err
	}
	return &recs[0], nil
}

// Next returns one past the highest index stored for log: where the
// monitor resumes indexing it. It is 0 for a log the index does not hold.
func (s *Store) Next(ctx context.Context, log string) (uint64, error) {
	id, ok, err := s.readName(ctx, nsLog, log)
	if err != nil {
		return 0, fmt.Errorf("index: looking up log %s: %w", log, err)
	}
	if !ok {
		return 0, nil
	}
	var max *int64
	if _, err := queryRow(ctx, s.db.read, "SELECT max(idx) FROM entries WHERE log = ?", []any{id}, &max); err != nil {
		return 0, fmt.Errorf("index: reading the end of log %s: %w", log, err)
	}
	if max == nil {
		return 0, nil
	}
	return uint64(*max) + 1, nil
}

// Truncate removes the entries of log from index from on, for a rebuild
// that re-scans them. It is one transaction.
func (s *Store) Truncate(ctx context.Context, log string, from uint64) error {
	if from >= math.MaxInt64 {
		return nil
	}
	tx, err := s.db.begin(ctx)
	if err != nil {
		return fmt.Errorf("index: beginning a write: %w", err)
	}
	if err := s.truncate(ctx, tx, log, int64(from)); err != nil {
		tx.rollback()
		return fmt.Errorf("index: truncating log %s at %d: %w", log, from, err)
	}
	if err := tx.commit(ctx); err != nil {
		return fmt.Errorf("index: committing truncation of log %s: %w", log, err)
	}
	return nil
}

func (s *Store) truncate(ctx context.Context, tx wtx, log string, from int64) error {
	id, ok, err := lookupKeyed(ctx, s.db.dialect, tx, keyedNames, nsLog, []byte(log))
	if err != nil || !ok {
		return err
	}
	const batch = 5000
	counts := map[int64]int64{}
	at := from - 1
	for {
		rs, err := tx.query(ctx, "SELECT idx, data FROM entries WHERE log = ? AND idx > ? ORDER BY idx LIMIT ?", id, at, batch)
		if err != nil {
			return err
		}
		var delP []posting
		n := 0
		for rs.Next() {
			var data []byte
			if err := rs.Scan(&at, &data); err != nil {
				rs.Close()
				return err
			}
			n++
			d, err := decodeData(data)
			if err != nil {
				rs.Close()
				return fmt.Errorf("entry %d: %w", at, err)
			}
			for _, p := range d.principals() {
				delP = append(delP, posting{p, id, at})
				counts[p]--
			}
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		slices.SortFunc(delP, principalPostings.compare)
		if err := tx.deletePostings(ctx, principalPostings, delP); err != nil {
			return err
		}
		if n < batch {
			break
		}
	}
	// Hash postings and segments by range: they are keyed by segment.
	first := seg(from)
	if _, err := tx.exec(ctx, "DELETE FROM entry_hashes WHERE log = ? AND seg >= ? AND idx >= ?", id, first, from); err != nil {
		return err
	}
	if from > first<<hashSegShift {
		first++ // it keeps the entries before from
	}
	if _, err := tx.exec(ctx, "DELETE FROM hash_segs WHERE log = ? AND seg >= ?", id, first); err != nil {
		return err
	}
	if _, err := tx.exec(ctx, "DELETE FROM entries WHERE log = ? AND idx >= ?", id, from); err != nil {
		return err
	}
	return tx.addCounts(ctx, counts)
}
