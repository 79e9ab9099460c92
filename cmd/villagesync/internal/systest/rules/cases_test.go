package rules_test

import (
	"maps"
	"strconv"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
)

// valid is a record of each table that passes every check.
var valid = map[string]map[string]any{
	"tutoring_sessions": {"village": "南香村", "session_date": "2026-06-14", "start_time": "19:00", "class_group": "三年级",
		"volunteers": "小明, 小红", "subjects": "数学", "children_present": 12.0, "notes": "第一行\n第二行\t完"},
	"cleanup_tasks": {"village": "东旺村", "kind": "street_sweeping", "place": "村口", "status": "reported",
		"quantity": 2.5, "unit": "车", "crew_size": 4.0, "reported_at": "2026-06-14T08:30:00+08:00",
		"finished_at": "2026-06-14T10:00:00Z", "routine": "每周清扫"},
	"books": {"village": "旺渔村", "library": "children", "copy_no": 1.0, "title": "西游记", "author": "吴承恩",
		"isbn": "978-7-02-000002-9"},
	"loans": {"village": "南香村", "book_id": "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", "borrower_card": "C-0042",
		"lent_on": "2026-06-01", "due_on": "2026-06-15"},
	"villages": {"name": "新村", "pinyin": "Xincun", "aliases": "新邨"},
}

// with is table's valid record with the changes given (nil: the field
// written as NULL; absent: see without).
func with(table string, changes map[string]any) map[string]any {
	f := maps.Clone(valid[table])
	maps.Copy(f, changes)
	return f
}

func without(table string, names ...string) map[string]any {
	f := maps.Clone(valid[table])
	for _, n := range names {
		delete(f, n)
	}
	return f
}

