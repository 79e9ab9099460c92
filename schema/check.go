package schema

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxTextBytes bounds one text value; longer text is a mistake or an attack.
const MaxTextBytes = 16 << 10

// Env is what checks need beyond the value: the time, and which villages
// exist. The zero Env skips the checks that need it.
type Env struct {
	Now      time.Time
	Villages *Villages
}

// FutureSlack is how far ahead of the checker's clock a date may be: a
// device a few hours ahead (or in another time zone) is fine, a wrong year
// is not.
const FutureSlack = 24 * time.Hour

// MinYear bounds dates from below: the programs began long after it, so an
// earlier year is a typing mistake (and would make reports span centuries).
const MinYear = 2000

var (
	dateRE  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	clockRE = regexp.MustCompile(`^([01]\d|2[0-3]):[0-5]\d$`)
)

// Check reports whether v may be stored in column c, as far as the value
// alone tells. Messages name the field, in English and Chinese.
func (c *Column) Check(v Value) error {
	return c.CheckIn(v, Env{})
}

// CheckIn is Check plus the checks that need env (village exists, date
// not in the future).
func (c *Column) CheckIn(v Value, env Env) error {
	if v.IsNull() {
		if c.Required {
			return c.fail("required")
		}
		return nil
	}
	if v.Type != c.Type {
		return c.fail("type", c.Type, v.Type)
	}
	switch v.Type {
	case Text:
		return c.checkText(v.Text, env)
	case Integer:
		if (c.Min != 0 || c.Max != 0) && (v.Int < c.Min || v.Int > c.Max) {
			return c.fail("range", v.Int, c.Min, c.Max)
		}
	case Real:
		if math.IsNaN(v.Real) || math.IsInf(v.Real, 0) {
			return c.fail("not_finite", v.Real)
		}
		if v.Real < 0 {
			return c.fail("negative", v.Real)
		}
	}
	return nil
}

// fail is the named check message (CheckMessages) for c, a *CheckError.
func (c *Column) fail(kind string, args ...any) error {
	en, zh := c.say(kind, args...)
	return &CheckError{Column: c.Name, EN: en, ZH: zh}
}

func (c *Column) checkText(s string, env Env) error {
	if len(s) > MaxTextBytes {
		return c.fail("bytes", len(s), MaxTextBytes)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return c.fail("utf8")
	}
	if r, at := ControlChar(s, c.Multiline); at > 0 {
		what := sayAs("control_line")
		if c.Multiline {
			what = sayAs("control_lines")
		}
		return c.fail("control", r, at, what)
	}
	if n := utf8.RuneCountInString(s); c.MaxRunes > 0 && n > c.MaxRunes {
		return c.fail("runes", n, c.MaxRunes)
	}
	if len(c.Enum) > 0 && !slices.Contains(c.Enum, s) {
		return c.fail("enum", s, strings.Join(c.Enum, ", "))
	}
	switch c.Format {
	case Date:
		t, err := time.Parse(time.DateOnly, s)
		if err != nil || !dateRE.MatchString(s) {
			return c.fail("date", s)
		}
		if t.Year() < MinYear {
			return c.fail("date_year", s, MinYear)
		}
		if !c.Future && !env.Now.IsZero() && t.After(env.Now.Add(FutureSlack)) {
			return c.fail("date_future", s)
		}
	case Clock:
		if !clockRE.MatchString(s) {
			return c.fail("clock", s)
		}
	case DateTime:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return c.fail("datetime", s)
		}
		if t.Year() < MinYear {
			return c.fail("datetime_year", s, MinYear)
		}
		if !env.Now.IsZero() && t.After(env.Now.Add(FutureSlack)) {
			return c.fail("datetime_future", s)
		}
	case ISBN:
		if !ValidISBN(s) {
			return c.fail("isbn", s)
		}
	case Attachments:
		digests := SplitAttachments(s)
		if len(digests) > c.MaxItems {
			return c.fail("attachment_count", len(digests), c.MaxItems)
		}
		for i, d := range digests {
			if !ValidDigest(d) {
				return c.fail("attachment_digest", d)
			}
			if slices.Contains(digests[:i], d) {
				return c.fail("attachment_repeat", d)
			}
		}
	case Village:
		if env.Villages != nil {
			canon, ok := env.Villages.Canonical(s)
			switch {
			case !ok:
				return c.fail("village_unknown", s, strings.Join(env.Villages.Names(), ", "))
			case canon != s:
				return c.fail("village_spelling", s, canon, canon)
			}
		}
	}
	return nil
}

// ValidISBN checks an ISBN-10 or ISBN-13, hyphens and spaces allowed
// anywhere; an ISBN-10's check character may be X.
func ValidISBN(s string) bool {
	var d []int
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			d = append(d, int(r-'0'))
		case r == 'X' || r == 'x':
			d = append(d, 10)
		case r == '-' || r == ' ':
		default:
			return false
		}
	}
	switch len(d) {
	case 10:
		sum := 0
		for i, v := range d {
			if v == 10 && i != 9 {
				return false
			}
			sum += (10 - i) * v
		}
		return sum%11 == 0
	case 13:
		sum := 0
		for i, v := range d {
			if v == 10 {
				return false
			}
			if i%2 == 1 {
				v *= 3
			}
			sum += v
		}
		return sum%10 == 0
	}
	return false
}

// MissingRequired names the required columns fields lacks (or holds NULL).
func (t *Table) MissingRequired(has func(name string) bool) []string {
	var missing []string
	for _, c := range t.Columns {
		if c.Required && !has(c.Name) {
			missing = append(missing, c.Name)
		}
	}
	return missing
}
