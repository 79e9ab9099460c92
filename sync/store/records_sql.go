package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

func (v *sqlView) feedPosition(ctx context.Context) (uint64, error) {
	var seq uint64
	if err := v.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq'`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("feed position: %w", err)
	}
	return seq, nil
}

func (v *sqlView) knownVillages(ctx context.Context) (*schema.Villages, error) {
	return sqlite.Villages(ctx, v.tx)
}

// liveRecords reads through the table's scope index (scope, id) — on a
// WITHOUT ROWID table an index on the scope column holds the id too —
// so a village's newest page is a range read backwards, never a scan of
// every village's records; of every village, the primary key is read
// backwards.
func (v *sqlView) liveRecords(ctx context.Context, t *schema.Table, villages []string, beforeID string,
	limit int) ([]*record.Record, error) {
	var where []string
	var args []any
	switch len(villages) {
	case 0:
	case 1:
		where, args = append(where, t.Scope+" = ?"), append(args, villages[0])
	default:
		where = append(where, t.Scope+" IN (?"+strings.Repeat(", ?", len(villages)-1)+")")
		for _, vl := range villages {
			args = append(args, vl)
		}
	}
	if beforeID != "" {
		where, args = append(where, "id < ?"), append(args, beforeID)
	}
	where = append(where, "_deleted = 0")
	q := fmt.Sprintf(`SELECT %s, _seq FROM %s WHERE %s ORDER BY id DESC LIMIT ?`, sqlite.Columns(t), t.Name,
		strings.Join(where, " AND "))
	rows, err := v.tx.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	defer rows.Close()
	var out []*record.Record
	for rows.Next() {
		var seq int64
		r, err := sqlite.Scan(t, rows, &seq)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", t.Name, err)
		}
		r.Seq = uint64(seq)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", t.Name, err)
	}
	return out, nil
}
