package schema

import (
	"strings"
	"testing"
)

// A name, a unit or a village carrying a terminal escape is refused, with
// the field named; notes keep their lines and tabs and nothing else.
func TestControlCharactersRefused(t *testing.T) {
	tb, err := Lookup("cleanup_tasks")
	if err != nil {
		t.Fatal(err)
	}
	villages, _ := Lookup(VillageTable)
	for _, tc := range []struct {
		table *Table
		col   string
		text  string
		want  string // "" for accepted
	}{
		{tb, "unit", "\x1b[31mtruckloads", "unit: contains the control character U+001B at character 1"},
		{tb, "unit", "车\u009b2J", "U+009B at character 2"},
		{tb, "unit", "m\x7f", "U+007F"},
		{tb, "place", "村口\t大街", "U+0009"},
		{tb, "place", "村口\n大街", "U+000A"},
		{tb, "place", "abc\u202edcba", "U+202E"},
		{tb, "village", "\x1b]0;owned\x07南香村", "village: contains the control character"},
		{villages, "name", "新村\x1b[2J", "name: contains the control character"},
		{villages, "aliases", "旺鱼村,\r旺渔", "aliases: contains the control character U+000D"},
		{tb, "notes", "第一行\n\t第二行\r\n", ""},
		{tb, "notes", "ok\x1b[31m", "notes: contains the control character U+001B"},
		{tb, "place", "村口大街 (东) — 新", ""},
		{tb, "place", "👩\u200d👩\u200d👧", ""}, // a zero-width joiner is no control
	} {
		err := tc.table.Column(tc.col).Check(TextValue(tc.text))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %q: %v, want it accepted", tc.col, tc.text, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "不能包含控制字符")):
			t.Errorf("%s %q: %v, want an error with %q", tc.col, tc.text, err, tc.want)
		}
	}
	if err := CheckName("phone\x1b[31m"); err == nil || !strings.Contains(err.Error(), "U+001B at character 6") {
		t.Errorf("CheckName: %v", err)
	}
	if err := CheckName("王芳的手机"); err != nil {
		t.Errorf("CheckName: %v", err)
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in        string
		keepLines bool
		want      string
	}{
		{"南香村", false, "南香村"},
		{"\x1b[31mred\x1b[0m", false, `\x1b[31mred\x1b[0m`},
		{"a\u009b2Jb\u202e", false, `a\u009b2Jb\u202e`},
		{"line 1\n\tline 2\r", false, `line 1\x0a\x09line 2\x0d`},
		{"line 1\n\tline 2\r", true, "line 1\n\tline 2\\x0d"},
		{"bad \x9b byte", false, "bad \uFFFD byte"},
	} {
		if got := Printable(tc.in, tc.keepLines); got != tc.want {
			t.Errorf("Printable(%q, %v) = %q, want %q", tc.in, tc.keepLines, got, tc.want)
		}
	}
}

// A loan falls due within MaxLoanDays of its lending and comes back after
// it; the rule names the later field.
func TestLoanDateOrders(t *testing.T) {
	loans, _ := Lookup("loans")
	for _, tc := range []struct {
		lent, due, returned string
		field, want         string
	}{
		{"2024-06-03", "2024-06-17", "2024-06-10", "", ""},
		{"2024-06-03", "2025-06-03", "2024-06-03", "", ""}, // 365 days; returned the same day
		{"2024-06-03", "9999-12-31", "", "due_on", "9999-12-31 is more than 366 days after lent_on 2024-06-03"},
		{"2024-06-03", "2024-06-02", "", "due_on", "2024-06-02 is before lent_on 2024-06-03"},
		{"2024-06-03", "", "2024-05-01", "returned_on", "2024-05-01 is before lent_on 2024-06-03 (归还日期不能早于借出日期)"},
		{"", "9999-12-31", "", "", ""}, // nothing to order against (required says so)
	} {
		vals := map[string]string{"lent_on": tc.lent, "due_on": tc.due, "returned_on": tc.returned}
		field, err := loans.CheckDateOrders(func(name string) (string, bool) {
			v := vals[name]
			return v, v != ""
		}, nil)
		if field != tc.field || (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %s %v, want %s %q", tc, field, err, tc.field, tc.want)
		}
	}
}
