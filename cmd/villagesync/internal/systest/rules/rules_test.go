package rules_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/nodejs"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// now is the clock both sides check dates against.
var now = time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)

// input is one record to check: fields as JSON values (a number is an
// integer in an integer column when it is whole, as check.ts reads it).
// env gives both sides the clock and villages: the seeded ones, or
// Villages when given.
type input struct {
	Name     string         `json:"name"`
	Table    string         `json:"table"`
	Fields   map[string]any `json:"fields"`
	Env      bool           `json:"env"`
	Villages []village      `json:"villages,omitempty"`
}

// village is a schema.SeedVillage as check.ts's Village reads it.
type village struct {
	Name    string   `json:"name"`
	Pinyin  string   `json:"pinyin"`
	Aliases []string `json:"aliases"`
}

// seeded is schema.SeedVillages for check.ts: the app's bundle carries
// no village, so the test hands them over.
func seeded() []village {
	var out []village
	for _, v := range schema.SeedVillages {
		out = append(out, village{v.Name, v.Pinyin, append([]string{}, v.Aliases...)})
	}
	return out
}

// problem is what a side says: the field and the whole text in both
// languages (field name, separator, message).
type problem struct {
	Field string `json:"field"`
	EN    string `json:"en"`
	ZH    string `json:"zh"`
}

type testCase struct {
	input
	Want []problem `json:"want"`
	// NowMs is now for check.ts, when Env.
	NowMs int64 `json:"nowMs"`
}

func valueFor(c *schema.Column, v any) (schema.Value, error) {
	switch x := v.(type) {
	case nil:
		return schema.Value{}, nil
	case string:
		return schema.TextValue(x), nil
	case float64:
		if c != nil && c.Type == schema.Real {
			return schema.RealValue(x), nil
		}
		if x == float64(int64(x)) {
			return schema.IntValue(int64(x)), nil
		}
		return schema.RealValue(x), nil
	}
	return schema.Value{}, fmt.Errorf("value %v (%T): want a string, a number or null", v, v)
}

func change(t *schema.Table, fields map[string]schema.Value) *record.Record {
	r := &record.Record{Table: t.Name, ID: "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", Version: vv.VV{7: 1},
		Fields: map[string]record.Field{}}
	for n, v := range fields {
		r.Fields[n] = record.Field{Value: v, Dot: vv.Dot{Replica: 7, Counter: 1}}
	}
	return r
}

func said(t *testing.T, err error) problem {
	t.Helper()
	var p *record.Problem
	if !errors.As(err, &p) {
		t.Fatalf("%v is a %T, not a *record.Problem", err, err)
	}
	return problem{Field: p.Field, EN: p.In(schema.EN), ZH: p.In(schema.ZH)}
}

// serverCheck is what the server says of in, run by its own code: the
// change checks (record.Validate, then CheckValues with the clock and the
// villages) of each field alone, in field order, then, when they all
// pass, the whole record's record.CheckRequired. Its first problem must
// be the one the server refuses the whole record with (checked too).
func serverCheck(t *testing.T, in input) []problem {
	t.Helper()
	tbl, err := schema.Lookup(in.Table)
	if err != nil {
		// The server refuses the change for its table alone.
		r := change(&schema.Table{Name: in.Table}, map[string]schema.Value{"name": schema.TextValue("x")})
		return []problem{said(t, record.Validate(r, 7))}
	}
	env := schema.Env{}
	if in.Env {
		vs := schema.NewVillages()
		for _, v := range in.Villages {
			vs.Add(v.Name, v.Pinyin, v.Aliases...)
		}
		env = schema.Env{Now: now, Villages: vs}
	}
	fields := map[string]schema.Value{}
	for n, v := range in.Fields {
		if fields[n], err = valueFor(tbl.Column(n), v); err != nil {
			t.Fatalf("%s: %v", in.Name, err)
		}
	}
	run := func(r *record.Record, whole bool) error {
		if err := record.Validate(r, 7); err != nil {
			return err
		}
		if err := record.CheckValues(r, env); err != nil {
			return err
		}
		if whole {
			return record.CheckRequired(r, record.Writes(r))
		}
		return nil
	}
	var out []problem
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for n := range fields {
			if !yield(n) {
				return
			}
		}
	}) {
		if err := run(change(tbl, map[string]schema.Value{n: fields[n]}), false); err != nil {
			out = append(out, said(t, err))
		}
	}
	whole := run(change(tbl, fields), true)
	if len(out) == 0 && whole != nil {
		out = append(out, said(t, whole))
	}
	switch {
	case whole == nil && len(out) > 0:
		t.Fatalf("%s: the fields alone fail (%v) but the record passes", in.Name, out)
	case whole != nil && said(t, whole) != out[0]:
		t.Fatalf("%s: the server refuses the record with %v, not the first field problem %v", in.Name, said(t, whole), out[0])
	}
	return out
}

