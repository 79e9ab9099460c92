package store

import (
	"context"
	"time"
)

func (t *sqlTxn) updateReplicaSeen(ctx context.Context, replica uint32, at time.Time, cursor uint64) error {
	// Each server buffers its own sightings and writes them with its next
	// transaction, so a server may write an older one after another
	// server wrote a newer: neither moves back (a cursor moved back only
	// delays collection; one moved forward past what the device stored
	// would let collection pass it, and none does).
	_, err := t.tx.ExecContext(ctx, `UPDATE replicas SET
		last_seen_ms = CASE WHEN last_seen_ms IS NULL OR last_seen_ms < ?1 THEN ?1 ELSE last_seen_ms END,
		last_cursor = CASE WHEN last_cursor < ?2 THEN ?2 ELSE last_cursor END
		WHERE id = ?3`, at.UnixMilli(), int64(cursor), replica)
	return err
}
