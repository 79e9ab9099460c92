package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

func (t *sqliteTxn) saveFeedPosition(ctx context.Context, seq uint64) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'seq'`, int64(seq)); err != nil {
		return fmt.Errorf("save sequence: %w", err)
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(t.s.clock.Last()))
	if err != nil {
		return fmt.Errorf("save clock: %w", err)
	}
	return nil
}

// flagQuery is the look-up of the records f pairs with r, or ok false
// when r is not a case of f at all (a returned loan). The Match columns
// come first, in their declared order, each an equality, so the Lookups
// index that starts with them answers it (a busy day has many groups); an
// empty optional column is an IS NULL OR, which leaves the index the
// columns before it (schema's tests hold optional ones to the end).
func flagQuery(t *schema.Table, f *schema.Flag, r *record.Record) (q string, args []any, ok bool) {
	var where []string
	for _, name := range f.Match {
		v := r.Fields[name].Value.Text
		if v == "" && !t.Column(name).Required {
			where = append(where, fmt.Sprintf("(%[1]s IS NULL OR %[1]s = ?)", name))
		} else {
			where = append(where, name+" = ?")
		}
		args = append(args, v)
	}
	for _, name := range f.WhileNull {
		if !r.Fields[name].Value.IsNull() {
			return "", nil, false
		}
		where = append(where, name+" IS NULL")
	}
	where = append(where, "_deleted = 0", "id != ?")
	q = fmt.Sprintf(`SELECT id, COALESCE(%s, '') FROM %s WHERE %s ORDER BY id LIMIT %s`,
		f.Label, t.Name, strings.Join(where, " AND "), maxFlagged)
	return q, append(args, r.ID), true
}

func (t *sqliteTxn) findFlagPartners(ctx context.Context, tbl *schema.Table, f *schema.Flag,
	r *record.Record) ([]flagPartner, error) {
	q, args, ok := flagQuery(tbl, f, r)
	if !ok {
		return nil, nil
	}
	rs, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var others []flagPartner
	for rs.Next() {
		var o flagPartner
		if err := rs.Scan(&o.id, &o.label); err != nil {
			return nil, err
		}
		others = append(others, o)
	}
	return others, rs.Err()
}

func (t *sqliteTxn) flagLogged(ctx context.Context, table, kind, later, first string) (bool, error) {
	var exists int
	err := t.tx.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE tbl = ? AND kind = ?
			AND ((record_id = ? AND other_id = ?) OR (record_id = ? AND other_id = ?))`,
		table, kind, later, first, first, later).Scan(&exists)
	return exists > 0, err
}

func (t *sqliteTxn) insertFlag(ctx context.Context, table, later, first, field, kind,
	partnerLabel, writtenLabel string, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO conflicts (tbl, record_id, other_id, field, kind,
			winner_type, winner_value, winner_replica, winner_counter, winner_hlc,
			loser_type, loser_value, loser_replica, loser_counter, loser_hlc,
			server_vv, incoming_vv, detected_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, 0, 0, 0, x'', x'', ?)`,
		table, later, first, field, kind, int(schema.Text), partnerLabel, int(schema.Text), writtenLabel,
		now.UnixMilli())
	return err
}

func (t *sqliteTxn) flagPairMatches(ctx context.Context, tbl *schema.Table, f *schema.Flag, a, b string) (bool, error) {
	var where []string
	for _, name := range f.Match {
		if tbl.Column(name).Required {
			where = append(where, fmt.Sprintf("a.%[1]s = b.%[1]s", name))
		} else {
			where = append(where, fmt.Sprintf("COALESCE(a.%[1]s, '') = COALESCE(b.%[1]s, '')", name))
		}
	}
	for _, name := range f.WhileNull {
		where = append(where, fmt.Sprintf("a.%[1]s IS NULL AND b.%[1]s IS NULL", name))
	}
	var same int
	q := fmt.Sprintf(`SELECT count(*) FROM %[1]s a JOIN %[1]s b ON b.id = ? WHERE a.id = ? AND b._deleted = 0 AND %[2]s`,
		tbl.Name, strings.Join(where, " AND "))
	err := t.tx.QueryRowContext(ctx, q, b, a).Scan(&same)
	return same > 0, err
}

func (t *sqliteTxn) resolveConflictEntry(ctx context.Context, id uint64, resolution, by string, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE conflicts SET resolution = ?, resolved_ms = ?, resolved_by = ? WHERE id = ?`,
		resolution, now.UnixMilli(), by, int64(id))
	return err
}

func (t *sqliteTxn) loadServerRecord(ctx context.Context, tbl *schema.Table, id string) (*record.Record, error) {
	var curSeq int64
	return sqlite.Scan(tbl, t.tx.StmtContext(ctx, t.s.stmts[tbl.Name]["get"]).QueryRowContext(ctx, id), &curSeq)
}

func (t *sqliteTxn) upsertServerRecord(ctx context.Context, tbl *schema.Table, r *record.Record, seq uint64) error {
	_, err := t.tx.StmtContext(ctx, t.s.stmts[tbl.Name]["upsert"]).ExecContext(ctx,
		sqlite.Args(tbl, r, int64(seq), int64(ServerReplica))...)
	return err
}
