package replica_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

func text(t *testing.T, r *replica.Replica, table, id, field string) string {
	t.Helper()
	rec, err := r.Get(context.Background(), table, id)
	if err != nil || rec == nil {
		t.Fatalf("get %s %s: %v, %v", table, id, rec, err)
	}
	return rec.Fields[field].Value.Text
}

// A form left mostly empty takes its defaults, and they pass the rules.
func TestVolunteerFormsDefaults(t *testing.T) {
	ctx := context.Background()
	a := newEnv(t).device("a", replica.Options{})
	today := time.Now().Format(time.DateOnly)

	id, err := a.LogSession(ctx, replica.Session{Village: "nanxiang", Children: "12"})
	if err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string]string{"village": "南香村", "session_date": today, "start_time": "19:00"} {
		if got := text(t, a, "tutoring_sessions", id, field); got != want {
			t.Errorf("session %s = %q, want %q", field, got, want)
		}
	}

	task, err := a.ReportCleanup(ctx, replica.Cleanup{Village: "Dongwang", Kind: "street_sweeping"})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, a, "cleanup_tasks", task, "status"); got != "reported" {
		t.Errorf("status = %q, want reported", got)
	}
	if text(t, a, "cleanup_tasks", task, "reported_at") == "" || text(t, a, "cleanup_tasks", task, "finished_at") != "" {
		t.Error("a task reported open must be reported now and not finished")
	}
	done, err := a.ReportCleanup(ctx, replica.Cleanup{Village: "Dongwang", Kind: "other", Status: "done"})
	if err != nil {
		t.Fatal(err)
	}
	if at := text(t, a, "cleanup_tasks", done, "finished_at"); at == "" ||
		at != text(t, a, "cleanup_tasks", done, "reported_at") {
		t.Errorf("a task reported done finished at %q, want when it was reported", at)
	}

	book, err := a.Put(ctx, "books", "", map[string]schema.Value{"village": schema.TextValue("旺鱼村"),
		"library": schema.TextValue("children"), "title": schema.TextValue("小王子")})
	if err != nil {
		t.Fatal(err)
	}
	loan, err := a.Lend(ctx, replica.Loan{Book: book, Card: "WY-4"})
	if err != nil {
		t.Fatal(err)
	}
	due := time.Now().AddDate(0, 0, replica.LoanDays).Format(time.DateOnly)
	for field, want := range map[string]string{"village": "旺渔村", "lent_on": today, "due_on": due} {
		if got := text(t, a, "loans", loan, field); got != want {
			t.Errorf("loan %s = %q, want %q", field, got, want)
		}
	}
	if _, err := a.Return(ctx, loan, ""); err != nil {
		t.Fatal(err)
	}
	if got := text(t, a, "loans", loan, "returned_on"); got != today {
		t.Errorf("returned_on = %q, want today", got)
	}
}

// Errors name the form and the field.
func TestVolunteerFormsErrors(t *testing.T) {
	ctx := context.Background()
	a := newEnv(t).device("a", replica.Options{})
	for _, tc := range []struct {
		write func() (string, error)
		want  string
	}{
		{func() (string, error) {
			return a.LogSession(ctx, replica.Session{Village: "南香村", Children: "many"})
		},
			`log-session: children_present: want an integer, got "many"`},
		{func() (string, error) {
			return a.LogSession(ctx, replica.Session{Village: "南香村", Children: "250"})
		},
			"log-session: children_present: 250 is outside 0–200"},
		{func() (string, error) { return a.LogSession(ctx, replica.Session{Village: "北村", Children: "3"}) },
			"not a known village"},
		{func() (string, error) { return a.ReportCleanup(ctx, replica.Cleanup{Village: "东旺村", Kind: "x"}) },
			"report-cleanup: kind:"},
		{func() (string, error) {
			return a.Lend(ctx, replica.Loan{Book: "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", Card: "X"})
		}, `lend: no book "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f" on this device (sync, or check the id)`},
	} {
		if id, err := tc.write(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("got %q, %v; want an error with %q", id, err, tc.want)
		}
	}
}

func TestCheckColumns(t *testing.T) {
	books, _ := schema.Lookup("books")
	if err := replica.CheckHeader(books, []string{"id", "村", "title", "ISBN"}); err != nil {
		t.Errorf("a good header: %v", err)
	}
	for header, want := range map[string]string{
		"title,名字": `column "名字" is not a field of books (fields: id, village,`,
		"title,书名": `"title" and "书名" are both books.title`,
	} {
		if err := replica.CheckHeader(books, strings.Split(header, ",")); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", header, err, want)
		}
	}
	bad := replica.CheckRowColumns(books, []replica.Row{
		{Line: 1, Cells: cells("title", "a", "teacher", "unknown is Import's to report")},
		{Line: 3, Cells: cells("书名", "c", "title", "d")},
	})
	if len(bad) != 1 || bad[0].Line != 3 || bad[0].Err.Error() != `"title" and "书名" are both books.title` {
		t.Errorf("row columns: %v", bad)
	}
}
