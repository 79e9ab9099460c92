package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

func (t *sqlTxn) saveFeedPosition(ctx context.Context, seq uint64) error {
	if t.s.naiveFeed {
		// The reservation moved the head; writing meta here would take
		// its rows' locks to commit, which is the real design.
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'seq'`, int64(seq)); err != nil {
		return fmt.Errorf("save sequence: %w", err)
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(t.s.clock.Last()))
	if err != nil {
		return fmt.Errorf("save clock: %w", err)
	}
	return nil
}

// flagQuery is the look-up of the records f pairs with r, by id, or ok false
// when r is not a case of f at all (a returned loan). The Match columns
// come first, in their declared order, each an equality, so the Lookups
// index that starts with them answers it (a busy day has many groups); an
// empty optional column is an IS NULL OR, which leaves the index the
// columns before it (schema's tests hold optional ones to the end).
func flagQuery(t *schema.Table, f *schema.Flag, r *record.Record) (q string, args []any, ok bool) {
	where, args, ok := flagWhere(t, f, r)
	q = fmt.Sprintf(`SELECT id, COALESCE(%s, '') AS label FROM %s WHERE %s ORDER BY id`, f.Label, t.Name, where)
	return q, args, ok
}

// flagExistsQuery says whether flagQuery finds any record: most pushed
// records have no partner, and ORDER BY ... LIMIT 1 costs a sort's set-up
// even when nothing matches (a third of a push of new records went to
// it; an aggregate min(id) made SQLite walk the primary key instead).
func flagExistsQuery(t *schema.Table, f *schema.Flag, r *record.Record) (q string, args []any, ok bool) {
	where, args, ok := flagWhere(t, f, r)
	return fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s WHERE %s)`, t.Name, where), args, ok
}

func flagWhere(t *schema.Table, f *schema.Flag, r *record.Record) (string, []any, bool) {
	var where []string
	var args []any
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
	return strings.Join(where, " AND "), append(args, r.ID), true
}

func (t *sqlTxn) firstFlagPartner(ctx context.Context, tbl *schema.Table, f *schema.Flag,
	r *record.Record) (flagPartner, bool, error) {
	q, args, ok := flagExistsQuery(tbl, f, r)
	if !ok {
		return flagPartner{}, false, nil
	}
	var any bool
	if err := t.flagRow(ctx, q, args).Scan(&any); err != nil || !any {
		return flagPartner{}, false, err
	}
	q, args, _ = flagQuery(tbl, f, r)
	var o flagPartner
	err := t.flagRow(ctx, q+" LIMIT 1", args).Scan(&o.id, &o.label)
	if errors.Is(err, sql.ErrNoRows) {
		return flagPartner{}, false, nil
	}
	return o, err == nil, err
}

// flagRow runs a flag look-up, prepared at open if it was.
func (t *sqlTxn) flagRow(ctx context.Context, q string, args []any) *sqlRow {
	if st, ok := t.s.flagStmts[q]; ok {
		return t.tx.stmtQueryRow(ctx, st, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// prepareFlagQueries prepares every text flagQuery makes, for each flag
// of each table: one per set of its optional Match columns left empty.
func (b *sqlBackend) prepareFlagQueries(ctx context.Context) error {
	b.flagStmts = map[string]*sql.Stmt{}
	for _, t := range schema.Tables() {
		for i := range t.Flags {
			f := &t.Flags[i]
			for mask := range 1 << len(f.Match) {
				r := &record.Record{Table: t.Name, Fields: map[string]record.Field{}}
				for k, name := range f.Match {
					if mask&(1<<k) != 0 {
						r.Fields[name] = record.Field{Value: schema.TextValue("x")}
					}
				}
				exists, _, ok := flagExistsQuery(t, f, r)
				if !ok {
					continue
				}
				first, _, _ := flagQuery(t, f, r)
				for _, q := range []string{exists, first + " LIMIT 1"} {
					if _, done := b.flagStmts[q]; done {
						continue
					}
					st, err := b.w.PrepareContext(ctx, q)
					if err != nil {
						return fmt.Errorf("prepare %s look-up of %s: %w", f.Kind, t.Name, err)
					}
					b.flagStmts[q] = st
				}
			}
		}
	}
	return nil
}

// flagMatch is the SQL condition that rows a and b of tbl are a case of
// f with each other, both live.
func flagMatch(tbl *schema.Table, f *schema.Flag, a, b string) string {
	where := []string{a + "._deleted = 0", b + "._deleted = 0"}
	for _, name := range f.Match {
		if tbl.Column(name).Required {
			where = append(where, fmt.Sprintf("%[2]s.%[1]s = %[3]s.%[1]s", name, a, b))
		} else {
			where = append(where, fmt.Sprintf("COALESCE(%[2]s.%[1]s, '') = COALESCE(%[3]s.%[1]s, '')", name, a, b))
		}
	}
	for _, name := range f.WhileNull {
		where = append(where, fmt.Sprintf("%[2]s.%[1]s IS NULL AND %[3]s.%[1]s IS NULL", name, a, b))
	}
	return strings.Join(where, " AND ")
}

func (t *sqlTxn) leaveFlagSets(ctx context.Context, tbl *schema.Table, f *schema.Flag, id string) error {
	// Most records are in no set: one look-up of the index says so, where
	// the DELETE below costs several times more even when it finds nothing.
	var member bool
	if err := t.tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM conflict_members WHERE record_id = ?)`,
		id).Scan(&member); err != nil || !member {
		return err
	}
	_, err := t.tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM conflict_members AS m
		WHERE m.record_id = ?1
		  AND m.conflict_id IN (SELECT id FROM conflicts WHERE tbl = ?2 AND kind = ?3 AND resolution IS NULL)
		  AND NOT EXISTS (SELECT 1 FROM conflict_members o_m
		    JOIN %[1]s o ON o.id = o_m.record_id JOIN %[1]s me ON me.id = ?1
		    WHERE o_m.conflict_id = m.conflict_id AND o_m.record_id != ?1 AND %[2]s)`,
		tbl.Name, flagMatch(tbl, f, "o", "me")), id, tbl.Name, f.Kind)
	return err
}

