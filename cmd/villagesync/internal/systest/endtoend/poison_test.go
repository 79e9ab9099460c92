package endtoend

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
)

// Poison values over the wire, beside a valid change in one request: a
// counter of 2^63 or more and a number that is not finite are refused on
// their own (invalid_argument, naming the field), the valid change
// applies, and the request is not an internal error. Another device then
// pulls the valid record alone.
func TestPoisonValuesAreRefusedOneByOneOverTheWire(t *testing.T) {
	e := newEnv(t)
	dev := e.device("poisoner", replica.Options{})
	r := dev.ID()
	c := villagesyncv1connect.NewSyncServiceClient(dev.HTTPClient(), e.srv.URL)
	at := hlc.FromTime(time.Now())
	text := func(s string) *v1.Value { return &v1.Value{Kind: &v1.Value_Text{Text: s}} }
	number := func(f float64) *v1.Value { return &v1.Value{Kind: &v1.Value_Real{Real: f}} }
	rec := func(table string, counter uint64, kv ...any) *v1.Record {
		m := &v1.Record{Table: table, Id: uuid.Must(uuid.NewV7()).String(),
			Version: &v1.VersionVector{Replicas: []uint32{r}, Counters: []uint64{counter}}}
		d := &v1.Dot{Replica: r, Counter: counter, Hlc: at}
		for i := 0; i < len(kv); i += 2 {
			m.Fields = append(m.Fields, &v1.Field{Name: kv[i].(string), Value: kv[i+1].(*v1.Value), Dot: d})
		}
		return m
	}
	book := func(counter uint64) *v1.Record {
		return rec("books", counter, "village", text("南香村"), "library", text("children"), "title", text("小王子"))
	}
	cleanup := func(q float64) *v1.Record {
		return rec("cleanup_tasks", 1, "village", text("东旺村"), "kind", text("street_sweeping"),
			"status", text("reported"), "quantity", number(q))
	}
	claims := book(1)
	claims.Version.Replicas = append(claims.Version.Replicas, r+100)
	claims.Version.Counters = append(claims.Version.Counters, math.MaxUint64)
	cases := []struct {
		name string
		ch   *v1.Record
		want string
	}{
		{"own counter 2^63", book(1 << 63), "version: replica"},
		{"own counter 2^64-1", book(math.MaxUint64), "version: replica"},
		{"another replica's counter 2^64-1", claims, "version: replica"},
		{"NaN", cleanup(math.NaN()), "cleanup_tasks.quantity: NaN is not a finite number"},
		{"+Inf", cleanup(math.Inf(1)), "cleanup_tasks.quantity: +Inf is not a finite number"},
		{"-Inf", cleanup(math.Inf(-1)), "cleanup_tasks.quantity: -Inf is not a finite number"},
	}
	var good []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok := book(1)
			good = append(good, ok.Id)
			resp, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: r, Changes: []*v1.Record{ok, tc.ch}})
			if err != nil {
				t.Fatalf("the request failed whole: %v", err)
			}
			if got := resp.Results[0].Outcome; got != v1.Outcome_OUTCOME_APPLIED {
				t.Errorf("the valid change: %v, want applied", got)
			}
			res := resp.Results[1]
			if res.Outcome != v1.Outcome_OUTCOME_REJECTED || res.Code != "invalid_argument" ||
				!strings.Contains(res.Message, tc.want) {
				t.Errorf("%v %s %q; want rejected, invalid_argument, %q", res.Outcome, res.Code, res.Message, tc.want)
			}
		})
	}
	other := e.device("other", replica.Options{})
	syncOK(t, other)
	books, err := other.List(context.Background(), "books")
	if err != nil {
		t.Fatal(err)
	}
	cleanups, err := other.List(context.Background(), "cleanup_tasks")
	if err != nil {
		t.Fatal(err)
	}
	if len(books) != len(good) || len(cleanups) != 0 {
		t.Errorf("another device pulled %d books and %d cleanup tasks, want the %d valid books alone",
			len(books), len(cleanups), len(good))
	}
}
