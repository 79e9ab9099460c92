package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Columns lists the columns Scan reads, in order, for a SELECT.
func Columns(t *schema.Table) string {
	return "id, " + strings.Join(t.ColumnNames(), ", ") + ", _vv, _dots, _tomb"
}

// Upsert returns an INSERT OR REPLACE statement for t writing the replicated
// state (see Args) and then the named bookkeeping columns.
func Upsert(t *schema.Table, extra ...string) string { return insert("INSERT OR REPLACE", t, extra) }

// InsertIfAbsent is Upsert that leaves an existing row alone.
func InsertIfAbsent(t *schema.Table, extra ...string) string {
	return insert("INSERT OR IGNORE", t, extra)
}

// InsertColumns lists the columns Args gives values for, then extra.
func InsertColumns(t *schema.Table, extra ...string) []string {
	cols := append(append([]string{"id"}, t.ColumnNames()...), "_vv", "_dots", "_tomb", "_deleted")
	return append(cols, extra...)
}

// Insert returns a plain INSERT statement for t, as Upsert's.
func Insert(t *schema.Table, extra ...string) string { return insert("INSERT", t, extra) }

func insert(verb string, t *schema.Table, extra []string) string {
	cols := InsertColumns(t, extra...)
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	return fmt.Sprintf("%s INTO %s (%s) VALUES (%s)", verb, t.Name, strings.Join(cols, ", "), marks)
}

// Args returns the arguments of Upsert for r, followed by extra.
func Args(t *schema.Table, r *record.Record, extra ...any) []any {
	args := make([]any, 0, len(t.Columns)+5+len(extra))
	args = append(args, r.ID)
	for _, c := range t.Columns {
		args = append(args, r.Fields[c.Name].Value.SQL())
	}
	deleted := 0
	if r.Deleted() {
		deleted = 1
	}
	args = append(args, r.Version.Encode(nil), record.EncodeDots(r.Fields), record.EncodeTombstone(r.Tombstone), deleted)
	return append(args, extra...)
}

// Scanner is a *sql.Row or *sql.Rows.
type Scanner interface{ Scan(dest ...any) error }

// Scan reads a row selected with Columns (then extra columns into extra).
func Scan(t *schema.Table, s Scanner, extra ...any) (*record.Record, error) {
	raw := make([]any, len(t.Columns))
	var id string
	var vvb, dots, tomb []byte
	dest := make([]any, 0, len(raw)+4+len(extra))
	dest = append(dest, &id)
	for i := range raw {
		dest = append(dest, &raw[i])
	}
	dest = append(dest, &vvb, &dots, &tomb)
	dest = append(dest, extra...)
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	version, err := vv.Decode(vvb)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", t.Name, id, err)
	}
	r := &record.Record{Table: t.Name, ID: id, Version: version, Fields: map[string]record.Field{}}
	err = record.DecodeDots(dots, func(name string, d vv.Dot) error {
		for i, c := range t.Columns {
			if c.Name == name {
				v, err := schema.FromSQL(c.Type, raw[i])
				if err != nil {
					return fmt.Errorf("%s.%s: %w", t.Name, name, err)
				}
				r.Fields[name] = record.Field{Value: v, Dot: d}
				return nil
			}
		}
		return fmt.Errorf("%s %s: dot for unknown field %q", t.Name, id, name)
	})
	if err != nil {
		return nil, err
	}
	if r.Tombstone, err = record.DecodeTombstone(tomb); err != nil {
		return nil, fmt.Errorf("%s %s: %w", t.Name, id, err)
	}
	return r, nil
}

// Querier is a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// All reads every record of t (deleted ones included), in id order.
func All(ctx context.Context, q Querier, t *schema.Table) ([]*record.Record, error) {
	rs, err := q.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s ORDER BY id`, Columns(t), t.Name))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rs.Close()
	var out []*record.Record
	for rs.Next() {
		r, err := Scan(t, rs)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Name, err)
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// Villages reads the village resolver from a database's villages table.
func Villages(ctx context.Context, q Querier) (*schema.Villages, error) {
	t, err := schema.Lookup(schema.VillageTable)
	if err != nil {
		return nil, err
	}
	recs, err := All(ctx, q, t)
	if err != nil {
		return nil, err
	}
	return record.VillagesFrom(recs), nil
}
