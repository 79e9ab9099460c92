package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// commit applies one response: outcomes first (so acknowledged records
// accept newer server states), then the pulled page and its cursor.
func (r *Replica) commit(ctx context.Context, push []pending, resp *protocol.Response, st *Stats) error {
	// A clock left far ahead by a wrong date comes back once the date is
	// fixed; until then the server refuses this device's writes, clearly.
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sync: begin: %w", err)
	}
	defer tx.Rollback()
	ctx = context.WithoutCancel(ctx) // see store.Push: BeginTx watches ctx
	if err := r.commitIn(ctx, tx, push, resp, st); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sync: commit: %w", err)
	}
	r.serverID = resp.ServerID
	return nil
}

// commitIn is commit's work inside a transaction the caller commits: a
// carried pull file applies its acks and all its pages in one (CarryIn),
// so a failure part-way leaves the device as it was.
func (r *Replica) commitIn(ctx context.Context, tx *sql.Tx, push []pending, resp *protocol.Response, st *Stats) error {
	r.clock.Settle(resp.ServerHLC, record.MaxClockAhead)
	r.clock.Observe(resp.ServerHLC)
	var err error
	r.gen = generation(ctx, tx) // stamped on every row this commit confirms
	if len(resp.Results) != len(push) {
		return fmt.Errorf("sync: server answered %d results for %d changes", len(resp.Results), len(push))
	}
	for i, res := range resp.Results {
		p := push[i]
		st.Pushed++
		st.Conflicts += res.Conflicts
		switch o := res.Outcome; o {
		case record.Applied, record.Merged, record.AlreadyHad:
			switch o {
			case record.Applied:
				st.Applied++
			case record.Merged:
				st.Merged++
			default:
				st.AlreadyHad++
			}
			err = r.acknowledge(ctx, tx, p, res.Current, res.Seq)
		case record.Rejected:
			st.Rejected++
			var code, msg string
			if res.Problem != nil {
				// As the wire carries it: the code, and the message with its field.
				code, msg = string(res.Problem.Code), res.Problem.Error()
			}
			err = r.reject(ctx, tx, p, res.Current, code, msg)
		default:
			err = fmt.Errorf("unknown outcome %v", res.Outcome)
		}
		if err != nil {
			return fmt.Errorf("sync: %s %s: %w", p.table.Name, p.id, err)
		}
	}
	take := newTaker(r, tx)
	for _, rec := range resp.Records {
		t, err := schema.Lookup(rec.Table)
		if err != nil {
			take.close(ctx)
			// A table this app version does not know yet: skipping it
			// would lose it for good once the cursor moves, so stop here.
			return fmt.Errorf("sync: the server sent a record of %w; update the app", err)
		}
		if err := take.add(ctx, t, rec); err != nil {
			take.close(ctx)
			return err
		}
	}
	if err := take.close(ctx); err != nil {
		return err
	}
	st.Pulled += take.taken
	removed, err := r.rescope(ctx, tx, resp)
	if err != nil {
		return err
	}
	if err := r.sweep(ctx, tx, resp); err != nil {
		return err
	}
	// Tombstones the server has collected go here too, once acknowledged.
	if h := resp.Horizon; h > 0 {
		if err := r.collect(ctx, tx, h); err != nil {
			return err
		}
	}
	for _, e := range resp.Evicted {
		// Moved to a village this device does not serve. Unpushed writes
		// stay until pushed (the server keeps what it refuses).
		t, err := schema.Lookup(e.Table)
		if err != nil || t.Scope == "" {
			continue
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id = ? AND _own <= _acked`, t.Name), e.ID)
		if err != nil {
			return fmt.Errorf("sync: drop %s %s: %w", t.Name, e.ID, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed = true
		}
	}
	if removed {
		// Photos only the removed records named go with them.
		if err := dropUnnamedAttachments(ctx, tx); err != nil {
			return err
		}
		// The file still has the removed rows' bytes (in free space, in
		// the log): scrub them once this commits, or at the next sync.
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('scrub', '1')`); err != nil {
			return fmt.Errorf("sync: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'cursor'`,
		int64(resp.NextCursor)); err != nil {
		return fmt.Errorf("sync: save cursor: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)`,
		strconv.FormatUint(resp.Incarnation, 10)); err != nil {
		return fmt.Errorf("sync: save incarnation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'server_id'`,
		strconv.FormatUint(resp.ServerID, 10)); err != nil {
		return fmt.Errorf("sync: save server id: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(r.clock.Last())); err != nil {
		return fmt.Errorf("sync: save clock: %w", err)
	}
	return nil
}

// acknowledge records that the server has the change p. If the record has
// not been written here since p was read, the server's state (when it
// differs) replaces it; otherwise the newer local writes stay pending and
// the server merges them on the next push.
func (r *Replica) acknowledge(ctx context.Context, tx *sql.Tx, p pending, current *record.Record, seq uint64) error {
	if current != nil {
		rec, _, err := getRow(ctx, tx, p.table, p.id)
		if err != nil {
			return err
		}
		if rec != nil && rec.Version[r.id] == p.own {
			return r.replace(ctx, tx, p.table, current)
		}
	}
	// The server has it: confirmed, as a re-pull confirms what it sends.
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET _acked = max(_acked, ?), _gen = ?, _seq = max(_seq, ?)
		WHERE id = ?`, p.table.Name), int64(p.own), r.gen, int64(seq), p.id)
	return err
}

// reject keeps a refused change aside with its reason and takes the
// refused writes out of the record, so the record matches the server again
// and the device's later writes are not held back by this one.
func (r *Replica) reject(ctx context.Context, tx *sql.Tx, p pending, current *record.Record, code, msg string) error {
	rec, acked, err := getRow(ctx, tx, p.table, p.id)
	if err != nil {
		return err
	}
	// With the village of the record (which may leave the device below):
	// when the device stops serving it, the change leaves too (see rescope).
	body, err := json.Marshal(rejectedJSON{JSON(p.change), villageOf(p.table, p.change, rec, current)})
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rejected (tbl, record_id, counter, code, message, change, rejected_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.table.Name, p.id, int64(p.own), code, msg, string(body), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("keep rejected change: %w", err)
	}
	if rec == nil {
		return nil
	}
	if rec.Version[r.id] == p.own {
		if current == nil {
			_, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id = ?`, p.table.Name), p.id)
			return err
		}
		return r.replace(ctx, tx, p.table, current)
	}
	// Written again since: undo only the refused writes, keep the newer.
	refused := func(d vv.Dot) bool { return d.Replica == r.id && d.Counter > acked && d.Counter <= p.own }
	for name, f := range rec.Fields {
		if !refused(f.Dot) {
			continue
		}
		if cf, ok := fieldOf(current, name); ok {
			rec.Fields[name] = cf
		} else {
			delete(rec.Fields, name)
		}
	}
	if rec.Tombstone != nil && refused(rec.Tombstone.Dot) {
		rec.Tombstone = nil
		if current != nil {
			rec.Tombstone = current.Tombstone
		}
	}
	_, err = tx.ExecContext(ctx, sqlite.Upsert(p.table, "_own", "_acked"),
		sqlite.Args(p.table, rec, int64(rec.Version[r.id]), int64(p.own))...)
	return err
}

// rejectedJSON is a refused change as the device keeps it: the change,
// and the village of its record.
type rejectedJSON struct {
	Record
	Village string `json:"village,omitempty"`
}

// villageOf is the village of a change to a record of t: the one the
// change names, else the record's (here, then on the server); "" for a
// table without villages or when none is known.
func villageOf(t *schema.Table, recs ...*record.Record) string {
	if t.Scope == "" {
		return ""
	}
	for _, rec := range recs {
		if f, ok := fieldOf(rec, t.Scope); ok && f.Value.Type == schema.Text {
			return f.Value.Text
		}
	}
	return ""
}

// replace stores a state received from the server as the record's state.
func (r *Replica) replace(ctx context.Context, tx *sql.Tx, t *schema.Table, rec *record.Record) error {
	rec = knownFields(t, rec)
	own := int64(rec.Version[r.id])
	if _, err := tx.ExecContext(ctx, sqlite.Upsert(t, "_own", "_acked", "_gen", "_seq"),
		sqlite.Args(t, rec, own, own, r.gen, int64(rec.Seq))...); err != nil {
		return fmt.Errorf("sync: store %s %s: %w", t.Name, rec.ID, err)
	}
	return nil
}

// knownFields is rec without the fields this version of the app does not
// know: a newer server's schema adds fields (sync/DESIGN.md, "Versions").
// The device can neither show nor store them, and it never pushes them
// (it pushes only its own writes), so the server keeps them; the version
// vector, which covers their writes, stays whole, so an edit or delete
// made here is ordered after them as it should be.
func knownFields(t *schema.Table, rec *record.Record) *record.Record {
	unknown := false
	for name := range rec.Fields {
		if t.Column(name) == nil {
			unknown = true
			break
		}
	}
	if !unknown {
		return rec
	}
	out := *rec
	out.Fields = make(map[string]record.Field, len(rec.Fields))
	for name, f := range rec.Fields {
		if t.Column(name) != nil {
			out.Fields[name] = f
		}
	}
	return &out
}

// generation is the current re-pull generation (0 before any re-pull).
func generation(ctx context.Context, tx *sql.Tx) int64 {
	var gen int64
	tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta WHERE key = 'gen'), 0)`).Scan(&gen)
	return gen
}

func fieldOf(rec *record.Record, name string) (record.Field, bool) {
	if rec == nil {
		return record.Field{}, false
	}
	f, ok := rec.Fields[name]
	return f, ok
}
