package replica

import (
	"context"
	"fmt"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// pending is one change to push: the record's unacknowledged own writes.
type pending struct {
	table  *schema.Table
	id     string
	own    uint64 // the device's counter the change carries
	change *record.Record
}

// pending reads up to limit records with writes the server has not acknowledged.
func (r *Replica) pending(ctx context.Context, limit int) ([]pending, error) {
	var out []pending
	for _, t := range schema.Tables() {
		if len(out) >= limit {
			break
		}
		// In id order: the results come back by position, and a second
		// implementation (the browser's) must send the same request.
		q := fmt.Sprintf(`SELECT %s, _own, _acked FROM %s WHERE _own > _acked ORDER BY id LIMIT ?`,
			sqlite.Columns(t), t.Name)
		rs, err := r.db.R.QueryContext(ctx, q, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("read pending %s: %w", t.Name, err)
		}
		for rs.Next() {
			var own, acked int64
			rec, err := sqlite.Scan(t, rs, &own, &acked)
			if err != nil {
				rs.Close()
				return nil, fmt.Errorf("read pending %s: %w", t.Name, err)
			}
			out = append(out, pending{table: t, id: rec.ID, own: uint64(own), change: r.unacked(rec, uint64(acked))})
		}
		if err := rs.Close(); err != nil {
			return nil, err
		}
		if err := rs.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// unacked cuts a record down to the writes of this device that the server
// has not acknowledged: the server already has everything else.
func (r *Replica) unacked(rec *record.Record, acked uint64) *record.Record {
	c := &record.Record{Table: rec.Table, ID: rec.ID, Version: rec.Version, Fields: map[string]record.Field{}}
	mine := func(d vv.Dot) bool { return d.Replica == r.id && d.Counter > acked }
	for name, f := range rec.Fields {
		if mine(f.Dot) {
			c.Fields[name] = f
		}
	}
	if rec.Tombstone != nil && mine(rec.Tombstone.Dot) {
		c.Tombstone = rec.Tombstone
	}
	return c
}
