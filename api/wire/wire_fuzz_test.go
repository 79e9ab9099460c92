package wire_test

import (
	"math"
	"testing"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"google.golang.org/protobuf/proto"
)

const (
	fuzzPusher = 7
	fuzzID     = "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f"
)

func fuzzText(name, s string, d *v1.Dot) *v1.Field {
	return &v1.Field{Name: name, Value: &v1.Value{Kind: &v1.Value_Text{Text: s}}, Dot: d}
}

// fuzzBook is a valid push of a new book by fuzzPusher: three fields, each
// stamped with the pusher's first write, version {pusher: 1}.
func fuzzBook() *v1.Record {
	d := &v1.Dot{Replica: fuzzPusher, Counter: 1, Hlc: 1 << 40}
	return &v1.Record{
		Table:   "books",
		Id:      fuzzID,
		Version: &v1.VersionVector{Replicas: []uint32{fuzzPusher}, Counters: []uint64{1}},
		Fields: []*v1.Field{
			fuzzText("village", "南香村", d),
			fuzzText("library", "children", d),
			fuzzText("title", "小王子", d),
		},
	}
}

func fuzzRequest(changes ...*v1.Record) *v1.SyncRequest {
	return &v1.SyncRequest{Replica: fuzzPusher, ServerId: 0x1234_5678_9abc_def0, Cursor: 42,
		Changes: changes, PageLimit: 500}
}

