package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Every flag's look-up is answered by its table's index, for a set and
// for an empty optional column (NULL or ”): a busy day has many groups,
// and one push may flag against thousands of rows.
func TestFlagQueriesUseTheirIndex(t *testing.T) {
	sqliteOnly(t, "SQLite's query plans")
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tbl := range schema.Tables() {
		for i := range tbl.Flags {
			f := &tbl.Flags[i]
			for _, empty := range []bool{false, true} {
				r := &record.Record{Table: tbl.Name, ID: uuid.Must(uuid.NewV7()).String(), Fields: map[string]record.Field{}}
				for _, name := range f.Match {
					if !empty || tbl.Column(name).Required {
						r.Fields[name] = record.Field{Value: schema.TextValue("x")}
					}
				}
				q, args, ok := flagQuery(tbl, f, r)
				if !ok {
					t.Fatalf("%s: a record with %v NULL is not looked up", f.Kind, f.WhileNull)
				}
				plan := explain(t, s, q, args...)
				if !strings.Contains(plan, "INDEX "+tbl.Name+"_by_"+strings.Join(f.Match, "_")) {
					t.Errorf("%s (empty optional columns: %v): %s\nplan: %s", f.Kind, empty, q, plan)
				}
			}
		}
	}
}

func explain(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rs, err := s.Reader().Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	var plan []string
	for rs.Next() {
		var id, parent, unused int
		var detail string
		if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return strings.Join(plan, "; ")
}

// A class group left empty is one group whether a device sent ” or
// nothing; a loan is flagged only while it is open.
func TestFlagsByTheirDeclaration(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	noGroup := session(p.Replica, 1)
	emptyGroup := session(p.Replica, 1)
	emptyGroup.Fields["class_group"] = record.Field{Value: schema.TextValue(""), Dot: emptyGroup.Fields["village"].Dot}
	grouped := session(p.Replica, 1)
	grouped.Fields["class_group"] = record.Field{Value: schema.TextValue("一班"), Dot: grouped.Fields["village"].Dot}
	copyID := uuid.Must(uuid.NewV7()).String()
	open1, open2 := loan(p.Replica, copyID, "A1", ""), loan(p.Replica, copyID, "A2", "")
	returned := loan(p.Replica, copyID, "A3", "2024-03-02")
	if _, err := s.Push(ctx, p, []*record.Record{noGroup, emptyGroup, grouped, open1, returned, open2}); err != nil {
		t.Fatal(err)
	}
	open, err := s.ListConflicts(ctx, ConflictFilter{OpenOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range open {
		got = append(got, fmt.Sprintf("%s %s %s/%s %q/%q",
			c.Kind, c.Field, c.ID, c.OtherID, c.Loser.Value.Text, c.Winner.Value.Text))
	}
	want := []string{
		fmt.Sprintf("%s session %s/%s %q/%q", KindDuplicateSession, emptyGroup.ID, noGroup.ID, "", ""),
		fmt.Sprintf("%s book_id %s/%s %q/%q", KindDoubleLoan, open2.ID, open1.ID, "A2", "A1"),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("flagged:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func loan(replica uint32, bookID, card, returned string) *record.Record {
	d := vv.Dot{Replica: replica, Counter: 1, HLC: 1}
	f := func(v string) record.Field { return record.Field{Value: schema.TextValue(v), Dot: d} }
	r := &record.Record{Table: "loans", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{replica: 1},
		Fields: map[string]record.Field{"village": f("南香村"), "book_id": f(bookID), "borrower_card": f(card),
			"lent_on": f("2024-03-01")}}
	if returned != "" {
		r.Fields["returned_on"] = f(returned)
	}
	return r
}

// Merging a pair that is no longer one says so in staff's words, as it did
// before the flags were declared in schema.
func TestMergeOfAPairNoLongerOneSaysWhy(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	first, later := session(p.Replica, 1), session(p.Replica, 1)
	if _, err := s.Push(ctx, p, []*record.Record{first, later}); err != nil {
		t.Fatal(err)
	}
	open, err := s.ListConflicts(ctx, ConflictFilter{OpenOnly: true})
	if err != nil || len(open) != 1 || open[0].OtherID != first.ID {
		t.Fatalf("want one duplicate flag against %s: %+v %v", first.ID, open, err)
	}
	del := first.Clone()
	k := del.Version.Bump(p.Replica)
	del.Fields = map[string]record.Field{}
	del.Tombstone = &record.Tombstone{Dot: vv.Dot{Replica: p.Replica, Counter: k, HLC: 2}, Context: del.Version.Clone()}
	if res, err := s.Push(ctx, p, []*record.Record{del}); err != nil || res[0].Outcome != record.Applied {
		t.Fatalf("delete the earlier session: %+v %v", res, err)
	}
	_, err = s.ResolveConflict(ctx, open[0].LogID, "merge", "staff")
	want := fmt.Sprintf("entry %d: the earlier session %s is deleted or no longer the same class; resolve it as distinct",
		open[0].LogID, first.ID)
	if !errors.Is(err, ErrNotDuplicate) || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("merge after the earlier session was deleted: %v, want ...%s", err, want)
	}
}
