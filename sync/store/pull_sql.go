package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// pullView on SQLite.

func (v *sqlView) feedHead(ctx context.Context) (uint64, error) {
	var head uint64
	err := v.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq'`).Scan(&head)
	return head, err
}

func (v *sqlView) readFeed(ctx context.Context, t *schema.Table, after uint64, notOrigin int64, scoped bool,
	villages []string, limit int) ([]*record.Record, error) {
	args := []any{int64(after), notOrigin}
	scope := ""
	if scoped {
		scope = " AND " + t.Scope + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(villages)), ", ") + ")"
		if len(villages) == 0 {
			scope = " AND 1 = 0"
		}
		for _, v := range villages {
			args = append(args, v)
		}
	}
	q := fmt.Sprintf(`SELECT %s, _seq FROM %s WHERE _seq > ? AND _origin != ?%s ORDER BY _seq LIMIT ?`,
		sqlite.Columns(t), t.Name, scope)
	rs, err := v.tx.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	var feed []*record.Record
	for rs.Next() {
		var seq int64
		r, err := sqlite.Scan(t, rs, &seq)
		if err != nil {
			rs.Close()
			return nil, err
		}
		r.Seq = uint64(seq)
		feed = append(feed, r)
	}
	if err := rs.Close(); err != nil {
		return nil, err
	}
	if err := rs.Err(); err != nil {
		return nil, err
	}
	return feed, nil
}

func (v *sqlView) eachMove(ctx context.Context, from, to uint64, userID int64, villages []string,
	fn func(protocol.RecordRef) error) error {
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(villages)), ", ")
	args := []any{userID, int64(from), int64(to)}
	for _, v := range villages {
		args = append(args, v)
	}
	rs, err := v.tx.QueryContext(ctx, `SELECT m.tbl, m.record_id FROM moves m
		JOIN user_villages u ON u.user_id = ? AND u.village = m.from_village AND m.seq > u.since_seq
		WHERE m.seq > ? AND m.seq <= ? AND m.from_village IN (`+marks+`)
		GROUP BY m.tbl, m.record_id ORDER BY min(m.seq)`, args...)
	if err != nil {
		return fmt.Errorf("pull: moves: %w", err)
	}
	// Read whole before fn runs: fn queries the same transaction, which
	// on PostgreSQL is one connection that cannot run a statement while
	// another's rows are still being read.
	var refs []protocol.RecordRef
	for rs.Next() {
		var r protocol.RecordRef
		if err := rs.Scan(&r.Table, &r.ID); err != nil {
			rs.Close()
			return fmt.Errorf("pull: moves: %w", err)
		}
		refs = append(refs, r)
	}
	if err := rs.Close(); err != nil {
		return fmt.Errorf("pull: moves: %w", err)
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("pull: moves: %w", err)
	}
	for _, r := range refs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

func (v *sqlView) recordVillage(ctx context.Context, t *schema.Table, id string) (string, bool, error) {
	var village sql.NullString
	err := v.tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE id = ?`, t.Scope, t.Name), id).Scan(&village)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return village.String, true, nil
}

// readHorizon reads meta's gc_horizon (0 when unset) through the reader
// pool, outside any transaction, even from inside a push: only collection
// writes it, under Store.mu as a push is, so the committed value is the
// current one.
func (s *Store) readHorizon(ctx context.Context) (uint64, error) {
	var h sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'gc_horizon'`).
		Scan(&h); err != nil && err != sql.ErrNoRows {
		return 0, err
	}
	return uint64(h.Int64), nil
}
