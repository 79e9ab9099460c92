package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
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

// ErrNoSuchConflict is returned for a conflict id the log does not have.
var ErrNoSuchConflict = errors.New("no such conflict")

// ErrNotDuplicate is returned for merging a pair that is no longer one.
var ErrNotDuplicate = errors.New("not a duplicate any more")

// ErrAlreadyResolved is returned when an entry was resolved differently.
var ErrAlreadyResolved = errors.New("already resolved")

// maxFlagged bounds the records one write is flagged against: a sheet of
// thousands of classes all on one day (a wrong date column) would
// otherwise flag every pair, thousands squared. The earliest ones are
// enough for the report to count each class once.
const maxFlagged = "10"

// flag looks, after a write, for the domain problems r's table declares
// (schema.Flag), which two devices could not see from each other: the same
// copy out on two open loans, the same evening class logged twice. Each
// pair is logged once.
func (s *Store) flag(ctx context.Context, tx *sql.Tx, r *record.Record, now time.Time) error {
	if r.Deleted() {
		return nil
	}
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

// flagQuery is the look-up of the records f pairs with r, or ok false
// when r is not a case of f at all (a returned loan). The Match columns
// come first, in their declared order, each an equality, so the Lookups
// index that starts with them answers it (a busy day has many groups); an
// empty optional column is an IS NULL OR, which leaves the index the
// columns before it (schema's tests hold optional ones to the end).
func flagQuery(t *schema.Table, f *schema.Flag, r *record.Record) (q string, args []any, ok bool) {
	var where []string
	for _, name := range f.Match {
		v := r.Fields[name].Value.Text
		if v == "" && !t.Column(name).Required {
			where = append(where, fmt.Sprintf("(%[1]s IS NULL OR %[1]s = ?)", name))
		} else {
			where = append(where, name+" = ?")
		}
		args = append(args, v)
	}
	for _, name := range f.WhileNull {
		if !r.Fields[name].Value.IsNull() {
			return "", nil, false
		}
		where = append(where, name+" IS NULL")
	}
	where = append(where, "_deleted = 0", "id != ?")
	q = fmt.Sprintf(`SELECT id, COALESCE(%s, '') FROM %s WHERE %s ORDER BY id LIMIT %s`,
		f.Label, t.Name, strings.Join(where, " AND "), maxFlagged)
	return q, append(args, r.ID), true
}

func (s *Store) flagOne(ctx context.Context, tx *sql.Tx, t *schema.Table, f *schema.Flag, r *record.Record,
	now time.Time) error {
	kind := f.Kind
	q, args, ok := flagQuery(t, f, r)
	if !ok {
		return nil
	}
	rs, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("look for %s: %w", kind, err)
	}
	type other struct{ id, label string }
	var others []other
	for rs.Next() {
		var o other
		if err := rs.Scan(&o.id, &o.label); err != nil {
			rs.Close()
			return fmt.Errorf("look for %s: %w", kind, err)
		}
		others = append(others, o)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return err
	}
	mine := r.Fields[f.Label].Value.Text
	for _, o := range others {
		// UUIDv7 ids sort by creation: the later record is the one a
		// report leaves out while a duplicate is open.
		first, later := o.id, r.ID
		if later < first {
			first, later = later, first
		}
		var exists int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE tbl = ? AND kind = ?
			AND ((record_id = ? AND other_id = ?) OR (record_id = ? AND other_id = ?))`,
			r.Table, kind, later, first, first, later).Scan(&exists)
		if err != nil {
			return fmt.Errorf("look for %s: %w", kind, err)
		}
		if exists > 0 {
			continue
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO conflicts (tbl, record_id, other_id, field, kind,
			winner_type, winner_value, winner_replica, winner_counter, winner_hlc,
			loser_type, loser_value, loser_replica, loser_counter, loser_hlc,
			server_vv, incoming_vv, detected_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0, ?, ?, 0, 0, 0, x'', x'', ?)`,
			r.Table, later, first, f.Field, kind, int(schema.Text), o.label, int(schema.Text), mine, now.UnixMilli())
		if err != nil {
			return fmt.Errorf("log %s: %w", kind, err)
		}
		s.log.Info("flagged for staff", "kind", kind, "record", later, "other", first)
	}
	return nil
}

// stillMatches reports whether b is live and a and b are still a case of f.
func stillMatches(ctx context.Context, tx *sql.Tx, t *schema.Table, f *schema.Flag, a, b string) (bool, error) {
	var where []string
	for _, name := range f.Match {
		if t.Column(name).Required {
			where = append(where, fmt.Sprintf("a.%[1]s = b.%[1]s", name))
		} else {
			where = append(where, fmt.Sprintf("COALESCE(a.%[1]s, '') = COALESCE(b.%[1]s, '')", name))
		}
	}
	for _, name := range f.WhileNull {
		where = append(where, fmt.Sprintf("a.%[1]s IS NULL AND b.%[1]s IS NULL", name))
	}
	var same int
	q := fmt.Sprintf(`SELECT count(*) FROM %[1]s a JOIN %[1]s b ON b.id = ? WHERE a.id = ? AND b._deleted = 0 AND %[2]s`,
		t.Name, strings.Join(where, " AND "))
	if err := tx.QueryRowContext(ctx, q, b, a).Scan(&same); err != nil {
		return false, fmt.Errorf("resolve: compare %s %s with %s: %w", t.Name, a, b, err)
	}
	return same > 0, nil
}

