package store

import (
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// A volunteer reads records of her villages and every reference record.
func TestMayReadByScope(t *testing.T) {
	vol := Principal{Role: Volunteer, Villages: []string{"南香村"}}
	in := func(table, village string) *record.Record {
		r := &record.Record{Table: table, Fields: map[string]record.Field{}}
		if village != "" {
			r.Fields["village"] = record.Field{Value: schema.TextValue(village)}
		}
		return r
	}
	for _, tt := range []struct {
		r    *record.Record
		want bool
	}{
		{in("books", "南香村"), true},
		{in("books", "东旺村"), false},
		{in("books", ""), true}, // a delete carries no fields
		{in("villages", ""), true},
	} {
		if got := vol.MayRead(tt.r); got != tt.want {
			t.Errorf("MayRead(%s %v) = %v", tt.r.Table, tt.r.Fields, got)
		}
		if !(Principal{Role: Staff}).MayRead(tt.r) {
			t.Errorf("staff may not read %s %v", tt.r.Table, tt.r.Fields)
		}
	}
}

// No enrollment code starts with "-": a command line would read it as a
// flag (one code in 64 did, and `device enroll CODE` failed).
func TestEnrollmentCodesNeverLookLikeFlags(t *testing.T) {
	for range 5000 {
		if c := newEnrollmentCode(); c[0] == '-' || len(c) != 20 {
			t.Fatalf("enrollment code %q", c)
		}
	}
}
