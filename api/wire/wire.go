package wire

import (
	"fmt"
	"math"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// VV converts a version vector to the wire.
func VV(v vv.VV) *v1.VersionVector {
	out := &v1.VersionVector{}
	for _, r := range v.Replicas() {
		out.Replicas = append(out.Replicas, r)
		out.Counters = append(out.Counters, v[r])
	}
	return out
}

// FromVV reads a version vector off the wire.
func FromVV(m *v1.VersionVector, field string) (vv.VV, error) {
	out := vv.VV{}
	if m == nil {
		return out, nil
	}
	if len(m.Replicas) != len(m.Counters) {
		return nil, fmt.Errorf("%s: %d replicas but %d counters", field, len(m.Replicas), len(m.Counters))
	}
	for i, r := range m.Replicas {
		if m.Counters[i] == 0 {
			return nil, fmt.Errorf("%s: replica %d has counter 0", field, r)
		}
		if m.Counters[i] > vv.MaxCounter {
			return nil, fmt.Errorf("%s: replica %d has counter %d, more than a counter can be (%d)",
				field, r, m.Counters[i], uint64(vv.MaxCounter))
		}
		if _, dup := out[r]; dup {
			return nil, fmt.Errorf("%s: replica %d appears twice", field, r)
		}
		out[r] = m.Counters[i]
	}
	return out, nil
}

// Dot converts a dot to the wire.
func Dot(d vv.Dot) *v1.Dot { return &v1.Dot{Replica: d.Replica, Counter: d.Counter, Hlc: d.HLC} }

// FromDot reads a dot off the wire.
func FromDot(m *v1.Dot) vv.Dot {
	return vv.Dot{Replica: m.GetReplica(), Counter: m.GetCounter(), HLC: m.GetHlc()}
}

// Value converts a value to the wire.
func Value(v schema.Value) *v1.Value {
	switch v.Type {
	case schema.Text:
		return &v1.Value{Kind: &v1.Value_Text{Text: v.Text}}
	case schema.Integer:
		return &v1.Value{Kind: &v1.Value_Integer{Integer: v.Int}}
	case schema.Real:
		return &v1.Value{Kind: &v1.Value_Real{Real: v.Real}}
	case schema.Boolean:
		return &v1.Value{Kind: &v1.Value_Boolean{Boolean: v.Bool}}
	}
	return &v1.Value{}
}

// FromValue reads a value off the wire; a missing value is NULL.
func FromValue(m *v1.Value) schema.Value {
	switch k := m.GetKind().(type) {
	case *v1.Value_Text:
		return schema.TextValue(k.Text)
	case *v1.Value_Integer:
		return schema.IntValue(k.Integer)
	case *v1.Value_Real:
		return schema.RealValue(k.Real)
	case *v1.Value_Boolean:
		return schema.BoolValue(k.Boolean)
	}
	return schema.Value{}
}

// Record converts a record state to the wire, fields in name order.
func Record(r *record.Record) *v1.Record {
	m := &v1.Record{Table: r.Table, Id: r.ID, Version: VV(r.Version),
		Fields: make([]*v1.Field, 0, len(r.Fields)), Seq: r.Seq}
	for _, name := range r.FieldNames() {
		f := r.Fields[name]
		m.Fields = append(m.Fields, &v1.Field{Name: name, Value: Value(f.Value), Dot: Dot(f.Dot)})
	}
	if t := r.Tombstone; t != nil {
		m.Tombstone = &v1.Tombstone{Dot: Dot(t.Dot), Context: VV(t.Context)}
	}
	return m
}

// FromRecord reads a record off the wire. It checks only what the engine's
// types or a replica's storage cannot hold (duplicate fields, malformed
// vectors, counters beyond vv.MaxCounter, numbers that are not finite:
// SQLite would store NaN as NULL); record.Validate checks the rest. So a
// device refuses a pulled record it could not store faithfully (the whole
// response, as for any record it cannot read). Errors are *record.Problem.
func FromRecord(m *v1.Record) (*record.Record, error) {
	bad := func(field string, err error) error {
		return &record.Problem{Code: record.CodeInvalidArgument, Field: field, Msg: err.Error()}
	}
	version, err := FromVV(m.GetVersion(), "version")
	if err != nil {
		return nil, bad("version", err)
	}
	r := &record.Record{Table: m.GetTable(), ID: m.GetId(), Version: version,
		Fields: make(map[string]record.Field, len(m.GetFields())), Seq: m.GetSeq()}
	for i, f := range m.GetFields() {
		if _, dup := r.Fields[f.GetName()]; dup {
			return nil, record.Problemf(record.CodeInvalidArgument, fmt.Sprintf("fields[%d]", i),
				"field %q appears twice", f.GetName())
		}
		if f.GetDot() == nil {
			return nil, record.Problemf(record.CodeInvalidArgument, r.Table+"."+f.GetName()+".dot", "missing")
		}
		v := FromValue(f.GetValue())
		if v.Type == schema.Real && (math.IsNaN(v.Real) || math.IsInf(v.Real, 0)) {
			return nil, record.Problemf(record.CodeInvalidArgument, r.Table+"."+f.GetName(),
				"%v is not a finite number (应为有限数值)", v.Real)
		}
		r.Fields[f.GetName()] = record.Field{Value: v, Dot: FromDot(f.GetDot())}
	}
	if t := m.GetTombstone(); t != nil {
		ctx, err := FromVV(t.GetContext(), "tombstone.context")
		if err != nil {
			return nil, bad("tombstone.context", err)
		}
		r.Tombstone = &record.Tombstone{Dot: FromDot(t.GetDot()), Context: ctx}
	}
	return r, nil
}

// Outcome converts a push outcome to the wire.
func Outcome(o record.Outcome) v1.Outcome {
	switch o {
	case record.Applied:
		return v1.Outcome_OUTCOME_APPLIED
	case record.Merged:
		return v1.Outcome_OUTCOME_MERGED
	case record.AlreadyHad:
		return v1.Outcome_OUTCOME_ALREADY_HAD
	case record.Rejected:
		return v1.Outcome_OUTCOME_REJECTED
	}
	return v1.Outcome_OUTCOME_UNSPECIFIED
}

// FromOutcome reads a push outcome off the wire.
func FromOutcome(o v1.Outcome) record.Outcome {
	switch o {
	case v1.Outcome_OUTCOME_APPLIED:
		return record.Applied
	case v1.Outcome_OUTCOME_MERGED:
		return record.Merged
	case v1.Outcome_OUTCOME_ALREADY_HAD:
		return record.AlreadyHad
	case v1.Outcome_OUTCOME_REJECTED:
		return record.Rejected
	}
	return 0
}
