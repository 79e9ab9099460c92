package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Stats counts what one Sync did.
type Stats struct {
	Pushed, Applied, Merged, AlreadyHad, Rejected int
	Pulled                                        int
	Conflicts                                     int
	RoundTrips                                    int
	// ServerRestored: the server was restored from a backup; this sync
	// pushed every own write again and pulled the scope from the start.
	ServerRestored bool
	// Repulled: the device had been away longer than the server keeps
	// deletes; it pulled its scope again and dropped what is gone.
	Repulled bool
}

func (s Stats) String() string {
	return fmt.Sprintf("pushed %d (applied %d, merged %d, already had %d), rejected %d, pulled %d, conflicts %d, round trips %d",
		s.Pushed, s.Applied, s.Merged, s.AlreadyHad, s.Rejected, s.Pulled, s.Conflicts, s.RoundTrips)
}

// pending is one change to push: the record's unacknowledged own writes.
type pending struct {
	table  *schema.Table
	id     string
	own    uint64 // the device's counter the change carries
	change *record.Record
}

const (
	defaultPushBatch = 1000 // rpc.MaxChanges: fewer round trips and commits per backlog
	maxRounds        = 100000
)

// Sync pushes every pending change and pulls until the server has nothing
// more, in as few requests as that takes (one when there is little to do).
// Each response is committed in one transaction with its cursor, so an
// error part-way loses nothing: the next Sync carries on from there.
func (r *Replica) Sync(ctx context.Context) (Stats, error) {
	// One sync at a time: two overlapping ones (a timer and a button)
	// would push the same changes and could commit pages out of order.
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	st, err := r.sync(ctx)
	r.noteOutcome(context.WithoutCancel(ctx), err)
	return st, err
}

func (r *Replica) sync(ctx context.Context) (Stats, error) {
	var st Stats
	batch := r.opt.PushBatch
	if batch <= 0 {
		batch = defaultPushBatch
	}
	hasMore := true // the first round always asks: the server may have news
	for round := 0; round < maxRounds; round++ {
		push, err := r.pending(ctx, batch)
		if err != nil {
			return st, err
		}
		if len(push) == 0 && !hasMore {
			return st, nil
		}
		cursor, err := r.cursor(ctx)
		if err != nil {
			return st, err
		}
		scopeHash, err := r.scopeHash(ctx)
		if err != nil {
			return st, err
		}
		fullPull := r.inFullPull(ctx, r.db.R)
		incarnation, err := r.metaUint(ctx, "incarnation")
		if err != nil {
			return st, err
		}
		req := &v1.SyncRequest{Replica: r.id, ServerId: r.serverID, Cursor: cursor, PageLimit: r.opt.PageLimit, ScopeHash: scopeHash, FullPull: fullPull, Incarnation: incarnation}
		for _, p := range push {
			req.Changes = append(req.Changes, wire.Record(p.change))
		}
		resp, err := r.send(ctx, req, &st)
		if err != nil {
			return st, fmt.Errorf("sync with %s: %w", r.serverURL, explain(ctx, err))
		}
		if resp.GetRestored() {
			if err := r.serverRestored(ctx, resp.GetIncarnation()); err != nil {
				return st, err
			}
			st.ServerRestored = true
			hasMore = true
			continue
		}
		if resp.GetRepull() {
			if err := r.startRepull(ctx, resp.GetGcHorizon()); err != nil {
				return st, err
			}
			st.Repulled = true
			hasMore = true
			continue
		}
		if err := r.commit(ctx, push, resp, &st); err != nil {
			return st, err
		}
		hasMore = resp.GetHasMore()
		// A full pull does not see deletes collected while it runs: a
		// record it already took may have been deleted since, behind its
		// cursor's back. Only a fresh re-pull can tell.
		if h := resp.GetGcHorizon(); fullPull && cursor != 0 && cursor < h {
			since, err := r.metaUint(ctx, "pull_horizon")
			if err != nil {
				return st, err
			}
			if h > since {
				if err := r.startRepull(ctx, h); err != nil {
					return st, err
				}
				st.Repulled, hasMore = true, true
			}
		}
		if r.opt.Progress != nil {
			r.opt.Progress(st)
		}
	}
	return st, errors.New("sync: did not settle; local writes keep arriving faster than they sync")
}

