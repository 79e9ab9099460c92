package endtoend

import (
	"context"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func openOnly(t *testing.T, e *env) []staff.Conflict {
	t.Helper()
	var out []staff.Conflict
	if err := staff.Conflicts(context.Background(), e.staffHC(), e.srv.URL, staff.Filter{OpenOnly: true},
		func(c staff.Conflict) error {
			out = append(out, c)
			return nil
		}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCleanupStatusOnlyMovesForward(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	id := put(t, a, "cleanup_tasks", "", "status", "reported")
	syncOK(t, a)
	syncOK(t, b)
	put(t, a, "cleanup_tasks", id, "status", "done")
	put(t, b, "cleanup_tasks", id, "status", "in_progress") // later clock, but behind
	for _, d := range []*replica.Replica{a, b, a} {
		syncOK(t, d)
	}
	assertConverged(t, e, a, b)
	rec, _ := b.Get(context.Background(), "cleanup_tasks", id)
	if got := rec.Fields["status"].Value.Text; got != "done" {
		t.Errorf("status = %q, want done (a status never moves back by accident)", got)
	}
	cs := conflicts(t, e)
	if len(cs) != 1 || cs[0].Winner.Value != "done" || cs[0].Loser.Value != "in_progress" {
		t.Errorf("conflict log %+v, want in_progress kept as the loser", cs)
	}
	// A deliberate reopen, made after seeing "done", is obeyed.
	put(t, b, "cleanup_tasks", id, "status", "in_progress")
	syncOK(t, b)
	syncOK(t, a)
	if rec, _ := a.Get(context.Background(), "cleanup_tasks", id); rec.Fields["status"].Value.Text != "in_progress" {
		t.Errorf("reopen lost: %+v", rec.Fields["status"])
	}
}

func TestReturnBeatsConcurrentUnset(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	id := put(t, a, "loans", "", "due_on", "2024-06-20")
	syncOK(t, a)
	syncOK(t, b)
	put(t, a, "loans", id, "returned_on", "2024-06-10")
	if _, err := b.Put(context.Background(), "loans", id, map[string]schema.Value{"returned_on": {}}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*replica.Replica{a, b, a} {
		syncOK(t, d)
	}
	assertConverged(t, e, a, b)
	if rec, _ := b.Get(context.Background(), "loans", id); rec.Fields["returned_on"].Value.Text != "2024-06-10" {
		t.Errorf("returned_on = %v, want the return kept", rec.Fields["returned_on"].Value)
	}
}

func TestDoubleLoanIsFlaggedAndBothLoansKept(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	book := put(t, a, "books", "", "title", "小王子")
	syncOK(t, a)
	syncOK(t, b)
	l1 := put(t, a, "loans", "", "book_id", book, "borrower_card", "C-1")
	l2 := put(t, b, "loans", "", "book_id", book, "borrower_card", "C-2")
	for _, d := range []*replica.Replica{a, b, a} {
		syncOK(t, d)
	}
	assertConverged(t, e, a, b)
	for _, id := range []string{l1, l2} {
		if rec, _ := a.Get(context.Background(), "loans", id); rec == nil || rec.Deleted() {
			t.Errorf("loan %s was dropped", id)
		}
	}
	open := openOnly(t, e)
	if len(open) != 1 || open[0].Kind != store.KindDoubleLoan {
		t.Fatalf("open entries %+v, want one double_loan", open)
	}
	pair := map[string]bool{open[0].RecordID: true, open[0].OtherID: true}
	if !pair[l1] || !pair[l2] {
		t.Errorf("double loan names %s and %s, want %s and %s", open[0].RecordID, open[0].OtherID, l1, l2)
	}
	// Returning one copy and syncing again does not flag anything new.
	put(t, a, "loans", l1, "returned_on", "2024-06-05")
	syncOK(t, a)
	if n := len(conflicts(t, e)); n != 1 {
		t.Errorf("%d entries after a return, want still 1", n)
	}
}

func TestDuplicateSessionFlaggedThenMergedEverywhere(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	s1 := put(t, a, "tutoring_sessions", "", "class_group", "grade 3", "children_present", 28)
	s2 := put(t, b, "tutoring_sessions", "", "class_group", "grade 3", "children_present", 28)
	put(t, b, "tutoring_sessions", "", "class_group", "grade 5", "children_present", 12) // another class: not a duplicate
	for _, d := range []*replica.Replica{a, b, a} {
		syncOK(t, d)
	}
	open := openOnly(t, e)
	if len(open) != 1 || open[0].Kind != store.KindDuplicateSession ||
		open[0].OtherID != min(s1, s2) || open[0].RecordID != max(s1, s2) {
		t.Fatalf("open entries %+v, want one duplicate_session naming the later of %s, %s", open, s1, s2)
	}
	ctx := context.Background()
	if _, err := staff.Resolve(ctx, e.staffHC(), e.srv.URL, open[0].ID, "take_loser", "李"); err == nil {
		t.Error("take_loser accepted for a duplicate session")
	}
	c, err := staff.Resolve(ctx, e.staffHC(), e.srv.URL, open[0].ID, "merge", "李")
	// The token's user is recorded; "by" only says on whose behalf.
	if err != nil || c.Resolution != "merge" || c.ResolvedBy != "staff-tools (for 李)" {
		t.Fatalf("resolve: %+v, %v", c, err)
	}
	if _, err := staff.Resolve(ctx, e.staffHC(), e.srv.URL, open[0].ID, "merge", "李"); err != nil {
		t.Errorf("resolving again the same way: %v", err)
	}
	if _, err := staff.Resolve(ctx, e.staffHC(), e.srv.URL, open[0].ID, "distinct", "李"); err == nil {
		t.Error("a different second resolution was accepted")
	}
	syncOK(t, a)
	syncOK(t, b)
	assertConverged(t, e, a, b)
	later, _ := a.Get(ctx, "tutoring_sessions", max(s1, s2))
	if !later.Deleted() {
		t.Error("merge did not delete the later duplicate on the devices")
	}
	if len(openOnly(t, e)) != 0 {
		t.Error("the entry is still open")
	}
}

func TestTakeLoserIsASyncedEdit(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	id := put(t, a, "books", "", "title", "v0")
	syncOK(t, a)
	syncOK(t, b)
	put(t, a, "books", id, "title", "from a")
	put(t, b, "books", id, "title", "from b")
	syncOK(t, a)
	syncOK(t, b)
	cs := conflicts(t, e)
	if len(cs) != 1 || cs[0].Kind != record.KindField {
		t.Fatalf("conflicts %+v", cs)
	}
	if _, err := staff.Resolve(context.Background(), e.staffHC(), e.srv.URL, cs[0].ID, "take_loser", "王"); err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	syncOK(t, b)
	assertConverged(t, e, a, b)
	if rec, _ := a.Get(context.Background(), "books", id); rec.Fields["title"].Value.Text != cs[0].Loser.Value {
		t.Errorf("title = %q, want the loser %v written back", rec.Fields["title"].Value.Text, cs[0].Loser.Value)
	}
}
