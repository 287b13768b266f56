package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// SQLite settings. WAL lets readers run beside the one writer; with
// synchronous=NORMAL a power loss may lose the last transactions but never
// corrupts the file, and the monitor re-adds what the index lost (it
// resumes from [Store.Next]). The page caches are bounded so that the
// monitor's memory stays small: 32 MiB for the writer, 8 MiB per reader.
// The writer checkpoints the WAL every 4000 pages (16 MiB), not SQLite's
// 1000: an Add writes a few thousand pages, many of them the same as the
// previous Add's (the tail of entries, the current hash segment, the last
// page of each busy signer's postings), and a checkpoint copies each page
// once however many transactions wrote it. Not more: a reader looks up
// every page it reads in the WAL's index, one hash table per 4096 frames.
const (
	sqliteReaders     = 4
	sqliteBusyTimeout = "10000" // milliseconds
)

var (
	sqliteWriterPragmas = []string{"cache_size(-32768)", "temp_store(MEMORY)", "journal_size_limit(67108864)", "wal_autocheckpoint(4000)"}
	sqliteReaderPragmas = []string{"cache_size(-8192)", "temp_store(MEMORY)"}
)

func sqliteDSN(path string, write bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", sqliteBusyTimeout)
	pragmas := sqliteReaderPragmas
	if write {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		pragmas = sqliteWriterPragmas
	} else {
		q.Set("_query_only", "1")
	}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	// A file: URI, so that any path works: SQLite decodes the escapes.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

func openSQLite(ctx context.Context, path string) (*db, error) {
	w, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("index: opening %s: %w", path, err)
	}
	// One writing connection, kept open: writes are serialised here.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := w.PingContext(ctx); err != nil { // sets WAL mode before readers open
		w.Close()
		return nil, fmt.Errorf("index: opening %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("index: opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(sqliteReaders)
	r.SetMaxIdleConns(sqliteReaders)
	reader := &sqliteConn{db: r, stmts: map[string]*sql.Stmt{}}
	writer := &sqliteWriter{db: w, sem: make(chan struct{}, 1), stmts: map[string]*sql.Stmt{}}
	return &db{
		dialect: dialectSQLite,
		read:    reader,
		begin:   writer.begin,
		close: func() {
			writer.close()
			reader.closeStmts()
			r.Close()
			w.Close()
		},
	}, nil
}

// sqliteRows adapts *sql.Rows to rows.
type sqliteRows struct{ *sql.Rows }

func (r sqliteRows) Close() { r.Rows.Close() }

// sqliteConn is the reader pool, with its prepared statements.
type sqliteConn struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt // guarded by mu
	text  int                  // guarded by mu: the length of the SQL in stmts
}

// sqliteStmtText bounds the SQL text of the reader's prepared statements,
// a proxy for the memory SQLite spends on them in each reader connection
// (a merge of many principals is a long statement).
const sqliteStmtText = 256 << 10

// stmt returns the prepared statement of q, or nil when the cache is full
// (statements come from a fixed set of fragments, but the set is large:
// past the bound, the rarer ones run unprepared).
func (c *sqliteConn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	if c.text+len(q) > sqliteStmtText {
		return nil, nil
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	c.text += len(q)
	return st, nil
}

func (c *sqliteConn) closeStmts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, st := range c.stmts {
		st.Close()
		delete(c.stmts, k)
	}
}

func (c *sqliteConn) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	var rs *sql.Rows
	if st != nil {
		rs, err = st.QueryContext(ctx, args...)
	} else {
		rs, err = c.db.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqliteRows{rs}, nil
}

func (c *sqliteConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = c.db.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// sqliteWriter is the one writing connection, pinned for the store's
// life, with the statements it has prepared: a transaction is BEGIN
// IMMEDIATE ... COMMIT on it, so that the statements Add runs for every
// batch are prepared once, not once per transaction. Its statements run
// with a context that cannot be cancelled (the driver watches a
// cancellable one with a goroutine per statement), checking the caller's
// first; each is short.
type sqliteWriter struct {
	db    *sql.DB
	sem   chan struct{}        // holds a value while a transaction (or close) owns the fields below
	c     *sql.Conn            // nil until the first transaction, or after the connection broke
	stmts map[string]*sql.Stmt // prepared on c
	text  int                  // the length of the SQL in stmts
}

func (w *sqliteWriter) begin(ctx context.Context) (wtx, error) {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.c == nil {
		c, err := w.db.Conn(ctx)
		if err != nil {
			<-w.sem
			return nil, err
		}
		w.c = c
	}
	t := &sqliteTx{w: w}
	if _, err := t.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
		w.reset(err)
		<-w.sem
		return nil, err
	}
	return t, nil
}

// reset drops the connection after an error that says it is broken; the
// next transaction takes a new one.
func (w *sqliteWriter) reset(err error) {
	if w.c == nil || !errors.Is(err, sql.ErrConnDone) && !errors.Is(err, driver.ErrBadConn) {
		return
	}
	w.closeConn()
}

func (w *sqliteWriter) closeConn() {
	for _, st := range w.stmts {
		st.Close()
	}
	clear(w.stmts)
	w.text = 0
	if w.c != nil {
		w.c.Close()
		w.c = nil
	}
}

// close waits for the transaction in progress, if any, then releases the
// connection.
func (w *sqliteWriter) close() {
	w.sem <- struct{}{}
	w.closeConn()
}

// sqliteTx is a write transaction of a sqliteWriter.
type sqliteTx struct {
	w    *sqliteWriter
	done bool
}

