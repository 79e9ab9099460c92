package record

import "strconv"

// JSON is the JSON form of a record's replicated state. Replicas that have
// converged print byte-identical JSON for the same record: keys are sorted
// and nothing local (sync bookkeeping) is included.
type JSON struct {
	Table   string            `json:"table"`
	ID      string            `json:"id"`
	Fields  map[string]any    `json:"fields"`
	Version map[string]uint64 `json:"version"`
	Deleted bool              `json:"deleted"`
}

// ToJSON returns the JSON form of r.
func ToJSON(r *Record) JSON {
	out := JSON{Table: r.Table, ID: r.ID, Fields: map[string]any{}, Version: map[string]uint64{}, Deleted: r.Deleted()}
	for name, f := range r.Fields {
		out.Fields[name] = f.Value.JSON()
	}
	for rep, c := range r.Version {
		out.Version[strconv.FormatUint(uint64(rep), 10)] = c
	}
	return out
}
