package schema

import (
	"strings"
	"testing"
	"time"
)

// fuzzEnv is a checker's clock and villages fixed for the fuzz targets.
var fuzzEnv = Env{Now: time.Date(2024, 6, 3, 19, 0, 0, 0, time.FixedZone("CST", 8*3600)), Villages: Seeded()}

type fuzzCol struct {
	table *Table
	col   *Column
}

// fuzzColumns lists every column of every table, so a fuzzed number
// picks one.
var fuzzColumns = func() (out []fuzzCol) {
	for _, t := range Tables() {
		for i := range t.Columns {
			out = append(out, fuzzCol{t, &t.Columns[i]})
		}
	}
	return out
}()

// FuzzColumnParse reads arbitrary text as a value of a column (picked by
// a fuzzed number, so every column of every table is reached) the way the
// command line does (Column.Parse), and checks it against a fixed
// environment (CheckIn). Nothing may panic; every error names the column
// first; a value Parse accepts reads back from its String() form as the
// same value; and a value the environment accepts is one Check accepts
// (the environment only adds rules).
func FuzzColumnParse(f *testing.F) {
	seeds := []string{
		"", "null", "NULL", " ", "\x00", "\xff\xfe",
		// integers and reals
		"0", "30", " 7 ", "-1", "201", "10000", "10001", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "1_000", "0x10", "+5", "2.5", "-0", "-0.0", "1e400", "1e-400", "4.9e-324",
		"NaN", "inf", "-Inf", "0x1p-2", "1e+06", ".5", "5.",
		// booleans
		"true", "false", "t", "F", "1", "TRUE", "yes",
		// dates, times and clocks
		"2024-06-03", "2024-06-04", "2024-06-05", "1999-12-31", "2024-02-30", "2024-6-3", "２０２４-06-03",
		"19:00", "24:00", "7:00", "19:00:00",
		"2024-06-03T19:00:00+08:00", "2024-06-04T20:00:00+08:00", "2024-06-03T19:00:00Z", "1999-06-03T19:00:00Z",
		"2024-06-03 19:00:00",
		// villages and enums
		"南香村", "东旺村", "旺渔村", "旺鱼村", "Wangyu", "wangyu", " 南香村 ", "北京",
		"children", "party_villagers", "reported", "in_progress", "done", "checked", "Done",
		// ISBNs
		"0-306-40615-2", "0306406153", "080442957X", "080442957x", "0-8044-2957-X", "978-7-02-000220-7",
		"9780306406157", "978030640615X",
		strings.Repeat("字", 201), strings.Repeat("a", 2001),
	}
	for i, s := range seeds {
		f.Add(s, uint16(i))
	}
	for j, fc := range fuzzColumns {
		f.Add("null", uint16(j))
		f.Add(seeds[(7*j)%len(seeds)], uint16(j))
		for _, e := range fc.col.Enum {
			f.Add(e, uint16(j))
		}
		if !fc.col.Default.IsNull() {
			f.Add(fc.col.Default.String(), uint16(j))
		}
	}

	f.Fuzz(func(t *testing.T, s string, pick uint16) {
		fc := fuzzColumns[int(pick)%len(fuzzColumns)]
		fuzzColumn(t, fc.table, fc.col, s)
	})
}

