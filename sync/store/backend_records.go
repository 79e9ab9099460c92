package store

import (
	"context"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// recordsView is what ListRecords (records.go) reads, in one snapshot.
type recordsView interface {
	// feedPosition returns the feed position the snapshot is at.
	feedPosition(ctx context.Context) (uint64, error)
	// knownVillages returns the villages the server knows.
	knownVillages(ctx context.Context) (*schema.Villages, error)
	// liveRecords returns at most limit live records of t, by id
	// descending, with ids below beforeID when it is not empty, whose
	// scope column is one of villages (canonical; nil: any, records of
	// no village too), each with its Seq.
	liveRecords(ctx context.Context, t *schema.Table, villages []string, beforeID string, limit int) (
		[]*record.Record, error)
}