const entry = `import { readFileSync } from "node:fs";
import { checkRecord, parseField } from %q;
import { fillDefaults } from %q;
import { tables } from %q;
import { goFloat } from %q;

const input = JSON.parse(readFileSync(process.argv[2], "utf8"));
const records = input.records.map((c) => {
  const env = c.env ? { now: c.nowMs, villages: c.villages } : {};
  return checkRecord(c.table, c.fields, env).map((p) => ({ field: p.field, en: p.text("en"), zh: p.text("zh") }));
});
const forms = input.forms.map((c) => fillDefaults(c.form, c.given, c.nowMs, c.offsetMinutes));
// A parsed value as Go's Value.String says it.
const text = (table, column, v) => {
  if (v === null) return "null";
  if (typeof v === "string") return v;
  const c = tables[table].columns.find((c) => c.name === column);
  return c.type === "real" ? goFloat(v) : String(v);
};
const parses = input.parses.map((c) => {
  const p = parseField(c.table, c.column, c.text);
  return p.error !== undefined ? { error: p.error } : { value: text(c.table, c.column, p.value) };
});
process.stdout.write(JSON.stringify({ records, forms, parses }));
`

// formCase is a volunteer form filled in at a time in a zone.
type formCase struct {
	Form          string            `json:"form"`
	Given         map[string]string `json:"given"`
	NowMs         int64             `json:"nowMs"`
	OffsetMinutes int               `json:"offsetMinutes"`
	Want          map[string]string `json:"want"`
}

// parseCase is text typed into a form's field, and what Column.Parse
// makes of it: the value as Value.String says it, or the error.
type parseCase struct {
	Table  string `json:"table"`
	Column string `json:"column"`
	Text   string `json:"text"`
}