// send sends one request, again after a transport failure (a pooled
// connection the server closed, a blip on the link): the request is
// idempotent, so a retry at worst replays a push the server already has.
func (r *Replica) send(ctx context.Context, req *v1.SyncRequest, st *Stats) (*v1.SyncResponse, error) {
	retries := r.opt.Retries
	if retries == 0 {
		retries = 2
	}
	var waited time.Duration
	for attempt := 0; ; {
		resp, err := r.client.Sync(ctx, req)
		st.RoundTrips++
		if d, ok := retryAfter(err); ok && waited+d <= maxRateWait {
			// Refused for calling too fast: nothing happened, so wait as
			// told and send the same request again.
			waited += d
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if err == nil || attempt >= retries || ctx.Err() != nil || !transportFailure(err) {
			return resp, err
		}
		attempt++
	}
}

// maxRateWait bounds how long one request waits out the server's rate
// limit before the sync gives up (and is tried again later): a Sync holds
// the device's sync lock meanwhile.
const maxRateWait = 2 * time.Minute

// retryAfter reports how long the server asked to wait before retrying
// err, a refusal for calling too fast.
func retryAfter(err error) (time.Duration, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		return 0, false
	}
	ms, perr := strconv.ParseInt(ce.Meta().Get("Retry-After-Ms"), 10, 64)
	if perr != nil || ms <= 0 {
		return 0, false
	}
	return time.Duration(min(ms, time.Minute.Milliseconds())) * time.Millisecond, true
}

// transportFailure reports whether err came from the link, not the server.
func transportFailure(err error) bool {
	var netErr net.Error
	code := connect.CodeOf(err)
	return code == connect.CodeUnavailable || code == connect.CodeCanceled || (code == connect.CodeUnknown && errors.As(err, &netErr))
}

