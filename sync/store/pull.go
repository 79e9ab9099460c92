package store

import (
	"context"
	"fmt"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
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
// device's own states are sent too. Evictions are those after cursor.
func (s *Store) Pull(ctx context.Context, p Principal, cursor uint64, limit int, all bool) (Page, error) {
	if err := s.gate.enter(ctx); err != nil {
		return Page{}, fmt.Errorf("pull: %w", err)
	}
	return s.gatedPull(ctx, p, cursor, cursor, limit, all)
}

// gatedPull is pull in a slot of s.gate, which it gives back.
func (s *Store) gatedPull(ctx context.Context, p Principal, cursor, held uint64, limit int, all bool) (Page, error) {
	defer s.gate.leave()
	return s.pull(ctx, p, cursor, held, limit, all)
}

// pull is Pull, with evictions of records that moved after held: the
// cursor up to which the device holds records (a rescoped pull reads the
// feed from 0, but what the device holds is as of its own cursor).
func (s *Store) pull(ctx context.Context, p Principal, cursor, held uint64, limit int, all bool) (Page, error) {
	replica := int64(p.Replica)
	if all {
		replica = -1 // no row has that origin
	}
	if limit <= 0 {
		limit = protocol.DefaultPageLimit
	}
	limit = min(limit, protocol.MaxPageLimit)
	v, err := s.beginView(ctx)
	if err != nil {
		return Page{}, fmt.Errorf("pull: %w", err)
	}
	defer v.close()
	head, err := v.feedHead(ctx)
	if err != nil {
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
	var feeds [][]*record.Record
	for _, t := range schema.Tables() {
		scoped := t.Scope != "" && !p.AllVillages()
		feed, err := v.readFeed(ctx, t, cursor, replica, scoped, p.Villages, limit+1)
		if err != nil {
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
			if len(f) > 0 && (best < 0 || f[0].Seq < feeds[best][0].Seq) {
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
		rec := feeds[best][0]
		feeds[best] = feeds[best][1:]
		page.Records = append(page.Records, rec)
		page.Next = rec.Seq
		size += approxSize(rec)
	}
	if !p.AllVillages() {
		if page.Evicted, err = evictions(ctx, v, p, held, page.Next); err != nil {
			return Page{}, err
		}
	}
	return page, nil
}

// evictions lists records that moved, between the two cursors, out of the
// villages p serves: the device may hold them and must drop them.
//
// It names only records the device could hold, and so tells p nothing of
// records that were never hers: none to a device that holds nothing yet
// (from 0), and none that left a village before p was given it.
func evictions(ctx context.Context, v pullView, p Principal, from, to uint64) ([]protocol.RecordRef, error) {
	if len(p.Villages) == 0 || from == 0 {
		return nil, nil
	}
	var out []protocol.RecordRef
	err := v.eachMove(ctx, from, to, p.UserID, p.Villages, func(r protocol.RecordRef) error {
		t, err := schema.Lookup(r.Table)
		if err != nil || t.Scope == "" {
			return nil
		}
		village, ok, err := v.recordVillage(ctx, t, r.ID)
		switch {
		case err != nil:
			return fmt.Errorf("pull: moves: %w", err)
		case !ok:
			// Deleted and collected since it moved: the device may still
			// hold it from before the move, so it goes too.
			out = append(out, r)
		case !p.Serves(village):
			out = append(out, r)
		}
		return nil
	})
	return out, err
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
//
// The head it knows is the last this server wrote or caught up with; on
// a shared database another server may have moved the feed on since and
// handed the device that cursor, so a cursor past it is checked against
// the database's head before it is refused.
func (s *Store) CheckCursor(cursor uint64) error {
	s.mu.Lock()
	head := s.seq
	s.mu.Unlock()
	if cursor > head && s.shared() {
		var err error
		if head, err = s.readHead(context.Background()); err != nil {
			return fmt.Errorf("check cursor: %w", err)
		}
	}
	if cursor > head {
		return &CursorAheadError{Cursor: cursor, Head: head}
	}
	return nil
}

// readHead is the feed's head as the database holds it now.
func (s *Store) readHead(ctx context.Context) (uint64, error) {
	v, err := s.beginView(ctx)
	if err != nil {
		return 0, err
	}
	defer v.close()
	head, err := v.feedHead(ctx)
	if err != nil {
		return 0, fmt.Errorf("read sequence: %w", err)
	}
	return head, nil
}

// Horizon is the collection horizon: the feed position up to which deletes
// were collected (0: none yet). SafeHorizon proposes the next one.
func (s *Store) Horizon(ctx context.Context) (uint64, error) {
	h, err := s.readHorizon(ctx)
	if err != nil {
		return 0, fmt.Errorf("horizon: %w", err)
	}
	return h, nil
}
