package store

import (
	"context"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Superseded is the resolution the server gives an open entry that a
// later write made untrue. It is not one staff may choose.
const Superseded = "superseded"

// openEntry is an open field or delete-vs-edit entry of the conflict log.
type openEntry struct {
	id    uint64
	kind  string
	field string
	// winner is the edit that kept the record (delete_vs_edit) or the
	// field's winning write; loser the losing write or the delete.
	winner, loser vv.Dot
}

// supersede keeps the conflict log true after a write of a record: in is
// what was written (a pushed change, or what a server write changed) by
// who, out the record's state after it. An open entry is closed as
// Superseded when
//   - it says an edit kept the record against a delete (delete_vs_edit)
//     and that edit no longer does: it was replaced, or a delete has seen
//     it (the record may then be deleted, or kept by another edit, which
//     has its own entry);
//   - its losing write was seen by a delete (out's tombstone context, the
//     union of every delete's, covers it): someone saw the value and
//     deleted the record;
//   - in writes the same field having seen the losing write as the field's
//     value: in's version covers the loser but not the entry's winner.
//     Someone saw the value and replaced it. Seeing the loser is not
//     enough: a device that pulls the merged record has seen every write
//     (the server's version covers them all) but only the winner as the
//     value, and its edit says nothing about the loser.
//
// These make the open entries the same whatever order the same pushes
// arrive in (sync/DESIGN.md, "The conflict log stays true"): without the
// last, a value replaced by someone who saw it would be offered to staff
// only when a concurrent write happened to reach the server between the
// two. The tests are on out's tombstone rather than in's, so an entry
// logged after the delete arrived (a field keeps its value under a
// tombstone) is closed at once.
//
// Why the entry's winner is the right test of "seen as the value", even
// when a third write had beaten the loser or the winner was overwritten
// since: only the server merges, and a write leaves the server's state
// once, to the write that beat it (the entry's winner) or to one that
// overwrote it (then no entry has it as loser). A device's writes have
// seen a server state plus its own writes; a state that holds the loser
// and not the winner holds the loser as the field's value, and a state
// that holds the winner has it or a later write as the value. (So the
// property test replays only orders in which every device's snapshot was
// once the server's state: with versions alone one can invent an order
// where the loser lost to another winner than in the state the device
// saw.) A server write has seen every winner, so it closes no field
// entry: taking one loser back leaves the others on offer.
//
// logged says the write logged conflicts. The push path is hot and most
// records have no open entry: the server remembers which may have one
// (s.mayHaveOpen, a superset: a record stays in it once its entries are
// closed, since a failed group commit could reopen them) and reads the log
// only for those.
func (s *Store) supersede(ctx context.Context, tx txn, in, out *record.Record, logged bool, who string,
	now time.Time) error {
	key := entryKey(out.Table, out.ID)
	if logged {
		s.mayHaveOpen[key] = struct{}{}
	} else if _, ok := s.mayHaveOpen[key]; !ok {
		return nil
	}
	entries, err := tx.openEntries(ctx, out.Table, out.ID)
	if err != nil {
		return fmt.Errorf("read open conflicts of %s %s: %w", out.Table, out.ID, err)
	}
	for _, e := range entries {
		why := supersededBy(e, in, out, who)
		if why == "" {
			continue
		}
		if err := tx.resolveConflictEntry(ctx, e.id, Superseded, why, now); err != nil {
			return fmt.Errorf("supersede conflict %d: %w", e.id, err)
		}
		s.log.Info("conflict superseded", "id", e.id, "table", out.Table, "record", out.ID, "kind", e.kind,
			"field", e.field, "why", why)
	}
	return nil
}

// supersededBy says why entry e is no longer true, or "" when it still is.
func supersededBy(e openEntry, in, out *record.Record, who string) string {
	switch e.kind {
	case record.KindDeleteVsEdit:
		if out.Deleted() {
			return fmt.Sprintf("sync: the record is deleted after all (a change by %s)", who)
		}
		for _, f := range out.Fields {
			if f.Dot.Same(e.winner) && !out.Tombstone.Context.Covers(f.Dot) {
				return "" // the edit still keeps the record
			}
		}
		return fmt.Sprintf("sync: the edit no longer keeps the record (a change by %s)", who)
	case record.KindField:
		if t := out.Tombstone; t != nil && t.Context.Covers(e.loser) {
			return "sync: a delete of the record had seen this value"
		}
		if f, ok := in.Fields[e.field]; ok && !f.Dot.Same(e.loser) && in.Version.Covers(e.loser) &&
			!in.Version.Covers(e.winner) {
			return fmt.Sprintf("sync: a later change by %s replaced this value, having seen it as the field's", who)
		}
	}
	return ""
}

// serverChange is what a server write changed from cur to r: the fields
// it wrote, with r's version (the server has seen every write).
func serverChange(cur, r *record.Record) *record.Record {
	in := &record.Record{Table: r.Table, ID: r.ID, Version: r.Version, Fields: map[string]record.Field{}}
	for name, f := range r.Fields {
		if g, ok := cur.Fields[name]; !ok || !g.Dot.Same(f.Dot) {
			in.Fields[name] = f
		}
	}
	return in
}

func entryKey(table, id string) string { return table + "\x00" + id }