// ResolveConflict closes entry id with resolution, by a staff member.
// Resolving again the same way is a no-op (retries are safe); resolving
// differently is refused.
func (s *Store) ResolveConflict(ctx context.Context, id uint64, resolution, by string) (LoggedConflict, error) {
	by = strings.TrimSpace(by)
	if by == "" || utf8.RuneCountInString(by) > 64 {
		return LoggedConflict{}, &record.Problem{Code: record.CodeInvalidArgument, Field: "by",
			Msg: "name who resolves it, 1 to 64 characters"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return LoggedConflict{}, fmt.Errorf("resolve: %w", err)
	}
	defer tx.Rollback()
	found, err := s.listConflicts(ctx, tx, ConflictFilter{ID: id, Limit: 1})
	if err != nil {
		return LoggedConflict{}, err
	}
	if len(found) == 0 {
		return LoggedConflict{}, fmt.Errorf("%w: %d", ErrNoSuchConflict, id)
	}
	c := found[0]
	if allowed := resolutions[c.Kind]; !slices.Contains(allowed, resolution) {
		return LoggedConflict{}, &record.Problem{Code: record.CodeInvalidArgument, Field: "resolution",
			Msg: fmt.Sprintf("%q does not resolve a %s entry (use one of: %s)", resolution, c.Kind, strings.Join(allowed, ", "))}
	}
	if c.Resolution != "" {
		if c.Resolution == resolution {
			return c, nil
		}
		return LoggedConflict{}, fmt.Errorf("%w: entry %d was resolved as %s by %s",
			ErrAlreadyResolved, id, c.Resolution, c.ResolvedBy)
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
	if _, err := tx.ExecContext(ctx, `UPDATE conflicts SET resolution = ?, resolved_ms = ?, resolved_by = ? WHERE id = ?`,
		resolution, now.UnixMilli(), by, int64(id)); err != nil {
		return LoggedConflict{}, fmt.Errorf("resolve: %w", err)
	}
	if err := s.auditRow(ctx, tx, c.Table, c.ID, ServerReplica, 0, "resolved "+resolution,
		fmt.Sprintf("conflict %d (%s) by %s", id, c.Kind, by), now); err != nil {
		return LoggedConflict{}, err
	}
	if err := s.saveSeq(ctx, tx, seq); err != nil {
		return LoggedConflict{}, err
	}
	if err := tx.Commit(); err != nil {
		return LoggedConflict{}, fmt.Errorf("resolve: commit: %w", err)
	}
	s.seq = seq
	s.log.Info("resolved", "id", id, "kind", c.Kind, "resolution", resolution, "by", by)
	c.Resolution, c.ResolvedAt, c.ResolvedBy = resolution, now.UTC(), by
	return c, nil
}

// mergeLater resolves flag entry c by deleting its later record, only while
// the earlier one is still there and still a case of the flag: once they
// differ, both would be gone.
func (s *Store) mergeLater(ctx context.Context, tx *sql.Tx, seq *uint64, c LoggedConflict) error {
	t, err := schema.Lookup(c.Table)
	if err != nil {
		return err
	}
	f := t.Flag(c.Kind)
	if f == nil {
		return fmt.Errorf("resolve: %s declares no flag %s", c.Table, c.Kind)
	}
	same, err := stillMatches(ctx, tx, t, f, c.ID, c.OtherID)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("%w: entry %d: the earlier %s %s is deleted or no longer %s; resolve it as %s",
			ErrNotDuplicate, c.LogID, f.Record, c.OtherID, f.Alike,
			strings.Join(otherThan(f.Resolutions, schema.ResolveMerge), " or "))
	}
	return s.serverWrite(ctx, tx, seq, c.Table, c.ID, func(r *record.Record, d vv.Dot) {
		r.Tombstone = &record.Tombstone{Dot: d, Context: r.Version.Clone()}
	})
}

func otherThan(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

// serverWrite is an edit made on the server (replica 1) inside tx: it
// bumps the server's entry of the record's version, so the result
// dominates what every device has and syncs to all of them.
func (s *Store) serverWrite(ctx context.Context, tx *sql.Tx, seq *uint64, table, id string,
	edit func(*record.Record, vv.Dot)) error {
	t, err := schema.Lookup(table)
	if err != nil {
		return err
	}
	var curSeq int64
	cur, err := sqlite.Scan(t, tx.StmtContext(ctx, s.stmts[t.Name]["get"]).QueryRowContext(ctx, id), &curSeq)
	if err != nil {
		return fmt.Errorf("server write %s %s: %w", table, id, err)
	}
	r := cur.Clone()
	k := r.Version.Bump(ServerReplica)
	edit(r, vv.Dot{Replica: ServerReplica, Counter: k, HLC: s.clock.Now()})
	*seq++
	if err := noteMove(ctx, tx, cur, r, *seq); err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, s.stmts[t.Name]["upsert"]).ExecContext(ctx,
		sqlite.Args(t, r, int64(*seq), int64(ServerReplica))...); err != nil {
		return fmt.Errorf("server write %s %s: %w", table, id, err)
	}
	return nil
}

// serverCreate writes a new record (or new fields of one) as the server.
func (s *Store) serverCreate(ctx context.Context, tx *sql.Tx, seq *uint64, table, id string,
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
	cur, _, err := s.load(ctx, tx, r)
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
	if _, err := tx.StmtContext(ctx, s.stmts[t.Name]["upsert"]).ExecContext(ctx,
		sqlite.Args(t, r, int64(*seq), int64(ServerReplica))...); err != nil {
		return fmt.Errorf("server write %s %s: %w", table, id, err)
	}
	return nil
}

func (s *Store) saveSeq(ctx context.Context, tx *sql.Tx, seq uint64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'seq'`, int64(seq)); err != nil {
		return fmt.Errorf("save sequence: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(s.clock.Last())); err != nil {
		return fmt.Errorf("save clock: %w", err)
	}
	return nil
}
