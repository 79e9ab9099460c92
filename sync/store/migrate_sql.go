package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// The statements of MigrateToPostgres and VerifyCopy. The source is read
// with the statements both engines speak (quoted names, ORDER BY), so one
// code path reads and sums either side.

// rawQuerier reads either engine: a *sql.Tx or *sql.DB.
type rawQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// source is the SQLite file being copied, inside a transaction that holds
// its write lock (BEGIN IMMEDIATE): one snapshot, and no server writes to
// it meanwhile.
type source struct {
	db *sql.DB
	tx *sql.Tx
}

func openSource(ctx context.Context, file string) (*source, error) {
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(file),
		RawQuery: "_busy_timeout=10000&_txlock=immediate"}
	db, err := sql.Open("sqlite3", u.String())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("lock %s (is a server still writing to it? stop it first): %w", file, err)
	}
	return &source{db: db, tx: tx}, nil
}

func (s *source) close() {
	s.tx.Rollback() // it wrote nothing
	s.db.Close()
}

// pgTable is a table of the target, as PostgreSQL describes it.
type pgTable struct {
	name string
	cols []pgColumn
	// key is the primary key's columns, in order.
	key []string
}

type pgColumn struct {
	name string
	// typ is information_schema's data_type: bigint, text, bytea...
	typ      string
	identity bool
}

func quoted(name string) string { return `"` + strings.ReplaceAll(name, `"`, `""`) + `"` }

func (t pgTable) columnList() string {
	names := make([]string, len(t.cols))
	for i, c := range t.cols {
		names[i] = quoted(c.name)
	}
	return strings.Join(names, ", ")
}

func (t pgTable) selectAll() string {
	key := make([]string, len(t.key))
	for i, k := range t.key {
		key[i] = quoted(k)
	}
	return fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", t.columnList(), quoted(t.name), strings.Join(key, ", "))
}

