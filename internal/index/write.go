package index

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
)

// entryRow is a row of the entries table.
type entryRow struct {
	log, idx int64
	kind     int64
	ts       *int64 // unix milliseconds; nil when the log gives no time
	leaf     []byte
	data     []byte
}

// posting is a row of entry_principals or entry_hashes.
type posting struct {
	key, log, idx int64
}

// postingTable names a postings table and its key column (fixed
// fragments, never input); seg tells that its rows are keyed by segment
// first (entry_hashes: log, seg, h, idx).
type postingTable struct {
	name, key string
	seg       bool
}

var (
	principalPostings = postingTable{"entry_principals", "principal", false}
	hashPostings      = postingTable{"entry_hashes", "h", true}
)

// hashSegShift sizes the segments of entry_hashes: 2^16 consecutive
// indexes of a log. Hash postings are keyed (log, seg, h, idx), not (h,
// log, idx): their keys are random, so that a batch of entries keyed by
// hash first would land on nearly every page of the table (and SQLite
// would write every such page to the WAL and back: 10 kB per entry at a
// million entries), while in its segment it lands on a few hundred pages,
// the same ones batch after batch. A search for a hash seeks once per
// segment of each log (hash_segs lists them), newest first: 16 seeks at a
// million entries, 1,500 at a hundred million. Part of the schema:
// changing it needs a rebuild.
const hashSegShift = 16

// seg is the segment of index idx.
func seg(idx int64) int64 { return idx >> hashSegShift }

// compare orders postings as t's primary key does: inserting them in
// that order, neighbours share btree pages.
func (t postingTable) compare(a, b posting) int {
	if t.seg {
		if a.log != b.log {
			return cmp.Compare(a.log, b.log)
		}
		if sa, sb := seg(a.idx), seg(b.idx); sa != sb {
			return cmp.Compare(sa, sb)
		}
		if a.key != b.key {
			return cmp.Compare(a.key, b.key)
		}
		return cmp.Compare(a.idx, b.idx)
	}
	if a.key != b.key {
		return cmp.Compare(a.key, b.key)
	}
	if a.log != b.log {
		return cmp.Compare(a.log, b.log)
	}
	return cmp.Compare(a.idx, b.idx)
}

// Add indexes recs in one transaction: all of them or none. It is
// idempotent: a record whose (log, index) is already indexed with the same
// content is skipped, and one with different content replaces it (a log
// that was rebuilt without [Store.Truncate]). Two records of one call with
// the same (log, index) are an error, as is a malformed record (a leaf hash
// that is not 32 bytes, a digest or fingerprint that is not hex, an index
// of 2^63-1 or more); errors name the record.
func (s *Store) Add(ctx context.Context, recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	type key struct {
		log string
		idx uint64
	}
	preps := make([]*prepared, len(recs))
	seen := make(map[key]int, len(recs))
	for i := range recs {
		r := &recs[i]
		p, err := prepareRecord(r)
		if err != nil {
			return fmt.Errorf("index: record %s/%d: %w", clip(r.Log), r.Index, err)
		}
		k := key{r.Log, r.Index}
		if j, dup := seen[k]; dup {
			return fmt.Errorf("index: records %d and %d are both %s/%d", j, i, clip(r.Log), r.Index)
		}
		seen[k] = i
		preps[i] = p
	}
	tx, err := s.db.begin(ctx)
	if err != nil {
		return fmt.Errorf("index: beginning a write: %w", err)
	}
	w := &writer{s: s, tx: tx, names: map[nameKey]int64{}, terms: map[termID]int64{}, prins: map[string]int64{}}
	// The monitor adds again what a crash lost: it resumes from Next.
	if err := tx.asyncCommit(ctx); err != nil {
		tx.rollback()
		return fmt.Errorf("index: beginning a write: %w", err)
	}
	if err := w.add(ctx, preps); err != nil {
		tx.rollback()
		return fmt.Errorf("index: adding %d records: %w", len(recs), err)
	}
	if err := tx.commit(ctx); err != nil {
		return fmt.Errorf("index: committing %d records: %w", len(recs), err)
	}
	w.merge()
	return nil
}

// writer is one write transaction and the dictionary ids it created or
// found, which join the store's cache once it commits.
type writer struct {
	s     *Store
	tx    wtx
	names map[nameKey]int64
	terms map[termID]int64
	prins map[string]int64 // appendTermsKey -> id, also of cached principals this write used
	key   []byte           // principalID's buffer
}

