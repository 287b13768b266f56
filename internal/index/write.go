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
// fragments, never input).
type postingTable struct {
	name, key string
}

var (
	principalPostings = postingTable{"entry_principals", "principal"}
	hashPostings      = postingTable{"entry_hashes", "h"}
)

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
	prins map[string]int64 // termsKey -> id
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
	datas := make([]*entryData, len(preps))
	for i, p := range preps {
		logID, err := w.nameID(ctx, nsLog, p.rec.Log)
		if err != nil {
			return err
		}
		kindID, err := w.nameID(ctx, nsKind, p.rec.Kind)
		if err != nil {
			return err
		}
		d := &entryData{digests: p.digests}
		for j := range p.terms {
			pid, err := w.principalID(ctx, p.terms[j])
			if err != nil {
				return err
			}
			sg := signer{principal: pid, cert: p.certs[j], key: p.keys[j]}
			for _, v := range p.vols[j] {
				attr, err := w.nameID(ctx, nsAttr, v.attr)
				if err != nil {
					return err
				}
				sg.vols = append(sg.vols, vol{attr, []byte(v.value)})
			}
			d.signers = append(d.signers, sg)
		}
		rows[i] = entryRow{log: logID, idx: int64(p.rec.Index), kind: kindID, ts: p.ts, leaf: p.rec.LeafHash, data: encodeData(d)}
		datas[i] = d
	}
	inserted, err := w.tx.insertEntries(ctx, rows)
	if err != nil {
		return fmt.Errorf("inserting entries: %w", err)
	}
	var addP, addH, delP, delH []posting
	counts := map[int64]int64{}
	for i := range rows {
		r := &rows[i]
		if !inserted[i] {
			old, err := w.existing(ctx, r.log, r.idx)
			if err != nil {
				return err
			}
			if sameRow(old, r) {
				continue // re-added after a crash: nothing to do
			}
			od, err := decodeData(old.data)
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
		for _, p := range datas[i].principals() {
			addP = append(addP, posting{p, r.log, r.idx})
			counts[p]++
		}
		for _, h := range datas[i].hashKeys() {
			addH = append(addH, posting{h, r.log, r.idx})
		}
	}
	// In key order: neighbouring keys share btree pages.
	for _, ps := range [][]posting{addP, addH, delP, delH} {
		slices.SortFunc(ps, func(a, b posting) int {
			if a.key != b.key {
				return cmp.Compare(a.key, b.key)
			}
			if a.log != b.log {
				return cmp.Compare(a.log, b.log)
			}
			return cmp.Compare(a.idx, b.idx)
		})
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
	return w.tx.addCounts(ctx, counts)
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

func (w *writer) existing(ctx context.Context, log, idx int64) (*entryRow, error) {
	r := &entryRow{log: log, idx: idx}
	ok, err := queryRow(ctx, w.tx, "SELECT kind, ts, leaf, data FROM entries WHERE log = ? AND idx = ?", []any{log, idx},
		&r.kind, &r.ts, &r.leaf, &r.data)
	if err != nil {
		return nil, fmt.Errorf("reading entry %d of log %d: %w", idx, log, err)
	}
	if !ok {
		return nil, fmt.Errorf("entry %d of log %d neither inserted nor present", idx, log)
	}
	return r, nil
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
	key := termsKey(ts)
	if id, ok := w.s.cache.prins.Get(key); ok {
		return id, nil
	}
	if id, ok := w.prins[key]; ok {
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