func (t *sqlTxn) flagMembers(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for lo := 0; lo < len(ids); lo += loadRecordsChunk {
		chunk := ids[lo:min(lo+loadRecordsChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := t.tx.QueryContext(ctx, `SELECT DISTINCT record_id FROM conflict_members WHERE record_id IN (?`+
			strings.Repeat(", ?", len(chunk)-1)+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, t.tx.mark(err)
		}
	}
	return out, nil
}

func (t *sqlTxn) flaggedWith(ctx context.Context, tbl *schema.Table, f *schema.Flag, id string) (bool, error) {
	var n int
	err := t.tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT count(*) FROM (SELECT 1 FROM conflict_members m
		JOIN conflicts c ON c.id = m.conflict_id
		JOIN conflict_members o_m ON o_m.conflict_id = m.conflict_id AND o_m.record_id != m.record_id
		JOIN %[1]s o ON o.id = o_m.record_id JOIN %[1]s me ON me.id = m.record_id
		WHERE m.record_id = ? AND c.tbl = ? AND c.kind = ? AND %[2]s LIMIT 1) AS hit`,
		tbl.Name, flagMatch(tbl, f, "o", "me")), id, tbl.Name, f.Kind).Scan(&n)
	return n > 0, err
}

func (t *sqlTxn) openFlagSet(ctx context.Context, tbl *schema.Table, f *schema.Flag, r *record.Record,
	partner string) (uint64, bool, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `SELECT m.conflict_id FROM conflict_members m JOIN conflicts c ON c.id = m.conflict_id
		WHERE m.record_id = ? AND c.tbl = ? AND c.kind = ? AND c.resolution IS NULL ORDER BY m.conflict_id LIMIT 1`,
		partner, tbl.Name, f.Kind).Scan(&id)
	if err == nil {
		return uint64(id), true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, err
	}
	// Rarely the first partner is outside the open set (it was judged
	// against the set's members before): any other partner in one will do.
	q, args, ok := flagQuery(tbl, f, r)
	if !ok {
		return 0, false, nil
	}
	q = fmt.Sprintf(`SELECT m.conflict_id FROM (%s) p JOIN conflict_members m ON m.record_id = p.id
		JOIN conflicts c ON c.id = m.conflict_id
		WHERE c.tbl = ? AND c.kind = ? AND c.resolution IS NULL ORDER BY m.conflict_id LIMIT 1`, q)
	err = t.tx.QueryRowContext(ctx, q, append(args, tbl.Name, f.Kind)...).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(id), err == nil, err
}

func (t *sqlTxn) insertFlag(ctx context.Context, table, later, first, field, kind,
	partnerLabel, writtenLabel string, now time.Time) error {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO conflicts (tbl, record_id, other_id, field, kind,
			winner_type, winner_value, winner_replica, winner_counter, winner_hlc,
			loser_type, loser_value, loser_replica, loser_counter, loser_hlc,
			server_vv, incoming_vv, detected_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, 0, 0, 0, ?, ?, ?)
			RETURNING id`,
		table, later, first, field, kind, int(schema.Text), partnerLabel, int(schema.Text), writtenLabel,
		[]byte{}, []byte{}, now.UnixMilli()).Scan(&id)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(ctx, `INSERT INTO conflict_members (conflict_id, record_id) VALUES (?, ?), (?, ?)`,
		id, first, id, later)
	return err
}

func (t *sqlTxn) joinFlagSet(ctx context.Context, logID uint64, id string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO conflict_members (conflict_id, record_id) VALUES (?, ?) ON CONFLICT DO NOTHING`,
		int64(logID), id)
	return err
}

func (t *sqlTxn) flagSetCopies(ctx context.Context, tbl *schema.Table, f *schema.Flag, logID uint64) ([]string, error) {
	rs, err := t.tx.QueryContext(ctx, fmt.Sprintf(`SELECT m.record_id FROM conflict_members m JOIN %[1]s me ON me.id = m.record_id
		WHERE m.conflict_id = ?1 AND EXISTS (SELECT 1 FROM conflict_members o_m JOIN %[1]s o ON o.id = o_m.record_id
		  WHERE o_m.conflict_id = ?1 AND o_m.record_id < m.record_id AND %[2]s)
		ORDER BY m.record_id`, tbl.Name, flagMatch(tbl, f, "o", "me")), int64(logID))
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var ids []string
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

func (t *sqlTxn) resolveConflictEntry(ctx context.Context, id uint64, resolution, by string, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE conflicts SET resolution = ?, resolved_ms = ?, resolved_by = ? WHERE id = ?`,
		resolution, now.UnixMilli(), by, int64(id))
	return err
}

func (t *sqlTxn) loadServerRecord(ctx context.Context, tbl *schema.Table, id string) (*record.Record, error) {
	var curSeq int64
	return sqlite.Scan(tbl, t.tx.stmtQueryRow(ctx, t.s.stmts[tbl.Name]["get"], id), &curSeq)
}

func (t *sqlTxn) upsertServerRecord(ctx context.Context, tbl *schema.Table, r *record.Record, seq uint64) error {
	_, err := t.tx.stmtExec(ctx, t.s.stmts[tbl.Name]["upsert"],
		sqlite.Args(tbl, r, int64(seq), int64(ServerReplica))...)
	return err
}