// fuzzSeeds are requests for the corpus: valid ones, and ones broken in
// each way FromRecord or Validate must refuse.
func fuzzSeeds() []*v1.SyncRequest {
	book := fuzzBook

	// A later edit with every value type the books table uses, on a
	// version that includes another replica's writes.
	edit := book()
	d2 := &v1.Dot{Replica: fuzzPusher, Counter: 2, Hlc: 1<<40 + 5}
	edit.Version = &v1.VersionVector{Replicas: []uint32{1, fuzzPusher}, Counters: []uint64{3, 2}}
	edit.Fields = append(edit.Fields,
		&v1.Field{Name: "copy_no", Value: &v1.Value{Kind: &v1.Value_Integer{Integer: 2}}, Dot: d2},
		fuzzText("isbn", "978-7-02-000220-7", d2),
		&v1.Field{Name: "notes", Value: &v1.Value{}, Dot: d2}, // NULL
	)

	deleted := book()
	deleted.Fields = nil
	deleted.Version = &v1.VersionVector{Replicas: []uint32{fuzzPusher}, Counters: []uint64{2}}
	deleted.Tombstone = &v1.Tombstone{
		Dot:     &v1.Dot{Replica: fuzzPusher, Counter: 2, Hlc: 1<<40 + 9},
		Context: &v1.VersionVector{Replicas: []uint32{fuzzPusher}, Counters: []uint64{2}},
	}

	cleanup := &v1.Record{
		Table:   "cleanup_tasks",
		Id:      "0190a6e4-5b7a-7c3e-8f00-000000000001",
		Version: &v1.VersionVector{Replicas: []uint32{fuzzPusher}, Counters: []uint64{1}},
		Fields: []*v1.Field{
			fuzzText("village", "旺渔村", &v1.Dot{Replica: fuzzPusher, Counter: 1, Hlc: 3}),
			fuzzText("kind", "street_sweeping", &v1.Dot{Replica: fuzzPusher, Counter: 1, Hlc: 3}),
			fuzzText("status", "done", &v1.Dot{Replica: fuzzPusher, Counter: 1, Hlc: 3}),
			{Name: "quantity", Value: &v1.Value{Kind: &v1.Value_Real{Real: 2.5}},
				Dot: &v1.Dot{Replica: fuzzPusher, Counter: 1, Hlc: 3}},
		},
	}

	broken := func(change func(r *v1.Record)) *v1.Record {
		r := book()
		change(r)
		return r
	}
	// Poison values: what no replica can store.
	quantity := func(q float64) *v1.Record {
		r := proto.Clone(cleanup).(*v1.Record)
		r.Fields[3].Value = &v1.Value{Kind: &v1.Value_Real{Real: q}}
		return r
	}
	counted := func(c uint64) func(r *v1.Record) {
		return func(r *v1.Record) {
			r.Version.Counters[0] = c
			for _, f := range r.Fields {
				f.Dot = &v1.Dot{Replica: fuzzPusher, Counter: c, Hlc: 1 << 40}
			}
		}
	}
	return []*v1.SyncRequest{
		{},
		fuzzRequest(),
		fuzzRequest(book()),
		fuzzRequest(book(), edit, deleted, cleanup),
		fuzzRequest(
			broken(func(r *v1.Record) { r.Fields = append(r.Fields, r.Fields[0]) }), // field twice
			broken(func(r *v1.Record) { r.Fields[1].Dot = nil }),                    // no dot
			broken(func(r *v1.Record) { r.Version.Counters = nil }),                 // vector lengths differ
			broken(func(r *v1.Record) { r.Version.Counters[0] = 0 }),                // counter 0
			broken(func(r *v1.Record) {
				r.Version.Replicas = append(r.Version.Replicas, fuzzPusher)
				r.Version.Counters = append(r.Version.Counters, 1)
			}), // replica twice
			broken(func(r *v1.Record) { r.Version = nil }),                                                     // empty version
			broken(func(r *v1.Record) { r.Id = "0190A6E4-5B7A-7C3E-8F00-1A2B3C4D5E6F" }),                       // not canonical
			broken(func(r *v1.Record) { r.Table = "pets" }),                                                    // unknown table
			broken(func(r *v1.Record) { r.Fields[2].Name = "colour" }),                                         // unknown field
			broken(func(r *v1.Record) { r.Fields[2].Value = &v1.Value{Kind: &v1.Value_Integer{Integer: 1}} }),  // wrong type
			broken(func(r *v1.Record) { r.Fields[1].Value = &v1.Value{Kind: &v1.Value_Text{Text: "adults"}} }), // not in enum
			broken(func(r *v1.Record) { r.Fields[2].Value = &v1.Value{Kind: &v1.Value_Text{Text: "a\x00b"}} }), // NUL
			broken(func(r *v1.Record) { r.Fields[0].Dot = &v1.Dot{Replica: 3, Counter: 1} }),                   // another replica's dot
			broken(func(r *v1.Record) { r.Fields[0].Dot = &v1.Dot{Replica: fuzzPusher, Counter: 2} }),          // dot outside version
			broken(func(r *v1.Record) { r.Fields = nil }),                                                      // nothing
			broken(func(r *v1.Record) {
				r.Tombstone = &v1.Tombstone{Dot: &v1.Dot{Replica: fuzzPusher, Counter: 1},
					Context: &v1.VersionVector{Replicas: []uint32{1}, Counters: []uint64{1}}}
			}), // delete outside its context
			broken(func(r *v1.Record) {
				r.Tombstone = &v1.Tombstone{Dot: &v1.Dot{Replica: fuzzPusher, Counter: 1},
					Context: &v1.VersionVector{Replicas: []uint32{fuzzPusher}, Counters: []uint64{5}}}
			}), // context beyond the version
			broken(func(r *v1.Record) {
				r.Tombstone = &v1.Tombstone{Context: &v1.VersionVector{Replicas: []uint32{fuzzPusher, 2}, Counters: []uint64{1}}}
			}), // malformed context
			broken(counted(1<<63)),          // a counter SQLite cannot hold
			broken(counted(math.MaxUint64)), // the largest
			broken(func(r *v1.Record) {
				r.Version = &v1.VersionVector{Replicas: []uint32{1, fuzzPusher}, Counters: []uint64{1 << 63, 1}}
			}), // another replica's, beyond the bound
			broken(func(r *v1.Record) {
				r.Tombstone = &v1.Tombstone{Dot: &v1.Dot{Replica: fuzzPusher, Counter: 1},
					Context: &v1.VersionVector{Replicas: []uint32{fuzzPusher}, Counters: []uint64{math.MaxUint64}}}
			}), // a delete's context beyond the bound
			quantity(math.NaN()),
			quantity(math.Inf(1)),
			quantity(math.Inf(-1)),
		),
	}
}