func (w *writer) merge() {
	for k, id := range w.names {
		w.s.cache.putName(k.ns, k.name, id)
	}
	for k, id := range w.terms {
		w.s.cache.terms.Add(k, id)
	}
	for k, id := range w.prins {
		w.s.cache.prins.Add(k, id)
	}
}

func (w *writer) add(ctx context.Context, preps []*prepared) error {
	rows := make([]entryRow, len(preps))
	datas := make([]entryData, len(preps))
	var buf []byte // encodeData's, shared: rows take slices of it
	for i, p := range preps {
		logID, err := w.nameID(ctx, nsLog, p.rec.Log)
		if err != nil {
			return err
		}
		kindID, err := w.nameID(ctx, nsKind, p.rec.Kind)
		if err != nil {
			return err
		}
		d := &datas[i]
		d.digests = p.digests
		d.signers = make([]signer, len(p.terms))
		for j := range p.terms {
			pid, err := w.principalID(ctx, p.terms[j])
			if err != nil {
				return err
			}
			sg := &d.signers[j]
			sg.principal, sg.cert, sg.key = pid, p.certs[j], p.keys[j]
			if len(p.vols[j]) > 0 {
				sg.vols = make([]vol, len(p.vols[j]))
			}
			for k, v := range p.vols[j] {
				attr, err := w.nameID(ctx, nsAttr, v.attr)
				if err != nil {
					return err
				}
				sg.vols[k] = vol{attr, []byte(v.value)}
			}
		}
		if cap(buf)-len(buf) < 1024 {
			buf = make([]byte, 0, 64<<10)
		}
		n := len(buf)
		buf = appendData(buf, d)
		rows[i] = entryRow{log: logID, idx: int64(p.rec.Index), kind: kindID, ts: p.ts, leaf: p.rec.LeafHash, data: buf[n:len(buf):len(buf)]}
	}
	old, err := w.existing(ctx, rows)
	if err != nil {
		return fmt.Errorf("reading stored entries: %w", err)
	}
	fresh := rows // all of them, unless some are stored
	if old != nil {
		fresh = make([]entryRow, 0, len(rows))
	}
	addP := make([]posting, 0, len(rows)+len(rows)/4)
	addH := make([]posting, 0, 4*len(rows))
	var delP, delH []posting
	counts := map[int64]int64{}
	var ks []int64
	for i := range rows {
		r := &rows[i]
		if old != nil {
			o := old[i]
			if o == nil {
				fresh = append(fresh, *r)
			} else {
				if sameRow(o, r) {
					continue // re-added after a crash: nothing to do
				}
				od, err := decodeData(o.data)
				if err != nil {
					return fmt.Errorf("entry %d of log %d: %w", r.idx, r.log, err)
				}
				for _, p := range od.principals() {
					delP = append(delP, posting{p, r.log, r.idx})
					counts[p]--
				}
				for _, h := range od.hashKeys() {
					delH = append(delH, posting{h, r.log, r.idx})
				}
				if _, err := w.tx.exec(ctx, "UPDATE entries SET kind = ?, ts = ?, leaf = ?, data = ? WHERE log = ? AND idx = ?",
					r.kind, tsArg(r.ts), r.leaf, r.data, r.log, r.idx); err != nil {
					return fmt.Errorf("replacing entry: %w", err)
				}
			}
		}
		d := &datas[i]
		for j, sg := range d.signers {
			if sg.principal == 0 || slices.ContainsFunc(d.signers[:j], func(o signer) bool { return o.principal == sg.principal }) {
				continue
			}
			addP = append(addP, posting{sg.principal, r.log, r.idx})
			counts[sg.principal]++
		}
		ks = d.appendHashKeys(ks[:0])
		for _, h := range ks {
			addH = append(addH, posting{h, r.log, r.idx})
		}
	}
	if err := w.tx.insertEntries(ctx, fresh); err != nil {
		return fmt.Errorf("inserting entries: %w", err)
	}
	for _, ps := range []struct {
		t  postingTable
		ps []posting
	}{{principalPostings, addP}, {hashPostings, addH}, {principalPostings, delP}, {hashPostings, delH}} {
		slices.SortFunc(ps.ps, ps.t.compare)
	}
	// Deletes first: a replaced entry may keep some of its postings.
	if err := w.tx.deletePostings(ctx, principalPostings, delP); err != nil {
		return fmt.Errorf("deleting postings: %w", err)
	}
	if err := w.tx.deletePostings(ctx, hashPostings, delH); err != nil {
		return fmt.Errorf("deleting postings: %w", err)
	}
	if err := w.tx.insertPostings(ctx, principalPostings, addP); err != nil {
		return fmt.Errorf("inserting postings: %w", err)
	}
	if err := w.tx.insertPostings(ctx, hashPostings, addH); err != nil {
		return fmt.Errorf("inserting postings: %w", err)
	}
	if err := w.addSegments(ctx, addH); err != nil {
		return fmt.Errorf("recording segments: %w", err)
	}
	return w.tx.addCounts(ctx, counts)
}