// stmt returns the prepared statement of q, or nil past the writer's
// bound on prepared SQL (see sqliteStmtText).
func (t *sqliteTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	w := t.w
	if st, ok := w.stmts[q]; ok {
		return st, nil
	}
	if w.text+len(q) > sqliteStmtText {
		return nil, nil
	}
	st, err := w.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = st
	w.text += len(q)
	return st, nil
}

func (t *sqliteTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx)
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	var rs *sql.Rows
	if st != nil {
		rs, err = st.QueryContext(ctx, args...)
	} else {
		rs, err = t.w.c.QueryContext(ctx, q, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqliteRows{rs}, nil
}

func (t *sqliteTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx)
	st, err := t.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = t.w.c.ExecContext(ctx, q, args...)
	}
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// bulkInsert is an INSERT of many rows at once, in statements of
// sqliteBulk rows: a batch costs a few statements per thousand rows
// rather than one per row, each prepared once.
type bulkInsert struct {
	width int                     // parameters per row
	sql   [len(sqliteBulk)]string // by size
}

// sqliteBulk are the sizes of bulk statements, largest first: a batch
// goes in as many of the largest as it fills, the rest in smaller ones.
// The largest stays well below SQLite's 32,766 parameters.
var sqliteBulk = [...]int{256, 32, 4, 1}

func newBulkInsert(head, row string, width int) *bulkInsert {
	b := &bulkInsert{width: width}
	for i, n := range sqliteBulk {
		b.sql[i] = head + " VALUES " + strings.Repeat(row+", ", n-1) + row
	}
	return b
}

var (
	bulkEntries    = newBulkInsert("INSERT INTO entries (log, idx, kind, ts, leaf, data)", "(?, ?, ?, ?, ?, ?)", 6)
	bulkPrincipals = newBulkInsert("INSERT INTO entry_principals (principal, log, idx)", "(?, ?, ?)", 3)
	bulkHashes     = newBulkInsert("INSERT INTO entry_hashes (log, seg, h, idx)", "(?, ?, ?, ?)", 4)
)

// insert inserts n rows, the parameters of row i appended by args.
func (t *sqliteTx) insert(ctx context.Context, b *bulkInsert, n int, args func(dst []any, i int) []any) error {
	buf := make([]any, 0, b.width*sqliteBulk[0])
	for i := 0; i < n; {
		k := len(sqliteBulk) - 1
		for j, size := range sqliteBulk {
			if size <= n-i {
				k = j
				break
			}
		}
		buf = buf[:0]
		for j := i; j < i+sqliteBulk[k]; j++ {
			buf = args(buf, j)
		}
		if _, err := t.exec(ctx, b.sql[k], buf...); err != nil {
			return err
		}
		i += sqliteBulk[k]
	}
	return nil
}

// insertEntries inserts rows none of which is stored.
func (t *sqliteTx) insertEntries(ctx context.Context, rs []entryRow) error {
	return t.insert(ctx, bulkEntries, len(rs), func(dst []any, i int) []any {
		r := &rs[i]
		return append(dst, r.log, r.idx, r.kind, tsArg(r.ts), r.leaf, r.data)
	})
}

func (t *sqliteTx) insertPostings(ctx context.Context, pt postingTable, ps []posting) error {
	if pt.seg {
		return t.insert(ctx, bulkHashes, len(ps), func(dst []any, i int) []any {
			p := &ps[i]
			return append(dst, p.log, seg(p.idx), p.key, p.idx)
		})
	}
	return t.insert(ctx, bulkPrincipals, len(ps), func(dst []any, i int) []any {
		p := &ps[i]
		return append(dst, p.key, p.log, p.idx)
	})
}

func (t *sqliteTx) deletePostings(ctx context.Context, pt postingTable, ps []posting) error {
	q := "DELETE FROM " + pt.name + " WHERE " + pt.key + " = ? AND log = ? AND idx = ?"
	for _, p := range ps {
		args := []any{p.key, p.log, p.idx}
		if pt.seg {
			q = "DELETE FROM " + pt.name + " WHERE log = ? AND seg = ? AND " + pt.key + " = ? AND idx = ?"
			args = []any{p.log, seg(p.idx), p.key, p.idx}
		}
		if _, err := t.exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// addCounts adds deltas to principals' entry counts in one statement: a
// batch changes the counts of thousands.
func (t *sqliteTx) addCounts(ctx context.Context, deltas map[int64]int64) error {
	b := make([]byte, 0, 2+len(deltas)*16)
	b = append(b, '[')
	for id, d := range deltas {
		if d == 0 {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, id, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, d, 10)
		b = append(b, ']')
	}
	if len(b) == 1 {
		return nil
	}
	b = append(b, ']')
	_, err := t.exec(ctx, "UPDATE principals SET n = n + u.d FROM (SELECT value->>0 AS id, value->>1 AS d FROM json_each(?)) AS u WHERE principals.id = u.id", string(b))
	return err
}

// asyncCommit: the writer runs with synchronous=NORMAL, whose commits
// are already not durable until a checkpoint.
func (t *sqliteTx) asyncCommit(context.Context) error { return nil }

func (t *sqliteTx) commit(ctx context.Context) error {
	defer t.end()
	if _, err := t.exec(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		t.exec(context.Background(), "ROLLBACK") // the transaction may still be open
		t.w.reset(err)
		return err
	}
	return nil
}

func (t *sqliteTx) rollback() {
	if t.done {
		return
	}
	defer t.end()
	// An error may have ended the transaction already: then ROLLBACK
	// fails, harmlessly.
	if _, err := t.exec(context.Background(), "ROLLBACK"); err != nil {
		t.w.reset(err)
	}
}

// end releases the writer.
func (t *sqliteTx) end() {
	if !t.done {
		t.done = true
		<-t.w.sem
	}
}
