package index

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgLockKey is the transaction advisory lock every write takes: writers
// (monitor replicas sharing the index) run one at a time, so dictionary
// get-or-create needs no retry and row locks cannot deadlock. Readers do
// not take it. ("vigilidx" in ASCII.)
const pgLockKey int64 = 0x76696769_6c696478

func openPostgres(ctx context.Context, dsn string) (*db, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: do not wrap it.
		return nil, fmt.Errorf("index: parsing the PostgreSQL DSN: invalid connection string")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("index: connecting to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("index: connecting to PostgreSQL: %w", err)
	}
	rb := &rebinder{}
	return &db{
		dialect: dialectPostgres,
		read:    &pgConn{pool: pool, rb: rb},
		begin: func(ctx context.Context) (wtx, error) {
			tx, err := pool.Begin(ctx)
			if err != nil {
				return nil, err
			}
			if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", pgLockKey); err != nil {
				tx.Rollback(context.Background())
				return nil, fmt.Errorf("taking the index's write lock: %w", err)
			}
			return &pgTx{tx: tx, rb: rb}, nil
		},
		close: pool.Close,
	}, nil
}

// pgConn is the pool, for reads.
type pgConn struct {
	pool *pgxpool.Pool
	rb   *rebinder
}

func (c *pgConn) query(ctx context.Context, q string, args ...any) (rows, error) {
	return c.pool.Query(ctx, c.rb.rebind(q), args...)
}

func (c *pgConn) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := c.pool.Exec(ctx, c.rb.rebind(q), args...)
	return tag.RowsAffected(), err
}

// pgTx is a write transaction holding the advisory lock. Bulk operations
// COPY rows in, or send arrays and unnest them: a round trip or two per
// table per Add.
type pgTx struct {
	tx pgx.Tx
	rb *rebinder
}

func (t *pgTx) query(ctx context.Context, q string, args ...any) (rows, error) {
	return t.tx.Query(ctx, t.rb.rebind(q), args...)
}

func (t *pgTx) exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.tx.Exec(ctx, t.rb.rebind(q), args...)
	return tag.RowsAffected(), err
}

// insertEntries copies rows in: COPY is several times faster than
// INSERT.
func (t *pgTx) insertEntries(ctx context.Context, rs []entryRow) error {
	if len(rs) == 0 {
		return nil
	}
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"entries"}, []string{"log", "idx", "kind", "ts", "leaf", "data"},
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
			r := &rs[i]
			return []any{int32(r.log), r.idx, int32(r.kind), r.ts, r.leaf, r.data}, nil
		}))
	return err
}

func (t *pgTx) insertPostings(ctx context.Context, pt postingTable, ps []posting) error {
	if len(ps) == 0 {
		return nil
	}
	if pt.seg {
		_, err := t.tx.CopyFrom(ctx, pgx.Identifier{pt.name}, []string{"log", "seg", pt.key, "idx"},
			pgx.CopyFromSlice(len(ps), func(i int) ([]any, error) {
				p := &ps[i]
				return []any{int32(p.log), seg(p.idx), int32(p.key), p.idx}, nil
			}))
		return err
	}
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{pt.name}, []string{pt.key, "log", "idx"},
		pgx.CopyFromSlice(len(ps), func(i int) ([]any, error) {
			p := &ps[i]
			return []any{p.key, int32(p.log), p.idx}, nil
		}))
	return err
}

func (t *pgTx) deletePostings(ctx context.Context, pt postingTable, ps []posting) error {
	if len(ps) == 0 {
		return nil
	}
	keys, logs, idxs := make([]int64, len(ps)), make([]int32, len(ps)), make([]int64, len(ps))
	for i, p := range ps {
		keys[i], logs[i], idxs[i] = p.key, int32(p.log), p.idx
	}
	cond := "t." + pt.key + " = u.k AND t.log = u.log AND t.idx = u.idx"
	if pt.seg {
		cond = "t.log = u.log AND t.seg = u.idx >> " + strconv.Itoa(hashSegShift) + " AND " + cond
	}
	_, err := t.tx.Exec(ctx, "DELETE FROM "+pt.name+" t USING unnest($1::bigint[], $2::integer[], $3::bigint[]) AS u(k, log, idx) WHERE "+cond,
		keys, logs, idxs)
	return err
}

func (t *pgTx) addCounts(ctx context.Context, deltas map[int64]int64) error {
	ids := make([]int64, 0, len(deltas))
	for id, d := range deltas {
		if d != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	ds := make([]int64, len(ids))
	for i, id := range ids {
		ds[i] = deltas[id]
	}
	_, err := t.tx.Exec(ctx, "UPDATE principals AS p SET n = p.n + u.d FROM unnest($1::bigint[], $2::bigint[]) AS u(id, d) WHERE p.id = u.id", ids, ds)
	return err
}

func (t *pgTx) asyncCommit(ctx context.Context) error {
	_, err := t.tx.Exec(ctx, "SELECT set_config('synchronous_commit', 'off', true)")
	return err
}

func (t *pgTx) commit(ctx context.Context) error { return t.tx.Commit(ctx) }

func (t *pgTx) rollback() { t.tx.Rollback(context.Background()) }
