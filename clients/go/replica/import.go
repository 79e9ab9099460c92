package replica

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// Row is one row of an import: where it came from (a line of a file, a
// row of a sheet) and its cells as text, keyed by field name or by the
// field's Chinese name. An "id" cell names a record to update; without
// one the row is a new record. Empty cells are left out.
type Row struct {
	Line  int
	Cells map[string]string
}

// RowError is why one row cannot be imported.
type RowError struct {
	Line int
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// ImportError lists the rows of an import that cannot be imported: the
// first MaxRowErrors of them, and how many more there are. When it is
// returned, nothing was imported.
type ImportError struct {
	Table string
	Rows  []RowError
	More  int
}

// MaxRowErrors is how many bad rows an ImportError lists: a sheet with a
// wrong column fails on every row, and a screen of errors says what is
// wrong as well as a million lines would.
const MaxRowErrors = 50

func (e *ImportError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "import into %s: %d row(s) have errors, nothing was imported", e.Table, len(e.Rows)+e.More)
	for _, r := range e.Rows {
		fmt.Fprintf(&b, "\n  %v", r)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", e.More)
	}
	return b.String()
}

// Import writes rows into table as local writes, which sync like any
// other, in one transaction: if any row is wrong it returns an
// *ImportError naming every bad row and writes nothing. It returns the
// records' ids in row order. progress, if not nil, is told how many rows
// are done from time to time.
func (r *Replica) Import(ctx context.Context, table string, in []Row, progress func(done int)) ([]string, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, err
	}
	villages, err := sqlite.Villages(ctx, r.db.R)
	if err != nil {
		return nil, err
	}
	env := schema.Env{Now: time.Now(), Villages: villages}
	columns := map[string]*schema.Column{}
	for i := range t.Columns {
		c := &t.Columns[i]
		columns[c.Name], columns[c.ZH] = c, c
	}

	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("import into %s: %w", table, err)
	}
	defer tx.Rollback()
	// BeginTx watches ctx; each statement watching it too would cost the
	// SQLite driver a goroutine per row. The loop checks ctx itself.
	cancelled := ctx
	ctx = context.WithoutCancel(ctx)
	insert, err := tx.PrepareContext(ctx, sqlite.Upsert(t, "_own", "_acked"))
	if err != nil {
		return nil, fmt.Errorf("import into %s: %w", table, err)
	}
	defer insert.Close()
	bad := &ImportError{Table: table}
	ids := make([]string, len(in))
	for i, row := range in {
		if progress != nil && i%1000 == 0 {
			progress(i)
		}
		if err := cancelled.Err(); err != nil {
			return nil, err
		}
		// A field named twice in one row (village and 村) would let one of
		// the two win silently; a header is checked once by CheckHeader.
		err := checkColumns(t, slices.Sorted(maps.Keys(row.Cells)), false)
		var id string
		var values map[string]schema.Value
		if err == nil {
			id, values, err = parseRow(t, columns, row.Cells, env)
		}
		if err == nil {
			ids[i] = id
			var fatal error
			if err, fatal = r.importOne(ctx, tx, insert, t, id, row.Cells["id"] == "", values); fatal != nil {
				// SQLite may have rolled the transaction back already (a
				// full disk does): stop, or later rows would commit alone.
				return nil, fmt.Errorf("import into %s, line %d: %w; nothing was imported", table, row.Line, fatal)
			}
		}
		if err != nil && len(bad.Rows) < MaxRowErrors {
			bad.Rows = append(bad.Rows, RowError{Line: row.Line, Err: err})
		} else if err != nil {
			bad.More++
		}
	}
	if len(bad.Rows) > 0 {
		return nil, bad
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("import into %s: %w", table, err)
	}
	if progress != nil {
		progress(len(in))
	}
	return ids, nil
}

// parseRow turns a row's cells into checked values and the record's id.
func parseRow(t *schema.Table, columns map[string]*schema.Column, cells map[string]string,
	env schema.Env) (string, map[string]schema.Value, error) {
	values := make(map[string]schema.Value, len(cells))
	for name, text := range cells {
		if name == "id" || text == "" {
			continue
		}
		c := columns[name]
		if c == nil {
			return "", nil, fmt.Errorf("%s.%s: unknown field (known: %v)", t.Name, name, t.ColumnNames())
		}
		v, err := c.Parse(text)
		if err != nil {
			return "", nil, fmt.Errorf("%s.%w", t.Name, err)
		}
		values[c.Name] = v
	}
	if len(values) == 0 {
		return "", nil, fmt.Errorf("%s: the row has no values", t.Name)
	}
	values, err := checkValues(t, values, env)
	if err != nil {
		return "", nil, err
	}
	id, err := newOrCheckID(cells["id"])
	return id, values, err
}

// importOne writes one row inside the import's transaction: rowErr is
// what is wrong with the row, fatal a database error that ends the import.
// A new record (no id given) skips reading the row it cannot have.
func (r *Replica) importOne(ctx context.Context, tx *sql.Tx, insert *sql.Stmt, t *schema.Table, id string, fresh bool,
	values map[string]schema.Value) (rowErr, fatal error) {
	rec := &record.Record{Table: t.Name, ID: id, Fields: map[string]record.Field{}}
	var acked uint64
	if !fresh {
		cur, a, err := getRow(ctx, tx, t, id)
		if err != nil {
			return nil, err
		}
		if cur != nil {
			rec, acked = cur, a
		}
	}
	rec.Version = rec.Version.Clone()
	k := rec.Version.Bump(r.id)
	ts := r.clock.Now()
	for name, v := range values {
		rec.Fields[name] = record.Field{Value: v, Dot: dot(r.id, k, ts)}
	}
	if err := record.CheckRequired(rec, func(name string) bool { _, ok := values[name]; return ok }); err != nil {
		return err, nil
	}
	if _, err := insert.ExecContext(ctx, sqlite.Args(t, rec, int64(k), int64(acked))...); err != nil {
		return nil, fmt.Errorf("write %s %s: %w", t.Name, id, err)
	}
	return nil, nil
}
