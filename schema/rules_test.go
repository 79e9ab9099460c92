package schema

import (
	"slices"
	"testing"
)

// Program tables are scoped by their village, which every record must
// name; reference tables reach every device.
func TestScope(t *testing.T) {
	for _, tbl := range Tables() {
		if !tbl.Program {
			if tbl.Scope != "" {
				t.Errorf("reference table %s is scoped by %q", tbl.Name, tbl.Scope)
			}
			continue
		}
		if tbl.Scope != "village" {
			t.Errorf("program table %s: Scope = %q, want village", tbl.Name, tbl.Scope)
			continue
		}
		c := tbl.Column(tbl.Scope)
		if c == nil || c.Type != Text || c.Format != Village || !c.Required {
			t.Errorf("%s.%s: %+v, want a required text column of format Village", tbl.Name, tbl.Scope, c)
		}
	}
}

func TestWriters(t *testing.T) {
	want := map[string]Writers{"villages": AdminsOnly}
	for _, tbl := range Tables() {
		if tbl.Writers != want[tbl.Name] {
			t.Errorf("%s: Writers = %v, want %v", tbl.Name, tbl.Writers, want[tbl.Name])
		}
		if tbl.Program && tbl.Writers == AdminsOnly {
			t.Errorf("program table %s is admins only: volunteers could not record their work", tbl.Name)
		}
	}
}

// The flags the store raises, as declared.
func TestFlagDeclarations(t *testing.T) {
	loans, _ := Lookup("loans")
	sessions, _ := Lookup("tutoring_sessions")
	tests := []struct {
		table       *Table
		kind, field string
		match, null []string
		label       string
		resolutions []string
	}{
		{loans, KindDoubleLoan, "book_id", []string{"book_id"}, []string{"returned_on"}, "borrower_card", []string{"noted"}},
		{sessions, KindDuplicateSession, "session", []string{"village", "session_date", "class_group"}, nil, "class_group",
			[]string{"distinct", "merge"}},
	}
	for _, tt := range tests {
		f := tt.table.Flag(tt.kind)
		if f == nil {
			t.Errorf("%s declares no %s", tt.table.Name, tt.kind)
			continue
		}
		if f.Field != tt.field || !slices.Equal(f.Match, tt.match) || !slices.Equal(f.WhileNull, tt.null) ||
			f.Label != tt.label || !slices.Equal(f.Resolutions, tt.resolutions) {
			t.Errorf("%s %s = %+v", tt.table.Name, tt.kind, *f)
		}
	}
	if n := len(Flags()); n != len(tests) {
		t.Errorf("%d flags declared, %d tested", n, len(tests))
	}
}

// What the store builds its look-ups from must be there, and cheap.
func TestFlagsNameTheirColumnsAndAnIndex(t *testing.T) {
	kinds := map[string]string{}
	for _, tbl := range Tables() {
		for _, f := range tbl.Flags {
			if other, dup := kinds[f.Kind]; dup {
				t.Errorf("flag %s declared by %s and %s: the log could not tell which", f.Kind, other, tbl.Name)
			}
			kinds[f.Kind] = tbl.Name
			if f.Field == "" || f.Label == "" || f.Record == "" || f.Alike == "" ||
				len(f.Match) == 0 || len(f.Resolutions) == 0 {
				t.Errorf("%s %s: incomplete %+v", tbl.Name, f.Kind, f)
			}
			for _, name := range append(append([]string{f.Label}, f.Match...), f.WhileNull...) {
				if c := tbl.Column(name); c == nil || c.Type != Text {
					t.Errorf("%s %s: %s is not a text column of %s", tbl.Name, f.Kind, name, tbl.Name)
				}
			}
			// An optional column matches NULL and '' by an OR, after
			// which the index answers no further column.
			for i, name := range f.Match {
				if c := tbl.Column(name); c != nil && !c.Required && i != len(f.Match)-1 {
					t.Errorf("%s %s: optional %s is not the last Match column", tbl.Name, f.Kind, name)
				}
			}
			if !slices.ContainsFunc(tbl.Lookups, func(ix []string) bool {
				return len(ix) >= len(f.Match) && slices.Equal(ix[:len(f.Match)], f.Match)
			}) {
				t.Errorf("%s %s: no Lookups index starts with %v", tbl.Name, f.Kind, f.Match)
			}
			for _, r := range f.Resolutions {
				if !slices.Contains([]string{ResolveNoted, ResolveDistinct, ResolveMerge}, r) {
					t.Errorf("%s %s: the store does not know resolution %q", tbl.Name, f.Kind, r)
				}
			}
		}
	}
}
