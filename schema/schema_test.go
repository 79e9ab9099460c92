package schema

import (
	"context"
	"database/sql"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func TestParseAndCheck(t *testing.T) {
	tbl, err := Lookup("tutoring_sessions")
	if err != nil {
		t.Fatal(err)
	}
	cleanup, _ := Lookup("cleanup_tasks")
	cases := []struct {
		table *Table
		col   string
		in    string
		want  Value
		err   string
	}{
		{tbl, "children_present", "30", IntValue(30), ""},
		{tbl, "children_present", " 7 ", IntValue(7), ""},
		{tbl, "children_present", "thirty", Value{}, `children_present: want an integer, got "thirty"`},
		{tbl, "children_present", "null", Value{}, ""},
		{tbl, "notes", "分数练习", TextValue("分数练习"), ""},
		{tbl, "notes", "", TextValue(""), ""},
		{tbl, "notes", strings.Repeat("x", MaxTextBytes+1), Value{}, "longer than the limit"},
		{tbl, "notes", "a\x00b", Value{}, "NUL"},
		{cleanup, "quantity", "2.5", RealValue(2.5), ""},
		{tbl, "session_date", "0024-06-03", Value{}, "before 2000 (a mistyped year?)"},
		{tbl, "session_date", "2024-02-30", Value{}, "is not a date"},
		{cleanup, "quantity", "NaN", Value{}, "not a finite number"},
		{cleanup, "quantity", "lots", Value{}, "want a number"},
	}
	for _, c := range cases {
		got, err := c.table.Column(c.col).Parse(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Parse(%s, %.20q) error = %v, want %q", c.col, c.in, err, c.err)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("Parse(%s, %q) = %v, %v; want %v", c.col, c.in, got, err, c.want)
		}
	}
}

func TestCheckRefusesWrongTypes(t *testing.T) {
	tbl, _ := Lookup("books")
	copyNo := tbl.Column("copy_no")
	for _, v := range []Value{TextValue("1"), RealValue(1), BoolValue(true)} {
		if err := copyNo.Check(v); err == nil ||
			!strings.Contains(err.Error(), "copy_no: want integer, got "+v.Type.String()) {
			t.Errorf("Check(%v) = %v", v, err)
		}
	}
	if err := copyNo.Check(RealValue(math.Inf(1))); err == nil {
		t.Error("an infinite real passed as an integer")
	}
}

func TestLookupNamesTheKnownTables(t *testing.T) {
	_, err := Lookup("pets")
	if err == nil || !strings.Contains(err.Error(), "books, cleanup_tasks, loans, tutoring_sessions") {
		t.Errorf("Lookup(pets) = %v", err)
	}
}

// Migrate must be idempotent and add columns a newer schema defines to a
// database an older one created, keeping the rows.
func TestMigrateAddsColumnsAndKeepsRows(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite3", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	{
		if _, err := db.Exec(`CREATE TABLE books (id TEXT PRIMARY KEY NOT NULL, village TEXT, ` +
			`_vv BLOB NOT NULL, _dots BLOB NOT NULL, _tomb BLOB, _deleted INTEGER NOT NULL DEFAULT 0, ` +
			`_own INTEGER NOT NULL DEFAULT 0, _acked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO books (id, village, _vv, _dots) VALUES ('x', '南香村', x'', x'')`); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := Migrate(ctx, db, Device); err != nil {
				t.Fatal(err)
			}
		}
	}
	var village string
	var title sql.NullString
	if err := db.QueryRow(`SELECT village, title FROM books WHERE id = 'x'`).Scan(&village, &title); err != nil {
		t.Fatalf("after migrating: %v", err)
	}
	if village != "南香村" || title.Valid {
		t.Errorf("row = %q, %v", village, title)
	}
}

// A due date may lie ahead; a session or loan date may not.
func TestFutureDates(t *testing.T) {
	loans, _ := Lookup("loans")
	env := Env{Now: time.Date(2024, 6, 3, 12, 0, 0, 0, time.UTC)}
	in := TextValue("2024-06-17")
	if err := loans.Column("due_on").CheckIn(in, env); err != nil {
		t.Errorf("due date two weeks ahead: %v", err)
	}
	if err := loans.Column("lent_on").CheckIn(in, env); err == nil ||
		!strings.Contains(err.Error(), "more than a day in the future") {
		t.Errorf("lent two weeks ahead: %v", err)
	}
	if err := loans.Column("lent_on").CheckIn(TextValue("2024-06-04"), env); err != nil {
		t.Errorf("tomorrow (a device a few hours ahead): %v", err)
	}
}

// Every value of every enumerated column has words in both languages,
// and no words are kept for a value no column has: a new kind or status
// shows as words, not as its code, in the report, the console and the app.
func TestEveryEnumValueHasWords(t *testing.T) {
	values := map[string]bool{}
	names := ValueNames()
	for _, tb := range Tables() {
		for _, c := range tb.Columns {
			for _, v := range c.Enum {
				values[v] = true
				if n, ok := names[v]; !ok || n[ZH] == "" || n[EN] == "" || ValueName(ZH, v) != n[ZH] {
					t.Errorf("%s.%s: the value %q has no words (schema/labels.go)", tb.Name, c.Name, v)
				}
			}
		}
	}
	for v := range names {
		if !values[v] {
			t.Errorf("schema/labels.go names %q, which no column has", v)
		}
	}
}