// copyTables are the target's tables (all but the schema version), users
// first (other tables refer to it), after checking that the source has
// the same tables with the same columns.
func copyTables(ctx context.Context, src rawQuerier, dst *sql.DB) ([]pgTable, error) {
	names, err := strs(ctx, dst, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'villagesync_schema'`)
	if err != nil {
		return nil, fmt.Errorf("target tables: %w", err)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == "users") != (b == "users") {
			if a == "users" {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	have, err := strs(ctx, src, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, fmt.Errorf("source tables: %w", err)
	}
	if a, b := slices.Sorted(slices.Values(have)), slices.Sorted(slices.Values(names)); !slices.Equal(a, b) {
		return nil, fmt.Errorf("the source's tables %v are not the target's %v", a, b)
	}
	var tables []pgTable
	for _, name := range names {
		t := pgTable{name: name}
		rows, err := dst.QueryContext(ctx, `SELECT column_name, data_type, is_identity = 'YES'
			FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1
			ORDER BY ordinal_position`, name)
		if err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		for rows.Next() {
			var c pgColumn
			if err := rows.Scan(&c.name, &c.typ, &c.identity); err != nil {
				rows.Close()
				return nil, fmt.Errorf("columns of %s: %w", name, err)
			}
			t.cols = append(t.cols, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("columns of %s: %w", name, err)
		}
		if t.key, err = strs(ctx, dst, `SELECT a.attname FROM pg_index i
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
			WHERE i.indrelid = to_regclass($1) AND i.indisprimary
			ORDER BY array_position(i.indkey::int2[], a.attnum)`, quoted(name)); err != nil {
			return nil, fmt.Errorf("primary key of %s: %w", name, err)
		}
		if len(t.key) == 0 {
			return nil, fmt.Errorf("table %s has no primary key to copy it in order by", name)
		}
		srcCols, err := strs(ctx, src, `SELECT name FROM pragma_table_info(?)`, name)
		if err != nil {
			return nil, fmt.Errorf("source columns of %s: %w", name, err)
		}
		var dstCols []string
		for _, c := range t.cols {
			dstCols = append(dstCols, c.name)
		}
		if a, b := slices.Sorted(slices.Values(srcCols)), slices.Sorted(slices.Values(dstCols)); !slices.Equal(a, b) {
			return nil, fmt.Errorf("the source's columns of %s %v are not the target's %v", name, a, b)
		}
		tables = append(tables, t)
	}
	return tables, nil
}

func strs(ctx context.Context, q rawQuerier, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// refuseUsed refuses a target that holds more than a server's first start
// writes (meta, the seeds, its box keys, replica 1): a server's data is
// never replaced by a copy. It takes the feed lock, so a server started
// on the target meanwhile cannot write until the copy commits.
func refuseUsed(ctx context.Context, tx *sql.Tx, target string) error {
	var seq, users, devices int64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq' FOR UPDATE`).Scan(&seq); err != nil {
		return fmt.Errorf("migrate: read the target's feed: %w", err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM replicas WHERE id <> 1)`).
		Scan(&users, &devices); err != nil {
		return fmt.Errorf("migrate: read the target: %w", err)
	}
	if seq != 0 || users != 0 || devices != 0 {
		return fmt.Errorf("migrate: %s already holds a server's data (%d users, %d devices, %d changes): "+
			"copy into a new, empty database (CREATE DATABASE ...)", target, users, devices, seq)
	}
	return nil
}

// emptyTables removes what the target's first start wrote; the copy
// brings the source's own.
func emptyTables(ctx context.Context, tx *sql.Tx, tables []pgTable) error {
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = quoted(t.name)
	}
	if _, err := tx.ExecContext(ctx, "TRUNCATE "+strings.Join(names, ", ")); err != nil {
		return fmt.Errorf("migrate: empty the target: %w", err)
	}
	return nil
}

// Rows go in multi-row INSERTs of up to copyBatchRows rows or about
// copyBatchBytes of values (attachments' data is large).
const (
	copyBatchRows  = 500
	copyBatchBytes = 8 << 20
)

// copyTable copies t's rows from the source to the target.
func copyTable(ctx context.Context, src *sql.Tx, dst *sql.Tx, t pgTable) (int64, error) {
	rows, err := src.QueryContext(ctx, t.selectAll())
	if err != nil {
		return 0, fmt.Errorf("migrate: read %s: %w", t.name, err)
	}
	defer rows.Close()
	vals, ptrs := scanSlots(len(t.cols))
	// PostgreSQL takes at most 65535 parameters a statement.
	perBatch := min(copyBatchRows, 65535/len(t.cols)) * len(t.cols)
	var batch []any
	var n, size int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s (%s) VALUES ", quoted(t.name), t.columnList())
		for i := range batch {
			switch {
			case i%len(t.cols) == 0 && i > 0:
				b.WriteString("), (")
			case i == 0:
				b.WriteString("(")
			default:
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "$%d", i+1)
		}
		b.WriteString(")")
		if _, err := dst.ExecContext(ctx, b.String(), batch...); err != nil {
			return fmt.Errorf("migrate: write %s: %w", t.name, err)
		}
		batch, size = batch[:0], 0
		return nil
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, fmt.Errorf("migrate: read %s: %w", t.name, err)
		}
		for i, c := range t.cols {
			v, err := convert(vals[i], c.typ)
			if err != nil {
				return n, fmt.Errorf("migrate: %s.%s: %w", t.name, c.name, err)
			}
			switch x := v.(type) {
			case []byte:
				size += int64(len(x))
			case string:
				size += int64(len(x))
			}
			batch = append(batch, v)
		}
		n++
		if len(batch) >= perBatch || size >= copyBatchBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("migrate: read %s: %w", t.name, err)
	}
	return n, flush()
}

// setIdentities moves every identity past the highest id copied, and past
// the highest SQLite ever handed out (sqlite_sequence: AUTOINCREMENT never
// reuses the id of a deleted row, and neither may the copy).
func setIdentities(ctx context.Context, src *sql.Tx, dst *sql.Tx, tables []pgTable) error {
	handed := map[string]int64{}
	rows, err := src.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return fmt.Errorf("migrate: read sqlite_sequence: %w", err)
	}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read sqlite_sequence: %w", err)
		}
		handed[name] = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("migrate: read sqlite_sequence: %w", err)
	}
	for _, t := range tables {
		for _, c := range t.cols {
			if !c.identity {
				continue
			}
			var hi sql.NullInt64
			if err := dst.QueryRowContext(ctx, fmt.Sprintf("SELECT max(%s) FROM %s", quoted(c.name), quoted(t.name))).
				Scan(&hi); err != nil {
				return fmt.Errorf("migrate: highest %s.%s: %w", t.name, c.name, err)
			}
			last := max(hi.Int64, handed[t.name])
			if last <= 0 {
				continue
			}
			if _, err := dst.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), $3)`,
				quoted(t.name), c.name, last); err != nil {
				return fmt.Errorf("migrate: identity of %s.%s: %w", t.name, c.name, err)
			}
		}
	}
	return nil
}

// scanSlots are n values to scan a row into, and pointers to them.
func scanSlots(n int) ([]any, []any) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, ptrs
}
