package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/futian-xiaomo/villagesync/schema"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: tsgen OUTPUT.ts")
		os.Exit(2)
	}
	src, err := Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsgen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(os.Args[1], src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "tsgen:", err)
		os.Exit(1)
	}
}

// The schema's doc strings stay out: they are for programmers, and
// whatever the app imports reaches every volunteer's browser. The seed
// villages go in: every device starts with them, as every database does
// (record.Seeds), because the server never sends them; the list of
// villages is reference data that every device holds, and scope keeps
// each village's records, not its name, with those assigned to it.
type column struct {
	Name      string   `json:"name"`
	Type      string   `json:"type"`
	ZH        string   `json:"zh"`
	Format    string   `json:"format"`
	Enum      []string `json:"enum"`
	Min       int64    `json:"min"`
	Max       int64    `json:"max"`
	MaxRunes  int      `json:"maxRunes"`
	Required  bool     `json:"required"`
	Future    bool     `json:"future"`
	Multiline bool     `json:"multiline"`
	Default   any      `json:"default"`
	Merge     string   `json:"merge"`
	MaxItems  int      `json:"maxItems"`
	Since     int      `json:"since"`
}

type dateOrder struct {
	Earlier    string `json:"earlier"`
	Later      string `json:"later"`
	WithinDays int    `json:"withinDays"`
}

type table struct {
	Name       string      `json:"name"`
	ZH         string      `json:"zh"`
	Program    bool        `json:"program"`
	Scope      string      `json:"scope"`
	Writers    string      `json:"writers"`
	Columns    []column    `json:"columns"`
	DateOrders []dateOrder `json:"dateOrders"`
}

type formDefault struct {
	Column string   `json:"column"`
	Fill   string   `json:"fill"`
	From   string   `json:"from"`
	Days   int      `json:"days"`
	When   string   `json:"when"`
	WhenIn []string `json:"whenIn"`
}

type form struct {
	Name     string        `json:"name"`
	Table    string        `json:"table"`
	Defaults []formDefault `json:"defaults"`
}

type village struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Pinyin  string   `json:"pinyin"`
	Aliases []string `json:"aliases"`
}

var formats = map[schema.Format]string{
	schema.Free: "free", schema.Date: "date", schema.Clock: "clock", schema.DateTime: "datetime",
	schema.ISBN: "isbn", schema.Village: "village", schema.Attachments: "attachments",
}

var merges = map[schema.MergeRule]string{
	schema.LastWriter: "last_writer", schema.Forward: "forward", schema.SetWins: "set_wins",
}

var writers = map[schema.Writers]string{schema.ProgramWriters: "program_writers", schema.AdminsOnly: "admins_only"}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func lookup[K comparable](m map[K]string, k K, what string) (string, error) {
	s, ok := m[k]
	if !ok {
		return "", fmt.Errorf("no TypeScript name for %s %v: add it to tsgen", what, k)
	}
	return s, nil
}

// lowerRuns is unicode.ToLower as runs lo, hi, stride, delta: every
// stride-th rune from lo to hi lowers to itself plus delta (stride 2 is
// the alternating upper/lower of Latin Extended). JavaScript's
// toLowerCase is not Go's: it applies SpecialCasing (İ becomes two runes,
// a final Σ becomes ς) and knows another Unicode version, so a spelling
// the server resolves must be lowered by Go's table to resolve alike.
func lowerRuns() []int32 {
	var out []int32
	var lo, prev, stride, delta rune
	open := false
	for r := rune(0); r <= unicode.MaxRune; r++ {
		d := unicode.ToLower(r) - r
		if d == 0 {
			continue
		}
		if open && d == delta && (stride == 0 || r-prev == stride) {
			if stride == 0 {
				stride = r - prev
			}
			prev = r
			continue
		}
		if open {
			out = append(out, lo, prev, max(stride, 1), delta)
		}
		open, lo, prev, stride, delta = true, r, r, 0, d
	}
	if open {
		out = append(out, lo, prev, max(stride, 1), delta)
	}
	return out
}

// printRuns is unicode.IsPrint (strconv.IsPrint, which %q escapes by) as
// alternating run lengths from U+0000: not printable, printable, not
// printable, ... Short numbers keep the table small in the bundle.
func printRuns() []int32 {
	var out []int32
	run, printable := int32(0), false
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsPrint(r) != printable {
			out = append(out, run)
			run, printable = 0, !printable
		}
		run++
	}
	return append(out, run)
}

