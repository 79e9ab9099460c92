package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// SafeHorizon is the feed position every active device has pulled past: the
// lowest cursor of the devices seen within activeWithin (not revoked).
// Devices not seen for longer re-pull when they come back.
func (s *Store) SafeHorizon(ctx context.Context, activeWithin time.Duration) (uint64, error) {
	if err := s.FlushSeen(ctx); err != nil {
		return 0, err
	}
	var h sql.NullInt64
	since := time.Now().Add(-activeWithin).UnixMilli()
	err := s.db.R.QueryRowContext(ctx, `SELECT min(last_cursor) FROM replicas
		WHERE id != ? AND revoked_ms IS NULL AND last_seen_ms >= ?`, ServerReplica, since).Scan(&h)
	if err != nil {
		return 0, fmt.Errorf("horizon: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !h.Valid {
		return s.seq, nil
	}
	return min(uint64(h.Int64), s.seq), nil
}

// CollectTombstones deletes deleted records written at or before horizon
// (with their receipts) so storage does not grow with deletes forever, and
// remembers the horizon: a device whose cursor is older is told to re-pull
// (see Horizon). It returns how many records it removed.
func (s *Store) CollectTombstones(ctx context.Context, horizon uint64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	horizon = min(horizon, s.seq)
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	defer tx.Rollback()
	var n int64
	for _, t := range schema.Tables() {
		if !t.Program {
			// Reference data (villages) is seeded on every database: a
			// seeded record whose delete was collected would come back
			// at the next start. Its deletes are rare and small; keep them.
			continue
		}
		for _, side := range []string{"receipts", "moves"} {
			// Moves too: a pull across a collected record's move would
			// otherwise look for a row that is gone (and they would pile up).
			q := fmt.Sprintf(`DELETE FROM %s
				WHERE tbl = ? AND record_id IN (SELECT id FROM %s WHERE _deleted = 1 AND _seq <= ?)`, side, t.Name)
			if _, err := tx.ExecContext(ctx, q, t.Name, int64(horizon)); err != nil {
				return 0, fmt.Errorf("collect tombstones: %w", err)
			}
		}
		s.anyCollected = true // before the commit: true too early only costs a lookup
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT OR REPLACE INTO collected (tbl, record_id, vv, tomb, seq)
			SELECT ?, id, _vv, _tomb, _seq FROM %s WHERE _deleted = 1 AND _seq <= ?`, t.Name),
			t.Name, int64(horizon)); err != nil {
			return 0, fmt.Errorf("collect tombstones: %w", err)
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE _deleted = 1 AND _seq <= ?`, t.Name),
			int64(horizon))
		if err != nil {
			return 0, fmt.Errorf("collect tombstones: %w", err)
		}
		k, _ := res.RowsAffected()
		n += k
	}
	// The last trace of a delete goes once no enrolled device is behind
	// it, however long ago it was seen.
	if err := s.flushSeen(ctx, tx); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM collected
		WHERE seq <= (SELECT min(last_cursor) FROM replicas WHERE id != ? AND revoked_ms IS NULL)`,
		ServerReplica); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('gc_horizon', ?)
		ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)`, int64(horizon)); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if n > 0 {
		s.log.Info("tombstones collected", "records", n, "horizon", horizon)
	}
	return n, nil
}

// CollectEvery collects tombstones every interval until ctx is done,
// keeping deletes that a device seen within keep has not pulled yet.
func CollectEvery(ctx context.Context, st *Store, interval, keep time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h, err := st.SafeHorizon(ctx, keep)
		if err == nil {
			_, err = st.CollectTombstones(ctx, h)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("collecting tombstones", "err", err)
		}
	}
}
