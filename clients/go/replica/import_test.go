package replica_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

func cells(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// One bad row anywhere means no row at all, and every bad row is named.
func TestImportIsAllOrNothing(t *testing.T) {
	e := newEnv(t)
	a := e.device("a", replica.Options{})
	ctx := context.Background()
	rows := []replica.Row{
		{Line: 2, Cells: cells("village", "南香村", "session_date", "2024-06-03", "children_present", "30")},
		{Line: 3, Cells: cells("village", "南香村", "session_date", "2024-06-04", "children_present", "250")},
		{Line: 4, Cells: cells("village", "东旺村", "session_date", "2024-06-04", "children_present", "12")},
		{Line: 7, Cells: cells("village", "东旺村", "children_present", "12")},
		{Line: 8, Cells: cells("village", "东旺村", "session_date", "2024-06-05", "children_present", "9", "teacher", "王")},
	}
	ids, err := a.Import(ctx, "tutoring_sessions", rows, nil)
	var ie *replica.ImportError
	if !errors.As(err, &ie) || ids != nil {
		t.Fatalf("got %v, %v; want an *ImportError", ids, err)
	}
	var lines []int
	for _, r := range ie.Rows {
		lines = append(lines, r.Line)
	}
	if fmt.Sprint(lines) != "[3 7 8]" ||
		!strings.Contains(err.Error(), "line 3: tutoring_sessions.children_present: 250 is outside 0–200") ||
		!strings.Contains(err.Error(), "line 8: tutoring_sessions.teacher: unknown field") {
		t.Errorf("lines %v:\n%v", lines, err)
	}
	if recs, err := a.List(ctx, "tutoring_sessions"); err != nil || len(recs) != 0 {
		t.Errorf("a failed import left %d records (%v)", len(recs), err)
	}
	if st := syncOK(t, a); st.Pushed != 0 {
		t.Errorf("a failed import pushed %d", st.Pushed)
	}
}

// Chinese headers name fields; an id updates that record, keeping the
// fields the row leaves out, and both kinds of row sync.
func TestImportChineseNamesAndUpdateByID(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	ctx := context.Background()
	book := put(t, a, "books", "", "title", "小王子", "author", "圣埃克苏佩里")
	syncOK(t, a)
	syncOK(t, b)

	var seen []int
	ids, err := b.Import(ctx, "books", []replica.Row{
		{Line: 2, Cells: cells("村", "wangyu", "图书馆", "children", "书名", "活着", "副本号", "2", "备注", "")},
		{Line: 3, Cells: cells("id", book, "副本号", "3", "notes", "封面破了")},
	}, func(done int) { seen = append(seen, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[1] != book || ids[0] == book {
		t.Errorf("ids %v (book %s)", ids, book)
	}
	if len(seen) == 0 || seen[len(seen)-1] != 2 {
		t.Errorf("progress saw %v, want it to end at 2", seen)
	}
	if st := syncOK(t, b); st.Pushed != 2 || st.Applied != 2 {
		t.Errorf("sync after import: %v", st)
	}
	syncOK(t, a)
	for id, want := range map[string]map[string]any{
		ids[0]: {"village": "旺渔村", "title": "活着", "copy_no": int64(2), "notes": nil},
		book:   {"village": "南香村", "title": "小王子", "author": "圣埃克苏佩里", "copy_no": int64(3), "notes": "封面破了"},
	} {
		rec, err := a.Get(ctx, "books", id)
		if err != nil || rec == nil {
			t.Fatalf("get %s: %v, %v", id, rec, err)
		}
		for name, w := range want {
			if got := rec.Fields[name].Value.JSON(); got != w {
				t.Errorf("%s.%s = %v, want %v", id, name, got, w)
			}
		}
	}
	assertConverged(t, e, a, b)
}

// Progress hears after every round of a sync what it has done so far.
func TestSyncReportsProgressAfterEachRound(t *testing.T) {
	e := newEnv(t)
	var rounds []replica.Stats
	a := e.device("a", replica.Options{PushBatch: 2, Progress: func(st replica.Stats) { rounds = append(rounds, st) }})
	var rows []replica.Row
	for i := range 5 {
		rows = append(rows, replica.Row{Line: i + 1,
			Cells: cells("village", "南香村", "library", "children", "title", fmt.Sprint("book ", i))})
	}
	if _, err := a.Import(context.Background(), "books", rows, nil); err != nil {
		t.Fatal(err)
	}
	st := syncOK(t, a)
	if len(rounds) < 3 || rounds[len(rounds)-1] != st {
		t.Fatalf("progress %v, final %v", rounds, st)
	}
	for i := 1; i < len(rounds); i++ {
		if rounds[i].Pushed < rounds[i-1].Pushed || rounds[i].RoundTrips <= rounds[i-1].RoundTrips {
			t.Errorf("round %d went back: %v after %v", i, rounds[i], rounds[i-1])
		}
	}
	if rounds[0].Pushed != 2 {
		t.Errorf("first round pushed %d, want 2", rounds[0].Pushed)
	}
}

// A disk that fills up in the middle of an import: SQLite rolls the
// transaction back, and no later row may then commit on its own.
func TestImportOnAFullDiskImportsNothing(t *testing.T) {
	e := newEnv(t)
	a := e.device("a", replica.Options{})
	ctx := context.Background()
	pages, err := replica.ForTestPageCount(a)
	if err != nil {
		t.Fatal(err)
	}
	if err := replica.ForTestCapPages(a, pages+20); err != nil {
		t.Fatal(err)
	}
	var rows []replica.Row
	for i := range 300 {
		rows = append(rows, replica.Row{Line: i + 2, Cells: cells("village", "南香村", "library", "children",
			"title", fmt.Sprint("book ", i), "notes", strings.Repeat("长", 1500))})
	}
	_, err = a.Import(ctx, "books", rows, nil)
	if err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("import onto a full disk: %v, want it to say the disk is full", err)
	}
	if recs, _ := a.List(ctx, "books"); len(recs) != 0 {
		t.Errorf("an import that failed left %d books", len(recs))
	}
}

// A row that names a field twice (village and 村) is refused by Import
// itself, whoever calls it: one of the two values would win silently.
func TestImportRefusesAFieldNamedTwice(t *testing.T) {
	a := newEnv(t).device("a", replica.Options{})
	rows := []replica.Row{{Line: 2, Cells: cells("village", "南香村", "村", "东旺村", "session_date", "2024-06-03",
		"children_present", "30")}}
	_, err := a.Import(context.Background(), "tutoring_sessions", rows, nil)
	var ie *replica.ImportError
	want := `line 2: "village" and "村" are both tutoring_sessions.village`
	if !errors.As(err, &ie) || len(ie.Rows) != 1 || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want line 2 refused for naming village twice", err)
	}
}
