package store

import (
	"context"
	"database/sql"
	"time"
)

// flushSeen writes the noted sync times inside tx, for the callers that
// still hold a *sql.Tx rather than a txn.
func (s *Store) flushSeen(ctx context.Context, tx *sql.Tx) error {
	return s.saveSeen(ctx, &sqliteTxn{s: s, tx: tx})
}

func (t *sqliteTxn) updateReplicaSeen(ctx context.Context, replica uint32, at time.Time, cursor uint64) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE replicas SET last_seen_ms = ?, last_cursor = ? WHERE id = ?`,
		at.UnixMilli(), int64(cursor), replica)
	return err
}