// pending reads up to limit records with writes the server has not acknowledged.
func (r *Replica) pending(ctx context.Context, limit int) ([]pending, error) {
	var out []pending
	for _, t := range schema.Tables() {
		if len(out) >= limit {
			break
		}
		q := fmt.Sprintf(`SELECT %s, _own, _acked FROM %s WHERE _own > _acked LIMIT ?`, sqlite.Columns(t), t.Name)
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

// commit applies one response: outcomes first (so acknowledged records
// accept newer server states), then the pulled page and its cursor.
func (r *Replica) commit(ctx context.Context, push []pending, resp *v1.SyncResponse, st *Stats) error {
	// A clock left far ahead by a wrong date comes back once the date is
	// fixed; until then the server refuses this device's writes, clearly.
	r.clock.Settle(resp.GetServerHlc(), record.MaxClockAhead)
	r.clock.Observe(resp.GetServerHlc())
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sync: begin: %w", err)
	}
	defer tx.Rollback()
	ctx = context.WithoutCancel(ctx) // see store.Push: BeginTx watches ctx
	r.gen = generation(ctx, tx)      // stamped on every row this commit confirms
	if len(resp.GetResults()) != len(push) {
		return fmt.Errorf("sync: server answered %d results for %d changes", len(resp.GetResults()), len(push))
	}
	for i, res := range resp.GetResults() {
		p := push[i]
		var current *record.Record
		if res.GetCurrent() != nil {
			if current, err = wire.FromRecord(res.GetCurrent()); err != nil {
				return fmt.Errorf("sync: server state of %s %s: %w", p.table.Name, p.id, err)
			}
		}
		st.Pushed++
		st.Conflicts += int(res.GetConflicts())
		switch o := wire.FromOutcome(res.GetOutcome()); o {
		case record.Applied, record.Merged, record.AlreadyHad:
			switch o {
			case record.Applied:
				st.Applied++
			case record.Merged:
				st.Merged++
			default:
				st.AlreadyHad++
			}
			err = r.acknowledge(ctx, tx, p, current, res.GetSeq())
		case record.Rejected:
			st.Rejected++
			err = r.reject(ctx, tx, p, current, res.GetCode(), res.GetMessage())
		default:
			err = fmt.Errorf("unknown outcome %v", res.GetOutcome())
		}
		if err != nil {
			return fmt.Errorf("sync: %s %s: %w", p.table.Name, p.id, err)
		}
	}
	for _, m := range resp.GetChanges() {
		rec, err := wire.FromRecord(m)
		if err != nil {
			return fmt.Errorf("sync: pulled record: %w", err)
		}
		t, err := schema.Lookup(rec.Table)
		if err != nil {
			// A table this app version does not know yet: skipping it
			// would lose it for good once the cursor moves, so stop here.
			return fmt.Errorf("sync: the server sent a record of %w; update the app", err)
		}
		applied, err := r.takeUnlessPending(ctx, tx, t, rec)
		if err != nil {
			return err
		}
		if applied {
			st.Pulled++
		}
	}
	if err := r.rescope(ctx, tx, resp); err != nil {
		return err
	}
	if err := r.sweep(ctx, tx, resp); err != nil {
		return err
	}
	// Tombstones the server has collected go here too, once acknowledged.
	if h := resp.GetGcHorizon(); h > 0 {
		if err := r.collect(ctx, tx, h); err != nil {
			return err
		}
	}
	for _, e := range resp.GetEvicted() {
		// Moved to a village this device does not serve. Unpushed writes
		// stay until pushed (the server keeps what it refuses).
		t, err := schema.Lookup(e.GetTable())
		if err != nil || !t.Program {
			continue
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE id = ? AND _own <= _acked`, t.Name), e.GetId()); err != nil {
			return fmt.Errorf("sync: drop %s %s: %w", t.Name, e.GetId(), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'cursor'`, int64(resp.GetNextCursor())); err != nil {
		return fmt.Errorf("sync: save cursor: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)`, strconv.FormatUint(resp.GetIncarnation(), 10)); err != nil {
		return fmt.Errorf("sync: save incarnation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'server_id'`, strconv.FormatUint(resp.GetServerId(), 10)); err != nil {
		return fmt.Errorf("sync: save server id: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(r.clock.Last())); err != nil {
		return fmt.Errorf("sync: save clock: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sync: commit: %w", err)
	}
	r.serverID = resp.GetServerId()
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
	_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET _acked = max(_acked, ?), _gen = ?, _seq = max(_seq, ?) WHERE id = ?`, p.table.Name), int64(p.own), r.gen, int64(seq), p.id)
	return err
}

// reject keeps a refused change aside with its reason and takes the
// refused writes out of the record, so the record matches the server again
// and the device's later writes are not held back by this one.
func (r *Replica) reject(ctx context.Context, tx *sql.Tx, p pending, current *record.Record, code, msg string) error {
	body, err := json.Marshal(JSON(p.change))
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rejected (tbl, record_id, counter, code, message, change, rejected_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.table.Name, p.id, int64(p.own), code, msg, string(body), time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("keep rejected change: %w", err)
	}
	rec, acked, err := getRow(ctx, tx, p.table, p.id)
	if err != nil || rec == nil {
		return err
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
	_, err = tx.ExecContext(ctx, sqlite.Upsert(p.table, "_own", "_acked"), sqlite.Args(p.table, rec, int64(rec.Version[r.id]), int64(p.own))...)
	return err
}

// takeUnlessPending stores a pulled state unless the record has writes not
// yet pushed: then the server will merge them and hand the result back.
func (r *Replica) takeUnlessPending(ctx context.Context, tx *sql.Tx, t *schema.Table, rec *record.Record) (bool, error) {
	var own, acked int64
	err := tx.QueryRowContext(ctx, fmt.Sprintf(`SELECT _own, _acked FROM %s WHERE id = ?`, t.Name), rec.ID).Scan(&own, &acked)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("sync: read %s %s: %w", t.Name, rec.ID, err)
	}
	if err == nil && own > acked {
		return false, nil
	}
	return true, r.replace(ctx, tx, t, rec)
}

// replace stores a state received from the server as the record's state.
func (r *Replica) replace(ctx context.Context, tx *sql.Tx, t *schema.Table, rec *record.Record) error {
	own := int64(rec.Version[r.id])
	if _, err := tx.ExecContext(ctx, sqlite.Upsert(t, "_own", "_acked", "_gen", "_seq"), sqlite.Args(t, rec, own, own, r.gen, int64(rec.Seq))...); err != nil {
		return fmt.Errorf("sync: store %s %s: %w", t.Name, rec.ID, err)
	}
	return nil
}

// generation is the current re-pull generation (0 before any re-pull).
func generation(ctx context.Context, tx *sql.Tx) int64 {
	var gen int64
	tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta WHERE key = 'gen'), 0)`).Scan(&gen)
	return gen
}

// rescope keeps the villages the server says this device serves and
// removes records of other villages, except those with writes not yet
// pushed: they go to the server first (which keeps what it refuses for
// staff) and are removed on a later sync.
func (r *Replica) rescope(ctx context.Context, tx *sql.Tx, resp *v1.SyncResponse) error {
	// A re-pull after a change of villages asks for the device's own
	// records too until its last page is in.
	var prev string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope_hash'`).Scan(&prev); err != nil {
		return fmt.Errorf("sync: read scope: %w", err)
	}
	full := "0"
	if resp.GetHasMore() && (resp.GetRescoped() && prev != "0" || r.inFullPull(ctx, tx)) {
		full = "1"
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('full_pull', ?)`, full); err != nil {
		return fmt.Errorf("sync: save scope: %w", err)
	}
	if resp.GetRescoped() {
		// The pull starts again from zero: note the horizon it starts at.
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('pull_horizon', ?)`, strconv.FormatUint(resp.GetGcHorizon(), 10)); err != nil {
			return fmt.Errorf("sync: save scope: %w", err)
		}
		scope := "*"
		if !resp.GetAllVillages() {
			b, _ := json.Marshal(resp.GetScope())
			scope = string(b)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'scope'`, scope); err != nil {
			return fmt.Errorf("sync: save scope: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'scope_hash'`, strconv.FormatUint(resp.GetScopeHash(), 10)); err != nil {
			return fmt.Errorf("sync: save scope: %w", err)
		}
	}
	var scope string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope'`).Scan(&scope); err != nil {
		return fmt.Errorf("sync: read scope: %w", err)
	}
	if scope == "*" {
		return nil
	}
	var villages []string
	if err := json.Unmarshal([]byte(scope), &villages); err != nil {
		return fmt.Errorf("sync: corrupt scope %q: %w", scope, err)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(villages)), ", ")
	args := make([]any, len(villages))
	for i, v := range villages {
		args[i] = v
	}
	for _, t := range schema.Tables() {
		if !t.Program {
			continue
		}
		q := fmt.Sprintf(`DELETE FROM %s WHERE _own <= _acked AND village NOT IN (%s)`, t.Name, marks)
		if len(villages) == 0 {
			q = fmt.Sprintf(`DELETE FROM %s WHERE _own <= _acked`, t.Name)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("sync: remove records out of scope: %w", err)
		}
	}
	return nil
}

