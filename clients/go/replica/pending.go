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

// pending reads up to limit records with writes the server has not
// acknowledged, and counts all those it holds back: changes to a column
// the server's schema version does not have yet (see newerThan). Held-back
// changes take no place in the batch, so any number of them never keeps
// the others from syncing. Once the batch is full it reads on only the
// tables with such columns, for the count (as heldBack does), so the
// device says how many wait even when a sync stops part-way.
func (r *Replica) pending(ctx context.Context, limit int) ([]pending, int, error) {
	server, err := r.serverSchema(ctx)
	if err != nil {
		return nil, 0, err
	}
	var out []pending
	held := 0
	for _, t := range schema.Tables() {
		newer := hasNewer(t, server)
		if len(out) >= limit && !newer {
			continue
		}
		err := r.eachPending(ctx, t, func(p pending) bool {
			switch {
			case newerThan(t, p.change, server):
				held++
			case len(out) < limit:
				out = append(out, p)
			}
			return newer || len(out) < limit
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return out, held, nil
}

// heldBack counts the pending changes held back for a server of schema
// version server, reading only the tables that have newer columns.
func (r *Replica) heldBack(ctx context.Context, server int) (int, error) {
	n := 0
	for _, t := range schema.Tables() {
		if !hasNewer(t, server) {
			continue
		}
		err := r.eachPending(ctx, t, func(p pending) bool {
			if newerThan(t, p.change, server) {
				n++
			}
			return true
		})
		if err != nil {
			return 0, err
		}
	}
	return n, nil
}

// eachPending calls f with t's pending changes in id order until f says
// stop, reading them a page at a time.
func (r *Replica) eachPending(ctx context.Context, t *schema.Table, f func(pending) bool) error {
	const page = 500
	q := pendingPage(t)
	after := ""
	for {
		rs, err := r.db.R.QueryContext(ctx, q, after, page)
		if err != nil {
			return fmt.Errorf("read pending %s: %w", t.Name, err)
		}
		var ps []pending
		for rs.Next() {
			var own, acked int64
			rec, err := sqlite.Scan(t, rs, &own, &acked)
			if err != nil {
				rs.Close()
				return fmt.Errorf("read pending %s: %w", t.Name, err)
			}
			ps = append(ps, pending{table: t, id: rec.ID, own: uint64(own), change: r.unacked(rec, uint64(acked))})
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if err := rs.Err(); err != nil {
			return err
		}
		// The page is read whole before f runs: f may not query while
		// the rows hold the reader.
		for _, p := range ps {
			if !f(p) {
				return nil
			}
		}
		if len(ps) < page {
			return nil
		}
		after = ps[len(ps)-1].id
	}
}

// pendingPage reads t's next page of pending rows (args: the last id read,
// the page size). In id order: the results come back by position, and a
// second implementation (the browser's) must send the same request. Every
// sync runs it, idle or not: the partial index t_pending_ids holds only
// pending rows in that order, so it reads those alone, whatever else the
// device holds (TestPendingReadsOnlyPendingRows).
func pendingPage(t *schema.Table) string {
	return fmt.Sprintf(`SELECT %s, _own, _acked FROM %s WHERE _own > _acked AND id > ? ORDER BY id LIMIT ?`,
		sqlite.Columns(t), t.Name)
}

// pendingCount counts t's pending rows (for Status), on the same index.
func pendingCount(t *schema.Table) string {
	return fmt.Sprintf(`SELECT count(*) FROM %s WHERE _own > _acked`, t.Name)
}

// newerThan says whether change writes a column that a server of schema
// version server does not have (Column.Since above it): that server would
// refuse the field, so the device keeps the change until it updates.
func newerThan(t *schema.Table, change *record.Record, server int) bool {
	if server >= schema.Version {
		return false
	}
	for name := range change.Fields {
		if c := t.Column(name); c != nil && c.Since > server {
			return true
		}
	}
	return false
}

func hasNewer(t *schema.Table, server int) bool {
	for _, c := range t.Columns {
		if c.Since > server {
			return true
		}
	}
	return false
}

// serverSchema is the schema version the server stated in its last
// answer; 1 until one states it (servers older than the statement are 1).
func (r *Replica) serverSchema(ctx context.Context) (int, error) {
	v, err := r.metaUint(ctx, "server_schema")
	if err != nil {
		return 0, err
	}
	return max(int(v), 1), nil
}

// noteServerSchema remembers the version a server stated (0: one too old
// to state it, which is 1), writing only when it changed.
func (r *Replica) noteServerSchema(ctx context.Context, stated int) error {
	v := max(stated, 1)
	was, err := r.serverSchema(ctx)
	if err != nil || was == v {
		return err
	}
	if _, err := r.db.W.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('server_schema', ?)`,
		fmt.Sprint(v)); err != nil {
		return fmt.Errorf("sync: remember the server's schema version: %w", err)
	}
	return nil
}

// WaitingNote says that n changes wait for the server's update: what a
// person is told of held-back changes (Stats, Status, the CLI).
func WaitingNote(n, server int) string {
	if n == 1 {
		return fmt.Sprintf("1 change waits for the server's update (server schema %d, this app %d)", server, schema.Version)
	}
	return fmt.Sprintf("%d changes wait for the server's update (server schema %d, this app %d)", n, server, schema.Version)
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
