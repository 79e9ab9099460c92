package rpc

import (
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

type countsSeen []SyncCounts

func (c *countsSeen) ObserveSync(n SyncCounts) { *c = append(*c, n) }

// A refusal is held unless the store could not keep it (the device is at
// its cap) or the wire edge could not read the change, which the store
// never saw.
func TestObserveClassifies(t *testing.T) {
	unreadable := protocol.Change{Problem: &record.Problem{Code: record.CodeInvalidArgument}}
	readable := protocol.Change{Record: &record.Record{}}
	rejected := func(code record.Code) protocol.Result {
		return protocol.Result{Outcome: record.Rejected, Problem: &record.Problem{Code: code}}
	}
	for _, c := range []struct {
		name    string
		changes []protocol.Change
		results []protocol.Result
		pulled  int
		want    SyncCounts
	}{
		{"nothing", nil, nil, 0, SyncCounts{}},
		{"pull only", nil, nil, 7, SyncCounts{Pulled: 7}},
		{"accepted", []protocol.Change{readable, readable, readable},
			[]protocol.Result{{Outcome: record.Applied}, {Outcome: record.Merged}, {Outcome: record.AlreadyHad}}, 0,
			SyncCounts{Applied: 1, Merged: 1, AlreadyHad: 1}},
		{"held", []protocol.Change{readable}, []protocol.Result{rejected(record.CodePermissionDenied)}, 0,
			SyncCounts{Held: 1}},
		{"over the cap", []protocol.Change{readable}, []protocol.Result{rejected(store.CodeResourceExhausted)}, 0,
			SyncCounts{Refused: 1}},
		{"unreadable", []protocol.Change{unreadable, readable},
			[]protocol.Result{rejected(record.CodeInvalidArgument), {Outcome: record.Applied}}, 2,
			SyncCounts{Refused: 1, Applied: 1, Pulled: 2}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var seen countsSeen
			(&Service{Observer: &seen}).observe(c.changes, c.results, c.pulled)
			if len(seen) != 1 || seen[0] != c.want {
				t.Errorf("observed %+v, want %+v", seen, c.want)
			}
		})
	}
	// Without an observer nothing is counted, and nothing fails.
	(&Service{}).observe([]protocol.Change{readable}, []protocol.Result{{Outcome: record.Applied}}, 1)
}