func (r *Replica) inFullPull(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) bool {
	var v string
	q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'full_pull'`).Scan(&v)
	return v == "1"
}

// startRepull starts pulling the whole scope again in a new generation:
// every row the re-pull confirms is stamped with it, and when the last page
// is in, rows it did not confirm are gone on the server (their deletes
// were collected) and are dropped, unless they hold unpushed writes.
func (r *Replica) startRepull(ctx context.Context, horizon uint64) error {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sync: re-pull: %w", err)
	}
	defer tx.Rollback()
	var gen int64
	tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta WHERE key = 'gen'), 0)`).Scan(&gen)
	gen++
	for key, value := range map[string]any{"gen": gen, "sweep": gen, "cursor": 0, "full_pull": "1", "pull_horizon": strconv.FormatUint(horizon, 10)} {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value); err != nil {
			return fmt.Errorf("sync: re-pull: %w", err)
		}
	}
	return tx.Commit()
}

// sweep ends a re-pull: rows it did not confirm, without unpushed writes,
// are dropped.
func (r *Replica) sweep(ctx context.Context, tx *sql.Tx, resp *v1.SyncResponse) error {
	var sweep sql.NullInt64
	tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'sweep'`).Scan(&sweep)
	if !sweep.Valid || sweep.Int64 == 0 || resp.GetHasMore() {
		return nil
	}
	for _, t := range schema.Tables() {
		if !t.Program {
			continue // reference data is seeded locally and never re-sent
		}
		// Only a row the server may have collected: one whose last known
		// feed position is at or before the horizon (0: not known).
		if err := r.drop(ctx, tx, t, `_gen < ? AND _own <= _acked AND _seq <= ?`, sweep.Int64, int64(resp.GetGcHorizon())); err != nil {
			return fmt.Errorf("sync: drop what the server forgot: %w", err)
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE meta SET value = 0 WHERE key = 'sweep'`)
	return err
}

