package schema

import (
	"fmt"
	"sort"
	"strings"
)

// Column is one replicated field of a table.
type Column struct {
	Name string
	Type Type
	Doc  string
}

// Table is one program table. Every table has a UUID primary key "id",
// a "village" and free-text "notes"; the rest is the program's own.
type Table struct {
	Name    string
	Doc     string
	Columns []Column

	byName map[string]*Column
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column { return t.byName[name] }

// ColumnNames lists the replicated fields in definition order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i := range t.Columns {
		names[i] = t.Columns[i].Name
	}
	return names
}

// common columns every program table starts with.
var common = []Column{
	{"village", Text, "the village the record belongs to"},
}

// notes ends every program table.
var notes = Column{"notes", Text, "free text"}

func table(name, doc string, cols ...Column) *Table {
	all := append(append(append([]Column{}, common...), cols...), notes)
	t := &Table{Name: name, Doc: doc, Columns: all, byName: map[string]*Column{}}
	for i := range t.Columns {
		t.byName[t.Columns[i].Name] = &t.Columns[i]
	}
	return t
}

// The program tables. Their rules (enums, ranges) come with the programs;
// here they are only typed columns.
var tables = []*Table{
	table("tutoring_sessions", "the 7pm classroom: one evening session",
		Column{"session_date", Text, "YYYY-MM-DD"},
		Column{"start_time", Text, "HH:MM, 19:00 by default"},
		Column{"class_group", Text, "class or group"},
		Column{"volunteers", Text, "volunteers who taught, comma-separated"},
		Column{"subjects", Text, "subjects, comma-separated"},
		Column{"children_present", Integer, "number of children present"},
	),
	table("cleanup_tasks", "environmental cleanup: one task",
		Column{"kind", Text, "construction_waste, road_levelling, street_sweeping or other"},
		Column{"place", Text, "where"},
		Column{"status", Text, "reported, in_progress, done or checked"},
		Column{"quantity", Real, "amount of work, in unit"},
		Column{"unit", Text, "truckloads, metres, ..."},
		Column{"crew_size", Integer, "people on the crew"},
		Column{"reported_at", Text, "RFC 3339 time"},
		Column{"finished_at", Text, "RFC 3339 time"},
		Column{"routine", Text, "the long-term upkeep routine it belongs to"},
	),
	table("books", "one copy of a book in one of the two libraries",
		Column{"library", Text, "party_villagers or children"},
		Column{"copy_no", Integer, "copy number"},
		Column{"title", Text, ""},
		Column{"author", Text, ""},
		Column{"isbn", Text, "ISBN-10 or ISBN-13"},
	),
	table("loans", "a copy lent to a borrower card",
		Column{"book_id", Text, "the id of the book copy"},
		Column{"borrower_card", Text, "pseudonymous card code, never a name"},
		Column{"lent_on", Text, "YYYY-MM-DD"},
		Column{"due_on", Text, "YYYY-MM-DD"},
		Column{"returned_on", Text, "YYYY-MM-DD"},
	),
}

var byName = func() map[string]*Table {
	m := map[string]*Table{}
	for _, t := range tables {
		m[t.Name] = t
	}
	return m
}()

// Tables lists the program tables in a fixed order.
func Tables() []*Table { return tables }

// Lookup returns the named table or an error that lists the known ones.
func Lookup(name string) (*Table, error) {
	if t, ok := byName[name]; ok {
		return t, nil
	}
	return nil, fmt.Errorf("unknown table %q (known: %s)", name, strings.Join(TableNames(), ", "))
}

// TableNames lists the table names, sorted.
func TableNames() []string {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}
