package store

import (
	"context"
	"time"
)

func (t *sqlTxn) updateReplicaSeen(ctx context.Context, replica uint32, at time.Time, cursor uint64) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE replicas SET last_seen_ms = ?, last_cursor = ? WHERE id = ?`,
		at.UnixMilli(), int64(cursor), replica)
	return err
}
