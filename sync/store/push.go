package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Push applies changes pushed by device p in one transaction and returns a
// result per change, in order. A nil change is skipped (its result is left
// zero for the caller, which rejected it already). Invalid changes are
// rejected one by one; an error means nothing was applied. The caller has
// authenticated p. A change p may not make is rejected with
// permission_denied; every rejected change is also kept for staff.
//
// Pushes that arrive while another commits are committed together, each
// in its own savepoint: one fsync for many phones coming back into range
// at once, and one push's error still changes nothing of the others.
func (s *Store) Push(ctx context.Context, p Principal, changes []*record.Record) ([]protocol.Result, error) {
	job := &pushJob{ctx: ctx, p: p, changes: changes, results: make([]protocol.Result, len(changes))}
	for i, c := range changes {
		if c == nil {
			continue
		}
		if err := record.Validate(c, p.Replica); err != nil {
			var prob *record.Problem
			if !errors.As(err, &prob) {
				return nil, err
			}
			job.results[i] = protocol.Result{Outcome: record.Rejected, Problem: prob}
		}
	}
	s.queueMu.Lock()
	s.queue = append(s.queue, job)
	s.queueMu.Unlock()

	// Whoever holds the writer commits the pushes queued by then; a
	// pusher that gets it after its push was committed just returns.
	s.mu.Lock()
	defer s.mu.Unlock()
	for !job.finished {
		s.commitPushes(s.takeBatch())
	}
	if job.err != nil {
		return nil, job.err
	}
	// A state handed back must be one the caller may read: a volunteer who
	// pushes to a record of another village (an id she kept from before a
	// reassignment, or guessed) learns nothing of it.
	for i := range job.results {
		if c := job.results[i].Current; c != nil && !p.MayRead(c) {
			job.results[i].Current = nil
		}
	}
	return job.results, nil
}

// pushJob is one Push waiting for, or done by, a group commit.
type pushJob struct {
	ctx      context.Context
	p        Principal
	changes  []*record.Record
	results  []protocol.Result
	err      error
	finished bool // guarded by Store.mu
}

// maxBatchChanges bounds a group commit, so one transaction (and the
// wait of the pushes behind it) stays short when many phones push
// backlogs at once.
const maxBatchChanges = 5000

// takeBatch takes the oldest queued pushes, up to maxBatchChanges changes
// (at least one push).
func (s *Store) takeBatch() []*pushJob {
	s.queueMu.Lock()
	defer s.queueMu.Unlock()
	n, changes := 0, 0
	for n < len(s.queue) && (n == 0 || changes+len(s.queue[n].changes) <= maxBatchChanges) {
		changes += len(s.queue[n].changes)
		n++
	}
	batch := s.queue[:n:n]
	s.queue = s.queue[n:]
	return batch
}

// commitPushes applies batch in one transaction, each push in a savepoint.
// The caller holds s.mu. Every job of the batch is finished when it
// returns, a panic included (the panic goes on, to the caller's handler).
func (s *Store) commitPushes(batch []*pushJob) {
	finish := func(err error) {
		for _, j := range batch {
			if j.err == nil {
				j.err = err
			}
			j.finished = true
		}
	}
	defer func() {
		if p := recover(); p != nil {
			finish(fmt.Errorf("push: %v", p))
			panic(p)
		}
	}()
	// The batch is not any one caller's: a caller that gives up does not
	// cancel the others (its own push is skipped if it gave up first).
	ctx := context.Background()
	tx, err := s.beginTxn(ctx)
	if err != nil {
		finish(fmt.Errorf("push: %w", err))
		return
	}
	defer tx.rollback()
	seq := s.seq
	now := time.Now()
	for _, j := range batch {
		if j.err = j.ctx.Err(); j.err != nil {
			continue
		}
		if err := tx.beginSavepoint(ctx); err != nil {
			finish(fmt.Errorf("push: %w", err))
			return
		}
		before := seq
		j.err = s.push(ctx, tx, j, &seq, now)
		if j.err != nil {
			seq = before
			if err := tx.rollbackSavepoint(ctx); err != nil {
				// SQLite rolled the whole transaction back itself (a full
				// disk does): every push of the batch failed for j's cause.
				finish(j.err)
				return
			}
		}
		if err := tx.releaseSavepoint(ctx); err != nil {
			finish(fmt.Errorf("push: %w", err))
			return
		}
	}
	if err := tx.saveFeedPosition(ctx, seq); err != nil {
		finish(fmt.Errorf("push: %w", err))
		return
	}
	if err := s.saveSeen(ctx, tx); err != nil {
		finish(err)
		return
	}
	if err := tx.commit(); err != nil {
		finish(fmt.Errorf("push: commit: %w", err))
		return
	}
	s.seq = seq
	finish(nil)
}

