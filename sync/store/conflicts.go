package store

import (
	"context"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// LoggedConflict is a conflict as the log keeps it.
type LoggedConflict struct {
	LogID uint64
	record.Conflict
	WinnerDevice, LoserDevice string
	// WinnerUser and LoserUser are the users those devices were enrolled
	// for ("" for none, or a flag's, whose sides are records, not writes).
	WinnerUser, LoserUser string
	// WinnerCarriedBy and LoserCarriedBy name who carried that side's
	// write to the server in a file, "user (device)"; "" for a write its
	// device synced itself.
	WinnerCarriedBy, LoserCarriedBy string
	DetectedAt                      time.Time
	// OtherID is the earlier record of the pair that raised a flag
	// (double loan, duplicate session); ID is the later one.
	OtherID string
	// Members are the records of a flag's set, by id: the pair that
	// raised it and those alike that joined it since (a record that no
	// longer matches the others leaves). Nil for a field conflict.
	Members []string
	// Resolution is empty while the entry is open.
	Resolution string
	ResolvedAt time.Time
	ResolvedBy string
	// Records are, with ConflictFilter.WithRecords, the entry's records
	// as the server holds them now: ID's first, then the other members.
	Records []ConflictRecord
}

// ConflictRecord is a record of a conflict log entry as it stands.
type ConflictRecord struct {
	ID string
	// Record is nil when the server no longer has it (a delete collected).
	Record *record.Record
	// Device and User made the record's latest write (its greatest dot,
	// field or delete), at WrittenAt by the writer's clock.
	Device, User string
	WrittenAt    time.Time
}

// MaxWithRecords is the most entries a page with records holds, whatever
// the limit asked: an entry's records are every member's fields (notes of
// up to 2 KB each), so a page of 1000 of them could be many megabytes in
// one response. A larger limit is clamped, not refused: a caller pages on
// from the last id it got, as it would past any limit.
const MaxWithRecords = 100

// ConflictFilter selects conflicts to list.
type ConflictFilter struct {
	AfterID      uint64
	Limit        int
	Table        string
	OpenOnly     bool
	ResolvedOnly bool   // the history: entries resolved already
	ID           uint64 // just this entry
	WithRecords  bool   // fill LoggedConflict.Records
}

// ListConflicts returns logged conflicts in the order they were detected.
func (s *Store) ListConflicts(ctx context.Context, f ConflictFilter) ([]LoggedConflict, error) {
	cs, err := listConflicts(ctx, s, f)
	if err != nil || !f.WithRecords || len(cs) == 0 {
		return cs, err
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	defer v.close()
	names := map[uint32]replicaName{}
	for i := range cs {
		if cs[i].Records, err = conflictRecords(ctx, v, cs[i], names); err != nil {
			return nil, fmt.Errorf("list conflicts: entry %d: %w", cs[i].LogID, err)
		}
	}
	return cs, nil
}

// conflictRecords reads c's records through v: the record it is about,
// then a flag's other members. names caches who each replica is.
func conflictRecords(ctx context.Context, v view, c LoggedConflict, names map[uint32]replicaName) ([]ConflictRecord,
	error) {
	t, err := schema.Lookup(c.Table)
	if err != nil {
		return nil, err
	}
	ids := []string{c.ID}
	for _, m := range c.Members {
		if m != c.ID {
			ids = append(ids, m)
		}
	}
	out := make([]ConflictRecord, 0, len(ids))
	for _, id := range ids {
		r, ok, err := v.readRecord(ctx, t, id)
		if err != nil {
			return nil, err
		}
		cr := ConflictRecord{ID: id}
		if ok {
			cr.Record = r
			if d, ok := latestDot(r); ok {
				n, known := names[d.Replica]
				if !known {
					if n, err = v.replicaName(ctx, d.Replica); err != nil {
						return nil, err
					}
					names[d.Replica] = n
				}
				cr.Device, cr.User, cr.WrittenAt = n.device, n.user, hlc.Time(d.HLC).UTC()
			}
		}
		out = append(out, cr)
	}
	return out, nil
}

// latestDot is the dot of r's latest write: the greatest of its fields'
// and its delete's, as Join orders concurrent ones.
func latestDot(r *record.Record) (vv.Dot, bool) {
	var best vv.Dot
	found := false
	consider := func(d vv.Dot) {
		if !found || best.Less(d) {
			best, found = d, true
		}
	}
	for _, f := range r.Fields {
		consider(f.Dot)
	}
	if r.Tombstone != nil {
		consider(r.Tombstone.Dot)
	}
	return best, found
}

// replicaName is who a replica is: its device's name and its user's.
type replicaName struct{ device, user string }

// listConflicts checks f and reads the log through r: the Store, or a
// transaction.
func listConflicts(ctx context.Context, r conflictReader, f ConflictFilter) ([]LoggedConflict, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	if f.WithRecords {
		f.Limit = min(f.Limit, MaxWithRecords)
	}
	if f.OpenOnly && f.ResolvedOnly {
		return nil, problem("resolved_only", "lists resolved entries; open_only lists the others: ask for one of them")
	}
	if f.Table != "" {
		if _, err := schema.Lookup(f.Table); err != nil {
			return nil, record.Problemf(record.CodeInvalidArgument, "table", "%v", err)
		}
	}
	return r.selectConflicts(ctx, f)
}
