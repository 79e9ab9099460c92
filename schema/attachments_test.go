package schema

import (
	"strings"
	"testing"
)

func TestAttachmentsCheck(t *testing.T) {
	a, b := strings.Repeat("a", 64), strings.Repeat("0123456789abcdef", 4)
	sheet := byName["tutoring_sessions"].Column("sheet_photos")
	cover := byName["books"].Column("cover")
	for _, c := range []struct {
		col  *Column
		text string
		want string // a part of the error; "" for none
	}{
		{sheet, "", ""},
		{sheet, a, ""},
		{sheet, a + "," + b, ""},
		{sheet, strings.Join([]string{a, b, a[:63] + "b", b[:63] + "0"}, ","), ""},
		{sheet, strings.Join([]string{a, b, a[:63] + "b", b[:63] + "0", a[:63] + "c"}, ","), "names 5 attachments, at most 4"},
		{sheet, a + "," + a, "twice"},
		{sheet, strings.ToUpper(a), "not an attachment's SHA-256 digest"},
		{sheet, a[:63], "not an attachment's SHA-256 digest"},
		{sheet, a + ",", `"" is not an attachment's`},
		{sheet, a + ", " + b, "not an attachment's SHA-256 digest"},
		{cover, a, ""},
		{cover, a + "," + b, "at most 1"},
	} {
		err := c.col.Check(TextValue(c.text))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s %q: %v", c.col.Name, c.text, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s %q: got %v, want an error saying %q", c.col.Name, c.text, err, c.want)
		}
	}
}

// Every column added after the first schema says which version added it,
// and Version is at least the newest: a device holds back a change to a
// column newer than its server by Since, so a wrong Since would push a
// field an older server refuses, or hold one back for good.
func TestVersionsCoverTheColumns(t *testing.T) {
	newest := 1
	for _, tb := range Tables() {
		for _, c := range tb.Columns {
			newest = max(newest, c.Since)
			if c.Format == Attachments && (c.Since < 2 || c.MaxItems < 1) {
				t.Errorf("%s.%s: attachments came with version 2 and name at least one (Since %d, MaxItems %d)",
					tb.Name, c.Name, c.Since, c.MaxItems)
			}
		}
	}
	if newest != Version {
		t.Errorf("the newest column is of version %d, Version is %d", newest, Version)
	}
	if OldestApp < 1 || OldestApp > Version {
		t.Errorf("OldestApp %d is outside 1–%d", OldestApp, Version)
	}
}
