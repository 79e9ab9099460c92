package postgres

import "testing"

func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`SELECT a FROM t WHERE id = ? AND b > ?`, `SELECT a FROM t WHERE id = $1 AND b > $2`},
		{`SELECT '?' || ? FROM "we?ird" WHERE x = ?`, `SELECT '?' || $1 FROM "we?ird" WHERE x = $2`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT a FROM t WHERE d = ?1 AND x = ?2 OR d = ?1 LIMIT ?`, `SELECT a FROM t WHERE d = $1 AND x = $2 OR d = $1 LIMIT $3`},
		{`INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			`INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`},
	} {
		if got := Rebind(c.in); got != c.want {
			t.Errorf("Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := Rebind(c.in); got != c.want { // from the cache
			t.Errorf("cached Rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
