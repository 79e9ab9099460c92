package store

import (
	"context"
	"slices"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// flagWorld is a store with two staff phones, for the flag tests.
func flagWorld(t *testing.T) (*Store, Principal, Principal) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var phones []Principal
	for _, u := range []string{"a", "b"} {
		code, err := s.CodeFor(ctx, u, Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := s.Enroll(ctx, code, u)
		if err != nil {
			t.Fatal(err)
		}
		phones = append(phones, p)
	}
	return s, phones[0], phones[1]
}

// edit is replica's next write to r (as the server holds it): field set to v.
func edit(r *record.Record, replica uint32, field string, v schema.Value) *record.Record {
	c := r.Clone()
	k := c.Version.Bump(replica)
	r.Version = c.Version.Clone()
	c.Fields = map[string]record.Field{field: {Value: v, Dot: vv.Dot{Replica: replica, Counter: k, HLC: 2}}}
	return c
}

func push(t *testing.T, s *Store, p Principal, changes ...*record.Record) {
	t.Helper()
	res, err := s.Push(context.Background(), p, changes)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != record.Applied {
			t.Fatalf("change %d: %+v", i, r)
		}
	}
}

func openFlags(t *testing.T, s *Store) []LoggedConflict {
	t.Helper()
	open, err := s.ListConflicts(context.Background(), ConflictFilter{OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return open
}

// reported is how many sessions the report counts on day of March 2024.
func reported(t *testing.T, s *Store, day string) int {
	t.Helper()
	snap, err := s.ReportSnapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range snap.Sessions {
		if v.Date == day {
			n++
		}
	}
	return n
}

func ids(rs []*record.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	slices.Sort(out)
	return out
}

// 18 sessions logged for the same village, date and class, from two
// phones in several pushes, are one flag for staff listing the 18 (they
// were 125 pair entries); the report counts the class once. A copy
// corrected to another date leaves the set and counts; a merge deletes
// every other copy and keeps the first.
func TestDuplicateCopiesAreOneFlag(t *testing.T) {
	ctx := context.Background()
	s, a, b := flagWorld(t)
	var copies []*record.Record
	for i := range 18 {
		p := a
		if i%3 == 0 {
			p = b
		}
		copies = append(copies, session(p.Replica, 5))
		copies[i].Version = vv.VV{p.Replica: 1}
		for name, f := range copies[i].Fields {
			f.Dot.Replica = p.Replica
			copies[i].Fields[name] = f
		}
	}
	var fromA, fromB []*record.Record
	for i, c := range copies {
		if i%3 == 0 {
			fromB = append(fromB, c)
		} else {
			fromA = append(fromA, c)
		}
	}
	// The later pushes carry older copies too (a phone that was offline).
	push(t, s, a, fromA[5:]...)
	push(t, s, b, fromB...)
	push(t, s, a, fromA[:5]...)

	open := openFlags(t, s)
	if len(open) != 1 {
		t.Fatalf("%d open entries for 18 copies, want 1", len(open))
	}
	set := open[0]
	if want := ids(copies); !slices.Equal(set.Members, want) {
		t.Errorf("members %v, want the 18 copies %v", set.Members, want)
	}
	if set.Kind != KindDuplicateSession || !slices.Contains(set.Members, set.ID) ||
		!slices.Contains(set.Members, set.OtherID) || set.OtherID >= set.ID {
		t.Errorf("entry %+v, want a duplicate_session naming the pair that raised it, the earlier as other", set)
	}
	if n := reported(t, s, "2024-03-05"); n != 1 {
		t.Errorf("the report counts %d sessions, want the class once", n)
	}
	// Writing a copy again (its notes) changes nothing of the flag.
	last := copies[17]
	push(t, s, b, edit(last, b.Replica, "notes", schema.TextValue("复习")))
	if open := openFlags(t, s); len(open) != 1 || len(open[0].Members) != 18 {
		t.Errorf("after an edit of a copy: %d entries, members %v", len(open), open[0].Members)
	}

	// Corrected to another date: out of the set, and counted.
	moved := copies[9]
	push(t, s, b, edit(moved, b.Replica, "session_date", schema.TextValue("2024-03-06")))
	open = openFlags(t, s)
	if len(open) != 1 || len(open[0].Members) != 17 || slices.Contains(open[0].Members, moved.ID) {
		t.Fatalf("after a copy moved to another date: %+v", open)
	}
	if n, m := reported(t, s, "2024-03-05"), reported(t, s, "2024-03-06"); n != 1 || m != 1 {
		t.Errorf("the report counts %d and %d sessions, want 1 and 1", n, m)
	}

	// The first copy deleted: the others are still copies of each other.
	first := slices.MinFunc(copies, func(x, y *record.Record) int { return cmpID(x.ID, y.ID) })
	del := first.Clone()
	k := del.Version.Bump(first.Fields["village"].Dot.Replica)
	owner := a
	if first.Fields["village"].Dot.Replica == b.Replica {
		owner = b
	}
	del.Fields = nil
	del.Tombstone = &record.Tombstone{Dot: vv.Dot{Replica: owner.Replica, Counter: k, HLC: 3}, Context: del.Version.Clone()}
	push(t, s, owner, del)
	if n := reported(t, s, "2024-03-05"); n != 1 {
		t.Errorf("with the first copy deleted, the report counts %d sessions, want 1", n)
	}

	// Merge: every copy but the first live one goes; the moved one stays.
	if _, err := s.ResolveConflict(ctx, set.LogID, "merge", "staff"); err != nil {
		t.Fatal(err)
	}
	if open := openFlags(t, s); len(open) != 0 {
		t.Errorf("after the merge: %+v open", open)
	}
	var live []string
	rows, err := s.Reader().Query(`SELECT id FROM tutoring_sessions WHERE _deleted = 0 ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		rows.Scan(&id)
		live = append(live, id)
	}
	rows.Close()
	keep := ids(copies)[1] // the first live copy, the first one being deleted
	if keep == moved.ID {
		keep = ids(copies)[2]
	}
	if want := []string{keep, moved.ID}; !slices.Equal(live, sortedIDs(want)) {
		t.Errorf("after the merge %v live, want %v", live, sortedIDs(want))
	}
	if n := reported(t, s, "2024-03-05"); n != 1 {
		t.Errorf("after the merge the report counts %d sessions, want 1", n)
	}
}

func cmpID(x, y string) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func sortedIDs(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

// A set resolved as distinct counts every member, and writing them again
// raises nothing; a new copy afterwards is a new entry of it and the first.
func TestDistinctSetStaysJudged(t *testing.T) {
	ctx := context.Background()
	s, a, _ := flagWorld(t)
	three := []*record.Record{session(a.Replica, 7), session(a.Replica, 7), session(a.Replica, 7)}
	push(t, s, a, three...)
	open := openFlags(t, s)
	if len(open) != 1 || len(open[0].Members) != 3 {
		t.Fatalf("open %+v, want one set of 3", open)
	}
	if _, err := s.ResolveConflict(ctx, open[0].LogID, "distinct", "staff"); err != nil {
		t.Fatal(err)
	}
	if n := reported(t, s, "2024-03-07"); n != 3 {
		t.Errorf("distinct: the report counts %d, want 3", n)
	}
	push(t, s, a, edit(three[2], a.Replica, "notes", schema.TextValue("again")))
	if open := openFlags(t, s); len(open) != 0 {
		t.Errorf("an edit of a member judged distinct raised %+v", open)
	}
	fourth := session(a.Replica, 7)
	push(t, s, a, fourth)
	open = openFlags(t, s)
	if len(open) != 1 || !slices.Equal(open[0].Members, sortedIDs([]string{ids(three)[0], fourth.ID})) {
		t.Fatalf("a fourth copy: open %+v, want one entry of the first and the fourth", open)
	}
	if n := reported(t, s, "2024-03-07"); n != 3 {
		t.Errorf("the report counts %d, want the 3 distinct ones, not the fourth copy", n)
	}
}

// A database whose flags were logged as pairs gets each pair as a set of
// two when it is opened with the sets' migration, and keeps working.
func TestPairFlagsBecomeSetsOfTwo(t *testing.T) {
	sqliteOnly(t, "an older SQLite file migrated")
	ctx := context.Background()
	file := testDSN(t)
	s, err := Open(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	pair := []*record.Record{session(p.Replica, 9), session(p.Replica, 9)}
	push(t, s, p, pair...)
	// As before the migration: no members, user_version 7 (the held bounds
	// came first), and none of the later migrations' tables.
	if _, err := s.w.ExecContext(ctx, `DROP TABLE conflict_members; DROP TABLE attachments;
		DROP TABLE attachment_uploads; DROP TABLE attachment_chunks; DROP TABLE attachment_refs;
		DROP TABLE box_keys; ALTER TABLE replicas DROP COLUMN box_public_key;
		ALTER TABLE conflicts DROP COLUMN winner_carried_by; ALTER TABLE conflicts DROP COLUMN loser_carried_by;
		PRAGMA user_version = 7`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(ctx, file, Options{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	open := openFlags(t, s)
	if len(open) != 1 || !slices.Equal(open[0].Members, ids(pair)) {
		t.Fatalf("after the migration: %+v, want the pair as a set of two", open)
	}
	if n := reported(t, s, "2024-03-09"); n != 1 {
		t.Errorf("the report counts %d sessions, want 1", n)
	}
	third := session(p.Replica, 9)
	push(t, s, p, third)
	if open := openFlags(t, s); len(open) != 1 || len(open[0].Members) != 3 {
		t.Errorf("a third copy: %+v, want it in the pair's set", open)
	}
}
