package index

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// SQLite settings. WAL lets readers run beside the one writer; with
// synchronous=NORMAL a power loss may lose the last transactions but never
// corrupts the file, and the monitor re-adds what the index lost (it
// resumes from [Store.Next]). The page caches are bounded so that the
// monitor's memory stays small: 32 MiB for the writer, 8 MiB per reader.
const (
	sqliteReaders     = 4
	sqliteBusyTimeout = "10000" // milliseconds
)

var (
	sqliteWriterPragmas = []string{"cache_size(-32768)", "temp_store(MEMORY)", "journal_size_limit(67108864)"}
	sqliteReaderPragmas = []string{"cache_size(-8192)", "temp_store(MEMORY)"}
)

func sqliteDSN(path string, write bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", sqliteBusyTimeout)
	pragmas := sqliteReaderPragmas
	if write {
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "NORMAL")
		q.Set("_txlock", "immediate")
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
	return &db{
		dialect: dialectSQLite,
		read:    reader,
		begin: func(ctx context.Context) (wtx, error) {
			tx, err := w.BeginTx(ctx, nil)
			if err != nil {
				return nil, err
			}
			return &sqliteTx{tx: tx, stmts: map[string]*sql.Stmt{}}, nil
		},
		close: func() {
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

// sqliteTx is a write transaction on the one writing connection (BEGIN
// IMMEDIATE), with statements prepared once per transaction.
type sqliteTx struct {
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

func (t *sqliteTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.stmts[q] = st
	return st, nil
}

func (t *sqliteTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	rs, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return sqliteRows{rs}, nil
}

func (t *sqliteTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	st, err := t.stmt(ctx, q)
	if err != nil {
		return 0, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Bulk statements insert this many rows each (the rest one at a time), so
// that a batch costs a few statements per hundred rows rather than one per
// row. They run with a context that cannot be cancelled (the driver
// watches a cancellable one with a goroutine per statement) and check the
// caller's between statements.
const sqliteChunk = 64

func (t *sqliteTx) insertEntries(ctx context.Context, rs []entryRow) ([]bool, error) {
	ins := make([]bool, len(rs))
	at := make(map[pos]int, len(rs))
	for i, r := range rs {
		at[pos{r.log, r.idx}] = i
	}
	for len(rs) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := sqliteChunk
		if len(rs) < n {
			n = 1
		}
		q := "INSERT INTO entries (log, idx, kind, ts, leaf, data) VALUES " + rowsOf("(?, ?, ?, ?, ?, ?)", n) + " ON CONFLICT DO NOTHING RETURNING log, idx"
		args := make([]any, 0, 6*n)
		for _, r := range rs[:n] {
			args = append(args, r.log, r.idx, r.kind, tsArg(r.ts), r.leaf, r.data)
		}
		res, err := t.query(context.WithoutCancel(ctx), q, args...)
		if err != nil {
			return nil, err
		}
		for res.Next() {
			var p pos
			if err := res.Scan(&p.log, &p.idx); err != nil {
				res.Close()
				return nil, err
			}
			ins[at[p]] = true
		}
		res.Close()
		if err := res.Err(); err != nil {
			return nil, err
		}
		rs = rs[n:]
	}
	return ins, nil
}

// rowsOf repeats a VALUES row n times.
func rowsOf(row string, n int) string {
	return strings.Repeat(row+", ", n-1) + row
}

func (t *sqliteTx) insertPostings(ctx context.Context, pt postingTable, ps []posting) error {
	for len(ps) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := sqliteChunk
		if len(ps) < n {
			n = 1
		}
		args := make([]any, 0, 3*n)
		for _, p := range ps[:n] {
			args = append(args, p.key, p.log, p.idx)
		}
		if _, err := t.exec(context.WithoutCancel(ctx), "INSERT INTO "+pt.name+" ("+pt.key+", log, idx) VALUES "+rowsOf("(?, ?, ?)", n), args...); err != nil {
			return err
		}
		ps = ps[n:]
	}
	return nil
}

func (t *sqliteTx) deletePostings(ctx context.Context, pt postingTable, ps []posting) error {
	q := "DELETE FROM " + pt.name + " WHERE " + pt.key + " = ? AND log = ? AND idx = ?"
	for i, p := range ps {
		if i%sqliteChunk == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if _, err := t.exec(context.WithoutCancel(ctx), q, p.key, p.log, p.idx); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTx) addCounts(ctx context.Context, deltas map[int64]int64) error {
	for id, d := range deltas {
		if d == 0 {
			continue
		}
		if _, err := t.exec(ctx, "UPDATE principals SET n = n + ? WHERE id = ?", d, id); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTx) commit(context.Context) error {
	t.closeStmts()
	return t.tx.Commit()
}

func (t *sqliteTx) rollback() {
	t.closeStmts()
	t.tx.Rollback()
}

func (t *sqliteTx) closeStmts() {
	for _, st := range t.stmts {
		st.Close()
	}
	clear(t.stmts)
}
