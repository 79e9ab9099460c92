package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Domain flags, logged beside the conflicts for staff (declared in schema).
const (
	KindDoubleLoan       = schema.KindDoubleLoan
	KindDuplicateSession = schema.KindDuplicateSession
)

// resolutions lists what staff may resolve an entry as, by kind: the
// conflicts' here, the flags' as their tables declare them.
var resolutions = func() map[string][]string {
	m := map[string][]string{
		record.KindField:        {"keep", "take_loser", "noted"},
		record.KindDeleteVsEdit: {"keep", "take_loser", "noted"},
	}
	for kind, f := range schema.Flags() {
		m[kind] = f.Resolutions
	}
	return m
}()

// kindZH names the kinds of log entry in Chinese, for messages.
var kindZH = map[string]string{record.KindField: "字段冲突", record.KindDeleteVsEdit: "删除与修改冲突",
	KindDoubleLoan: "重复借阅", KindDuplicateSession: "重复课堂记录"}

func kindWords(kind string) schema.Words { return schema.Words{EN: kind, ZH: kindZH[kind]} }

// ErrNoSuchConflict is returned for a conflict id the log does not have.
var ErrNoSuchConflict = errors.New("no such conflict")

// ErrNotDuplicate is returned for merging a pair that is no longer one.
var ErrNotDuplicate = errors.New("not a duplicate any more")

// ErrAlreadyResolved is returned when an entry was resolved differently.
var ErrAlreadyResolved = errors.New("already resolved")

// flagWrite looks, after a write, for the domain problems r's table
// declares (schema.Flag), which two devices could not see from each other:
// the same copy out on two open loans, the same evening class logged
// twice. A set of records alike is one entry for staff, however many
// copies: the first copy raises it, the others join it (18 copies of one
// class made 125 pair entries before). A record that no longer matches the
// other members leaves the set.
func (s *Store) flagWrite(ctx context.Context, tx txn, r *record.Record, now time.Time) error {
	t, err := schema.Lookup(r.Table)
	if err != nil {
		return err
	}
	for i := range t.Flags {
		if err := s.flagOne(ctx, tx, t, &t.Flags[i], r, now); err != nil {
			return err
		}
	}
	return nil
}

// flagApplies reports whether r is a case of f at all (a returned loan is
// not).
func flagApplies(f *schema.Flag, r *record.Record) bool {
	for _, name := range f.WhileNull {
		if !r.Fields[name].Value.IsNull() {
			return false
		}
	}
	return true
}

func (s *Store) flagOne(ctx context.Context, tx txn, t *schema.Table, f *schema.Flag, r *record.Record,
	now time.Time) error {
	kind := f.Kind
	if err := tx.leaveFlagSets(ctx, t, f, r.ID); err != nil {
		return fmt.Errorf("update %s: %w", kind, err)
	}
	if r.Deleted() || !flagApplies(f, r) {
		return nil
	}
	first, ok, err := tx.firstFlagPartner(ctx, t, f, r)
	if err != nil || !ok {
		return wrapErr("look for "+kind, err)
	}
	// Already before staff, or judged by them (distinct, noted): each
	// record is flagged against a set once.
	if known, err := tx.flaggedWith(ctx, t, f, r.ID); err != nil || known {
		return wrapErr("look for "+kind, err)
	}
	if logID, ok, err := tx.openFlagSet(ctx, t, f, r, first.id); err != nil {
		return fmt.Errorf("look for %s: %w", kind, err)
	} else if ok {
		if err := tx.joinFlagSet(ctx, logID, r.ID); err != nil {
			return fmt.Errorf("log %s: %w", kind, err)
		}
		s.log.Info("flagged for staff", "kind", kind, "record", r.ID, "set", logID)
		return nil
	}
	// UUIDv7 ids sort by creation: the later record is the one a report
	// leaves out while a duplicate is open.
	earlier, later := first.id, r.ID
	if later < earlier {
		earlier, later = later, earlier
	}
	if err := tx.insertFlag(ctx, r.Table, later, earlier, f.Field, kind, first.label,
		r.Fields[f.Label].Value.Text, now); err != nil {
		return fmt.Errorf("log %s: %w", kind, err)
	}
	s.log.Info("flagged for staff", "kind", kind, "record", later, "other", earlier)
	return nil
}

