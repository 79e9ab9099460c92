package store

import (
	"context"
	"fmt"
)

// MarkRestored gives the server database at dsn (a file or a PostgreSQL
// URL) a new incarnation, as Backup gives its copy: run it after putting
// back a database from a dump or a point-in-time recovery, with every
// server stopped. A server answers devices that synced with the lost
// state with "restored", so they push all their own writes again and pull
// their scope from the start. It returns the incarnations before and
// after. A server that was running keeps the old one until it restarts.
func MarkRestored(ctx context.Context, dsn string) (was, now uint64, err error) {
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		return 0, 0, fmt.Errorf("mark restored: %w", err)
	}
	defer s.Close()
	was, now = s.incarnation, randomID()
	for now == was {
		now = randomID()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'incarnation'`, int64(now)); err != nil {
		return 0, 0, fmt.Errorf("mark restored: %w", err)
	}
	s.incarnation = now
	return was, now, nil
}