// inputs lists the cases: each table's valid record, every required
// field missing and NULL, every column's bad values by its rules, and
// the text checks every column shares.
func inputs() []input {
	var out []input
	add := func(name, table string, fields map[string]any, env bool) {
		in := input{Name: name, Table: table, Fields: fields, Env: env}
		if env {
			in.Villages = seeded()
		}
		out = append(out, in)
	}
	for _, t := range schema.Tables() {
		add(t.Name+" valid", t.Name, valid[t.Name], true)
		add(t.Name+" valid, no env", t.Name, valid[t.Name], false)
		for _, c := range t.Columns {
			n := t.Name + "." + c.Name
			if c.Required {
				add(n+" missing", t.Name, without(t.Name, c.Name), true)
				add(n+" null", t.Name, with(t.Name, map[string]any{c.Name: nil}), true)
			}
			switch c.Type {
			case schema.Integer:
				add(n+" text", t.Name, with(t.Name, map[string]any{c.Name: "12"}), true)
				add(n+" fraction", t.Name, with(t.Name, map[string]any{c.Name: 1.5}), true)
				if c.Min != 0 || c.Max != 0 {
					add(n+" below", t.Name, with(t.Name, map[string]any{c.Name: float64(c.Min - 1)}), true)
					add(n+" above", t.Name, with(t.Name, map[string]any{c.Name: float64(c.Max + 1)}), true)
					add(n+" at max", t.Name, with(t.Name, map[string]any{c.Name: float64(c.Max)}), true)
				}
				continue
			case schema.Real:
				for _, v := range []float64{-1.5, -1234567.5, -0.00001, -100000, -1e21, 0} {
					add(n+" real", t.Name, with(t.Name, map[string]any{c.Name: v}), true)
				}
				add(n+" text", t.Name, with(t.Name, map[string]any{c.Name: "2"}), true)
				continue
			}
			// Text.
			add(n+" number", t.Name, with(t.Name, map[string]any{c.Name: 5.0}), true)
			for _, s := range []string{"a\x1b[31mred", "tab\there", "line\nbreak", "cr\rx", "\u202eevil", "\u0085c1",
				"del\x7f", "nul\x00x"} {
				add(n+" control "+schema.Printable(s, false), t.Name, with(t.Name, map[string]any{c.Name: s}), true)
			}
			if c.MaxRunes > 0 {
				add(n+" at limit", t.Name, with(t.Name, map[string]any{c.Name: strings.Repeat("字", c.MaxRunes)}), false)
				add(n+" over limit", t.Name, with(t.Name, map[string]any{c.Name: strings.Repeat("字", c.MaxRunes+1)}), true)
			}
			add(n+" over bytes", t.Name, with(t.Name, map[string]any{c.Name: strings.Repeat("abcd", 4097)}), true)
			if len(c.Enum) > 0 {
				for _, s := range []string{"Done", "", "完成", "a\u3000b", "x\u200by", "\"q\"\\", "emoji😀",
					// %q by Go's IsPrint (Unicode 15.0 in Go 1.26) whatever the
					// engine's version: U+2FFC and U+1C89 came after it.
					"İ", "ẞ", "ΑΣ", "soft\u00adhyphen", "\u0378", "\ue000", "\U000f0000", "\u2ffc", "\u1c89"} {
					add(n+" enum "+s, t.Name, with(t.Name, map[string]any{c.Name: s}), true)
				}
			}
			var bad []string
			switch c.Format {
			case schema.Date:
				bad = []string{"2024-6-3", "2024-02-30", "2024-02-29", "2023-02-29", "1999-12-31", "0000-02-29",
					"2026-06-16", "2026-06-17", "2030-01-01", "24-06-03", "2024-13-01", "2024-06-03T00:00:00Z", "", "明天"}
			case schema.Clock:
				bad = []string{"7:00", "24:00", "23:59", "19:60", "19:00:00", "", "19：00"}
			case schema.DateTime:
				bad = []string{"2026-06-14T08:30:00Z", "2026-06-14 08:30:00Z", "2026-06-14T8:30:00Z", "2026-06-14T08:30:00",
					"2026-06-14T08:30:00.123+08:00", "2026-06-14T24:00:00Z", "2026-06-14T08:30:60Z", "1999-12-31T23:59:59Z",
					"2000-01-01T00:30:00+01:00", "2026-06-16T11:59:59Z", "2026-06-16T12:00:01Z", "2026-06-16T20:00:01+08:00",
					"2026-06-14T08:30:00+25:00", "2026-06-14T08:30:00+24:00", "2026-02-30T08:30:00Z", ""}
			case schema.ISBN:
				bad = []string{"978-7-02-000002-8", "7-02-000002-X", "0-306-40615-2", "0306406152", "030640615X",
					"978-0-306-40615-7", "ISBN 978", "", "X306406152"}
			case schema.Village:
				bad = []string{"nanxiang", "Nanxiang", " 南香村 ", "旺鱼村", "北京", "", "南香村\u3000"}
			}
			for _, s := range bad {
				add(n+" "+s, t.Name, with(t.Name, map[string]any{c.Name: s}), true)
				if c.Format == schema.Village || c.Format == schema.Date || c.Format == schema.DateTime {
					add(n+" "+s+", no env", t.Name, with(t.Name, map[string]any{c.Name: s}), false)
				}
			}
		}
	}
	// Fields that are no column, and the rules between fields.
	add("unknown field", "books", with("books", map[string]any{"publisher": "人民文学"}), true)
	add("two bad fields", "books", with("books", map[string]any{"copy_no": 0.0, "isbn": "123"}), true)
	add("bad and missing", "books", with("books", map[string]any{"copy_no": 0.0, "title": nil}), true)
	add("two missing", "loans", without("loans", "lent_on", "borrower_card"), true)
	add("unknown table", "people", map[string]any{"name": "x"}, true)
	for _, name := range []string{"", "Books", "İ", "\u2ffc", "\u00ad"} {
		add("unknown table "+strconv.Quote(name), name, map[string]any{"name": "x"}, true)
	}
	for _, t := range schema.Tables() {
		add(t.Name+" unknown field", t.Name, with(t.Name, map[string]any{"no_such": "x"}), true)
	}
	add("due before lent", "loans", with("loans", map[string]any{"due_on": "2026-05-31"}), true)
	add("due a year on", "loans", with("loans", map[string]any{"lent_on": "2025-06-01", "due_on": "2026-06-02"}), true)
	add("due 366 days on", "loans", with("loans", map[string]any{"lent_on": "2025-06-01", "due_on": "2026-06-01"}), true)
	add("due far ahead", "loans", with("loans", map[string]any{"due_on": "2027-06-01"}), true)
	add("returned before lent", "loans", with("loans", map[string]any{"returned_on": "2026-05-01"}), true)
	add("both orders broken", "loans", with("loans", map[string]any{"due_on": "2026-05-01", "returned_on": "2026-05-01"}), true)
	add("returned same day", "loans", with("loans", map[string]any{"returned_on": "2026-06-01"}), true)
	add("missing and order broken", "loans", with("loans", map[string]any{"due_on": "2026-05-01", "borrower_card": nil}), true)
	// Spellings lowered by Go's unicode.ToLower, not JavaScript's: İ is
	// one rune (i), a final Σ is σ, and a letter newer than Go's Unicode
	// (U+1C89) has no lower case yet.
	greek := append(seeded(), village{"希腊村", "Xila", []string{"ΑΣ", "ᲊ", "straße"}})
	for _, s := range []string{"NANXİANG", "nanxİang", "ΑΣ", "ασ", "Ας", "ας", "Ᲊ", "ᲊ", "STRAẞE", "straẞe", "İ"} {
		out = append(out, input{Name: "village " + s, Table: "tutoring_sessions",
			Fields: with("tutoring_sessions", map[string]any{"village": s}), Env: true, Villages: greek})
	}
	return out
}
