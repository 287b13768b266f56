package index

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// dialect is the SQL flavour of a backend. Statements are written once
// with "?" placeholders; rebind numbers them for PostgreSQL.
type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

// rows is what the engine reads query results through: *sql.Rows and
// pgx.Rows both fit behind it.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// conn runs statements: the read pool, or a write transaction.
type conn interface {
	query(ctx context.Context, q string, args ...any) (rows, error)
	exec(ctx context.Context, q string, args ...any) (int64, error)
}

// wtx is a write transaction. The backend makes it the only writer for its
// lifetime (SQLite: one writing connection, BEGIN IMMEDIATE; PostgreSQL: a
// transaction advisory lock).
type wtx interface {
	conn
	// insertEntries inserts rows, none of which is stored.
	insertEntries(ctx context.Context, rows []entryRow) error
	// insertPostings and deletePostings take ps sorted by t.compare.
	insertPostings(ctx context.Context, t postingTable, ps []posting) error
	deletePostings(ctx context.Context, t postingTable, ps []posting) error
	// addCounts adds deltas to principals' entry counts.
	addCounts(ctx context.Context, deltas map[int64]int64) error
	// asyncCommit lets the transaction commit without waiting for its
	// WAL to reach the disk: a crash may lose it, never consistency.
	asyncCommit(ctx context.Context) error
	commit(ctx context.Context) error
	rollback()
}

// db is an open backend.
type db struct {
	dialect dialect
	read    conn
	begin   func(ctx context.Context) (wtx, error)
	close   func()
}

// rebinder turns "?" placeholders into "$1", "$2"... for PostgreSQL,
// remembering what it did: statements come from a small fixed set.
type rebinder struct {
	mu sync.Mutex
	m  map[string]string // guarded by mu
}

func (r *rebinder) rebind(q string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.m[q]; ok {
		return s
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	if r.m == nil {
		r.m = map[string]string{}
	}
	if len(r.m) > 4096 { // a bound, in case a caller finds a way to vary SQL
		clear(r.m)
	}
	r.m[q] = b.String()
	return r.m[q]
}

// queryRow runs q and scans its single row into dest; ok is false when q
// returns no row.
func queryRow(ctx context.Context, c conn, q string, args []any, dest ...any) (ok bool, err error) {
	rs, err := c.query(ctx, q, args...)
	if err != nil {
		return false, err
	}
	defer rs.Close()
	if !rs.Next() {
		return false, rs.Err()
	}
	if err := rs.Scan(dest...); err != nil {
		return false, err
	}
	return true, rs.Err()
}

// inInts is the condition "column is one of the ids of a parameter":
// append it to a column name and pass intsArg(ids) as its argument.
func (d dialect) inInts() string {
	if d == dialectPostgres {
		return "= ANY(?)"
	}
	return "IN (SELECT value FROM json_each(?))"
}

func (d dialect) intsArg(ids []int64) any {
	if d == dialectPostgres {
		return ids
	}
	b := make([]byte, 0, 2+len(ids)*8)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
}

// aggInts aggregates an integer column into one value: a JSON array in
// SQLite, an array in PostgreSQL. Scan it with aggDest.
func (d dialect) aggInts(col string) string {
	if d == dialectPostgres {
		return "array_agg(" + col + ")"
	}
	return "json_group_array(" + col + ")"
}

// intsAgg receives an aggInts column.
type intsAgg struct {
	d    dialect
	arr  []int64
	json []byte
}

func (d dialect) aggDest() *intsAgg { return &intsAgg{d: d} }

func (a *intsAgg) dest() any {
	if a.d == dialectPostgres {
		return &a.arr
	}
	return &a.json
}

func (a *intsAgg) ints() ([]int64, error) {
	if a.d == dialectPostgres {
		return a.arr, nil
	}
	var ids []int64
	if err := json.Unmarshal(a.json, &ids); err != nil {
		return nil, fmt.Errorf("reading an id list: %w", err)
	}
	return ids, nil
}
