package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// startRepull starts pulling the whole scope again in a new generation:
// every row the re-pull confirms is stamped with it, and when the last page
// is in, rows it did not confirm are gone on the server (their deletes
// were collected) and are dropped, unless they hold unpushed writes.
func (r *Replica) startRepull(ctx context.Context, horizon uint64) error {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sync: re-pull: %w", err)
	}
	defer tx.Rollback()
	var gen int64
	tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta WHERE key = 'gen'), 0)`).Scan(&gen)
	gen++
	for key, value := range map[string]any{"gen": gen, "sweep": gen, "cursor": 0, "full_pull": "1",
		"pull_horizon": strconv.FormatUint(horizon, 10)} {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value); err != nil {
			return fmt.Errorf("sync: re-pull: %w", err)
		}
	}
	return tx.Commit()
}

// sweep ends a re-pull: rows it did not confirm, without unpushed writes,
// are dropped.
func (r *Replica) sweep(ctx context.Context, tx *sql.Tx, resp *protocol.Response) error {
	var sweep sql.NullInt64
	tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'sweep'`).Scan(&sweep)
	if !sweep.Valid || sweep.Int64 == 0 || resp.HasMore {
		return nil
	}
	for _, t := range schema.Tables() {
		if !t.Program {
			continue // reference data is seeded locally and never re-sent
		}
		// Only a row the server may have collected: one whose last known
		// feed position is at or before the horizon (0: not known).
		if err := r.drop(ctx, tx, t, `_gen < ? AND _own <= _acked AND _seq <= ?`,
			sweep.Int64, int64(resp.Horizon)); err != nil {
			return fmt.Errorf("sync: drop what the server forgot: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE meta SET value = 0 WHERE key = 'sweep'`)
	return err
}

// collect drops acknowledged tombstones at or before the server's
// collection horizon h.
func (r *Replica) collect(ctx context.Context, tx *sql.Tx, h uint64) error {
	for _, t := range schema.Tables() {
		if !t.Program {
			continue // the server keeps deletes of reference data (store.CollectTombstones)
		}
		if err := r.drop(ctx, tx, t, `_deleted = 1 AND _own <= _acked AND _seq > 0 AND _seq <= ?`, int64(h)); err != nil {
			return fmt.Errorf("sync: collect tombstones: %w", err)
		}
	}
	return nil
}

// drop deletes the rows of t that match where, first keeping a trace of
// this device's own deletes among them (see serverRestored): whatever
// drops a tombstone, a restore from an older backup must not undo it.
func (r *Replica) drop(ctx context.Context, tx *sql.Tx, t *schema.Table, where string, args ...any) error {
	rs, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT id, _vv, _tomb FROM %s
		WHERE (%s) AND _deleted = 1 AND _own > 0`, t.Name, where), args...)
	if err != nil {
		return err
	}
	type trace struct {
		id       string
		vv, tomb []byte
	}
	var own []trace
	for rs.Next() {
		var tr trace
		if err := rs.Scan(&tr.id, &tr.vv, &tr.tomb); err != nil {
			rs.Close()
			return err
		}
		if ts, err := record.DecodeTombstone(tr.tomb); err == nil && ts != nil && ts.Dot.Replica == r.id {
			own = append(own, tr)
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for _, tr := range own {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO own_deletes (tbl, record_id, vv, tomb) VALUES (?, ?, ?, ?)`,
			t.Name, tr.id, tr.vv, tr.tomb); err != nil {
			return fmt.Errorf("keep own delete: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s`, t.Name, where), args...)
	return err
}

// serverRestored prepares a re-sync with a server restored from a backup:
// every own write is pending again (the server may have lost it), and the
// whole scope is pulled again from the start.
func (r *Replica) serverRestored(ctx context.Context, incarnation uint64) error {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sync: server restored: %w", err)
	}
	defer tx.Rollback()
	for _, t := range schema.Tables() {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET _acked = 0 WHERE _own > 0`, t.Name)); err != nil {
			return fmt.Errorf("sync: server restored: %w", err)
		}
	}
	// Photos of this device uploaded after the backup are gone from the
	// restored server too, and the lane sends only those not uploaded:
	// all go again, and one Holds call marks those the server still has.
	if _, err := tx.ExecContext(ctx, `UPDATE _attachments SET uploaded = 0 WHERE here = 1 AND bytes IS NOT NULL`); err != nil {
		return fmt.Errorf("sync: server restored: photos: %w", err)
	}
	// Own deletes whose tombstones were dropped go back as pending
	// tombstones: the restored server may hold those records alive.
	if err := r.repushOwnDeletes(ctx, tx); err != nil {
		return err
	}
	// A full pull: the restored server may hold, as this device's own
	// writes, states this device has since dropped; they are not echoed
	// otherwise.
	for key, value := range map[string]any{"cursor": 0, "scope_hash": "0", "full_pull": "1",
		"incarnation": strconv.FormatUint(incarnation, 10)} {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value); err != nil {
			return fmt.Errorf("sync: server restored: %w", err)
		}
	}
	return tx.Commit()
}

// repushOwnDeletes turns the traces of own collected deletes back into
// pending tombstones (records the device holds again are left alone).
func (r *Replica) repushOwnDeletes(ctx context.Context, tx *sql.Tx) error {
	rs, err := tx.QueryContext(ctx, `SELECT tbl, record_id, vv, tomb FROM own_deletes`)
	if err != nil {
		return fmt.Errorf("sync: server restored: %w", err)
	}
	var traces []*record.Record
	for rs.Next() {
		var table, id string
		var vvb, tomb []byte
		if err := rs.Scan(&table, &id, &vvb, &tomb); err != nil {
			rs.Close()
			return fmt.Errorf("sync: server restored: %w", err)
		}
		rec := &record.Record{Table: table, ID: id, Fields: map[string]record.Field{}}
		if rec.Version, err = vv.Decode(vvb); err != nil {
			rs.Close()
			return fmt.Errorf("sync: own delete of %s %s: %w", table, id, err)
		}
		if rec.Tombstone, err = record.DecodeTombstone(tomb); err != nil {
			rs.Close()
			return fmt.Errorf("sync: own delete of %s %s: %w", table, id, err)
		}
		traces = append(traces, rec)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("sync: server restored: %w", err)
	}
	for _, rec := range traces {
		t, err := schema.Lookup(rec.Table)
		if err != nil {
			continue // a table this version no longer has
		}
		if _, err := tx.ExecContext(ctx, sqlite.InsertIfAbsent(t, "_own", "_acked"),
			sqlite.Args(t, rec, int64(rec.Version[r.id]), 0)...); err != nil {
			return fmt.Errorf("sync: own delete of %s %s: %w", rec.Table, rec.ID, err)
		}
	}
	return nil
}
