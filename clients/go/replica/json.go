package replica

import (
	"strconv"

	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Record is the JSON form of a record's replicated state. Replicas that
// have converged print byte-identical JSON for the same record: keys are
// sorted and nothing local (sync bookkeeping) is included.
type Record struct {
	Table   string            `json:"table"`
	ID      string            `json:"id"`
	Fields  map[string]any    `json:"fields"`
	Version map[string]uint64 `json:"version"`
	Deleted bool              `json:"deleted"`
}

// JSON returns the JSON form of rec.
func JSON(rec *record.Record) Record {
	out := Record{Table: rec.Table, ID: rec.ID, Fields: map[string]any{}, Version: map[string]uint64{}, Deleted: rec.Deleted()}
	for name, f := range rec.Fields {
		out.Fields[name] = f.Value.JSON()
	}
	for r, c := range rec.Version {
		out.Version[strconv.FormatUint(uint64(r), 10)] = c
	}
	return out
}

func dot(replica uint32, counter, ts uint64) vv.Dot {
	return vv.Dot{Replica: replica, Counter: counter, HLC: ts}
}
