package rpc

import (
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// SyncCounts is what one push and pull did, as counts only: what became
// of the pushed changes and how many records the page sent.
type SyncCounts struct {
	// Applied, Merged and AlreadyHad are record.Outcome's.
	Applied, Merged, AlreadyHad int
	// Held are refused changes the server keeps for staff (the review's
	// held changes); Refused are refused changes it does not keep: the
	// device is over its held cap (store.CodeResourceExhausted), or the
	// wire edge could not read the change.
	Held, Refused int
	// Pulled is how many records the answer carried.
	Pulled int
}

// SyncObserver is told what each Sync and Carry did, for the server's
// metrics (api/metrics). It is called once per successful call, on the
// call's goroutine, so it must be quick and safe for concurrent use.
type SyncObserver interface {
	ObserveSync(SyncCounts)
}

// observe tells s.Observer, when set, what pushing changes gave results
// and what was pulled.
func (s *Service) observe(changes []protocol.Change, results []protocol.Result, pulled int) {
	if s.Observer == nil {
		return
	}
	n := SyncCounts{Pulled: pulled}
	for i, r := range results {
		switch {
		case r.Outcome == record.Applied:
			n.Applied++
		case r.Outcome == record.Merged:
			n.Merged++
		case r.Outcome == record.AlreadyHad:
			n.AlreadyHad++
		case i < len(changes) && changes[i].Problem != nil,
			r.Problem != nil && r.Problem.Code == store.CodeResourceExhausted:
			n.Refused++
		default:
			n.Held++
		}
	}
	s.Observer.ObserveSync(n)
}
