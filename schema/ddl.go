package schema

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
)

// Role says which end of sync a database is: the bookkeeping columns differ.
type Role uint8

const (
	Server Role = iota
	Device
)

// Bookkeeping columns, shared by both roles. _vv is the record's version
// vector, _dots the per-field dots, _tomb the tombstone (NULL when never
// deleted) and _deleted whether the record is deleted now (derived from
// the others, kept as a column so queries can filter on it).
const syncColumns = `_vv BLOB NOT NULL, _dots BLOB NOT NULL, _tomb BLOB, _deleted INTEGER NOT NULL DEFAULT 0`

// Server: _seq orders the change feed; _origin is the replica that holds
// exactly this state already (it is not sent back to it). Device: _own is
// this replica's entry of _vv, _acked the highest of it the server has
// acknowledged; _own > _acked means there is something to push; _gen is
// the re-pull generation that last confirmed the row (see replica); _seq
// the server's feed position of the state (0: not known).
var roleColumns = map[Role]string{
	Server: `_seq INTEGER NOT NULL, _origin INTEGER NOT NULL`,
	Device: `_own INTEGER NOT NULL DEFAULT 0, _acked INTEGER NOT NULL DEFAULT 0, ` +
		`_gen INTEGER NOT NULL DEFAULT 0, _seq INTEGER NOT NULL DEFAULT 0`,
}

var roleIndexes = map[Role][]string{
	Server: {`CREATE INDEX IF NOT EXISTS %[1]s_feed ON %[1]s(_seq, _origin)`},
	// Only pending rows, keyed by id: the device reads them in id order a
	// page at a time (`_own > _acked AND id > ? ORDER BY id`), and every
	// sync does, idle or not. Keyed by _own (the first version), the index
	// could not give that order, so SQLite walked the primary key over
	// every row the device holds instead: an idle sync among 100,000
	// records cost 60-80 ms. The old index is dropped from files that
	// have it (this one serves its count too), so writes keep one.
	Device: {
		`CREATE INDEX IF NOT EXISTS %[1]s_pending_ids ON %[1]s(id) WHERE _own > _acked`,
		`DROP INDEX IF EXISTS %[1]s_pending`,
	},
}

// Dialect is the SQL engine a database runs on: the devices' and the
// embedded server's SQLite, or a server's PostgreSQL.
type Dialect uint8

const (
	SQLite Dialect = iota
	Postgres
)

// sqlType is a column's type in d. On PostgreSQL: 64-bit integers as
// SQLite's, and text that compares byte by byte (COLLATE "C"), as SQLite's
// BINARY collation does, so ids sort and compare alike on both engines.
func sqlType(t Type, d Dialect) string {
	switch {
	case (t == Integer || t == Boolean) && d == Postgres:
		return "BIGINT"
	case t == Integer || t == Boolean:
		return "INTEGER"
	case t == Real && d == Postgres:
		return "DOUBLE PRECISION"
	case t == Real:
		return "REAL"
	case d == Postgres:
		return `TEXT COLLATE "C"`
	}
	return "TEXT"
}

// pgSyncColumns are syncColumns on PostgreSQL.
const pgSyncColumns = `_vv BYTEA NOT NULL, _dots BYTEA NOT NULL, _tomb BYTEA, _deleted BIGINT NOT NULL DEFAULT 0`

// DDL returns the statements that create t for role on SQLite, on an
// empty database.
func (t *Table) DDL(role Role) []string { return t.DialectDDL(role, SQLite) }

// DialectDDL returns the statements that create t for role in d.
func (t *Table) DialectDDL(role Role, d Dialect) []string {
	var cols []string
	cols = append(cols, "id "+sqlType(Text, d)+" PRIMARY KEY NOT NULL")
	for _, c := range t.Columns {
		cols = append(cols, fmt.Sprintf("%s %s", c.Name, sqlType(c.Type, d)))
	}
	create := "CREATE TABLE IF NOT EXISTS %s (%s) WITHOUT ROWID"
	if d == Postgres {
		cols = append(cols, pgSyncColumns, strings.ReplaceAll(roleColumns[role], "INTEGER", "BIGINT"))
		create = "CREATE TABLE IF NOT EXISTS %s (%s)"
	} else {
		cols = append(cols, syncColumns, roleColumns[role])
	}
	stmts := []string{fmt.Sprintf(create, t.Name, strings.Join(cols, ", "))}
	for _, ix := range roleIndexes[role] {
		stmts = append(stmts, fmt.Sprintf(ix, t.Name))
	}
	if role == Server {
		// The console lists a village's records newest first
		// (ListRecords): an index on the scope column — on a WITHOUT ROWID
		// table it holds the id too — makes that a range read.
		if t.Scope != "" && !slices.ContainsFunc(t.Lookups, func(c []string) bool {
			return len(c) == 1 && c[0] == t.Scope
		}) {
			stmts = append(stmts, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_by_%s ON %s(%s)",
				t.Name, t.Scope, t.Name, t.Scope))
		}
		for _, cols := range t.Lookups {
			stmts = append(stmts, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s_by_%s ON %s(%s)",
				t.Name, strings.Join(cols, "_"), t.Name, strings.Join(cols, ", ")))
		}
	}
	return stmts
}

// Execer is what Migrate needs: a *sql.DB, *sql.Conn or *sql.Tx.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Migrate brings the program tables of a database up to this schema:
// creates missing tables and adds missing columns. Columns are never
// dropped or retyped here, so an older device keeps syncing the fields it
// knows; removing a field is a deliberate migration of its own.
func Migrate(ctx context.Context, db Execer, role Role) error {
	return MigrateDialect(ctx, db, role, SQLite)
}

// MigrateDialect is Migrate on a database of dialect d.
func MigrateDialect(ctx context.Context, db Execer, role Role, d Dialect) error {
	for _, t := range tables {
		// The table first, then columns an older version lacked, then the
		// indexes (which may be on those columns).
		stmts := t.DialectDDL(role, d)
		if _, err := db.ExecContext(ctx, stmts[0]); err != nil {
			return fmt.Errorf("create table %s: %w", t.Name, err)
		}
		have, err := existingColumns(ctx, db, t.Name, d)
		if err != nil {
			return err
		}
		for _, c := range t.Columns {
			if have[c.Name] {
				continue
			}
			stmt := fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", t.Name, c.Name, sqlType(c.Type, d))
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("add column %s.%s: %w", t.Name, c.Name, err)
			}
		}
		// Bookkeeping columns a newer version added.
		for _, col := range []string{"_gen", "_seq"} {
			if role == Device && !have[col] {
				if _, err := db.ExecContext(ctx,
					fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s INTEGER NOT NULL DEFAULT 0", t.Name, col)); err != nil {
					return fmt.Errorf("add column %s.%s: %w", t.Name, col, err)
				}
			}
		}
		for _, stmt := range stmts[1:] {
			if _, err := db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("index %s: %w", t.Name, err)
			}
		}
	}
	return nil
}

func existingColumns(ctx context.Context, db Execer, table string, d Dialect) (map[string]bool, error) {
	q := "SELECT name FROM pragma_table_info(?)"
	if d == Postgres {
		// The caller rebinds ? (it is the store's sqlTx).
		q = "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?"
	}
	rows, err := db.QueryContext(ctx, q, table)
	if err != nil {
		return nil, fmt.Errorf("columns of %s: %w", table, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", table, err)
		}
		have[name] = true
	}
	return have, rows.Err()
}
