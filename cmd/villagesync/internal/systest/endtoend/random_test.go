package endtoend

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

var seeds = flag.Int("seeds", 12, "seeds for TestRandomOfflineEditsWithFaults")
var seed = flag.Uint64("seed", 0, "run TestRandomOfflineEditsWithFaults for this seed only")

// flaky loses requests or responses when told to, from the test's seeded
// random source.
type flaky struct {
	next                    http.RoundTripper
	rng                     *rand.Rand
	loseReq, loseResp, faul bool
}

func (f *flaky) Do(req *http.Request) (*http.Response, error) {
	if f.faul && f.rng.IntN(6) == 0 {
		return nil, errors.New("test: request lost")
	}
	resp, err := f.next.RoundTrip(req)
	if err == nil && f.faul && f.rng.IntN(5) == 0 {
		resp.Body.Close()
		return nil, errors.New("test: response lost after the server committed")
	}
	return resp, err
}

// Devices edit a few shared records offline and sync in random order over
// a link that loses requests and responses. Afterwards every replica
// equals the server, and every value ever written is still there, or was
// overwritten by a device that had seen it, or is in the conflict log.
func TestRandomOfflineEditsWithFaults(t *testing.T) {
	first, n := uint64(1), uint64(*seeds)
	if *seed != 0 {
		first, n = *seed, 1
	}
	for s := first; s < first+n; s++ {
		t.Run(fmt.Sprint(s), func(t *testing.T) {
			if failed := randomRun(t, s); failed {
				t.Logf("replay: go test ./cmd/villagesync/internal/systest/endtoend "+
					"-run 'TestRandomOfflineEditsWithFaults' -seed %d -v", s)
			}
		})
	}
}

func randomRun(t *testing.T, s uint64) bool {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15))
	e := newEnv(t)
	links := make([]*flaky, 3)
	devs := make([]*replica.Replica, 3)
	for i := range devs {
		links[i] = &flaky{next: http.DefaultTransport, rng: rng}
		devs[i] = e.device(fmt.Sprintf("d%d", i),
			replica.Options{HTTPClient: links[i], PageLimit: uint32(1 + rng.IntN(4)), PushBatch: 1 + rng.IntN(3)})
	}
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, put(t, devs[0], "books", "", "village", "南香村", "library", "children",
			"title", fmt.Sprintf("seed %d", i)))
	}
	for _, d := range devs {
		syncOK(t, d)
	}
	fields := []string{"title", "author", "notes"}
	written := map[string]bool{}     // every value written (values are unique)
	overwritten := map[string]bool{} // values a device overwrote having seen them
	for _, l := range links {
		l.faul = true
	}
	for step := 0; step < 40; step++ {
		d := devs[rng.IntN(len(devs))]
		id := ids[rng.IntN(len(ids))]
		switch op := rng.IntN(10); {
		case op < 6:
			f := fields[rng.IntN(len(fields))]
			if rec, _ := d.Get(ctx, "books", id); rec != nil {
				if old, ok := rec.Fields[f]; ok {
					overwritten[old.Value.Text] = true
				}
			}
			v := fmt.Sprintf("%s-%s-%d", d.Name(), f, step)
			written[v] = true
			if _, err := d.Put(ctx, "books", id, map[string]schema.Value{f: schema.TextValue(v)}); err != nil {
				t.Fatal(err)
			}
		case op < 7:
			if rec, _ := d.Get(ctx, "books", id); rec != nil && !rec.Deleted() {
				if err := d.Delete(ctx, "books", id); err != nil {
					t.Fatal(err)
				}
			}
		default:
			d.Sync(ctx) // errors are the faults at work
		}
	}
	for _, l := range links {
		l.faul = false
	}
	// Sync until a whole round moves nothing.
	for round := 0; ; round++ {
		if round == 10 {
			t.Fatal("did not settle in 10 rounds")
		}
		moved := 0
		for _, d := range devs {
			st := syncOK(t, d)
			moved += st.Pushed + st.Pulled
		}
		if moved == 0 {
			break
		}
	}
	assertConverged(t, e, devs...)
	final := map[string]bool{}
	for _, id := range ids {
		rec, err := devs[0].Get(ctx, "books", id)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range rec.Fields {
			final[f.Value.Text] = true
		}
	}
	losers := map[string]bool{}
	for _, c := range conflicts(t, e) {
		if s, ok := c.Loser.Value.(string); ok {
			losers[s] = true
		}
	}
	for v := range written {
		if !final[v] && !overwritten[v] && !losers[v] {
			t.Errorf("value %q vanished: not in the final state, not overwritten by a device that saw it, "+
				"not in the conflict log", v)
		}
	}
	return t.Failed()
}