// Generate returns the TypeScript source.
func Generate() ([]byte, error) {
	tables := map[string]table{}
	var order []string
	for _, t := range schema.Tables() {
		order = append(order, t.Name)
		w, err := lookup(writers, t.Writers, "writers")
		if err != nil {
			return nil, err
		}
		out := table{Name: t.Name, ZH: t.ZH, Program: t.Program, Scope: t.Scope, Writers: w,
			Columns: []column{}, DateOrders: []dateOrder{}}
		for _, c := range t.Columns {
			f, err := lookup(formats, c.Format, "format")
			if err != nil {
				return nil, err
			}
			m, err := lookup(merges, c.Merge, "merge rule")
			if err != nil {
				return nil, err
			}
			if c.Type == schema.Boolean || c.Type == schema.Null {
				return nil, fmt.Errorf("%s.%s: type %s has no check in rules/check.ts", t.Name, c.Name, c.Type)
			}
			out.Columns = append(out.Columns, column{Name: c.Name, Type: c.Type.String(), ZH: c.ZH,
				Format: f, Enum: orEmpty(c.Enum), Min: c.Min, Max: c.Max, MaxRunes: c.MaxRunes, Required: c.Required,
				Future: c.Future, Multiline: c.Multiline, Default: c.Default.JSON(), Merge: m,
				MaxItems: c.MaxItems, Since: c.Since})
		}
		for _, o := range t.DateOrders {
			out.DateOrders = append(out.DateOrders, dateOrder{o.Earlier, o.Later, o.WithinDays})
		}
		tables[t.Name] = out
	}
	var forms []form
	for _, f := range schema.Forms() {
		out := form{Name: f.Name, Table: f.Table, Defaults: []formDefault{}}
		for _, d := range f.Defaults {
			out.Defaults = append(out.Defaults, formDefault{d.Column, d.Fill.String(), d.From, d.Days, d.When,
				orEmpty(d.WhenIn)})
		}
		forms = append(forms, out)
	}
	var villages []village
	for _, v := range schema.SeedVillages {
		villages = append(villages, village{schema.SeedVillageID(v.Name), v.Name, v.Pinyin, orEmpty(v.Aliases)})
	}
	fields := schema.FieldTranslations()
	checks := map[string]map[string]string{}
	for k, m := range schema.CheckMessages {
		checks[k] = map[string]string{"en": m.EN, "zh": m.ZH}
	}

	var b bytes.Buffer
	b.WriteString(`// Code generated by go run ./schema/internal/tsgen; DO NOT EDIT.
//
// The server's rules, as data: rules/check.ts checks a record with these
// and nothing else, so the app and the server refuse the same things with
// the same words. Change schema/ and run make generate.

export type ColumnType = "text" | "integer" | "real";
export type Format = "free" | "date" | "clock" | "datetime" | "isbn" | "village" | "attachments";
export type MergeRule = "last_writer" | "forward" | "set_wins";
export type Writers = "program_writers" | "admins_only";
export type Fill = "today" | "now" | "days_after";
export type Value = string | number | null;

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  /** The field's Chinese name (its English name is name). */
  readonly zh: string;
  readonly format: Format;
  /** Allowed text values, in order; empty: any. */
  readonly enum: readonly string[];
  /** Inclusive integer range; ignored when both are 0. */
  readonly min: number;
  readonly max: number;
  /** Longest text in characters; 0: only limits.maxTextBytes. */
  readonly maxRunes: number;
  readonly required: boolean;
  /** A date that may lie ahead (a due date). */
  readonly future: boolean;
  /** May hold line breaks and tabs. */
  readonly multiline: boolean;
  /** Filled in by the forms when not given. */
  readonly default: Value;
  readonly merge: MergeRule;
  /** For attachments: the most digests the field names. */
  readonly maxItems: number;
  /** The schema version that added the column (0: the first). */
  readonly since: number;
}

export interface DateOrder {
  readonly earlier: string;
  readonly later: string;
  /** 0: no bound. */
  readonly withinDays: number;
}

export interface Table {
  readonly name: string;
  readonly zh: string;
  readonly program: boolean;
  /** The column tying a record to a village; empty on reference tables. */
  readonly scope: string;
  readonly writers: Writers;
  readonly columns: readonly Column[];
  readonly dateOrders: readonly DateOrder[];
}

export interface FormDefault {
  readonly column: string;
  readonly fill: Fill;
  readonly from: string;
  readonly days: number;
  /** When set, applies only when the form's given when is one of whenIn. */
  readonly when: string;
  readonly whenIn: readonly string[];
}

export interface Form {
  readonly name: string;
  readonly table: string;
  readonly defaults: readonly FormDefault[];
}

export interface CheckMessage {
  readonly en: string;
  /** Empty: the message has no Chinese and is not wrapped with the column's name. */
  readonly zh: string;
}

`)
	emit := func(doc, decl string, v any, suffix string) error {
		var j bytes.Buffer
		enc := json.NewEncoder(&j)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("%s: %w", decl, err)
		}
		fmt.Fprintf(&b, "%s\n%s = %s%s;\n\n", doc, decl, strings.TrimSuffix(j.String(), "\n"), suffix)
		return nil
	}
	steps := []struct {
		doc, decl string
		v         any
		suffix    string
	}{
		{"/** Limits every text and date obeys (schema.MaxTextBytes, MinYear, FutureSlack). */",
			"export const limits", map[string]int64{"maxTextBytes": schema.MaxTextBytes, "minYear": schema.MinYear,
				"futureSlackMs": schema.FutureSlack.Milliseconds()}, " as const"},
		{"/** This build's schema version and the oldest device version a server serves (schema.Version, OldestApp). */",
			"export const versions", map[string]int64{"schema": schema.Version, "oldestApp": schema.OldestApp},
			" as const"},
		{"/** The attachment lane's limits (schema/attachments.go). */",
			"export const attachmentLimits", map[string]any{"maxBytes": schema.MaxAttachmentBytes,
				"chunk": schema.AttachmentChunk, "maxPixels": schema.MaxImagePixels,
				"photoMaxSide": schema.PhotoMaxSide, "thumbMaxSide": schema.ThumbMaxSide,
				"digestLen": schema.DigestLen, "imageTypes": schema.ImageTypes}, " as const"},
		{"/** The synced tables by name (schema.Tables). */", "export const tables", tables,
			" as const satisfies Readonly<Record<string, Table>>"},
		{"/** The tables in schema.Tables' order (the keys above are sorted): a device pushes its pending\n * changes in this order, and two implementations must send the same request. */",
			"export const tableOrder", order, " as const"},
		{"/** What column checks say, by kind (schema.CheckMessages). */", "export const checkMessages", checks,
			" as const satisfies Readonly<Record<string, CheckMessage>>"},
		{"/** The formats of refusals about a record's shape (schema.UnknownTableFormat, UnknownFieldFormat,\n * RequiredFormat); messagesZH holds their Chinese. */",
			"export const recordMessages", schema.RecordMessages(), " as const"},
		{"/** How a column check's message holds both languages: English, the column's Chinese name, the Chinese. */",
			"export const checkWrap", schema.CheckWrap(), ""},
		{"/** The Chinese of every English format a refusal is made from (schema's catalogue). */",
			"export const messagesZH: Readonly<Record<string, string>>", schema.Translations(), ""},
		{"/** Chinese names of request fields that are not a table's or a column's. */",
			"export const fieldsZH: Readonly<Record<string, string>>", fields, ""},
		{"/** What comes between a field and its message. */", "export const separators",
			map[string]string{"en": schema.Separator(schema.EN), "zh": schema.Separator(schema.ZH)}, " as const"},
		{"/** The volunteer forms and the defaults they fill (schema.Forms). */", "export const forms", forms,
			" as const satisfies readonly Form[]"},
		{"/** The villages every device starts with (schema.SeedVillages; record.Seeds): fixed ids, written by\n * seedWrite's replica at its time, so they are in sync everywhere without syncing. */",
			"export const seedVillages", villages, " as const"},
		{"/** The words for the enumerations' values (schema.ValueNames): value → language → words. */",
			"export const valueNames: Readonly<Record<string, Readonly<Record<\"zh\" | \"en\", string>>>>", schema.ValueNames(), ""},
		{"/** Who wrote the seed records and when (schema.SeedReplica, SeedTime in Unix ms). */",
			"export const seedWrite", map[string]int64{"replica": schema.SeedReplica, "ms": schema.SeedTime.UnixMilli()}, " as const"},
	}
	for _, s := range steps {
		if err := emit(s.doc, s.decl, s.v, s.suffix); err != nil {
			return nil, err
		}
	}
	// The tables are long lists of short numbers: one line each.
	for _, u := range []struct {
		doc, decl string
		v         []int32
	}{
		{"/** Go's unicode.ToLower (Unicode " + unicode.Version + ") as runs lo, hi, stride, delta (rules/gofmt.ts goLower). */",
			"export const goLowerRuns: readonly number[]", lowerRuns()},
		{"/** Go's unicode.IsPrint (Unicode " + unicode.Version + ") as alternating run lengths from U+0000, not printable first (rules/gofmt.ts goQuote). */",
			"export const goPrintRuns: readonly number[]", printRuns()},
	} {
		j, err := json.Marshal(u.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u.decl, err)
		}
		fmt.Fprintf(&b, "%s\n%s = %s;\n\n", u.doc, u.decl, j)
	}
	b.WriteString("export type TableName = keyof typeof tables;\n")
	return b.Bytes(), nil
}