// collect drops acknowledged tombstones at or before the server's
// collection horizon h.
func (r *Replica) collect(ctx context.Context, tx *sql.Tx, h uint64) error {
	for _, t := range schema.Tables() {
		if !t.Program {
			continue // the server keeps deletes of reference data (store.CollectTombstones)
		}
		if err := r.drop(ctx, tx, t, `_deleted = 1 AND _own <= _acked AND _seq > 0 AND _seq <= ?`, int64(h)); err != nil {
			return fmt.Errorf("sync: collect tombstones: %w", err)
		}
	}
	return nil
}

// drop deletes the rows of t that match where, first keeping a trace of
// this device's own deletes among them (see serverRestored): whatever
// drops a tombstone, a restore from an older backup must not undo it.
func (r *Replica) drop(ctx context.Context, tx *sql.Tx, t *schema.Table, where string, args ...any) error {
	rs, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT id, _vv, _tomb FROM %s WHERE (%s) AND _deleted = 1 AND _own > 0`, t.Name, where), args...)
	if err != nil {
		return err
	}
	type trace struct {
		id       string
		vv, tomb []byte
	}
	var own []trace
	for rs.Next() {
		var tr trace
		if err := rs.Scan(&tr.id, &tr.vv, &tr.tomb); err != nil {
			rs.Close()
			return err
		}
		if ts, err := record.DecodeTombstone(tr.tomb); err == nil && ts != nil && ts.Dot.Replica == r.id {
			own = append(own, tr)
		}
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	for _, tr := range own {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO own_deletes (tbl, record_id, vv, tomb) VALUES (?, ?, ?, ?)`, t.Name, tr.id, tr.vv, tr.tomb); err != nil {
			return fmt.Errorf("keep own delete: %w", err)
		}
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE %s`, t.Name, where), args...)
	return err
}

// serverRestored prepares a re-sync with a server restored from a backup:
// every own write is pending again (the server may have lost it), and the
// whole scope is pulled again from the start.
func (r *Replica) serverRestored(ctx context.Context, incarnation uint64) error {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sync: server restored: %w", err)
	}
	defer tx.Rollback()
	for _, t := range schema.Tables() {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET _acked = 0 WHERE _own > 0`, t.Name)); err != nil {
			return fmt.Errorf("sync: server restored: %w", err)
		}
	}
	// Own deletes whose tombstones were dropped go back as pending
	// tombstones: the restored server may hold those records alive.
	if err := r.repushOwnDeletes(ctx, tx); err != nil {
		return err
	}
	// A full pull: the restored server may hold, as this device's own
	// writes, states this device has since dropped; they are not echoed
	// otherwise.
	for key, value := range map[string]any{"cursor": 0, "scope_hash": "0", "full_pull": "1", "incarnation": strconv.FormatUint(incarnation, 10)} {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value); err != nil {
			return fmt.Errorf("sync: server restored: %w", err)
		}
	}
	return tx.Commit()
}

