package record_test

import (
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

func TestOverrules(t *testing.T) {
	null := schema.Value{}
	text := schema.TextValue
	cases := []struct {
		name          string
		table, field  string
		winner, loser schema.Value // as the clock decided
		want          bool
	}{
		{"status: the clock kept an earlier status", "cleanup_tasks", "status", text("in_progress"), text("done"), true},
		{"status: the clock kept the later status", "cleanup_tasks", "status", text("checked"), text("reported"), false},
		{"return: the clock kept no return", "loans", "returned_on", null, text("2024-06-10"), true},
		{"return: two dates", "loans", "returned_on", text("2024-06-11"), text("2024-06-10"), false},
		{"ordinary field", "cleanup_tasks", "place", text("a"), text("b"), false},
		{"unknown table", "pets", "status", text("in_progress"), text("done"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := record.Conflict{Table: tc.table, Field: tc.field, Kind: record.KindField,
				Winner: record.Field{Value: tc.winner, Dot: vv.Dot{Replica: 2, Counter: 1, HLC: 200}},
				Loser:  record.Field{Value: tc.loser, Dot: vv.Dot{Replica: 3, Counter: 1, HLC: 100}}}
			if got := record.Overrules(c); got != tc.want {
				t.Errorf("Overrules = %v, want %v", got, tc.want)
			}
		})
	}
}