// wrapErr is err with context, or nil.
func wrapErr(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ResolveConflict closes entry id with resolution, by a staff member.
// Resolving again the same way is a no-op (retries are safe); resolving
// differently is refused.
func (s *Store) ResolveConflict(ctx context.Context, id uint64, resolution, by string) (LoggedConflict, error) {
	by = strings.TrimSpace(by)
	if by == "" || utf8.RuneCountInString(by) > 64 {
		return LoggedConflict{}, record.Problemf(record.CodeInvalidArgument, "by",
			"name who resolves it, 1 to 64 characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginTxn(ctx)
	if err != nil {
		return LoggedConflict{}, fmt.Errorf("resolve: %w", err)
	}
	defer tx.rollback()
	found, err := listConflicts(ctx, tx, ConflictFilter{ID: id, Limit: 1})
	if err != nil {
		return LoggedConflict{}, err
	}
	if len(found) == 0 {
		return LoggedConflict{}, record.Problemf(record.CodeNotFound, "id", "no such conflict: %d", id).Of(ErrNoSuchConflict)
	}
	c := found[0]
	if allowed := resolutions[c.Kind]; !slices.Contains(allowed, resolution) {
		return LoggedConflict{}, record.Problemf(record.CodeInvalidArgument, "resolution",
			"%q does not resolve a %s entry (use one of: %s)", resolution, kindWords(c.Kind), strings.Join(allowed, ", "))
	}
	if c.Resolution != "" {
		if c.Resolution == resolution {
			return c, nil
		}
		return LoggedConflict{}, record.Problemf(record.CodeFailedPrecondition, "resolution",
			"already resolved: entry %d was resolved as %s by %s", id, c.Resolution, c.ResolvedBy).Of(ErrAlreadyResolved)
	}
	seq := s.seq
	switch {
	case resolution == "take_loser" && c.Kind == record.KindField:
		err = s.serverWrite(ctx, tx, &seq, c.Table, c.ID, func(r *record.Record, d vv.Dot) {
			r.Fields[c.Field] = record.Field{Value: c.Loser.Value, Dot: d}
		})
	case resolution == "take_loser" && c.Kind == record.KindDeleteVsEdit:
		err = s.serverWrite(ctx, tx, &seq, c.Table, c.ID, func(r *record.Record, d vv.Dot) {
			r.Tombstone = &record.Tombstone{Dot: d, Context: r.Version.Clone()}
		})
	case resolution == schema.ResolveMerge:
		err = s.mergeLater(ctx, tx, &seq, c)
	}
	if err != nil {
		return LoggedConflict{}, err
	}
	now := time.Now()
	if err := tx.resolveConflictEntry(ctx, id, resolution, by, now); err != nil {
		return LoggedConflict{}, fmt.Errorf("resolve: %w", err)
	}
	if err := auditRow(ctx, tx, c.Table, c.ID, ServerReplica, 0, "resolved "+resolution,
		fmt.Sprintf("conflict %d (%s) by %s", id, c.Kind, by), now); err != nil {
		return LoggedConflict{}, err
	}
	if err := tx.saveFeedPosition(ctx, seq); err != nil {
		return LoggedConflict{}, err
	}
	if err := tx.commit(); err != nil {
		return LoggedConflict{}, fmt.Errorf("resolve: commit: %w", err)
	}
	s.seq = seq
	s.log.Info("resolved", "id", id, "kind", c.Kind, "resolution", resolution, "by", by)
	c.Resolution, c.ResolvedAt, c.ResolvedBy = resolution, now.UTC(), by
	return c, nil
}

// mergeLater resolves flag entry c by deleting the copies in its set: the
// members that an earlier member is still alike, so the first of them is
// kept. Once none are alike (deleted, or corrected apart), a merge would
// delete what is no copy, and is refused.
func (s *Store) mergeLater(ctx context.Context, tx txn, seq *uint64, c LoggedConflict) error {
	t, err := schema.Lookup(c.Table)
	if err != nil {
		return err
	}
	f := t.Flag(c.Kind)
	if f == nil {
		return fmt.Errorf("resolve: %s declares no flag %s", c.Table, c.Kind)
	}
	copies, err := tx.flagSetCopies(ctx, t, f, c.LogID)
	if err != nil {
		return fmt.Errorf("resolve: the set of entry %d: %w", c.LogID, err)
	}
	if len(copies) == 0 {
		others := strings.Join(otherThan(f.Resolutions, schema.ResolveMerge), " or ")
		if len(c.Members) > 2 {
			return record.Problemf(record.CodeFailedPrecondition, "resolution",
				"not a duplicate any more: entry %d: no two of its %d %ss are still %s; resolve it as %s",
				c.LogID, len(c.Members), schema.Words{EN: f.Record, ZH: f.RecordZH},
				schema.Words{EN: f.Alike, ZH: f.AlikeZH}, others).Of(ErrNotDuplicate)
		}
		return record.Problemf(record.CodeFailedPrecondition, "resolution",
			"not a duplicate any more: entry %d: the earlier %s %s is deleted or no longer %s; resolve it as %s",
			c.LogID, schema.Words{EN: f.Record, ZH: f.RecordZH}, c.OtherID,
			schema.Words{EN: f.Alike, ZH: f.AlikeZH}, others).Of(ErrNotDuplicate)
	}
	for _, id := range copies {
		if err := s.serverWrite(ctx, tx, seq, c.Table, id, func(r *record.Record, d vv.Dot) {
			r.Tombstone = &record.Tombstone{Dot: d, Context: r.Version.Clone()}
		}); err != nil {
			return err
		}
	}
	return nil
}

func otherThan(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

// serverWrite is an edit made on the server (replica 1) inside tx: it
// bumps the server's entry of the record's version, so the result
// dominates what every device has and syncs to all of them.
func (s *Store) serverWrite(ctx context.Context, tx txn, seq *uint64, table, id string,
	edit func(*record.Record, vv.Dot)) error {
	t, err := schema.Lookup(table)
	if err != nil {
		return err
	}
	cur, err := tx.loadServerRecord(ctx, t, id)
	if err != nil {
		return fmt.Errorf("server write %s %s: %w", table, id, err)
	}
	r := cur.Clone()
	k := r.Version.Bump(ServerReplica)
	edit(r, vv.Dot{Replica: ServerReplica, Counter: k, HLC: s.clock.Now()})
	*seq++
	if err := recordMove(ctx, tx, cur, r, *seq); err != nil {
		return err
	}
	if err := tx.upsertServerRecord(ctx, t, r, *seq); err != nil {
		return fmt.Errorf("server write %s %s: %w", table, id, err)
	}
	if err := noteAttachments(ctx, tx, t, r, time.Now()); err != nil {
		return err
	}
	return s.supersede(ctx, tx, serverChange(cur, r), r, false, "the server", time.Now())
}

// createAsServer writes a new record (or new fields of one) as the server.
func (s *Store) createAsServer(ctx context.Context, tx txn, seq *uint64, table, id string,
	texts map[string]string) error {
	t, err := schema.Lookup(table)
	if err != nil {
		return err
	}
	r := &record.Record{Table: table, ID: id, Version: vv.VV{}, Fields: map[string]record.Field{}}
	// An id can come back (a village added again under the name it had
	// when it was deleted): the new state must follow every state the old
	// one had, collected or not, or it would reuse the server's dots and a
	// replay of the old delete could win over it.
	cur, _, err := s.loadState(ctx, tx, r)
	if err != nil {
		return err
	}
	if cur != nil {
		r.Version, r.Tombstone = cur.Version.Clone(), cur.Tombstone
	}
	k := r.Version.Bump(ServerReplica)
	d := vv.Dot{Replica: ServerReplica, Counter: k, HLC: s.clock.Now()}
	for name, v := range texts {
		if v != "" {
			r.Fields[name] = record.Field{Value: schema.TextValue(v), Dot: d}
		}
	}
	*seq++
	if err := tx.upsertServerRecord(ctx, t, r, *seq); err != nil {
		return fmt.Errorf("server write %s %s: %w", table, id, err)
	}
	if err := noteAttachments(ctx, tx, t, r, time.Now()); err != nil {
		return err
	}
	return nil
}
