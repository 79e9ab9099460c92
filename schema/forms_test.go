package schema

import (
	"maps"
	"testing"
	"time"
)

func TestFormDefaults(t *testing.T) {
	now := time.Date(2026, 6, 15, 19, 30, 0, 0, time.FixedZone("CST", 8*3600))
	for _, tc := range []struct {
		form  string
		given map[string]string
		want  map[string]string
	}{
		{"log-session", nil, map[string]string{"session_date": "2026-06-15"}},
		{"report-cleanup", nil, map[string]string{"reported_at": "2026-06-15T19:30:00+08:00"}},
		{"report-cleanup", map[string]string{"status": "done"}, map[string]string{
			"reported_at": "2026-06-15T19:30:00+08:00", "finished_at": "2026-06-15T19:30:00+08:00"}},
		{"lend", nil, map[string]string{"lent_on": "2026-06-15", "due_on": "2026-06-29"}},
		// A loan recorded late falls due after it was lent, not after today.
		{"lend", map[string]string{"lent_on": "2025-12-25"}, map[string]string{"lent_on": "2026-06-15", "due_on": "2026-01-08"}},
		{"lend", map[string]string{"lent_on": "not a date"}, map[string]string{"lent_on": "2026-06-15", "due_on": "2026-06-29"}},
		{"return", nil, map[string]string{"returned_on": "2026-06-15"}},
	} {
		f := FormNamed(tc.form)
		if f == nil {
			t.Fatalf("no form %s", tc.form)
		}
		if got := f.FillDefaults(tc.given, now); !maps.Equal(got, tc.want) {
			t.Errorf("%s %v: %v, want %v", tc.form, tc.given, got, tc.want)
		}
		for _, d := range f.Defaults {
			if byName[f.Table].Column(d.Column) == nil {
				t.Errorf("%s fills %s, which %s does not have", f.Name, d.Column, f.Table)
			}
		}
	}
}
