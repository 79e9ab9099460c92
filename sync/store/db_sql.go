package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres"
)

// The store's statements are written once, with ? placeholders, in the
// SQL that SQLite and PostgreSQL both speak (INSERT ... ON CONFLICT,
// COALESCE, CASE, RETURNING). sqlDB and sqlTx run them on either engine:
// on PostgreSQL they rebind the placeholders to $n and mark the errors
// that say the database failed with ErrStorageUnavailable (the SQLite
// driver marks its own). The few statements that must differ ask the
// dialect (sqlDialect.pick).

// sqlDialect says which engine a backend runs on.
type sqlDialect struct{ pg bool }

func (d sqlDialect) q(query string) string {
	if d.pg {
		return postgres.Rebind(query)
	}
	return query
}

// args adapts arguments to PostgreSQL: bools as 0 and 1, as SQLite
// stores them (the store's flags and Booleans are BIGINT columns on both
// engines); and a NUL in text, which PostgreSQL's text cannot hold, as
// U+FFFD. Record values never hold one (schema refuses control
// characters), but a refused change's id or table is kept for staff as
// the device sent it, and a lookup by such an id must find nothing rather
// than fail the push it is part of.
func (d sqlDialect) args(args []any) []any {
	if !d.pg {
		return args
	}
	var out []any
	for i, a := range args {
		var v any
		switch x := a.(type) {
		case bool:
			v = boolInt(x)
		case string:
			if strings.IndexByte(x, 0) < 0 {
				continue
			}
			v = strings.ReplaceAll(x, "\x00", "\uFFFD")
		default:
			continue
		}
		if out == nil {
			// A copy: the caller's slice may be reused.
			out = append([]any(nil), args...)
		}
		out[i] = v
	}
	if out == nil {
		return args
	}
	return out
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (d sqlDialect) mark(err error) error {
	if err == nil || !d.pg || !postgres.Unavailable(err) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorageUnavailable, err)
}

// pick returns the statement for this engine, where the two must differ.
func (d sqlDialect) pick(sqlite, pg string) string {
	if d.pg {
		return pg
	}
	return sqlite
}

// loggedValue is v as the conflict log keeps it: SQLite keeps a value
// untyped, as it is; PostgreSQL's column is text, so a number goes as its
// exact text (schema.FromSQL reads it back by the logged type).
func (d sqlDialect) loggedValue(v schema.Value) any {
	x := v.SQL()
	if !d.pg {
		return x
	}
	switch n := x.(type) {
	case int64:
		return strconv.FormatInt(n, 10)
	case float64:
		return strconv.FormatFloat(n, 'g', -1, 64)
	}
	return x
}

// joined is the aggregate joining expr's values with sep (an SQL
// expression): group_concat on SQLite, string_agg on PostgreSQL.
func (d sqlDialect) joined(expr, sep string) string {
	return d.pick("group_concat(", "string_agg(") + expr + ", " + sep + ")"
}

// contains is the condition that text a contains text b.
func (d sqlDialect) contains(a, b string) string {
	return d.pick("instr(", "strpos(") + a + ", " + b + ") > 0"
}

// unitSep is the SQL for the character that joins villages (villageSep).
func (d sqlDialect) unitSep() string { return d.pick("char(31)", "chr(31)") }

// dialected is what has a dialect: sqlDB and *sqlTx.
type dialected interface {
	pick(sqlite, pg string) string
	joined(expr, sep string) string
	contains(a, b string) string
	unitSep() string
}

// sqlDB is a pool of one engine.
type sqlDB struct {
	db *sql.DB
	sqlDialect
}

func (d sqlDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := d.db.ExecContext(ctx, d.q(query), d.args(args)...)
	return r, d.mark(err)
}

func (d sqlDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := d.db.QueryContext(ctx, d.q(query), d.args(args)...)
	return r, d.mark(err)
}

func (d sqlDB) QueryRowContext(ctx context.Context, query string, args ...any) *sqlRow {
	return &sqlRow{d.db.QueryRowContext(ctx, d.q(query), d.args(args)...), d.sqlDialect}
}