func fuzzColumn(t *testing.T, tbl *Table, c *Column, s string) {
	t.Helper()
	where := tbl.Name + "." + c.Name
	named := func(step string, err error) {
		t.Helper()
		if err != nil && !strings.HasPrefix(err.Error(), c.Name+": ") {
			t.Fatalf("%s: %s(%.200q) error does not start with the column name: %v", where, step, s, err)
		}
	}

	// The raw text as a text value, whatever the column's type.
	raw := TextValue(s)
	errIn := c.CheckIn(raw, fuzzEnv)
	named("CheckIn(text)", errIn)
	errPlain := c.Check(raw)
	named("Check(text)", errPlain)
	if errIn == nil && errPlain != nil {
		t.Fatalf("%s: %.200q passes CheckIn with an environment but not Check: %v", where, s, errPlain)
	}

	v, err := c.Parse(s)
	named("Parse", err)
	if err != nil {
		return
	}
	switch {
	case s == "null" && !v.IsNull():
		t.Fatalf("%s: Parse(\"null\") = %.200v, want NULL", where, v)
	case !v.IsNull() && v.Type != c.Type:
		t.Fatalf("%s: Parse(%.200q) = %.200v, want a %s", where, s, v, c.Type)
	}
	// Parse leaves "null" to the required-field checks; anything else it
	// accepts, Check accepts.
	if err := c.Check(v); err != nil && !v.IsNull() {
		t.Fatalf("%s: Parse(%.200q) accepted %.200v, which Check refuses: %v", where, s, v, err)
	}
	named("CheckIn", c.CheckIn(v, fuzzEnv))

	again, err := c.Parse(v.String())
	if err != nil {
		t.Fatalf("%s: Parse(%.200q) = %.200v, whose String() %.200q does not parse: %v", where, s, v, v.String(), err)
	}
	same := again == v
	if v.Type == Real {
		same = again.Type == Real && again.Real == v.Real
	}
	if !same || !again.Equal(v) {
		t.Fatalf("%s: Parse(%.200q) = %.200v, but Parse(%.200q) = %.200v", where, s, v, v.String(), again)
	}
}

// isbnOracle checks an ISBN written with any hyphens and spaces, the way
// the standard states it: drop the separators; ten characters are an
// ISBN-10 (nine digits and a check character 0-9 or X worth 10, with
// 10·d1 + 9·d2 + … + 1·d10 ≡ 0 mod 11), thirteen digits are an ISBN-13
// (d1 + 3·d2 + d3 + 3·d4 + … + d13 ≡ 0 mod 10). Anything else is not an
// ISBN.
func isbnOracle(s string) bool {
	compact := strings.NewReplacer("-", "", " ", "").Replace(s)
	digit := func(b byte) (int, bool) { return int(b) - '0', b >= '0' && b <= '9' }
	switch len(compact) {
	case 10:
		sum := 0
		for i := 0; i < 10; i++ {
			d, ok := digit(compact[i])
			if !ok && i == 9 && (compact[i] == 'X' || compact[i] == 'x') {
				d, ok = 10, true
			}
			if !ok {
				return false
			}
			sum += (10 - i) * d
		}
		return sum%11 == 0
	case 13:
		sum := 0
		for i := 0; i < 13; i++ {
			d, ok := digit(compact[i])
			if !ok {
				return false
			}
			if i%2 == 1 {
				d *= 3
			}
			sum += d
		}
		return sum%10 == 0
	}
	return false
}

func TestISBNOracle(t *testing.T) {
	for s, want := range map[string]bool{
		"0-306-40615-2": true, "0306406152": true, "0306406153": false,
		"080442957X": true, "0-8044-2957-x": true, "X804429570": false,
		"978-0-306-40615-7": true, "9780306406158": false, "978030640615X": false,
		"": false, "030640615": false, "0３06406152": false,
	} {
		if got := isbnOracle(s); got != want {
			t.Errorf("isbnOracle(%.200q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzValidISBN checks ValidISBN against isbnOracle.
func FuzzValidISBN(f *testing.F) {
	for _, s := range []string{
		"", "0-306-40615-2", "0306406152", "0306406153", "080442957X", "080442957x", "0-8044-2957-X",
		"X804429570", "08044X2957", "978-0-306-40615-7", "978 0 306 40615 7", "9780306406158", "978030640615X",
		"978-7-02-000220-7", "--0306406152--", "0306406152\n", "０306406152", "0306406152X",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidISBN(s), isbnOracle(s); got != want {
			t.Fatalf("ValidISBN(%.200q) = %v, want %v", s, got, want)
		}
	})
}
