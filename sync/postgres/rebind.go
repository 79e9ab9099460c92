package postgres

import (
	"strconv"
	"strings"
	"sync"
)

var rebound sync.Map // statement with ? -> with $n

// Rebind turns a statement written with ? placeholders into PostgreSQL's
// $1, $2, ...: the store writes each statement once for both engines.
// ?N is $N, and a bare ? after it is the next number, as in SQLite.
// A ? inside a quoted string or identifier is left alone; the store's
// statements use no comments, escape strings (E'...') or dollar quoting, which this
// does not read (a quote inside them would throw the count). Results are
// cached: the store runs the same few hundred statements again and again.
func Rebind(q string) string {
	if v, ok := rebound.Load(q); ok {
		return v.(string)
	}
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			// ?N is parameter N; a bare ? the one after the highest so
			// far, as SQLite numbers them.
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			if j > i+1 {
				k, _ := strconv.Atoi(q[i+1 : j])
				n = max(n, k)
				b.WriteString("$" + q[i+1:j])
				i = j - 1
				continue
			}
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	out := b.String()
	rebound.Store(q, out)
	return out
}
