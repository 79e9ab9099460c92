package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

func (s *Store) minActiveCursor(ctx context.Context, since time.Time) (uint64, bool, error) {
	var h sql.NullInt64
	err := s.db.R.QueryRowContext(ctx, `SELECT min(last_cursor) FROM replicas
		WHERE id != ? AND revoked_ms IS NULL AND last_seen_ms >= ?`, ServerReplica, since.UnixMilli()).Scan(&h)
	return uint64(h.Int64), h.Valid, err
}

func (t *sqliteTxn) dropCollectedTrails(ctx context.Context, table string, horizon uint64) error {
	for _, side := range []string{"receipts", "moves"} {
		q := fmt.Sprintf(`DELETE FROM %s
				WHERE tbl = ? AND record_id IN (SELECT id FROM %s WHERE _deleted = 1 AND _seq <= ?)`, side, table)
		if _, err := t.tx.ExecContext(ctx, q, table, int64(horizon)); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqliteTxn) collectDeleted(ctx context.Context, table string, horizon uint64) (int64, error) {
	if _, err := t.tx.ExecContext(ctx, fmt.Sprintf(`INSERT OR REPLACE INTO collected (tbl, record_id, vv, tomb, seq)
			SELECT ?, id, _vv, _tomb, _seq FROM %s WHERE _deleted = 1 AND _seq <= ?`, table),
		table, int64(horizon)); err != nil {
		return 0, err
	}
	res, err := t.tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE _deleted = 1 AND _seq <= ?`, table),
		int64(horizon))
	if err != nil {
		return 0, err
	}
	k, _ := res.RowsAffected()
	return k, nil
}

func (t *sqliteTxn) dropTracesBehindAll(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM collected
		WHERE seq <= (SELECT min(last_cursor) FROM replicas WHERE id != ? AND revoked_ms IS NULL)`,
		ServerReplica)
	return err
}

func (t *sqliteTxn) raiseCollectHorizon(ctx context.Context, horizon uint64) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('gc_horizon', ?)
		ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`, int64(horizon))
	return err
}
