package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

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
// permission_denied; a rejected change is also kept for staff, as much of
// it as hold keeps, unless its device has as many kept as it may (then it
// is rejected with resource_exhausted instead; the device still has it).
//
// Pushes that arrive while another commits are committed together, each
// in its own savepoint: one fsync for many phones coming back into range
// at once, and one push's error still changes nothing of the others.
func (s *Store) Push(ctx context.Context, p Principal, changes []*record.Record) ([]protocol.Result, error) {
	results, _, err := s.push1(ctx, p, changes)
	return results, err
}

// push1 is Push, and its number at the page gate (see pageGate.tryEnter).
func (s *Store) push1(ctx context.Context, p Principal, changes []*record.Record) ([]protocol.Result, uint64, error) {
	n := s.gate.pushBegin()
	defer s.gate.pushEnd()
	job := &pushJob{ctx: ctx, p: p, changes: changes, results: make([]protocol.Result, len(changes))}
	for i, c := range changes {
		if c == nil {
			continue
		}
		if err := record.Validate(c, p.Replica); err != nil {
			var prob *record.Problem
			if !errors.As(err, &prob) {
				return nil, 0, err
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
		return nil, 0, job.err
	}
	// A state handed back must be one the caller may read: a volunteer who
	// pushes to a record of another village (an id she kept from before a
	// reassignment, or guessed) learns nothing of it.
	for i := range job.results {
		if c := job.results[i].Current; c != nil && !p.MayRead(c) {
			job.results[i].Current = nil
		}
	}
	return job.results, n, nil
}

// pushJob is one Push waiting for, or done by, a group commit.
type pushJob struct {
	ctx      context.Context
	p        Principal
	changes  []*record.Record
	results  []protocol.Result
	err      error
	finished bool // guarded by Store.mu
	// held is what the device has held on the server, read at its push's
	// first refusal (nil until then).
	held *heldUsage
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
	if s.beforeCommit != nil {
		s.beforeCommit()
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
	// Villages are read inside the transaction, and again after a change
	// writes one, so a new village and its first records can travel in
	// one push.
	env := schema.Env{Now: now}
	var err error
	if env.Villages, err = tx.villages(ctx); err != nil {
		return err
	}
	batch, err := prefetchStates(ctx, tx, j.changes)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	if err := s.pushChanges(ctx, batch, j, seq, env); err != nil {
		return err
	}
	return batch.flush(ctx)
}

// pushChanges applies j's changes in tx, one by one.
func (s *Store) pushChanges(ctx context.Context, tx *prefetchedTxn, j *pushJob, seq *uint64, env schema.Env) error {
	p, results, now := j.p, j.results, env.Now
	var err error
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
			if results[i].Problem, err = s.hold(ctx, tx, j, c, results[i].Problem, now); err != nil {
				return err
			}
			continue
		}
		r, err := s.apply(ctx, tx, p, c, seq, env)
		if err != nil {
			return fmt.Errorf("push %s %s: %w", c.Table, c.ID, err)
		}
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
		if r, err = s.audit(ctx, tx, j, c, r, now); err != nil {
			return err
		}
		results[i] = r
		if c.Table == schema.VillageTable && r.Outcome != record.Rejected {
			if env.Villages, err = tx.villages(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// prefetchedTxn is a push's transaction with the stored states of its
// changes read ahead, and its receipts and audit rows written at its end,
// a few statements per table rather than one per change (each statement
// costs about 15 µs through database/sql on SQLite, and is a round trip
// on PostgreSQL).
type prefetchedTxn struct {
	txn
	// states are the states read ahead and not yet used, by table and id;
	// nil for a record with no row.
	states map[stateKey]*record.Record
	// fresh are the records that had no row and were in no flag set when
	// the push began; written counts the push's writes of each record.
	fresh   map[stateKey]bool
	written map[stateKey]int
	// receipts and audits wait for flush; receiptAt indexes receipts.
	receipts  []receipt
	receiptAt map[receiptKey]int
	audits    []auditEntry
}

type receiptKey struct {
	replica   uint32
	table, id string
}

// flush writes the receipts and audit rows kept so far.
func (p *prefetchedTxn) flush(ctx context.Context) error {
	if len(p.receipts) > 0 {
		if err := p.txn.writeReceipts(ctx, p.receipts); err != nil {
			return fmt.Errorf("write receipts: %w", err)
		}
		p.receipts, p.receiptAt = p.receipts[:0], map[receiptKey]int{}
	}
	if len(p.audits) > 0 {
		if err := p.txn.insertAudits(ctx, p.audits); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		p.audits = p.audits[:0]
	}
	return nil
}

// readReceipt reads what the push kept so far too (a record twice in one
// push); replays are rare, so it writes them first.
func (p *prefetchedTxn) readReceipt(ctx context.Context, replica uint32, table, id string) (uint64,
	record.Outcome, bool, error) {
	if err := p.flush(ctx); err != nil {
		return 0, 0, false, err
	}
	return p.txn.readReceipt(ctx, replica, table, id)
}

// leaveFlagSets has nothing to do for a record the push wrote for the
// first time: only a written record joins a set.
func (p *prefetchedTxn) leaveFlagSets(ctx context.Context, t *schema.Table, f *schema.Flag, id string) error {
	if k := (stateKey{t.Name, id}); p.fresh[k] && p.written[k] <= 1 {
		return nil
	}
	return p.txn.leaveFlagSets(ctx, t, f, id)
}

type stateKey struct{ table, id string }

// prefetchStates returns tx reading the states of changes' records ahead.
// Changes naming no valid record are left to loadState, which skips them.
// A record with no row and in no flag set is fresh.
func prefetchStates(ctx context.Context, tx txn, changes []*record.Record) (*prefetchedTxn, error) {
	byTable := map[string][]string{}
	states := map[stateKey]*record.Record{}
	for _, c := range changes {
		if c == nil {
			continue
		}
		if _, err := schema.Lookup(c.Table); err != nil || record.CheckID(c.ID) != nil {
			continue
		}
		k := stateKey{c.Table, c.ID}
		if _, dup := states[k]; dup {
			continue
		}
		states[k] = nil
		byTable[c.Table] = append(byTable[c.Table], c.ID)
	}
	for name, ids := range byTable {
		t, _ := schema.Lookup(name)
		got, err := tx.loadRecords(ctx, t, ids)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", name, err)
		}
		for id, r := range got {
			states[stateKey{name, id}] = r
		}
	}
	// A record with no row may still be a member of a set: its row was
	// collected after its delete, and memberships outlive collection.
	var rowless []string
	for k, r := range states {
		if r == nil {
			rowless = append(rowless, k.id)
		}
	}
	members, err := tx.flagMembers(ctx, rowless)
	if err != nil {
		return nil, fmt.Errorf("flag sets: %w", err)
	}
	fresh := map[stateKey]bool{}
	for k, r := range states {
		if r == nil && !members[k.id] {
			fresh[k] = true
		}
	}
	return &prefetchedTxn{txn: tx, states: states, fresh: fresh, written: map[stateKey]int{},
		receiptAt: map[receiptKey]int{}}, nil
}

// loadRecord answers from the states read ahead, each once: a second
// change to a record in the same push reads what the first wrote.
func (p *prefetchedTxn) loadRecord(ctx context.Context, t *schema.Table, id string) (*record.Record, bool, error) {
	k := stateKey{t.Name, id}
	if cur, ok := p.states[k]; ok {
		delete(p.states, k)
		return cur, cur != nil, nil
	}
	return p.txn.loadRecord(ctx, t, id)
}

// writeRecord and upsertServerRecord drop what was read ahead of the
// record they write, which is no longer its state.
func (p *prefetchedTxn) writeRecord(ctx context.Context, t *schema.Table, r *record.Record, seq uint64,
	origin uint32) error {
	delete(p.states, stateKey{t.Name, r.ID})
	p.written[stateKey{t.Name, r.ID}]++
	return p.txn.writeRecord(ctx, t, r, seq, origin)
}

func (p *prefetchedTxn) upsertServerRecord(ctx context.Context, t *schema.Table, r *record.Record,
	seq uint64) error {
	delete(p.states, stateKey{t.Name, r.ID})
	p.written[stateKey{t.Name, r.ID}]++
	return p.txn.upsertServerRecord(ctx, t, r, seq)
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
		// collected ones. Unless its village is unknown and the caller
		// may write only some: then it is refused as a delete of a record
		// of another village is, or the answer would tell which ids exist.
		if err := authorize(p, in, nil); err != nil {
			return protocol.Result{Outcome: record.Rejected, Problem: asProblem(err)}, nil
		}
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
		p := record.Problemf(record.CodeFailedPrecondition, in.Table+".id",
			"%s was deleted on the server, and the delete is older than the server keeps; "+
				"this edit is kept for staff to review", in.ID)
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
	if err := cmp.Or(authorize(p, in, cur), record.CheckValues(in, env), record.CheckRequired(out, record.Writes(in))); err != nil {
		return protocol.Result{Outcome: record.Rejected, Problem: asProblem(err), Current: cur}, nil
	}
	*seq++
	if err := recordMove(ctx, tx, cur, out, *seq); err != nil {
		return protocol.Result{}, err
	}
	if err := tx.writeRecord(ctx, t, out, *seq, replica); err != nil {
		return protocol.Result{}, fmt.Errorf("write: %w", err)
	}
	if err := noteAttachments(ctx, tx, t, out, now); err != nil {
		return protocol.Result{}, err
	}
	if err := s.flagWrite(ctx, tx, out, now); err != nil {
		return protocol.Result{}, err
	}
	for _, c := range conflicts {
		if err := tx.insertConflict(ctx, c, p.Replica, p.CarriedBy, now); err != nil {
			return protocol.Result{}, fmt.Errorf("log conflict on %s.%s: %w", c.Table, c.Field, err)
		}
		s.log.Info("conflict logged", "table", c.Table, "id", c.ID, "field", c.Field, "kind", c.Kind,
			"winner", c.Winner.Dot.String(), "loser", c.Loser.Dot.String())
	}
	if err := s.supersede(ctx, tx, in, out, len(conflicts) > 0, p.Device, now); err != nil {
		return protocol.Result{}, err
	}
	// A replay answers what the first push was told, for a device that
	// lost the answer. A carried push's answer went to the carrier, not the
	// device: its direct sync later is told the server already had it
	// (with the record as it is now when that differs, as for any replay).
	kept := outcome
	if p.CarriedBy != "" {
		kept = record.AlreadyHad
	}
	if err := writeReceipt(ctx, tx, receipt{replica, in.Table, in.ID, counter, kept}); err != nil {
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
//
// A volunteer is told nothing of records outside her villages: a change
// to a record of another village and one to a record the server does not
// have (naming no village: a delete, or an edit of an id she made up) get
// the same answer, which names neither that village nor whether the
// record exists. Only a village her own change names is named back.
func authorize(p Principal, in, cur *record.Record) error {
	deny := func(field, format string, args ...any) error {
		return record.Problemf(record.CodePermissionDenied, field, format, args...)
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
	case t.Scope == "" || p.AllVillages():
		return nil
	}
	field := in.Table + "." + t.Scope
	serves := strings.Join(p.Villages, ", ")
	named, names := in.Fields[t.Scope]
	if names && !p.Serves(named.Value.Text) {
		return deny(field, "%s is not one of your villages (%s serves %s)", named.Value.Text, p.User, serves)
	}
	var curOK bool
	if cur != nil {
		f, has := cur.Fields[t.Scope]
		curOK = has && p.Serves(f.Value.Text)
	}
	if (cur != nil && !curOK) || (cur == nil && !names) {
		return deny(field, "not a record of your villages; a record you write names one of them (%s serves %s)",
			p.User, serves)
	}
	return nil
}

// asProblem is the *record.Problem in err (the checks return nothing else).
func asProblem(err error) *record.Problem {
	p := &record.Problem{Code: record.CodeInvalidArgument, Msg: err.Error()}
	errors.As(err, &p)
	return p
}

// audit notes who made a change and what came of it, and holds a
// refused change for staff; it returns r, whose problem is replaced when
// the change could not be held (see hold).
func (s *Store) audit(ctx context.Context, tx pushTxn, j *pushJob, c *record.Record, r protocol.Result,
	now time.Time) (protocol.Result, error) {
	p := j.p
	detail := ""
	if r.Problem != nil {
		detail = cut(r.Problem.Error(), heldMessageBytes)
		var err error
		if r.Problem, err = s.hold(ctx, tx, j, c, r.Problem, now); err != nil {
			return r, err
		}
		if r.Problem.Code == CodeResourceExhausted {
			// Past the cap nothing more of this device's refusals is
			// kept, the audit included: one line says so for the push.
			if j.held.overCapAudited {
				return r, nil
			}
			j.held.overCapAudited = true
			detail = cut(r.Problem.Error(), heldMessageBytes) + " (later refusals of this push are not audited)"
		}
	} else if r.Outcome == record.AlreadyHad {
		return r, nil // a replay or a stale push changed nothing
	}
	if r.Conflicts > 0 {
		detail = fmt.Sprintf("%d conflict(s) logged", r.Conflicts)
	}
	if p.CarriedBy != "" {
		detail = strings.TrimPrefix(detail+"; carried by "+cut(p.CarriedBy, heldKeyBytes), "; ")
	}
	// A change refused for its table or id may carry megabytes of either.
	return r, auditRow(ctx, tx, cut(c.Table, heldKeyBytes), cut(c.ID, heldKeyBytes), p.Replica, p.UserID,
		r.Outcome.String(), detail, now)
}

// auditRow writes one audit line: who (replica, user; 0 for none) did
// what to a record, with what outcome.
func auditRow(ctx context.Context, tx pushTxn, table, id string, replica uint32, user int64,
	outcome, detail string, now time.Time) error {
	e := auditEntry{table, id, replica, user, outcome, detail, now}
	var err error
	if b, ok := tx.(*prefetchedTxn); ok {
		b.audits = append(b.audits, e)
	} else {
		err = tx.insertAudits(ctx, []auditEntry{e})
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// writeReceipt keeps r, at the end of the push when tx is a push's.
func writeReceipt(ctx context.Context, tx pushTxn, r receipt) error {
	if b, ok := tx.(*prefetchedTxn); ok {
		k := receiptKey{r.replica, r.table, r.id}
		if i, ok := b.receiptAt[k]; ok {
			b.receipts[i] = r
		} else {
			b.receiptAt[k] = len(b.receipts)
			b.receipts = append(b.receipts, r)
		}
		return nil
	}
	return tx.writeReceipts(ctx, []receipt{r})
}

// What the server holds of refused changes is bounded, so that no device
// can fill its disk with them (each is one push away).
const (
	// heldChangeBytes is the most of one refused change's JSON kept. Any
	// change a valid write makes fits (the longest text, notes, is 2,000
	// characters); one refused for its size keeps its beginning, marked as
	// cut. The device keeps the whole change in its rejected list.
	heldChangeBytes = 32 << 10
	// heldMessageBytes is the most of a refusal's message kept (held and
	// audited): it can quote what the change sent.
	heldMessageBytes = 1 << 10
	// heldKeyBytes is the most of a refused change's table and id kept: a
	// valid table name is a word and a valid id 36 characters, and a
	// change refused for either must not smuggle megabytes past the cap.
	heldKeyBytes = 64
)

// heldLimits cap what one device may have held on the server. Past them
// a refused change is answered resource_exhausted and not held: the device
// still keeps it, in its rejected list.
type heldLimits struct{ rows, bytes int64 }

// defaultHeldLimits: 10,000 refusals is a season of writes of a device
// whose clock was years ahead, or hundreds of its pending changes after a
// reassignment, at a few hundred bytes each; 10 MiB keeps a fleet of
// phones well under a gigabyte however they misbehave.
var defaultHeldLimits = heldLimits{rows: 10_000, bytes: 10 << 20}

func (s *Store) heldLimits() heldLimits {
	if s.heldCap == (heldLimits{}) {
		return defaultHeldLimits
	}
	return s.heldCap
}

// heldUsage is what one device has held on the server.
type heldUsage struct {
	rows, bytes int64
	// overCapAudited: a refusal of this push past the cap has its audit line.
	overCapAudited bool
}

// CodeResourceExhausted is the code of a refused change the server could
// not hold: its device has as many held as it may.
const CodeResourceExhausted record.Code = "resource_exhausted"

// hold keeps a refused change of j's device on the server for staff, with
// the reason. It returns the problem the device is told: prob, or, when
// the device has as many changes held as it may, one saying so (and the
// change is not held).
func (s *Store) hold(ctx context.Context, tx pushTxn, j *pushJob, c *record.Record, prob *record.Problem,
	now time.Time) (*record.Problem, error) {
	p := j.p
	body, err := heldJSON(p, c)
	if err != nil {
		return nil, err
	}
	if j.held == nil {
		rows, bytes, err := tx.heldUsage(ctx, p.Replica)
		if err != nil {
			return nil, fmt.Errorf("hold refused change: %w", err)
		}
		j.held = &heldUsage{rows: rows, bytes: bytes}
	}
	table, id, msg := cut(c.Table, heldKeyBytes), cut(c.ID, heldKeyBytes), cut(prob.Error(), heldMessageBytes)
	// Everything a held row stores counts against the cap.
	bytes := int64(len(table) + len(id) + len(msg) + len(body))
	limit := s.heldLimits()
	if j.held.rows+1 > limit.rows || j.held.bytes+bytes > limit.bytes {
		return record.Problemf(CodeResourceExhausted, table+".id",
			"this device has %s (%s) held on the server, the limit is %s (%s): "+
				"ask staff to review them. This one stays in the device's rejected list, refused for: %s",
			changes(j.held.rows), size(j.held.bytes), changes(limit.rows), size(limit.bytes),
			msg), nil
	}
	if err := tx.insertHeld(ctx, p.Replica, table, id, string(prob.Code), msg, body, bytes, now); err != nil {
		return nil, fmt.Errorf("hold refused change: %w", err)
	}
	j.held.rows++
	j.held.bytes += bytes
	return prob, nil
}

// heldJSON is what is held of c: its JSON, cut to heldChangeBytes with a
// marker; only a summary (its fields' names) for a coordinator, whose
// role writes nothing, so staff have nothing of it to recover.
func heldJSON(p Principal, c *record.Record) (string, error) {
	var v any = record.ToJSON(c)
	if p.Role == Coordinator {
		names := make([]string, 0, len(c.Fields))
		for name := range c.Fields {
			names = append(names, name)
		}
		slices.Sort(names)
		v = struct {
			Table   string   `json:"table"`
			ID      string   `json:"id"`
			Fields  []string `json:"fields"`
			Deleted bool     `json:"deleted"`
			Summary string   `json:"summary"`
		}{c.Table, c.ID, names, c.Deleted(), "a coordinator's change: its values are not held"}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // <, > and & would take six bytes each
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("hold refused change: %w", err)
	}
	body := strings.TrimSuffix(b.String(), "\n")
	if len(body) <= heldChangeBytes {
		return body, nil
	}
	return cut(body, heldChangeBytes) + fmt.Sprintf("\n[cut: the first %d of %d bytes are held]",
		heldChangeBytes, len(body)), nil
}

// cut is s cut to at most n bytes, on a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func changes(n int64) string {
	if n == 1 {
		return "1 refused change"
	}
	return fmt.Sprintf("%d refused changes", n)
}

func size(n int64) string {
	switch {
	case n%(1<<20) == 0 && n > 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1023)>>10)
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
