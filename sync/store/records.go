package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// MaxRecordsPage is the most records ListRecords returns at once: a
// session's notes may be 2 KB, so a page stays well under a megabyte
// for a phone on a village connection.
const MaxRecordsPage = 200

// RecordFilter selects the live records of one program table to list.
type RecordFilter struct {
	Table string
	// Village is a canonical name, pinyin or alias; empty: every village
	// in Scope.
	Village string
	// Scope, when not nil, is every village the caller may see (a
	// volunteer's): Village must be one of them. Nil: every village.
	Scope []string
	// BeforeID pages: only ids below it (ids are UUIDv7, so older ones).
	BeforeID string
	// Limit is at most MaxRecordsPage; 0 means 50.
	Limit int
}

// RecordPage is one page of ListRecords, newest first.
type RecordPage struct {
	Records []ConflictRecord
	// NextBeforeID continues the list; "" when this page was the last.
	NextBeforeID string
	// Seq is the feed position the page was read at, ReadAt when.
	Seq    uint64
	ReadAt time.Time
}

// ListRecords lists live records of a program table newest first, each
// with who wrote it last, within f's scope: the records behind the
// report's figures (the console shows a class's sheet photo beside its
// attendance). The village narrows in SQL, through the scope index.
func (s *Store) ListRecords(ctx context.Context, f RecordFilter) (RecordPage, error) {
	t, err := schema.Lookup(f.Table)
	if err != nil {
		return RecordPage{}, record.Problemf(record.CodeInvalidArgument, "table", "%v", err)
	}
	if !t.Program || t.Scope == "" {
		return RecordPage{}, record.Problemf(record.CodeInvalidArgument, "table",
			"%s is reference data, not a program's records", t.Name)
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxRecordsPage:
		return RecordPage{}, record.Problemf(record.CodeInvalidArgument, "limit", "%d is not between 0 and %d",
			f.Limit, MaxRecordsPage)
	case f.Limit == 0:
		f.Limit = 50
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	defer v.close()
	page := RecordPage{ReadAt: time.Now().UTC()}
	if page.Seq, err = v.feedPosition(ctx); err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	known, err := v.knownVillages(ctx)
	if err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	villages, err := recordVillages(known, f)
	if err != nil {
		return RecordPage{}, err
	}
	if villages != nil && len(villages) == 0 {
		return page, nil // a volunteer with no villages sees nothing
	}
	// One more than asked tells whether another page follows.
	rs, err := v.liveRecords(ctx, t, villages, f.BeforeID, f.Limit+1)
	if err != nil {
		return RecordPage{}, fmt.Errorf("list records: %w", err)
	}
	if len(rs) > f.Limit {
		rs = rs[:f.Limit]
		page.NextBeforeID = rs[len(rs)-1].ID
	}
	names := map[uint32]replicaName{}
	page.Records = make([]ConflictRecord, 0, len(rs))
	for _, r := range rs {
		cr := ConflictRecord{ID: r.ID, Record: r}
		if d, ok := latestDot(r); ok {
			n, seen := names[d.Replica]
			if !seen {
				if n, err = v.replicaName(ctx, d.Replica); err != nil {
					return RecordPage{}, fmt.Errorf("list records: %w", err)
				}
				names[d.Replica] = n
			}
			cr.Device, cr.User, cr.WrittenAt = n.device, n.user, hlc.Time(d.HLC).UTC()
		}
		page.Records = append(page.Records, cr)
	}
	return page, nil
}

// recordVillages is the canonical villages f lists, sorted: nil for
// every village. As the report does, a caller limited to some villages
// is told the names of hers only.
func recordVillages(known *schema.Villages, f RecordFilter) ([]string, error) {
	var scope []string
	if f.Scope != nil {
		scope = []string{}
		for _, v := range f.Scope {
			if c, ok := known.Canonical(v); ok && !slices.Contains(scope, c) {
				scope = append(scope, c)
			}
		}
		slices.Sort(scope)
	}
	if f.Village == "" {
		return scope, nil
	}
	c, ok := known.Canonical(f.Village)
	if !ok {
		var names []string
		for _, n := range known.Names() {
			if scope == nil || slices.Contains(scope, n) {
				names = append(names, n+" "+known.Pinyin(n))
			}
		}
		return nil, record.Problemf(record.CodeInvalidArgument, "village", "%q is not a known village (known: %s)",
			f.Village, strings.Join(names, ", "))
	}
	if scope != nil && !slices.Contains(scope, c) {
		return nil, record.Problemf(record.CodePermissionDenied, "village", "%q is not one of your villages (%s)",
			f.Village, strings.Join(scope, ", "))
	}
	return []string{c}, nil
}
