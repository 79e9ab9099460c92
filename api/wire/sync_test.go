package wire_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// sampleRecord is a state with every kind of value, a tombstone and a
// feed position.
func sampleRecord(id string, seq uint64) *record.Record {
	d := vv.Dot{Replica: 7, Counter: 2, HLC: 1 << 40}
	return &record.Record{Table: "books", ID: id, Version: vv.VV{1: 3, 7: 2}, Seq: seq,
		Fields: map[string]record.Field{
			"title":   {Value: schema.TextValue("小王子"), Dot: d},
			"copy_no": {Value: schema.IntValue(2), Dot: d},
			"price":   {Value: schema.RealValue(2.5), Dot: d},
			"notes":   {Value: schema.Value{}, Dot: vv.Dot{Replica: 1, Counter: 3, HLC: 5}},
		},
		Tombstone: &record.Tombstone{Dot: vv.Dot{Replica: 7, Counter: 1, HLC: 3}, Context: vv.VV{7: 1}},
	}
}

// allSet fails the test if a field of the struct v points to is its zero
// value: a sample that sets every field makes the round trip check every
// field, including ones added later.
func allSet(t *testing.T, v any) {
	t.Helper()
	s := reflect.ValueOf(v).Elem()
	for i := range s.NumField() {
		if s.Field(i).IsZero() {
			t.Errorf("%s.%s is not set in the sample", s.Type().Name(), s.Type().Field(i).Name)
		}
	}
}

func TestRequestRoundTrip(t *testing.T) {
	in := &protocol.Request{Replica: 7, ServerID: 0x1234_5678_9abc_def0, Incarnation: 0x0fed_cba9_8765_4321,
		Cursor: 42, ScopeHash: 0x5555, FullPull: true, PageLimit: 500, SchemaVersion: 2,
		Changes: []protocol.Change{
			{Record: sampleRecord("0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", 0)},
			{Record: sampleRecord("0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e70", 0)},
		}}
	allSet(t, in)
	out := wire.FromRequest(wire.Request(in))
	if !reflect.DeepEqual(out, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	prob := &record.Problem{Code: record.CodePermissionDenied, Field: "books.village", Msg: "not one of your villages"}
	in := &protocol.Response{ServerID: 0x1234_5678_9abc_def0, Incarnation: 0x0fed_cba9_8765_4321, ServerHLC: 1 << 41,
		Restored: true, Repull: true, Horizon: 9,
		Results: []protocol.Result{
			{Outcome: record.Merged, Current: sampleRecord("0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", 11), Conflicts: 2, Seq: 11},
			{Outcome: record.Rejected, Problem: prob, Current: sampleRecord("0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e70", 4)},
			{Outcome: record.Applied, Seq: 12},
			{Outcome: record.AlreadyHad, Seq: 3},
		},
		Records:       []*record.Record{sampleRecord("0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e71", 10)},
		NextCursor:    12,
		HasMore:       true,
		Evicted:       []protocol.RecordRef{{Table: "loans", ID: "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e72"}},
		Rescoped:      true,
		Scope:         []string{"南香村", "旺渔村"},
		AllVillages:   true,
		ScopeHash:     0x5555,
		SchemaVersion: 2,
		OldestApp:     1,
	}
	allSet(t, in)
	out, err := wire.FromResponse(wire.Response(in))
	if err != nil {
		t.Fatal(err)
	}
	// The wire carries a problem's code and its whole message; the field
	// it names is part of the message then.
	if p := out.Results[1].Problem; p == nil || p.Code != prob.Code || p.Error() != prob.Error() {
		t.Errorf("problem: got %+v, want %+v", p, prob)
	}
	want := *in
	want.Results = append([]protocol.Result(nil), in.Results...)
	want.Results[1].Problem = &record.Problem{Code: prob.Code, Msg: prob.Error()}
	if !reflect.DeepEqual(out, &want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, &want)
	}
	m := wire.Response(in)
	for i, r := range m.GetResults() {
		if r.GetIndex() != uint32(i) {
			t.Errorf("results[%d] has index %d", i, r.GetIndex())
		}
	}
}

// A change the server cannot read becomes a change with its problem; the
// others are read as usual.
func TestFromRequestKeepsABadChangesProblem(t *testing.T) {
	good := fuzzBook()
	dup := fuzzBook()
	dup.Fields = append(dup.Fields, dup.Fields[0])
	undotted := fuzzBook()
	undotted.Fields[1].Dot = nil
	req := wire.FromRequest(fuzzRequest(dup, good, undotted))
	if len(req.Changes) != 3 {
		t.Fatalf("%d changes, want 3", len(req.Changes))
	}
	for i, want := range map[int]string{0: `fields[3]: field "village" appears twice`, 2: "books.library.dot: missing"} {
		c := req.Changes[i]
		if c.Record != nil || c.Problem == nil || c.Problem.Code != record.CodeInvalidArgument || c.Problem.Error() != want {
			t.Errorf("changes[%d]: %+v, want no record and invalid_argument %q", i, c, want)
		}
	}
	if c := req.Changes[1]; c.Problem != nil || c.Record == nil || c.Record.ID != good.GetId() {
		t.Errorf("changes[1]: %+v, want the good book", c)
	}
}

// A device refuses a response carrying a state it could not store as sent
// (a counter beyond SQLite's integers, a number that is not finite, which
// SQLite would store as NULL): the whole response fails, so its cursor does
// not move past it, and nothing is stored wrong.
func TestFromResponseRefusesAStateNoReplicaCanStore(t *testing.T) {
	tests := []struct {
		name   string
		poison func(r *record.Record)
		want   string
	}{
		{"counter 2^63", func(r *record.Record) { r.Version[1] = 1 << 63 }, "version: replica 1 has counter"},
		{"tombstone context 2^64-1", func(r *record.Record) { r.Tombstone.Context[7] = math.MaxUint64 },
			"tombstone.context: replica 7 has counter"},
		{"NaN", func(r *record.Record) { r.Fields["price"] = record.Field{Value: schema.RealValue(math.NaN())} },
			"books.price: NaN is not a finite number"},
		{"Inf", func(r *record.Record) { r.Fields["price"] = record.Field{Value: schema.RealValue(math.Inf(1))} },
			"books.price: +Inf is not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := sampleRecord("0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", 9)
			tt.poison(rec)
			for where, resp := range map[string]*protocol.Response{
				"pulled":  {Records: []*record.Record{rec}},
				"current": {Results: []protocol.Result{{Outcome: record.Merged, Current: rec}}},
			} {
				got, err := wire.FromResponse(wire.Response(resp))
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("%s: FromResponse = %+v, %v; want an error saying %q", where, got, err, tt.want)
				}
			}
		})
	}
}
