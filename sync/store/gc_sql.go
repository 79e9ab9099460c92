package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

func (s *Store) minActiveCursor(ctx context.Context, since time.Time) (uint64, bool, error) {
	var h sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT min(last_cursor) FROM replicas
		WHERE id != ? AND revoked_ms IS NULL AND last_seen_ms >= ?`, ServerReplica, since.UnixMilli()).Scan(&h)
	return uint64(h.Int64), h.Valid, err
}

func (t *sqlTxn) dropCollectedTrails(ctx context.Context, table string, horizon uint64) error {
	for _, side := range []string{"receipts", "moves"} {
		q := fmt.Sprintf(`DELETE FROM %s
				WHERE tbl = ? AND record_id IN (SELECT id FROM %s WHERE _deleted = 1 AND _seq <= ?)`, side, table)
		if _, err := t.tx.ExecContext(ctx, q, table, int64(horizon)); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqlTxn) collectDeleted(ctx context.Context, table string, horizon uint64) (int64, error) {
	if _, err := t.tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO collected (tbl, record_id, vv, tomb, seq)
			SELECT ?, id, _vv, _tomb, _seq FROM %s WHERE _deleted = 1 AND _seq <= ?
			ON CONFLICT (tbl, record_id) DO UPDATE SET vv = excluded.vv, tomb = excluded.tomb, seq = excluded.seq`, table),
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

func (t *sqlTxn) dropTracesBehindAll(ctx context.Context) error {
	_, err := t.tx.ExecContext(ctx, `DELETE FROM collected
		WHERE seq <= (SELECT min(last_cursor) FROM replicas WHERE id != ? AND revoked_ms IS NULL)`,
		ServerReplica)
	return err
}

func (t *sqlTxn) raiseCollectHorizon(ctx context.Context, horizon uint64) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('gc_horizon', ?)
		ON CONFLICT (key) DO UPDATE SET value = `+t.tx.pick("max", "GREATEST")+`(meta.value, excluded.value)`, int64(horizon))
	return err
}