// FuzzSyncRequest decodes arbitrary bytes as a SyncRequest and reads each
// change the way the server does (wire.FromRecord, then record.Validate by
// the request's replica). Nothing may panic; every refusal must be a
// *record.Problem with code invalid_argument naming a field; and a change
// that passes must survive the trip back to the wire unchanged.
func FuzzSyncRequest(f *testing.F) {
	for _, req := range fuzzSeeds() {
		b, err := proto.Marshal(req)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if len(b) > 2 {
			f.Add(b[:len(b)/2]) // cut off mid-message
		}
	}
	f.Add([]byte{0x22, 0xff, 0xff, 0xff, 0xff, 0x0f}) // a change longer than the input
	f.Add([]byte{0x22, 0x02, 0x0a, 0x80})             // a table name that is not UTF-8

	f.Fuzz(func(t *testing.T, data []byte) {
		var req v1.SyncRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			return
		}
		pusher := req.GetReplica()
		for i, m := range req.GetChanges() {
			rec, err := wire.FromRecord(m)
			if err != nil {
				if rec != nil {
					t.Fatalf("change %d: FromRecord returned %+v with error %v", i, rec, err)
				}
				checkProblem(t, "FromRecord", i, err)
				continue
			}
			if rec == nil {
				t.Fatalf("change %d: FromRecord returned neither a record nor an error", i)
			}
			before := rec.Clone()
			if err := record.Validate(rec, pusher); err != nil {
				checkProblem(t, "Validate", i, err)
				continue
			}
			if !rec.Equal(before) {
				t.Fatalf("change %d: Validate modified the record", i)
			}

			b, err := proto.Marshal(wire.Record(rec))
			if err != nil {
				t.Fatalf("change %d: marshalling accepted record %+v: %v", i, rec, err)
			}
			var back v1.Record
			if err := proto.Unmarshal(b, &back); err != nil {
				t.Fatalf("change %d: unmarshalling accepted record %+v: %v", i, rec, err)
			}
			again, err := wire.FromRecord(&back)
			if err != nil {
				t.Fatalf("change %d: accepted record %+v does not read back: %v", i, rec, err)
			}
			if !again.Equal(rec) {
				t.Fatalf("change %d: round trip changed the record:\n got %+v\nwant %+v", i, again, rec)
			}
			if err := record.Validate(again, pusher); err != nil {
				t.Fatalf("change %d: accepted record %+v is refused after a round trip: %v", i, rec, err)
			}
		}
	})
}

func checkProblem(t *testing.T, step string, i int, err error) {
	t.Helper()
	p, ok := err.(*record.Problem)
	switch {
	case !ok || p == nil:
		t.Fatalf("change %d: %s returned %T %v, want a *record.Problem", i, step, err, err)
	case p.Code != record.CodeInvalidArgument:
		t.Fatalf("change %d: %s returned code %q, want %q (%v)", i, step, p.Code, record.CodeInvalidArgument, err)
	case p.Field == "":
		t.Fatalf("change %d: %s returned a problem naming no field: %v", i, step, err)
	}
}

// TestSyncRequestSeeds keeps the corpus honest: the valid seeds pass
// FromRecord and Validate, and every broken one is refused.
func TestSyncRequestSeeds(t *testing.T) {
	seeds := fuzzSeeds()
	for _, req := range seeds[2:4] {
		for i, m := range req.Changes {
			rec, err := wire.FromRecord(m)
			if err == nil {
				err = record.Validate(rec, req.Replica)
			}
			if err != nil {
				t.Errorf("valid seed change %d (%s) refused: %v", i, m.Table, err)
			}
		}
	}
	for i, m := range seeds[4].Changes {
		rec, err := wire.FromRecord(m)
		if err == nil {
			err = record.Validate(rec, fuzzPusher)
		}
		if err == nil {
			t.Errorf("broken seed change %d accepted", i)
		} else {
			checkProblem(t, "FromRecord/Validate", i, err)
		}
	}
}
