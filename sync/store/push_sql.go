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
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// pushTxn on SQLite. A group commit's savepoints all share one name: they
// nest nowhere, each is released before the next opens.

func (t *sqlTxn) beginSavepoint(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `SAVEPOINT push`)
	return err
}

func (t *sqlTxn) rollbackSavepoint(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `ROLLBACK TO push`)
	return err
}

func (t *sqlTxn) releaseSavepoint(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `RELEASE push`)
	return err
}

func (t *sqlTxn) villages(ctx context.Context) (*schema.Villages, error) {
	return sqlite.Villages(ctx, t.tx)
}

// loadRecord runs the table's prepared "get": it is read for every pushed
// change.
func (t *sqlTxn) loadRecord(ctx context.Context, tb *schema.Table, id string) (*record.Record, bool, error) {
	var seq int64
	cur, err := sqlite.Scan(tb, t.tx.stmtQueryRow(ctx, t.s.stmts[tb.Name]["get"], id), &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	cur.Seq = uint64(seq)
	return cur, true, nil
}

// loadRecordsChunk is the most ids loadRecords reads in one statement,
// well under SQLite's and PostgreSQL's limits on bound parameters.
const loadRecordsChunk = 500

func (t *sqlTxn) loadRecords(ctx context.Context, tb *schema.Table, ids []string) (map[string]*record.Record, error) {
	out := make(map[string]*record.Record, len(ids))
	for lo := 0; lo < len(ids); lo += loadRecordsChunk {
		chunk := ids[lo:min(lo+loadRecordsChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := t.tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s, _seq FROM %s WHERE id IN (?%s)`,
			sqlite.Columns(tb), tb.Name, strings.Repeat(", ?", len(chunk)-1)), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var seq int64
			cur, err := sqlite.Scan(tb, rows, &seq)
			if err != nil {
				rows.Close()
				return nil, err
			}
			cur.Seq = uint64(seq)
			out[cur.ID] = cur
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

func (t *sqlTxn) loadCollected(ctx context.Context, tb *schema.Table, id string) (*record.Record, error) {
	var vvb, tomb []byte
	var seq int64
	err := t.tx.QueryRowContext(ctx, `SELECT vv, tomb, seq FROM collected WHERE tbl = ? AND record_id = ?`,
		tb.Name, id).Scan(&vvb, &tomb, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load collected %s %s: %w", tb.Name, id, err)
	}
	r := &record.Record{Table: tb.Name, ID: id, Fields: map[string]record.Field{}, Seq: uint64(seq)}
	if r.Version, err = vv.Decode(vvb); err != nil {
		return nil, fmt.Errorf("collected %s %s: %w", tb.Name, id, err)
	}
	if r.Tombstone, err = record.DecodeTombstone(tomb); err != nil {
		return nil, fmt.Errorf("collected %s %s: %w", tb.Name, id, err)
	}
	return r, nil
}

// writeRecord runs the table's prepared "upsert".
func (t *sqlTxn) writeRecord(ctx context.Context, tb *schema.Table, r *record.Record, seq uint64,
	origin uint32) error {
	_, err := t.tx.stmtExec(ctx, t.s.stmts[tb.Name]["upsert"],
		sqlite.Args(tb, r, int64(seq), int64(origin))...)
	return err
}

func (t *sqlTxn) readReceipt(ctx context.Context, replica uint32, table, id string) (uint64, record.Outcome,
	bool, error) {
	var prev int64
	var prevCounter uint64
	err := t.tx.QueryRowContext(ctx, `SELECT counter, outcome FROM receipts
		WHERE replica = ? AND tbl = ? AND record_id = ?`, replica, table, id).Scan(&prevCounter, &prev)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	return prevCounter, record.Outcome(prev), true, nil
}

// rowsChunk bounds the rows of one multi-row INSERT: 100 rows of 7
// values stay far below either engine's limit on parameters.
const rowsChunk = 100

// insertRows runs prefix VALUES (?, ...), ... suffix for rows of args,
// rowsChunk rows a statement.
func (t *sqlTxn) insertRows(ctx context.Context, prefix, suffix string, rows [][]any) error {
	for lo := 0; lo < len(rows); lo += rowsChunk {
		chunk := rows[lo:min(lo+rowsChunk, len(rows))]
		one := "(?" + strings.Repeat(", ?", len(chunk[0])-1) + ")"
		args := make([]any, 0, len(chunk)*len(chunk[0]))
		for _, r := range chunk {
			args = append(args, r...)
		}
		q := prefix + " VALUES " + one + strings.Repeat(", "+one, len(chunk)-1) + suffix
		if _, err := t.tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqlTxn) writeReceipts(ctx context.Context, rs []receipt) error {
	rows := make([][]any, len(rs))
	for i, r := range rs {
		rows[i] = []any{r.replica, r.table, r.id, r.counter, int64(r.outcome)}
	}
	return t.insertRows(ctx, `INSERT INTO receipts (replica, tbl, record_id, counter, outcome)`,
		` ON CONFLICT (replica, tbl, record_id) DO UPDATE SET counter = excluded.counter, outcome = excluded.outcome`,
		rows)
}

func (t *sqlTxn) insertMove(ctx context.Context, seq uint64, table, id, from string) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO moves (seq, tbl, record_id, from_village) VALUES (?, ?, ?, ?)`,
		int64(seq), table, id, from)
	return err
}

func (t *sqlTxn) insertConflict(ctx context.Context, c record.Conflict, carried uint32, carriedBy string,
	now time.Time) error {
	var winnerCarried, loserCarried any
	switch {
	case carriedBy == "":
	case c.Winner.Dot.Replica == carried:
		winnerCarried = carriedBy
	case c.Loser.Dot.Replica == carried:
		loserCarried = carriedBy
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO conflicts (tbl, record_id, field, kind,
		winner_type, winner_value, winner_replica, winner_counter, winner_hlc,
		loser_type, loser_value, loser_replica, loser_counter, loser_hlc,
		server_vv, incoming_vv, detected_ms, winner_carried_by, loser_carried_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Table, c.ID, c.Field, c.Kind,
		int(c.Winner.Value.Type), t.tx.loggedValue(c.Winner.Value),
		c.Winner.Dot.Replica, int64(c.Winner.Dot.Counter), int64(c.Winner.Dot.HLC),
		int(c.Loser.Value.Type), t.tx.loggedValue(c.Loser.Value), c.Loser.Dot.Replica, int64(c.Loser.Dot.Counter), int64(c.Loser.Dot.HLC),
		c.ServerVersion.Encode(nil), c.IncomingVersion.Encode(nil), now.UnixMilli(), winnerCarried, loserCarried)
	return err
}

func (t *sqlTxn) insertAudits(ctx context.Context, as []auditEntry) error {
	rows := make([][]any, len(as))
	for i, a := range as {
		var uid any
		if a.user != 0 {
			uid = a.user
		}
		rows[i] = []any{a.table, a.id, a.replica, uid, a.outcome, a.detail, a.at.UnixMilli()}
	}
	return t.insertRows(ctx, `INSERT INTO audit (tbl, record_id, replica, user_id, outcome, detail, at_ms)`, "", rows)
}

func (t *sqlTxn) insertHeld(ctx context.Context, replica uint32, table, id, code, message, change string,
	bytes int64, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO held_changes (replica, tbl, record_id, code, message, change, at_ms,
		bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		replica, table, id, code, message, change, now.UnixMilli(), bytes)
	return err
}

func (t *sqlTxn) heldUsage(ctx context.Context, replica uint32) (int64, int64, error) {
	var rows, bytes int64
	err := t.tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(bytes), 0) FROM held_changes WHERE replica = ?`,
		replica).Scan(&rows, &bytes)
	return rows, bytes, err
}
