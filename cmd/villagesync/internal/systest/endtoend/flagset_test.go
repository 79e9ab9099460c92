package endtoend

import (
	"context"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// 18 sessions logged for the same village, date and class on two phones
// are one flag for staff (they were 125 entries), the report counts the
// class once, and merging the flag deletes the 17 later copies everywhere.
func TestEighteenCopiesAreOneFlag(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	var copies []string
	for i := range 18 {
		d := a
		if i%2 == 1 {
			d = b
		}
		copies = append(copies, put(t, d, "tutoring_sessions", "", "class_group", "三年级", "children_present", 20))
	}
	for _, d := range []*replica.Replica{a, b, a} {
		syncOK(t, d)
	}
	open := openOnly(t, e)
	if len(open) != 1 || open[0].Kind != store.KindDuplicateSession {
		t.Fatalf("%d open entries for 18 copies, want one duplicate_session: %+v", len(open), open)
	}
	if n := len(open[0].Members); n != 18 {
		t.Errorf("the entry lists %d members over the API, want the 18 copies", n)
	}
	ctx := context.Background()
	counted := func(step string) {
		t.Helper()
		rep, err := staff.Report(ctx, e.staffHC(), e.srv.URL, report.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Total.Tutoring; got.Sessions != 1 || got.StudentAttendances != 20 {
			t.Errorf("%s: the report counts %d sessions, %d attendances; want the class once (1, 20)",
				step, got.Sessions, got.StudentAttendances)
		}
	}
	counted("while open")
	if _, err := staff.Resolve(ctx, e.staffHC(), e.srv.URL, open[0].ID, "merge", "李"); err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	syncOK(t, b)
	assertConverged(t, e, a, b)
	first := min(copies[0], copies[1])
	for _, id := range copies {
		first = min(first, id)
	}
	live := 0
	for _, id := range copies {
		rec, err := b.Get(ctx, "tutoring_sessions", id)
		if err != nil {
			t.Fatal(err)
		}
		if rec != nil && !rec.Deleted() {
			live++
			if id != first {
				t.Errorf("copy %s is live after the merge; the first, %s, alone should be", id, first)
			}
		}
	}
	if live != 1 {
		t.Errorf("%d copies live after the merge, want the first alone", live)
	}
	if open := openOnly(t, e); len(open) != 0 {
		t.Errorf("open after the merge: %+v", open)
	}
	counted("after the merge")
}