// push applies one device's changes inside tx.
func (s *Store) push(ctx context.Context, tx txn, j *pushJob, seq *uint64, now time.Time) error {
	p, results := j.p, j.results
	// Villages are read inside the transaction, and again after a change
	// writes one, so a new village and its first records can travel in
	// one push.
	env := schema.Env{Now: now}
	var err error
	if env.Villages, err = tx.villages(ctx); err != nil {
		return err
	}
	for i, c := range j.changes {
		if c == nil {
			continue
		}
		if results[i].Outcome == record.Rejected {
			// The device drops its rejected write from the record (it keeps
			// it aside with the reason) and needs the server's state.
			if results[i].Current, _, err = s.loadState(ctx, tx, c); err != nil {
				return fmt.Errorf("push %s %s: %w", c.Table, c.ID, err)
			}
			if err := s.hold(ctx, tx, p, c, results[i].Problem, now); err != nil {
				return err
			}
			continue
		}
		r, err := s.apply(ctx, tx, p, c, seq, env)
		if err != nil {
			return fmt.Errorf("push %s %s: %w", c.Table, c.ID, err)
		}
		results[i] = r
		// Only accepted writes move the server's clock: a refused one may
		// be refused precisely for its clock.
		if r.Outcome != record.Rejected {
			for _, f := range c.Fields {
				s.clock.Observe(f.Dot.HLC)
			}
			if c.Tombstone != nil {
				s.clock.Observe(c.Tombstone.Dot.HLC)
			}
		}
		if err := s.audit(ctx, tx, p, c, r, now); err != nil {
			return err
		}
		if c.Table == schema.VillageTable && r.Outcome != record.Rejected {
			if env.Villages, err = tx.villages(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// apply merges one valid change inside tx.
func (s *Store) apply(ctx context.Context, tx txn, p Principal, in *record.Record, seq *uint64,
	env schema.Env) (protocol.Result, error) {
	now := env.Now
	replica := p.Replica
	t, _ := schema.Lookup(in.Table) // Validate has checked the table
	cur, collected, err := s.loadState(ctx, tx, in)
	if err != nil {
		return protocol.Result{}, err
	}
	in = vouchOnlyForOwn(in, cur, replica)
	if cur == nil && len(in.Fields) == 0 {
		// A delete of a record the server does not have: its own delete
		// was collected (the device was away) or it never existed here.
		// Nothing to store; the device drops its tombstone with the
		// collected ones.
		h, err := s.Horizon(ctx)
		return protocol.Result{Outcome: record.AlreadyHad, Seq: max(h, 1)}, err
	}
	out, outcome, conflicts := record.Merge(cur, in)
	if collected && outcome != record.AlreadyHad {
		if out.Deleted() {
			// Deleted here too (a concurrent delete): nothing to keep, and
			// the device drops its tombstone with the collected ones.
			return protocol.Result{Outcome: record.AlreadyHad, Seq: cur.Seq, Current: cur}, nil
		}
		// An edit that would bring back a record whose other fields are
		// gone with its delete: kept for staff instead, and the device
		// learns of the delete.
		p := &record.Problem{Code: record.CodeFailedPrecondition, Field: in.Table + ".id",
			Msg: fmt.Sprintf("%s was deleted on the server, and the delete is older than the server keeps; "+
				"this edit is kept for staff to review", in.ID)}
		return protocol.Result{Outcome: record.Rejected, Problem: p, Current: cur}, nil
	}
	if outcome == record.Merged {
		s.applyDomainRules(out, conflicts)
	}
	counter := in.Version[replica]
	if outcome == record.AlreadyHad {
		// A replay answers what the first push was told; a stale push
		// (the device had not seen newer writes) gets the newer state.
		prevCounter, prev, ok, err := tx.readReceipt(ctx, replica, in.Table, in.ID)
		if err != nil {
			return protocol.Result{}, fmt.Errorf("read receipt: %w", err)
		}
		if ok && prevCounter == counter {
			outcome = prev
		}
		res := protocol.Result{Outcome: outcome, Seq: cur.Seq}
		if cur.Version.Compare(in.Version) != vv.Equal {
			res.Current = cur
		}
		return res, nil
	}
	// Checked only now: a replay (AlreadyHad above) must get its first
	// answer even if a village it names has since been removed.
	if err := cmp.Or(authorize(p, in, cur), record.CheckValues(in, env), record.CheckRequired(out)); err != nil {
		p := &record.Problem{}
		errors.As(err, &p)
		return protocol.Result{Outcome: record.Rejected, Problem: p, Current: cur}, nil
	}
	*seq++
	if err := recordMove(ctx, tx, cur, out, *seq); err != nil {
		return protocol.Result{}, err
	}
	if err := tx.writeRecord(ctx, t, out, *seq, replica); err != nil {
		return protocol.Result{}, fmt.Errorf("write: %w", err)
	}
	if err := s.flagWrite(ctx, tx, out, now); err != nil {
		return protocol.Result{}, err
	}
	for _, c := range conflicts {
		if err := tx.insertConflict(ctx, c, now); err != nil {
			return protocol.Result{}, fmt.Errorf("log conflict on %s.%s: %w", c.Table, c.Field, err)
		}
		s.log.Info("conflict logged", "table", c.Table, "id", c.ID, "field", c.Field, "kind", c.Kind,
			"winner", c.Winner.Dot.String(), "loser", c.Loser.Dot.String())
	}
	if err := s.supersede(ctx, tx, in, out, len(conflicts) > 0, p.Device, now); err != nil {
		return protocol.Result{}, err
	}
	if err := tx.writeReceipt(ctx, replica, in.Table, in.ID, counter, outcome); err != nil {
		return protocol.Result{}, fmt.Errorf("write receipt: %w", err)
	}
	out.Seq = *seq
	res := protocol.Result{Outcome: outcome, Conflicts: len(conflicts), Seq: *seq}
	if outcome == record.Merged {
		res.Current = out
	}
	return res, nil
}

// loadState returns the server's state of the record c names, or nil when
// there is none or c does not name a valid record. collected says the
// state is what a collected delete left: its tombstone, without fields.
func (s *Store) loadState(ctx context.Context, tx pushTxn,
	c *record.Record) (cur *record.Record, collected bool, err error) {
	t, err := schema.Lookup(c.Table)
	if err != nil || record.CheckID(c.ID) != nil {
		return nil, false, nil
	}
	cur, ok, err := tx.loadRecord(ctx, t, c.ID)
	if err != nil {
		return nil, false, fmt.Errorf("load: %w", err)
	}
	if !ok {
		if !s.anyCollected {
			return nil, false, nil
		}
		cur, err = tx.loadCollected(ctx, t, c.ID)
		return cur, cur != nil, err
	}
	return cur, false, nil
}

// applyDomainRules turns conflicts whose domain rule overrules the clock
// (a status moving forward, a return beating no return) into a server
// write on top of the merge, and swaps winner and loser in the log entry
// so it says what the record now holds.
func (s *Store) applyDomainRules(out *record.Record, conflicts []record.Conflict) {
	for i, c := range conflicts {
		if !record.Overrules(c) {
			continue
		}
		k := out.Version.Bump(ServerReplica)
		kept := record.Field{Value: c.Loser.Value, Dot: vv.Dot{Replica: ServerReplica, Counter: k, HLC: s.clock.Now()}}
		out.Fields[c.Field] = kept
		conflicts[i].Winner, conflicts[i].Loser = c.Loser, c.Winner
	}
}

// authorize says whether p may make change in to the record now in cur,
// by what its table declares (schema.Table.Writers and Scope):
// coordinators write nothing, only admins write an admins-only table
// (villages), a volunteer writes only records of their villages (and
// cannot move a record into or out of them).
func authorize(p Principal, in, cur *record.Record) error {
	deny := func(field, format string, args ...any) error {
		return &record.Problem{Code: record.CodePermissionDenied, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	t, err := schema.Lookup(in.Table)
	switch {
	case p.Role == Coordinator:
		return deny(in.Table, "coordinators read everything and write nothing (user %s)", p.User)
	case err != nil: // Validate refused it already
		return deny(in.Table, "%v", err)
	case t.Writers == schema.AdminsOnly:
		if p.Role != Admin {
			return deny(in.Table, "only admins change %s (user %s is %s)", t.Name, p.User, p.Role)
		}
		return nil
	case t.Scope == "":
		return nil
	}
	for _, r := range []*record.Record{cur, in} {
		if r == nil {
			continue
		}
		if f, ok := r.Fields[t.Scope]; ok && !p.Serves(f.Value.Text) {
			return deny(in.Table+"."+t.Scope, "%s is not one of your villages (%s serves %s)",
				f.Value.Text, p.User, strings.Join(p.Villages, ", "))
		}
	}
	return nil
}

// audit notes who made a change and what came of it.
func (s *Store) audit(ctx context.Context, tx pushTxn, p Principal, c *record.Record, r protocol.Result,
	now time.Time) error {
	detail := ""
	if r.Problem != nil {
		detail = r.Problem.Error()
		if err := s.hold(ctx, tx, p, c, r.Problem, now); err != nil {
			return err
		}
	} else if r.Outcome == record.AlreadyHad {
		return nil // a replay or a stale push changed nothing
	}
	if r.Conflicts > 0 {
		detail = fmt.Sprintf("%d conflict(s) logged", r.Conflicts)
	}
	return auditRow(ctx, tx, c.Table, c.ID, p.Replica, p.UserID, r.Outcome.String(), detail, now)
}

// auditRow writes one audit line: who (replica, user; 0 for none) did
// what to a record, with what outcome.
func auditRow(ctx context.Context, tx pushTxn, table, id string, replica uint32, user int64,
	outcome, detail string, now time.Time) error {
	if err := tx.insertAudit(ctx, table, id, replica, user, outcome, detail, now); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// hold keeps a refused change on the server for staff, with the reason.
func (s *Store) hold(ctx context.Context, tx pushTxn, p Principal, c *record.Record, prob *record.Problem,
	now time.Time) error {
	body, err := json.Marshal(record.ToJSON(c))
	if err != nil {
		return err
	}
	if err := tx.insertHeld(ctx, p.Replica, c.Table, c.ID, string(prob.Code), prob.Error(), string(body),
		now); err != nil {
		return fmt.Errorf("hold refused change: %w", err)
	}
	return nil
}

// recordMove records a record leaving its village (its table's Scope
// changing), so devices scoped to that village drop it (see evictions).
func recordMove(ctx context.Context, tx pushTxn, cur, out *record.Record, seq uint64) error {
	if cur == nil {
		return nil
	}
	t, err := schema.Lookup(out.Table)
	if err != nil || t.Scope == "" {
		return nil
	}
	from, ok := cur.Fields[t.Scope]
	if !ok || from.Value.Text == out.Fields[t.Scope].Value.Text {
		return nil
	}
	if err := tx.insertMove(ctx, seq, out.Table, out.ID, from.Value.Text); err != nil {
		return fmt.Errorf("note move: %w", err)
	}
	return nil
}

// vouchOnlyForOwn clamps what a change claims to have seen of other
// replicas' writes to what the server has seen. An honest device never
// claims more, except after the server was restored from a backup (then
// the server has lost writes the device saw); a forged claim would make
// the server take those replicas' real writes, later, as already had.
// Clamped, the change is merged as concurrent with anything the server
// lacks, and nothing is dropped.
func vouchOnlyForOwn(in, cur *record.Record, pusher uint32) *record.Record {
	clamp := func(v vv.VV) (vv.VV, bool) {
		var out vv.VV
		for r, c := range v {
			var have uint64
			if cur != nil {
				have = cur.Version[r]
			}
			if r != pusher && c > have {
				if out == nil {
					out = v.Clone()
				}
				if have == 0 {
					delete(out, r)
				} else {
					out[r] = have
				}
			}
		}
		return out, out != nil
	}
	version, changed := clamp(in.Version)
	var ctxVV vv.VV
	ctxChanged := false
	if in.Tombstone != nil {
		ctxVV, ctxChanged = clamp(in.Tombstone.Context)
	}
	if !changed && !ctxChanged {
		return in
	}
	c := in.Clone()
	if changed {
		c.Version = version
	}
	if ctxChanged {
		c.Tombstone.Context = ctxVV
	}
	return c
}