// repushOwnDeletes turns the traces of own collected deletes back into
// pending tombstones (records the device holds again are left alone).
func (r *Replica) repushOwnDeletes(ctx context.Context, tx *sql.Tx) error {
	rs, err := tx.QueryContext(ctx, `SELECT tbl, record_id, vv, tomb FROM own_deletes`)
	if err != nil {
		return fmt.Errorf("sync: server restored: %w", err)
	}
	var traces []*record.Record
	for rs.Next() {
		var table, id string
		var vvb, tomb []byte
		if err := rs.Scan(&table, &id, &vvb, &tomb); err != nil {
			rs.Close()
			return fmt.Errorf("sync: server restored: %w", err)
		}
		rec := &record.Record{Table: table, ID: id, Fields: map[string]record.Field{}}
		if rec.Version, err = vv.Decode(vvb); err != nil {
			rs.Close()
			return fmt.Errorf("sync: own delete of %s %s: %w", table, id, err)
		}
		if rec.Tombstone, err = record.DecodeTombstone(tomb); err != nil {
			rs.Close()
			return fmt.Errorf("sync: own delete of %s %s: %w", table, id, err)
		}
		traces = append(traces, rec)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("sync: server restored: %w", err)
	}
	for _, rec := range traces {
		t, err := schema.Lookup(rec.Table)
		if err != nil {
			continue // a table this version no longer has
		}
		if _, err := tx.ExecContext(ctx, sqlite.InsertIfAbsent(t, "_own", "_acked"), sqlite.Args(t, rec, int64(rec.Version[r.id]), 0)...); err != nil {
			return fmt.Errorf("sync: own delete of %s %s: %w", rec.Table, rec.ID, err)
		}
	}
	return nil
}

func (r *Replica) metaUint(ctx context.Context, key string) (uint64, error) {
	var v sql.NullString
	err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	if !v.Valid || v.String == "" {
		return 0, nil
	}
	return strconv.ParseUint(v.String, 10, 64)
}

func (r *Replica) scopeHash(ctx context.Context) (uint64, error) {
	var h string
	if err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope_hash'`).Scan(&h); err != nil {
		return 0, fmt.Errorf("read scope: %w", err)
	}
	return strconv.ParseUint(h, 10, 64)
}

func (r *Replica) cursor(ctx context.Context) (uint64, error) {
	var c int64
	if err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'cursor'`).Scan(&c); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	return uint64(c), nil
}

// RejectedChange is a change the server refused, kept on the device.
type RejectedChange struct {
	Table, ID  string
	Code       string
	Message    string
	Change     json.RawMessage
	RejectedAt time.Time
}

// Rejected lists the changes the server refused, oldest first.
func (r *Replica) Rejected(ctx context.Context) ([]RejectedChange, error) {
	rs, err := r.db.R.QueryContext(ctx, `SELECT tbl, record_id, code, message, change, rejected_ms FROM rejected ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list rejected: %w", err)
	}
	defer rs.Close()
	var out []RejectedChange
	for rs.Next() {
		var c RejectedChange
		var body string
		var ms int64
		if err := rs.Scan(&c.Table, &c.ID, &c.Code, &c.Message, &body, &ms); err != nil {
			return nil, fmt.Errorf("list rejected: %w", err)
		}
		c.Change, c.RejectedAt = json.RawMessage(body), time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	return out, rs.Err()
}

// explain turns transport errors into words a volunteer can act on.
func explain(ctx context.Context, err error) error {
	var netErr net.Error
	switch code := connect.CodeOf(err); {
	case code == connect.CodeDeadlineExceeded:
		return fmt.Errorf("the server did not answer in time; your changes are kept on this device, try again later: %w", err)
	case code == connect.CodeUnavailable, ctx.Err() == nil && (code == connect.CodeCanceled || errors.As(err, &netErr)):
		return fmt.Errorf("cannot reach the server (no signal, or the server is down); your changes are kept on this device, try again later: %w", err)
	}
	return err
}

func fieldOf(rec *record.Record, name string) (record.Field, bool) {
	if rec == nil {
		return record.Field{}, false
	}
	f, ok := rec.Fields[name]
	return f, ok
}
