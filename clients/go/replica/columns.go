package replica

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
)

// CheckHeader checks the header of a file to import into t, before any
// row is read: every column names a field of t, by its name or its
// Chinese name, and no field is named twice (with both village and 村,
// one of the two would silently win).
func CheckHeader(t *schema.Table, header []string) error {
	return checkColumns(t, header, true)
}

// CheckRowColumns checks rows that name their fields row by row (JSON
// lines, which have no header) for a field named twice, and returns the
// rows that do. An unknown field is left to Import, which reports it with
// its line.
func CheckRowColumns(t *schema.Table, rows []Row) []RowError {
	var bad []RowError
	for _, row := range rows {
		if err := checkColumns(t, slices.Sorted(maps.Keys(row.Cells)), false); err != nil {
			bad = append(bad, RowError{Line: row.Line, Err: err})
		}
	}
	return bad
}

// checkColumns checks that no field is named twice and, if all, that
// every name is a field of t.
func checkColumns(t *schema.Table, names []string, all bool) error {
	byName := map[string]string{"id": "id"}
	for _, c := range t.Columns {
		byName[c.Name], byName[c.ZH] = c.Name, c.Name
	}
	seen := map[string]string{}
	for _, n := range names {
		field, ok := byName[n]
		if !ok && all {
			return fmt.Errorf("column %q is not a field of %s (fields: id, %s; or their Chinese names)",
				n, t.Name, strings.Join(t.ColumnNames(), ", "))
		}
		if !ok {
			continue
		}
		if other, dup := seen[field]; dup {
			return fmt.Errorf("%q and %q are both %s.%s", other, n, t.Name, field)
		}
		seen[field] = n
	}
	return nil
}
