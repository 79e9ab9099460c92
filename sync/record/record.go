package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Field is one field's value and the write that set it.
type Field struct {
	Value schema.Value
	Dot   vv.Dot
}

// Tombstone marks a delete. Context is the version vector the deleting
// replica had seen, the delete included: a field written outside it was
// written concurrently with (or after) the delete and keeps the record alive.
type Tombstone struct {
	Dot     vv.Dot
	Context vv.VV
}

// Record is one record's replicated state, or in a push the part of it
// that is new to the server (absent fields are unchanged).
type Record struct {
	Table     string
	ID        string
	Version   vv.VV
	Fields    map[string]Field
	Tombstone *Tombstone
	// Seq is the server's feed position of this state, set on states the
	// server sends (devices drop tombstones the server has collected by
	// it). It is bookkeeping, not replicated state: Equal ignores it.
	Seq uint64
}

// Deleted reports whether the record is deleted: it has a tombstone and
// every field write is one the delete had seen.
func (r *Record) Deleted() bool {
	if r.Tombstone == nil {
		return false
	}
	for _, f := range r.Fields {
		if !r.Tombstone.Context.Covers(f.Dot) {
			return false
		}
	}
	return true
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Version = r.Version.Clone()
	c.Fields = maps.Clone(r.Fields)
	if c.Fields == nil {
		c.Fields = map[string]Field{}
	}
	if r.Tombstone != nil {
		t := Tombstone{Dot: r.Tombstone.Dot, Context: r.Tombstone.Context.Clone()}
		c.Tombstone = &t
	}
	return &c
}

// FieldNames returns the names of the fields r holds, sorted.
func (r *Record) FieldNames() []string { return slices.Sorted(maps.Keys(r.Fields)) }

// Equal reports whether two states are the same, dots included.
func (r *Record) Equal(o *Record) bool {
	if r.Table != o.Table || r.ID != o.ID || r.Version.Compare(o.Version) != vv.Equal || len(r.Fields) != len(o.Fields) {
		return false
	}
	for name, f := range r.Fields {
		g, ok := o.Fields[name]
		if !ok || f.Dot != g.Dot || !f.Value.Equal(g.Value) {
			return false
		}
	}
	if (r.Tombstone == nil) != (o.Tombstone == nil) {
		return false
	}
	return r.Tombstone == nil ||
		(r.Tombstone.Dot == o.Tombstone.Dot && r.Tombstone.Context.Compare(o.Tombstone.Context) == vv.Equal)
}

// EncodeDots is the compact form of the per-field dots stored beside the
// values: for each field in name order, its name, replica, counter and HLC.
func EncodeDots(fields map[string]Field) []byte {
	buf := []byte{} // never NULL in SQL, even with no fields
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		d := fields[name].Dot
		buf = binary.AppendUvarint(buf, uint64(len(name)))
		buf = append(buf, name...)
		buf = binary.AppendUvarint(buf, uint64(d.Replica))
		buf = binary.AppendUvarint(buf, d.Counter)
		buf = binary.AppendUvarint(buf, d.HLC)
	}
	return buf
}

var errCorruptDots = errors.New("corrupt field dots")

// DecodeDots reads what EncodeDots wrote, calling set for each field.
func DecodeDots(b []byte, set func(name string, d vv.Dot) error) error {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return errCorruptDots
		}
		name := string(b[k : k+int(n)])
		b = b[k+int(n):]
		var nums [3]uint64
		for i := range nums {
			v, k := binary.Uvarint(b)
			if k <= 0 {
				return errCorruptDots
			}
			nums[i] = v
			b = b[k:]
		}
		if nums[0] > 1<<32-1 {
			return errCorruptDots
		}
		if err := set(name, vv.Dot{Replica: uint32(nums[0]), Counter: nums[1], HLC: nums[2]}); err != nil {
			return err
		}
	}
	return nil
}

// EncodeTombstone is the compact form of t: its dot then its context.
func EncodeTombstone(t *Tombstone) []byte {
	if t == nil {
		return nil
	}
	buf := binary.AppendUvarint(nil, uint64(t.Dot.Replica))
	buf = binary.AppendUvarint(buf, t.Dot.Counter)
	buf = binary.AppendUvarint(buf, t.Dot.HLC)
	return t.Context.Encode(buf)
}

// DecodeTombstone reads what EncodeTombstone wrote; nil or empty is none.
func DecodeTombstone(b []byte) (*Tombstone, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var nums [3]uint64
	for i := range nums {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errors.New("corrupt tombstone")
		}
		nums[i] = v
		b = b[k:]
	}
	ctx, err := vv.Decode(b)
	if err != nil || nums[0] > 1<<32-1 {
		return nil, fmt.Errorf("corrupt tombstone: %v", err)
	}
	return &Tombstone{Dot: vv.Dot{Replica: uint32(nums[0]), Counter: nums[1], HLC: nums[2]}, Context: ctx}, nil
}
