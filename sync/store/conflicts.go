package store

import (
	"context"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// LoggedConflict is a conflict as the log keeps it.
type LoggedConflict struct {
	LogID uint64
	record.Conflict
	WinnerDevice, LoserDevice string
	DetectedAt                time.Time
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
}

// ConflictFilter selects conflicts to list.
type ConflictFilter struct {
	AfterID  uint64
	Limit    int
	Table    string
	OpenOnly bool
	ID       uint64 // just this entry
}

// ListConflicts returns logged conflicts in the order they were detected.
func (s *Store) ListConflicts(ctx context.Context, f ConflictFilter) ([]LoggedConflict, error) {
	return listConflicts(ctx, s, f)
}

// listConflicts checks f and reads the log through r: the Store, or a
// transaction.
func listConflicts(ctx context.Context, r conflictReader, f ConflictFilter) ([]LoggedConflict, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	if f.Table != "" {
		if _, err := schema.Lookup(f.Table); err != nil {
			return nil, &record.Problem{Code: record.CodeInvalidArgument, Field: "table", Msg: err.Error()}
		}
	}
	return r.selectConflicts(ctx, f)
}