// addSegments records the segments of hash postings ps, sorted, in
// hash_segs: a statement or two per batch.
func (w *writer) addSegments(ctx context.Context, ps []posting) error {
	var last posting
	for i, p := range ps {
		if i > 0 && p.log == last.log && seg(p.idx) == seg(last.idx) {
			continue
		}
		last = p
		if _, err := w.tx.exec(ctx, "INSERT INTO hash_segs (log, seg) VALUES (?, ?) ON CONFLICT DO NOTHING", p.log, seg(p.idx)); err != nil {
			return err
		}
	}
	return nil
}

// existing returns the stored rows at the positions of rs, aligned with
// rs (nil where none is stored), or nil when none is. The monitor adds
// entries past the end of what the index holds, so this is nearly always
// one seek per log, finding nothing.
func (w *writer) existing(ctx context.Context, rs []entryRow) ([]*entryRow, error) {
	byLog := map[int64][]int{} // indexes into rs
	for i := range rs {
		byLog[rs[i].log] = append(byLog[rs[i].log], i)
	}
	var out []*entryRow
	d := w.s.db.dialect
	for log, is := range byLog {
		slices.SortFunc(is, func(a, b int) int { return cmp.Compare(rs[a].idx, rs[b].idx) })
		lo, hi := rs[is[0]].idx, rs[is[len(is)-1]].idx
		// Dense (as the monitor adds): one range; sparse: a seek each.
		q, args := "SELECT idx, kind, ts, leaf, data FROM entries WHERE log = ? AND idx >= ? AND idx <= ?", []any{log, lo, hi}
		if hi-lo >= 2*int64(len(is)) {
			idxs := make([]int64, len(is))
			for j, i := range is {
				idxs[j] = rs[i].idx
			}
			q, args = "SELECT idx, kind, ts, leaf, data FROM entries WHERE log = ? AND idx "+d.inInts(), []any{log, d.intsArg(idxs)}
		}
		res, err := w.tx.query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		for res.Next() {
			o := &entryRow{log: log}
			if err := res.Scan(&o.idx, &o.kind, &o.ts, &o.leaf, &o.data); err != nil {
				res.Close()
				return nil, err
			}
			j, ok := slices.BinarySearchFunc(is, o.idx, func(i int, idx int64) int { return cmp.Compare(rs[i].idx, idx) })
			if !ok {
				continue // in the range, not in the batch
			}
			if out == nil {
				out = make([]*entryRow, len(rs))
			}
			out[is[j]] = o
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func sameRow(a, b *entryRow) bool {
	return a.kind == b.kind && bytes.Equal(a.leaf, b.leaf) && bytes.Equal(a.data, b.data) &&
		(a.ts == nil) == (b.ts == nil) && (a.ts == nil || *a.ts == *b.ts)
}

// tsArg is a time column's parameter: NULL for none.
func tsArg(ts *int64) any {
	if ts == nil {
		return nil
	}
	return *ts
}

// nameID returns the id of a name, creating it.
func (w *writer) nameID(ctx context.Context, ns int, name string) (int64, error) {
	if id, ok := w.s.cache.name(ns, name); ok {
		return id, nil
	}
	k := nameKey{ns, name}
	if id, ok := w.names[k]; ok {
		return id, nil
	}
	id, ok, err := lookupKeyed(ctx, w.s.db.dialect, w.tx, keyedNames, int64(ns), []byte(name))
	if err != nil {
		return 0, fmt.Errorf("looking up a name: %w", err)
	}
	if !ok {
		if _, err := queryRow(ctx, w.tx, "INSERT INTO names (ns, name) VALUES (?, ?) RETURNING id", []any{ns, []byte(name)}, &id); err != nil {
			return 0, fmt.Errorf("adding a name: %w", err)
		}
	}
	if id <= 0 || id > math.MaxInt32 {
		return 0, fmt.Errorf("name id %d out of range", id)
	}
	w.names[k] = id
	return id, nil
}

// termID returns the id of a term, creating it.
func (w *writer) termID(ctx context.Context, t term) (int64, error) {
	attr, err := w.nameID(ctx, nsAttr, t.attr)
	if err != nil {
		return 0, err
	}
	k := termID{attr, t.value}
	if id, ok := w.s.cache.terms.Get(k); ok {
		return id, nil
	}
	if id, ok := w.terms[k]; ok {
		return id, nil
	}
	id, ok, err := lookupKeyed(ctx, w.s.db.dialect, w.tx, keyedTerms, attr, []byte(t.value))
	if err != nil {
		return 0, fmt.Errorf("looking up a term: %w", err)
	}
	if !ok {
		if _, err := queryRow(ctx, w.tx, "INSERT INTO terms (attr, value) VALUES (?, ?) RETURNING id", []any{attr, []byte(t.value)}, &id); err != nil {
			return 0, fmt.Errorf("adding a term: %w", err)
		}
	}
	w.terms[k] = id
	return id, nil
}

// principalID returns the id of the principal with terms ts, creating it;
// 0 for no terms.
func (w *writer) principalID(ctx context.Context, ts []term) (int64, error) {
	if len(ts) == 0 {
		return 0, nil
	}
	// A batch names the same few signers again and again: look them up
	// in this write's map first, which needs no lock and no key string.
	w.key = appendTermsKey(w.key[:0], ts)
	if id, ok := w.prins[string(w.key)]; ok {
		return id, nil
	}
	key := string(w.key)
	if id, ok := w.s.cache.prins.Get(key); ok {
		w.prins[key] = id
		return id, nil
	}
	ids := make([]int64, len(ts))
	for i, t := range ts {
		id, err := w.termID(ctx, t)
		if err != nil {
			return 0, err
		}
		ids[i] = id
	}
	blob := encodeIDs(ids)
	id, ok, err := lookupKeyed(ctx, w.s.db.dialect, w.tx, keyedPrincipals, 0, blob)
	if err != nil {
		return 0, fmt.Errorf("looking up a principal: %w", err)
	}
	if !ok {
		if _, err := queryRow(ctx, w.tx, "INSERT INTO principals (terms, n) VALUES (?, 0) RETURNING id", []any{blob}, &id); err != nil {
			return 0, fmt.Errorf("adding a principal: %w", err)
		}
		slices.Sort(ids)
		for _, t := range slices.Compact(ids) {
			if _, err := w.tx.exec(ctx, "INSERT INTO principal_terms (term, principal) VALUES (?, ?)", t, id); err != nil {
				return 0, fmt.Errorf("adding a principal's term: %w", err)
			}
		}
	}
	if id <= 0 {
		return 0, errors.New("principal id out of range")
	}
	w.prins[key] = id
	return id, nil
}

// keyed is a dictionary table looked up by its unique key: names (ns,
// name), terms (attr, value), principals (terms).
type keyed struct {
	table, prefix, key string
}

var (
	keyedNames      = keyed{"names", "ns", "name"}
	keyedTerms      = keyed{"terms", "attr", "value"}
	keyedPrincipals = keyed{"principals", "", "terms"}
)

// lookupKeyed finds the id of the row of k with prefix column value
// prefix (ignored when k has none) and key value key. PostgreSQL indexes
// the SHA-256 of keys (a btree entry is limited to about 2.7 kB; a SAN is
// not), SQLite the key itself.
func lookupKeyed(ctx context.Context, d dialect, c conn, k keyed, prefix int64, key []byte) (id int64, ok bool, err error) {
	q := "SELECT id FROM " + k.table + " WHERE "
	var args []any
	if k.prefix != "" {
		q += k.prefix + " = ? AND "
		args = append(args, prefix)
	}
	if d == dialectPostgres {
		q += "sha256(" + k.key + ") = sha256(?) AND " + k.key + " = ?"
		args = append(args, key, key)
	} else {
		q += k.key + " = ?"
		args = append(args, key)
	}
	ok, err = queryRow(ctx, c, q, args, &id)
	return id, ok, err
}
