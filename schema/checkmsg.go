package schema

import (
	"fmt"
	"strings"
)

// CheckMessage is what a column check says, in English and Chinese, as
// fmt formats over the same arguments (a Chinese format may pick them by
// index, %[2]d). A column's message is "EN (列名ZH)" in English (the
// Chinese names the column itself) and "列名ZH" in Chinese (CheckError).
// A Chinese format without verbs is said as it is. The
// formats are data, not code, so the web app (generated from them by
// schema/internal/tsgen) says exactly what the server says.
type CheckMessage struct{ EN, ZH string }

// Column check messages, by what they say. Messages with no Chinese
// (ZH empty) are not wrapped with the column's name: they are about the
// wire, not about what a person typed.
var CheckMessages = map[string]CheckMessage{
	"required":          {"is required", "不能为空"},
	"type":              {"want %s, got %s", ""},
	"range":             {"%d is outside %d–%d", "应在%[2]d到%[3]d之间，实为%[1]d"},
	"not_finite":        {"%v is not a finite number", "应为有限数值"},
	"negative":          {"%v is negative", "不能为负数"},
	"bytes":             {"text of %d bytes is longer than the limit of %d", ""},
	"utf8":              {"text is not valid UTF-8 or contains a NUL character", ""},
	"control":           {"contains the control character %U at character %d; the field may not hold %s", "不能包含控制字符"},
	"control_line":      {"line breaks, tabs and other control characters", ""},
	"control_lines":     {"control characters other than line breaks and tabs", ""},
	"runes":             {"%d characters is longer than the limit of %d", "不能超过%[2]d个字"},
	"enum":              {"%q is not one of %s", "取值无效"},
	"date":              {"%q is not a date like 2024-06-03", "日期格式应为2024-06-03"},
	"date_year":         {"%s is before %d (a mistyped year?)", "日期不能早于%[2]d年"},
	"date_future":       {"%s is more than a day in the future", "日期不能晚于明天"},
	"clock":             {"%q is not a time like 19:00", "时间格式应为19:00"},
	"datetime":          {"%q is not a time like 2024-06-03T19:00:00+08:00", "时间格式应为2024-06-03T19:00:00+08:00"},
	"datetime_year":     {"%s is before %d (a mistyped year?)", "时间不能早于%[2]d年"},
	"datetime_future":   {"%s is more than a day in the future", "时间不能晚于明天"},
	"isbn":              {"%q is not a valid ISBN-10 or ISBN-13 (check digit)", "无效（校验位不符）"},
	"attachment_digest": {"%q is not an attachment's SHA-256 digest (64 lowercase hex digits; several are comma-separated)", "附件标识无效"},
	"attachment_repeat": {"names attachment %s twice", "同一附件不能出现两次"},
	"attachment_count":  {"names %d attachments, at most %d", "最多%[2]d个附件，实为%[1]d个"},
	"village_unknown":   {"%q is not a known village (known: %s)", "不是已登记的村"},
	"village_spelling":  {"%q is another spelling of %s; records hold %s", "应写作%[2]s"},
	// Column.Parse: text typed by a person that is not of the column's
	// type (said by the forms, not the server).
	"parse_integer": {"want an integer, got %q", ""},
	"parse_number":  {"want a number, got %q", ""},
	"parse_bool":    {"want true or false, got %q", ""},
	// The rules between a record's dates (DateOrder), said of the later
	// column, the earlier's Chinese name last: the English picks its
	// arguments by index so fmt does not print the one it leaves.
	"order_before": {"%[1]s is before %[2]s %[3]s", "不能早于%[4]s"},
	"order_within": {"%[1]s is more than %[2]d days after %[3]s %[4]s", "不能晚于%[5]s%[2]d天以上"},
}

// The formats of the refusals about a record's shape rather than a
// column's value (Lookup's, and sync/record's Validate and
// CheckRequired): named here so the web app's check.ts is generated the
// very words and looks up the same Chinese (messages_zh.go).
const (
	UnknownTableFormat = "unknown table %q (known: %s)"
	UnknownFieldFormat = "unknown field (known: %s)"
	RequiredFormat     = "is required (%s不能为空)"
)

// RecordMessages are those formats by what they say, as tsgen emits them.
func RecordMessages() map[string]string {
	return map[string]string{"unknown_table": UnknownTableFormat, "unknown_field": UnknownFieldFormat,
		"required": RequiredFormat}
}

// checkWrap is how a column's message holds both languages.
const checkWrap = "%s (%s%s)"

// CheckWrap is the format of a column check's message, from the English,
// the column's Chinese name and the Chinese: "%s (%s%s)".
func CheckWrap() string { return checkWrap }

// CheckError is a column check's refusal in both languages. Its Error is
// the English as the CLI, the logs and the wire have always said it,
// "children_present: 250 is outside 0–200 (出席儿童数应在0到200之间，实为250)";
// ZH is the Chinese alone, "出席儿童数应在0到200之间，实为250", so a volunteer
// reading Chinese is not shown English (record.Problem keeps it for In).
// A kind with no Chinese (about the wire, not what a person typed) has
// the English in ZH too.
type CheckError struct {
	// Column is the column's name, which Error puts before the English;
	// empty for a date order's refusal, which its caller names.
	Column string
	EN, ZH string
}

func (e *CheckError) Error() string {
	if e.Column == "" {
		return e.EN
	}
	return e.Column + ": " + e.EN
}

// In is the message in l, without the column's name.
func (e *CheckError) In(l Lang) string {
	if l == ZH {
		return e.ZH
	}
	return e.EN
}

// say formats the named check message in English and, when it has
// Chinese, wraps both with c's Chinese name; zh is the Chinese after the
// name, or the English when the kind has no Chinese.
func (c *Column) say(kind string, args ...any) (en, zh string) {
	m, ok := CheckMessages[kind]
	if !ok {
		panic("schema: no check message " + kind)
	}
	en = fmt.Sprintf(m.EN, args...)
	if m.ZH == "" {
		return en, en
	}
	zh = m.ZH
	if strings.Contains(zh, "%") {
		zh = fmt.Sprintf(zh, args...)
	}
	return fmt.Sprintf(checkWrap, en, c.ZH, zh), c.ZH + zh
}

// sayAs is say without a column: the message's English alone.
func sayAs(kind string, args ...any) string {
	return fmt.Sprintf(CheckMessages[kind].EN, args...)
}
