package schema

import (
	"fmt"
	"strings"
)

// Lang is a language the server's messages are said in.
type Lang string

const (
	EN Lang = "en"
	ZH Lang = "zh"
)

// A message the server refuses something with is made once, in English,
// from a format and its arguments; the web console asks for it in Chinese
// too. The formats are the keys of the catalogue (messages_zh.go), so a
// message is translated where it is said, without a second list of
// message ids to keep in step: a test fails when a format used to make one
// has no Chinese, or a translation drops or reorders a verb.

// Sayer is text that can be said in a language: a *Message, a
// record.Problem. An argument of a message that is a Sayer is said in the
// message's language too.
type Sayer interface {
	In(l Lang) string
}

// Message is an error made from an English format and its arguments,
// which Say can also put in Chinese. Its Error is the English.
type Message struct {
	Format string
	Args   []any
}

// Messagef makes a Message.
func Messagef(format string, args ...any) *Message {
	return &Message{Format: format, Args: args}
}

func (m *Message) Error() string { return fmt.Sprintf(m.Format, m.Args...) }

// In is the message in l.
func (m *Message) In(l Lang) string { return Say(l, m.Format, m.Args...) }

// Say formats format with args in l: for ZH the catalogue's Chinese format
// (the English one when it has none), each argument that is a Sayer said in
// l as well. Say(EN, f, args...) is fmt.Sprintf(f, args...).
func Say(l Lang, format string, args ...any) string {
	if l != ZH {
		return fmt.Sprintf(format, args...)
	}
	if zh, ok := zhFormats[format]; ok {
		format = zh
	}
	said := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(Sayer); ok {
			said[i] = s.In(l)
			continue
		}
		said[i] = a
	}
	return fmt.Sprintf(format, said...)
}

// Translation returns the Chinese of an English format, if the catalogue
// has it.
func Translation(format string) (string, bool) {
	zh, ok := zhFormats[format]
	return zh, ok
}

// Translations returns a copy of the catalogue: English format -> Chinese.
func Translations() map[string]string {
	out := make(map[string]string, len(zhFormats))
	for k, v := range zhFormats {
		out[k] = v
	}
	return out
}

// FieldName is how a message in l names a request field ("user",
// "villages", "tutoring_sessions.children_present"): the field itself in
// English; in Chinese each part of a dotted path by the catalogue, a
// table's and a column's by their Chinese names, and a part it does not
// know as it is.
func FieldName(l Lang, field string) string {
	if l != ZH || field == "" {
		return field
	}
	if zh, ok := zhFields[field]; ok {
		return zh
	}
	parts := strings.Split(field, ".")
	var t *Table
	for i, p := range parts {
		switch {
		case t != nil && t.Column(p) != nil:
			parts[i] = t.Column(p).ZH
			t = nil
			continue
		case zhFields[p] != "":
			parts[i] = zhFields[p]
		case byName[p] != nil:
			parts[i] = byName[p].ZH
		}
		t = byName[p]
	}
	return strings.Join(parts, ".")
}

// FieldTranslation returns the Chinese name of a field the catalogue
// lists by name.
func FieldTranslation(field string) (string, bool) {
	zh, ok := zhFields[field]
	return zh, ok
}

// Separator is what comes between a field and its message in l: "user: no
// such user" and "用户：没有此用户".
func Separator(l Lang) string {
	if l == ZH {
		return "："
	}
	return ": "
}

// Words are a few words in English and Chinese, for a message's
// arguments (a flag's "session", 课堂): fmt prints the English.
type Words struct{ EN, ZH string }

func (w Words) String() string { return w.EN }

// In is the words in l (English when they have no Chinese).
func (w Words) In(l Lang) string {
	if l == ZH && w.ZH != "" {
		return w.ZH
	}
	return w.EN
}

// FieldTranslations returns a copy of the field names the catalogue
// lists: request field -> Chinese.
func FieldTranslations() map[string]string {
	out := make(map[string]string, len(zhFields))
	for k, v := range zhFields {
		out[k] = v
	}
	return out
}
