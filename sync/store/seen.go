package store

import (
	"context"
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

// SeenAt notes that replica had stored what it pulled up to cursor at
// at: a carried push file's cursor, as of when the file was made. A sync
// noted since with a later cursor stands.
func (s *Store) SeenAt(replica uint32, cursor uint64, at time.Time) {
	s.seenMu.Lock()
	defer s.seenMu.Unlock()
	if s.seen == nil {
		s.seen = map[uint32]seen{}
	}
	if v, ok := s.seen[replica]; ok && v.cursor > cursor {
		return
	}
	s.seen[replica] = seen{at: at, cursor: cursor}
}

// saveSeen writes the noted sync times inside t, and forgets them: a
// transaction that then fails loses them, which costs only a report's
// precision until the device syncs again.
func (s *Store) saveSeen(ctx context.Context, t txn) error {
	s.seenMu.Lock()
	pending := s.seen
	s.seen = nil
	s.seenMu.Unlock()
	for r, v := range pending {
		if err := t.updateReplicaSeen(ctx, r, v.at, v.cursor); err != nil {
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
	t, err := s.beginTxn(ctx)
	if err != nil {
		return fmt.Errorf("flush sync times: %w", err)
	}
	defer t.rollback()
	if err := s.saveSeen(ctx, t); err != nil {
		return err
	}
	return t.commit()
}