func (d sqlDB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := d.db.PrepareContext(ctx, d.q(query))
	return st, d.mark(err)
}

func (d sqlDB) PingContext(ctx context.Context) error { return d.mark(d.db.PingContext(ctx)) }

func (d sqlDB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sqlTx, error) {
	tx, err := d.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, d.mark(err)
	}
	return &sqlTx{tx, d.sqlDialect}, nil
}

// sqlTx is a transaction of one engine.
type sqlTx struct {
	tx *sql.Tx
	sqlDialect
}

func (t *sqlTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	r, err := t.tx.ExecContext(ctx, t.q(query), t.args(args)...)
	return r, t.mark(err)
}

func (t *sqlTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	r, err := t.tx.QueryContext(ctx, t.q(query), t.args(args)...)
	return r, t.mark(err)
}

func (t *sqlTx) QueryRowContext(ctx context.Context, query string, args ...any) *sqlRow {
	return &sqlRow{t.tx.QueryRowContext(ctx, t.q(query), t.args(args)...), t.sqlDialect}
}

func (t *sqlTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	st, err := t.tx.PrepareContext(ctx, t.q(query))
	return st, t.mark(err)
}

// stmtQueryRow and stmtExec run the prepared statement st (prepared with
// sqlDB's PrepareContext, so already rebound) in this transaction.
func (t *sqlTx) stmtQueryRow(ctx context.Context, st *sql.Stmt, args ...any) *sqlRow {
	return &sqlRow{t.tx.StmtContext(ctx, st).QueryRowContext(ctx, t.args(args)...), t.sqlDialect}
}

func (t *sqlTx) stmtExec(ctx context.Context, st *sql.Stmt, args ...any) (sql.Result, error) {
	r, err := t.tx.StmtContext(ctx, st).ExecContext(ctx, t.args(args)...)
	return r, t.mark(err)
}

func (t *sqlTx) Commit() error   { return t.mark(t.tx.Commit()) }
func (t *sqlTx) Rollback() error { return t.tx.Rollback() }

// sqlRow is a *sql.Row whose Scan marks storage failures.
type sqlRow struct {
	row *sql.Row
	d   sqlDialect
}

func (r *sqlRow) Scan(dest ...any) error { return r.d.mark(r.row.Scan(dest...)) }
func (r *sqlRow) Err() error             { return r.d.mark(r.row.Err()) }

// Querier reads the database directly, for tests and tools: statements
// written with ? placeholders, on either engine.
type Querier struct{ d sqlDB }

// Reader is the read pool, as a Querier.
func (s *Store) Reader() Querier { return Querier{s.r} }

func (q Querier) QueryRow(query string, args ...any) *sql.Row {
	return q.d.db.QueryRow(q.d.q(query), q.d.args(args)...)
}

func (q Querier) Query(query string, args ...any) (*sql.Rows, error) {
	return q.d.db.Query(q.d.q(query), q.d.args(args)...)
}

func (q Querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.d.QueryContext(ctx, query, args...)
}

// Postgres says the database is PostgreSQL (a test's SQLite-only
// statement skips there).
func (q Querier) Postgres() bool { return q.d.pg }

// Exec, Query and QueryRow without a context, for tests.
func (d sqlDB) Exec(query string, args ...any) (sql.Result, error) {
	return d.ExecContext(context.Background(), query, args...)
}
func (d sqlDB) Query(query string, args ...any) (*sql.Rows, error) {
	return d.QueryContext(context.Background(), query, args...)
}
func (d sqlDB) QueryRow(query string, args ...any) *sqlRow {
	return d.QueryRowContext(context.Background(), query, args...)
}
func (t *sqlTx) Exec(query string, args ...any) (sql.Result, error) {
	return t.ExecContext(context.Background(), query, args...)
}
func (t *sqlTx) Query(query string, args ...any) (*sql.Rows, error) {
	return t.QueryContext(context.Background(), query, args...)
}
func (t *sqlTx) QueryRow(query string, args ...any) *sqlRow {
	return t.QueryRowContext(context.Background(), query, args...)
}
