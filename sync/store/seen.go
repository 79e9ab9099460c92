package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// seen is when a replica last synced and the cursor it reached.
type seen struct {
	at     time.Time
	cursor uint64
}

// Seen notes that replica synced up to cursor now. It is kept in memory and
// written with the next push transaction (or on Close), so an idle sync
// costs the server no disk write.
func (s *Store) Seen(replica uint32, cursor uint64) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if s.seen == nil {
		s.seen = map[uint32]seen{}
	}
	s.seen[replica] = seen{at: time.Now(), cursor: cursor}
}

// flushSeen writes the noted sync times inside tx.
func (s *Store) flushSeen(ctx context.Context, tx *sql.Tx) error {
	s.seenMu.Lock()
	pending := s.seen
	s.seen = nil
	s.seenMu.Unlock()
	for r, v := range pending {
		if _, err := tx.ExecContext(ctx, `UPDATE replicas SET last_seen_ms = ?, last_cursor = ? WHERE id = ?`,
			v.at.UnixMilli(), int64(v.cursor), r); err != nil {
			return fmt.Errorf("note replica %d seen: %w", r, err)
		}
	}
	return nil
}

// FlushSeen writes the noted sync times now, so a report can say when
// each device last synced even if it has not pushed since.
func (s *Store) FlushSeen(ctx context.Context) error {
	s.seenMu.Lock()
	empty := len(s.seen) == 0
	s.seenMu.Unlock()
	if empty {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("flush sync times: %w", err)
	}
	defer tx.Rollback()
	if err := s.flushSeen(ctx, tx); err != nil {
		return err
	}
	return tx.Commit()
}
