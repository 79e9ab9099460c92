package replica

import (
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Record is the JSON form of a record's replicated state.
type Record = record.JSON

// JSON returns the JSON form of rec.
func JSON(rec *record.Record) Record { return record.ToJSON(rec) }

func dot(replica uint32, counter, ts uint64) vv.Dot {
	return vv.Dot{Replica: replica, Counter: counter, HLC: ts}
}
