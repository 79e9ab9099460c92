package store

import (
	"context"
	"time"
)

// The statements are plain SQL both engines speak.

func (v *sqlView) countOpenConflicts(ctx context.Context) (int64, error) {
	var n int64
	// conflicts_open indexes exactly these rows.
	err := v.tx.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE resolution IS NULL`).Scan(&n)
	return n, err
}

func (v *sqlView) countHeldChanges(ctx context.Context) (int64, error) {
	var n int64
	err := v.tx.QueryRowContext(ctx, `SELECT count(*) FROM held_changes`).Scan(&n)
	return n, err
}

func (v *sqlView) activeCursors(ctx context.Context, since time.Time) ([]uint64, error) {
	rs, err := v.tx.QueryContext(ctx, `SELECT last_cursor FROM replicas
		WHERE id != ? AND revoked_ms IS NULL AND last_seen_ms >= ?`, ServerReplica, since.UnixMilli())
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []uint64
	for rs.Next() {
		var c int64
		if err := rs.Scan(&c); err != nil {
			return nil, err
		}
		out = append(out, uint64(c))
	}
	return out, rs.Err()
}
