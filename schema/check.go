package schema

import (
	"fmt"
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

// futureSlack is how far ahead of the checker's clock a date may be: a
// device a few hours ahead (or in another time zone) is fine, a wrong year
// is not.
const futureSlack = 24 * time.Hour

// minYear bounds dates from below: the programs began long after it, so an
// earlier year is a typing mistake (and would make reports span centuries).
const minYear = 2000

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
			return c.fail("is required", "不能为空")
		}
		return nil
	}
	if v.Type != c.Type {
		return fmt.Errorf("%s: want %s, got %s", c.Name, c.Type, v.Type)
	}
	switch v.Type {
	case Text:
		return c.checkText(v.Text, env)
	case Integer:
		if (c.Min != 0 || c.Max != 0) && (v.Int < c.Min || v.Int > c.Max) {
			return c.fail(fmt.Sprintf("%d is outside %d–%d", v.Int, c.Min, c.Max),
				fmt.Sprintf("应在%d到%d之间，实为%d", c.Min, c.Max, v.Int))
		}
	case Real:
		if math.IsNaN(v.Real) || math.IsInf(v.Real, 0) {
			return c.fail(fmt.Sprintf("%v is not a finite number", v.Real), "应为有限数值")
		}
		if v.Real < 0 {
			return c.fail(fmt.Sprintf("%v is negative", v.Real), "不能为负数")
		}
	}
	return nil
}

func (c *Column) fail(en, zh string) error {
	return fmt.Errorf("%s: %s (%s%s)", c.Name, en, c.ZH, zh)
}

func (c *Column) checkText(s string, env Env) error {
	if len(s) > MaxTextBytes {
		return fmt.Errorf("%s: text of %d bytes is longer than the limit of %d", c.Name, len(s), MaxTextBytes)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("%s: text is not valid UTF-8 or contains a NUL character", c.Name)
	}
	if r, at := ControlChar(s, c.Multiline); at > 0 {
		what := "line breaks, tabs and other control characters"
		if c.Multiline {
			what = "control characters other than line breaks and tabs"
		}
		return c.fail(fmt.Sprintf("contains the control character %U at character %d; the field may not hold %s",
			r, at, what), "不能包含控制字符")
	}
	if n := utf8.RuneCountInString(s); c.MaxRunes > 0 && n > c.MaxRunes {
		return c.fail(fmt.Sprintf("%d characters is longer than the limit of %d", n, c.MaxRunes),
			fmt.Sprintf("不能超过%d个字", c.MaxRunes))
	}
	if len(c.Enum) > 0 && !slices.Contains(c.Enum, s) {
		return c.fail(fmt.Sprintf("%q is not one of %s", s, strings.Join(c.Enum, ", ")), "取值无效")
	}
	switch c.Format {
	case Date:
		t, err := time.Parse(time.DateOnly, s)
		if err != nil || !dateRE.MatchString(s) {
			return c.fail(fmt.Sprintf("%q is not a date like 2024-06-03", s), "日期格式应为2024-06-03")
		}
		if t.Year() < minYear {
			return c.fail(fmt.Sprintf("%s is before %d (a mistyped year?)", s, minYear), fmt.Sprintf("日期不能早于%d年", minYear))
		}
		if !c.Future && !env.Now.IsZero() && t.After(env.Now.Add(futureSlack)) {
			return c.fail(fmt.Sprintf("%s is more than a day in the future", s), "日期不能晚于明天")
		}
	case Clock:
		if !clockRE.MatchString(s) {
			return c.fail(fmt.Sprintf("%q is not a time like 19:00", s), "时间格式应为19:00")
		}
	case DateTime:
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return c.fail(fmt.Sprintf("%q is not a time like 2024-06-03T19:00:00+08:00", s), "时间格式应为2024-06-03T19:00:00+08:00")
		}
		if t.Year() < minYear {
			return c.fail(fmt.Sprintf("%s is before %d (a mistyped year?)", s, minYear), fmt.Sprintf("时间不能早于%d年", minYear))
		}
		if !env.Now.IsZero() && t.After(env.Now.Add(futureSlack)) {
			return c.fail(fmt.Sprintf("%s is more than a day in the future", s), "时间不能晚于明天")
		}
	case ISBN:
		if !ValidISBN(s) {
			return c.fail(fmt.Sprintf("%q is not a valid ISBN-10 or ISBN-13 (check digit)", s), "无效（校验位不符）")
		}
	case Village:
		if env.Villages != nil {
			canon, ok := env.Villages.Canonical(s)
			switch {
			case !ok:
				return c.fail(fmt.Sprintf("%q is not a known village (known: %s)", s, strings.Join(env.Villages.Names(), ", ")),
					"不是已登记的村")
			case canon != s:
				return c.fail(fmt.Sprintf("%q is another spelling of %s; records hold %s", s, canon, canon), "应写作"+canon)
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