type parsed struct {
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// tsInput and tsOutput are what the entry reads and writes.
type tsInput struct {
	Records []testCase  `json:"records"`
	Forms   []formCase  `json:"forms"`
	Parses  []parseCase `json:"parses"`
}

type tsOutput struct {
	Records [][]problem         `json:"records"`
	Forms   []map[string]string `json:"forms"`
	Parses  []parsed            `json:"parses"`
}

// runTS bundles an entry over check.ts and defaults.ts with esbuild and
// runs it under Node on the cases, returning what it says of each.
func runTS(t *testing.T, in tsInput) tsOutput {
	t.Helper()
	rules := filepath.Join(nodejs.Web(t), "src", "rules")
	var got tsOutput
	nodejs.Run(t, fmt.Sprintf(entry, filepath.Join(rules, "check.ts"), filepath.Join(rules, "defaults.ts"),
		filepath.Join(rules, "schema.gen.ts"), filepath.Join(rules, "gofmt.ts")), in, &got)
	if len(got.Records) != len(in.Records) || len(got.Forms) != len(in.Forms) || len(got.Parses) != len(in.Parses) {
		t.Fatalf("node answered %d records, %d forms and %d parses, want %d, %d and %d", len(got.Records),
			len(got.Forms), len(got.Parses), len(in.Records), len(in.Forms), len(in.Parses))
	}
	return got
}

// TestCheckRecordMatchesServer: check.ts says of every case what the
// server's own checks say, field and words in both languages.
func TestCheckRecordMatchesServer(t *testing.T) {
	var cases []testCase
	for _, in := range inputs() {
		tc := testCase{input: in, Want: serverCheck(t, in)}
		if tc.Want == nil {
			tc.Want = []problem{}
		}
		if in.Env {
			tc.NowMs = now.UnixMilli()
		}
		cases = append(cases, tc)
	}
	// The table must hold both kinds, or it proves little.
	var valid, invalid int
	for _, c := range cases {
		if len(c.Want) == 0 {
			valid++
		} else {
			invalid++
		}
	}
	if valid < 4 || invalid < 40 {
		t.Fatalf("%d valid and %d invalid cases: the table lost its cases", valid, invalid)
	}
	got := runTS(t, tsInput{Records: cases, Forms: []formCase{}, Parses: []parseCase{}}).Records
	for i, c := range cases {
		g := got[i]
		if g == nil {
			g = []problem{}
		}
		if !slices.Equal(g, c.Want) {
			t.Errorf("%s: %s %v\n  server:  %q\n  check.ts: %q", c.Name, c.Table, c.Fields, c.Want, g)
		}
	}
	t.Logf("%d cases (%d valid, %d refused)", len(cases), valid, invalid)
}

// TestFormDefaultsMatchServer: defaults.ts fills the volunteer forms as
// schema.Form.FillDefaults (which the Go replica's forms use) does, in
// zones east and west of UTC and across a month's and a year's end.
func TestFormDefaultsMatchServer(t *testing.T) {
	times := []time.Time{now, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(2024, 2, 28, 16, 30, 5, 0, time.UTC)}
	offsets := []int{0, 8 * 60, -5 * 60, 5*60 + 45}
	givens := []map[string]string{{}, {"status": "done"}, {"status": "checked"}, {"status": "reported"},
		{"lent_on": "2025-12-25"}, {"lent_on": "2024-02-20"}, {"lent_on": "2024-2-20"}, {"lent_on": "2023-02-29"},
		{"lent_on": "明天"}}
	var cases []formCase
	for _, f := range schema.Forms() {
		for _, at := range times {
			for _, off := range offsets {
				for _, g := range givens {
					local := at.In(time.FixedZone("", off*60))
					cases = append(cases, formCase{Form: f.Name, Given: g, NowMs: at.UnixMilli(), OffsetMinutes: off,
						Want: f.FillDefaults(g, local)})
				}
			}
		}
	}
	got := runTS(t, tsInput{Records: []testCase{}, Forms: cases, Parses: []parseCase{}}).Forms
	for i, c := range cases {
		if !maps.Equal(got[i], c.Want) {
			t.Errorf("%s %v at %d%+d min: Go %v, defaults.ts %v", c.Form, c.Given, c.NowMs, c.OffsetMinutes, c.Want, got[i])
		}
	}
	t.Logf("%d form cases", len(cases))
}

// TestParseFieldMatchesServer: parseField reads a form's text as
// schema.Column.Parse does (the Go replica's forms and the CLI's
// field=value), value or error.
func TestParseFieldMatchesServer(t *testing.T) {
	texts := map[schema.Type][]string{
		schema.Integer: {"12", " 12 ", "+7", "-1", "007", "0", "200", "201", "1.5", "1e3", "1_000", "0x10", "", "null",
			"twelve", "１２", "99999999999999999999", "9223372036854775807", "-9223372036854775808", "\t3\n"},
		schema.Real: {"2.5", " 2.5 ", "-1.5", "1e3", "1E-7", ".5", "5.", "-0", "0", "1e400", "inf", "-Inf", "+infinity",
			"NaN", "nan", "+nan", "infin", "0x1p3", "0x1.8p1", "-0x10p-2", "0x10", "1_000", "1__000", "_1", "1_", "0x_1p0", "1_.5", "1.5_5", "", "null", "lots", "1,5",
			"1234567.5", "100000", "\u00a02"},
		schema.Text: {"", "null", "南香村", "nanxiang", "2024-06-03", "2024-6-3", "19:00", "7pm", "a\x1bb", "reported",
			"Done", "978-7-02-000002-9"},
	}
	var cases []parseCase
	var want []parsed
	for _, tbl := range schema.Tables() {
		for _, c := range tbl.Columns {
			for _, s := range texts[c.Type] {
				s = strings.NewReplacer(`\t`, "\t", `\n`, "\n", `\x1b`, "\x1b", `\u00a0`, "\u00a0").Replace(s)
				cases = append(cases, parseCase{Table: tbl.Name, Column: c.Name, Text: s})
				v, err := c.Parse(s)
				if err != nil {
					want = append(want, parsed{Error: err.Error()})
				} else {
					want = append(want, parsed{Value: v.String()})
				}
			}
		}
	}
	got := runTS(t, tsInput{Records: []testCase{}, Forms: []formCase{}, Parses: cases}).Parses
	for i, c := range cases {
		if got[i] != want[i] {
			t.Errorf("%s.%s %q: Go %+v, parseField %+v", c.Table, c.Column, c.Text, want[i], got[i])
		}
	}
	t.Logf("%d parse cases", len(cases))
}

// stringLit is a double-quoted TypeScript string literal.
var stringLit = regexp.MustCompile(`"((?:[^"\\\n]|\\.)*)"`)

// TestCheckTSSaysNoMessageOfItsOwn: every format check.ts refuses with
// comes from schema.gen.ts (generated from schema/), none is written in
// check.ts, so a reworded server message cannot leave the app behind.
func TestCheckTSSaysNoMessageOfItsOwn(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(nodejs.Web(t), "src", "rules", "check.ts"))
	if err != nil {
		t.Fatal(err)
	}
	formats := schema.Translations()
	for _, m := range schema.CheckMessages {
		formats[m.EN] = m.ZH
	}
	for _, f := range schema.RecordMessages() {
		if _, ok := schema.Translations()[f]; !ok {
			t.Errorf("schema's record message %q has no Chinese", f)
		}
	}
	lits := 0
	for _, m := range stringLit.FindAllSubmatch(src, -1) {
		lits++
		s := string(m[1])
		if _, ok := formats[s]; ok && len(s) > 2 {
			t.Errorf("check.ts writes the message %q itself: take it from schema.gen.ts", s)
		}
	}
	if lits < 20 {
		t.Fatalf("found only %d string literals in check.ts; the scan is broken", lits)
	}
}
