package schema

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A control character in a name or a field is either a mistake (a stray
// tab from a spreadsheet) or an attack: ESC and CSI start terminal escape
// sequences, which staff tools would otherwise print to a terminal as they
// are (recolouring it, moving the cursor, retitling the window, in some
// terminals writing files), and the bidirectional overrides make a name
// display as another. Text that has a use for line breaks and tabs (notes)
// may hold those; nothing holds the rest.

// isBidiControl reports the embeddings, overrides and isolates of Unicode's
// bidirectional algorithm (U+202A–U+202E, U+2066–U+2069).
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// IsControl reports the characters no text shown to people needs: C0, DEL,
// C1 and the bidirectional controls.
func IsControl(r rune) bool { return unicode.IsControl(r) || isBidiControl(r) }

// ControlChar returns the first control character in s, and its position
// in characters from 1, or 0 when there is none. multiline allows tab,
// line feed and carriage return (free text such as notes).
func ControlChar(s string, multiline bool) (r rune, at int) {
	n := 0
	for _, c := range s {
		n++
		if multiline && (c == '\t' || c == '\n' || c == '\r') {
			continue
		}
		if IsControl(c) {
			return c, n
		}
	}
	return 0, 0
}

// CheckName reports whether s may be a name (of a device, a user, a
// village): no control characters at all. The message leaves the field
// for the caller to name.
func CheckName(s string) error {
	if r, at := ControlChar(s, false); at > 0 {
		return Messagef("contains the control character %U at character %d; "+
			"a name may not hold control characters or terminal escapes (不能包含控制字符)", r, at)
	}
	return nil
}

// Printable returns s fit for a terminal: every control character written
// as a Go escape (\x1b, \u009b, \u202e), so what a device or a record
// wrote cannot drive the staff's terminal. keepLines leaves line feeds
// and tabs alone, for text laid out in lines (an error listing rows).
// Text without control characters comes back as it is, unallocated.
func Printable(s string, keepLines bool) string {
	escape := func(r rune) bool { return IsControl(r) && !(keepLines && (r == '\n' || r == '\t')) }
	// Invalid UTF-8 goes the slow way too: a lone byte 0x9b is CSI to a
	// terminal in an 8-bit mode; written out it becomes U+FFFD.
	if utf8.ValidString(s) && !strings.ContainsFunc(s, escape) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x80 && IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case IsControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
