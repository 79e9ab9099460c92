package vv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Dot names one write: the replica that made it and that replica's counter
// for the record after the write. HLC is the write's hybrid logical clock
// time; it breaks ties between concurrent writes and is not part of the
// write's identity.
type Dot struct {
	Replica uint32
	Counter uint64
	HLC     uint64
}

// IsZero reports whether d names no write.
func (d Dot) IsZero() bool { return d.Replica == 0 && d.Counter == 0 }

// Same reports whether d and o name the same write.
func (d Dot) Same(o Dot) bool { return d.Replica == o.Replica && d.Counter == o.Counter }

// Less orders concurrent writes deterministically: by HLC, then replica,
// then counter. The greater one wins.
func (d Dot) Less(o Dot) bool {
	if d.HLC != o.HLC {
		return d.HLC < o.HLC
	}
	if d.Replica != o.Replica {
		return d.Replica < o.Replica
	}
	return d.Counter < o.Counter
}

func (d Dot) String() string { return fmt.Sprintf("%d:%d@%d", d.Replica, d.Counter, d.HLC) }

// MaxCounter bounds a counter. Counters are stored as SQLite integers,
// which are signed (the server's receipts, a device's own and acknowledged
// counters), and no replica writes one record 2^63 times: a larger counter
// is forged or corrupt, and is refused where a vector is read.
const MaxCounter = math.MaxInt64

// VV is a version vector. Entries are never zero; a nil VV is empty.
// Methods never modify the receiver except Bump.
type VV map[uint32]uint64

// Ordering is the result of comparing two version vectors.
type Ordering int8

const (
	Equal      Ordering = iota // the same writes
	Before                     // a < b: b has seen everything a has, and more
	After                      // a > b
	Concurrent                 // each has seen a write the other has not
)

func (o Ordering) String() string {
	return [...]string{"equal", "before", "after", "concurrent"}[o]
}

// Covers reports whether the holder of v has seen the write d.
func (v VV) Covers(d Dot) bool { return v[d.Replica] >= d.Counter }

// Compare orders v against o.
func (v VV) Compare(o VV) Ordering {
	vMore, oMore := false, false
	for r, c := range v {
		if c > o[r] {
			vMore = true
			break
		}
	}
	for r, c := range o {
		if c > v[r] {
			oMore = true
			break
		}
	}
	switch {
	case vMore && oMore:
		return Concurrent
	case vMore:
		return After
	case oMore:
		return Before
	}
	return Equal
}

// Merge returns the pointwise maximum of v and o.
func (v VV) Merge(o VV) VV {
	out := make(VV, max(len(v), len(o)))
	for r, c := range v {
		out[r] = c
	}
	for r, c := range o {
		if c > out[r] {
			out[r] = c
		}
	}
	return out
}

// Clone returns a copy of v.
func (v VV) Clone() VV {
	if v == nil {
		return VV{}
	}
	return maps.Clone(v)
}

// Bump records a new write by replica r and returns its counter.
func (v VV) Bump(r uint32) uint64 {
	v[r]++
	return v[r]
}

// Replicas returns the replica numbers of v in ascending order.
func (v VV) Replicas() []uint32 {
	return slices.Sorted(maps.Keys(v))
}

func (v VV) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, r := range v.Replicas() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(r), 10))
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(v[r], 10))
	}
	b.WriteByte('}')
	return b.String()
}

// Encode appends the compact binary form of v: pairs of uvarints (replica
// delta from the previous one, counter), replicas ascending. Equal vectors
// encode to equal bytes.
func (v VV) Encode(buf []byte) []byte {
	prev := uint32(0)
	for _, r := range v.Replicas() {
		buf = binary.AppendUvarint(buf, uint64(r-prev))
		buf = binary.AppendUvarint(buf, v[r])
		prev = r
	}
	return buf
}

var errCorrupt = errors.New("corrupt version vector")

// Decode reads a vector written by Encode.
func Decode(b []byte) (VV, error) {
	v := VV{}
	prev := uint64(0)
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errCorrupt
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 || c == 0 || (d == 0 && len(v) > 0) {
			return nil, errCorrupt
		}
		b = b[n:]
		if d > 1<<32-1-prev {
			return nil, errCorrupt
		}
		r := prev + d
		v[uint32(r)] = c
		prev = r
	}
	return v, nil
}
