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

// pageBytes bounds a page by the approximate size of its values, so a
// page of long notes does not become one huge response.
const pageBytes = 1 << 20

// Page is one page of the change feed.
type Page struct {
	Records []*record.Record
	// Next is the cursor to pull from next; the device stores it with the
	// page, in the same transaction.
	Next    uint64
	HasMore bool
	// Evicted are records the device holds that moved out of its villages.
	Evicted []protocol.RecordRef
}

// Pull returns records changed after cursor, in feed order, without those
// whose state p's device already holds and without records of villages p
// does not serve, at most limit of them. With all set (a rescoped pull,
// after which the device may have dropped records it wrote itself) the
// device's own states are sent too.
func (s *Store) Pull(ctx context.Context, p Principal, cursor uint64, limit int, all bool) (Page, error) {
	replica := int64(p.Replica)
	if all {
		replica = -1 // no row has that origin
	}
	if limit <= 0 {
		limit = protocol.DefaultPageLimit
	}
	limit = min(limit, protocol.MaxPageLimit)
	tx, err := s.db.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Page{}, fmt.Errorf("pull: begin: %w", err)
	}
	defer tx.Rollback()
	var head uint64
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq'`).Scan(&head); err != nil {
		return Page{}, fmt.Errorf("pull: read sequence: %w", err)
	}
	if cursor > head {
		return Page{}, &CursorAheadError{Cursor: cursor, Head: head}
	}
	if cursor == head {
		return Page{Next: head}, nil
	}
	// Each table's feed is in seq order; take up to limit+1 from each and
	// merge, so one query per table finds the page and whether more follow.
	type item struct {
		seq uint64
		rec *record.Record
	}
	var feeds [][]item
	for _, t := range schema.Tables() {
		args := []any{int64(cursor), replica}
		scope := ""
		if t.Scope != "" && !p.AllVillages() {
			scope = " AND " + t.Scope + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(p.Villages)), ", ") + ")"
			if len(p.Villages) == 0 {
				scope = " AND 0"
			}
			for _, v := range p.Villages {
				args = append(args, v)
			}
		}
		q := fmt.Sprintf(`SELECT %s, _seq FROM %s WHERE _seq > ? AND _origin != ?%s ORDER BY _seq LIMIT ?`,
			sqlite.Columns(t), t.Name, scope)
		rs, err := tx.QueryContext(ctx, q, append(args, limit+1)...)
		if err != nil {
			return Page{}, fmt.Errorf("pull %s: %w", t.Name, err)
		}
		var feed []item
		for rs.Next() {
			var seq int64
			r, err := sqlite.Scan(t, rs, &seq)
			if err != nil {
				rs.Close()
				return Page{}, fmt.Errorf("pull %s: %w", t.Name, err)
			}
			feed = append(feed, item{uint64(seq), r})
		}
		if err := rs.Close(); err != nil {
			return Page{}, fmt.Errorf("pull %s: %w", t.Name, err)
		}
		if err := rs.Err(); err != nil {
			return Page{}, fmt.Errorf("pull %s: %w", t.Name, err)
		}
		if len(feed) > 0 {
			feeds = append(feeds, feed)
		}
	}
	page := Page{Next: head}
	size := 0
	for {
		best := -1
		for i, f := range feeds {
			if len(f) > 0 && (best < 0 || f[0].seq < feeds[best][0].seq) {
				best = i
			}
		}
		if best < 0 {
			// Nothing more for this device up to head: its cursor moves to
			// head, past rows it does not get (its own, other villages').
			page.Next = head
			break
		}
		if len(page.Records) == limit || (len(page.Records) > 0 && size >= pageBytes) {
			page.HasMore = true
			break
		}
		it := feeds[best][0]
		feeds[best] = feeds[best][1:]
		it.rec.Seq = it.seq
		page.Records = append(page.Records, it.rec)
		page.Next = it.seq
		size += approxSize(it.rec)
	}
	if !p.AllVillages() {
		if page.Evicted, err = evictions(ctx, tx, p, cursor, page.Next); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// evictions lists records that moved, between the two cursors, out of the
// villages p serves: the device holds them and must drop them.
func evictions(ctx context.Context, tx *sql.Tx, p Principal, from, to uint64) ([]protocol.RecordRef, error) {
	if len(p.Villages) == 0 {
		return nil, nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(p.Villages)), ", ")
	args := []any{int64(from), int64(to)}
	for _, v := range p.Villages {
		args = append(args, v)
	}
	rs, err := tx.QueryContext(ctx, `SELECT DISTINCT tbl, record_id FROM moves
		WHERE seq > ? AND seq <= ? AND from_village IN (`+marks+`) ORDER BY seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("pull: moves: %w", err)
	}
	defer rs.Close()
	var out []protocol.RecordRef
	for rs.Next() {
		var r protocol.RecordRef
		if err := rs.Scan(&r.Table, &r.ID); err != nil {
			return nil, fmt.Errorf("pull: moves: %w", err)
		}
		t, err := schema.Lookup(r.Table)
		if err != nil || t.Scope == "" {
			continue
		}
		var village sql.NullString
		err = tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE id = ?`, t.Scope, t.Name), r.ID).Scan(&village)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Deleted and collected since it moved: the device may still
			// hold it from before the move, so it goes too.
			out = append(out, r)
		case err != nil:
			return nil, fmt.Errorf("pull: moves: %w", err)
		case !p.Serves(village.String):
			out = append(out, r)
		}
	}
	return out, rs.Err()
}

func approxSize(r *record.Record) int {
	n := 64 + len(r.ID)
	for name, f := range r.Fields {
		n += len(name) + len(f.Value.Text) + 24
	}
	return n
}

// CursorAheadError is returned when a device's cursor is past the end of
// the feed: the database is older than what the device has seen (it was
// restored from a backup, or replaced).
type CursorAheadError struct{ Cursor, Head uint64 }

func (e *CursorAheadError) Error() string {
	return fmt.Sprintf("cursor: %d is ahead of this server's change feed (%d); "+
		"the server database is older than what this device has seen (restored from a backup?)", e.Cursor, e.Head)
}

// CheckCursor refuses a cursor past the end of the feed before anything
// is written for a request that carries it (the feed only grows, so a
// cursor that passes now still passes when the pull runs).
func (s *Store) CheckCursor(cursor uint64) error {
	s.mu.Lock()
	head := s.seq
	s.mu.Unlock()
	if cursor > head {
		return &CursorAheadError{Cursor: cursor, Head: head}
	}
	return nil
}

// Horizon is the collection horizon: the feed position up to which deletes
// were collected (0: none yet). SafeHorizon proposes the next one.
func (s *Store) Horizon(ctx context.Context) (uint64, error) {
	var h sql.NullInt64
	if err := s.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'gc_horizon'`).
		Scan(&h); err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("horizon: %w", err)
	}
	return uint64(h.Int64), nil
}
