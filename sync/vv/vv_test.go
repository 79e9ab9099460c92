package vv_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/vv"
	"pgregory.net/rapid"
)

// leq is the textbook definition of "a has seen nothing b has not": every
// entry of a is at most b's (a missing entry counts as 0). The properties
// below check Compare against it rather than against Compare itself.
func leq(a, b vv.VV) bool {
	for r, c := range a {
		if c > b[r] {
			return false
		}
	}
	return true
}

// genVV draws a well-formed vector (no zero entries). Small replica and
// counter ranges make equal, ordered and concurrent pairs all common; the
// wide generator reaches the varint edge cases of Encode.
func genVV(maxReplica uint32, maxCounter uint64) *rapid.Generator[vv.VV] {
	return rapid.Custom(func(t *rapid.T) vv.VV {
		m := rapid.MapOfN(rapid.Uint32Range(0, maxReplica), rapid.Uint64Range(1, maxCounter), 0, 6).Draw(t, "entries")
		if len(m) == 0 && rapid.Bool().Draw(t, "nil") {
			return nil // a nil VV is a legal empty vector
		}
		return vv.VV(m)
	})
}

var (
	smallVV = genVV(4, 3)
	wideVV  = rapid.OneOf(genVV(4, 3), genVV(math.MaxUint32, math.MaxUint64))
)

func TestCompareTable(t *testing.T) {
	tests := []struct {
		name string
		a, b vv.VV
		want vv.Ordering
	}{
		{"nil and nil", nil, nil, vv.Equal},
		{"nil and empty", nil, vv.VV{}, vv.Equal},
		{"same entries", vv.VV{1: 2, 3: 4}, vv.VV{3: 4, 1: 2}, vv.Equal},
		{"empty before anything", nil, vv.VV{1: 1}, vv.Before},
		{"anything after empty", vv.VV{1: 1}, vv.VV{}, vv.After},
		{"one entry higher", vv.VV{1: 1, 2: 2}, vv.VV{1: 1, 2: 3}, vv.Before},
		{"one entry more", vv.VV{1: 3}, vv.VV{1: 3, 2: 1}, vv.Before},
		{"superset is after", vv.VV{1: 3, 2: 1}, vv.VV{1: 3}, vv.After},
		{"disjoint replicas", vv.VV{1: 2}, vv.VV{2: 1}, vv.Concurrent},
		{"crossed entries", vv.VV{1: 2, 2: 1}, vv.VV{1: 1, 2: 2}, vv.Concurrent},
		// The first loop in Compare stops early; the second must still find
		// that o has more, or this would come out After.
		{"more on both sides, many entries", vv.VV{1: 5, 2: 5, 3: 1}, vv.VV{1: 1, 2: 1, 3: 2}, vv.Concurrent},
		{"replica 0 counts", vv.VV{0: 1}, vv.VV{}, vv.After},
		{"max counters", vv.VV{math.MaxUint32: math.MaxUint64}, vv.VV{math.MaxUint32: math.MaxUint64 - 1}, vv.After},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("%v.Compare(%v) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestCoversTable(t *testing.T) {
	v := vv.VV{1: 3, 2: 1}
	tests := []struct {
		d    vv.Dot
		want bool
	}{
		{vv.Dot{Replica: 1, Counter: 1}, true},
		{vv.Dot{Replica: 1, Counter: 3}, true},
		{vv.Dot{Replica: 1, Counter: 4}, false},
		{vv.Dot{Replica: 2, Counter: 2}, false},
		{vv.Dot{Replica: 9, Counter: 1}, false},
		// HLC is not part of a write's identity, so it cannot matter here.
		{vv.Dot{Replica: 1, Counter: 3, HLC: math.MaxUint64}, true},
	}
	for _, tt := range tests {
		if got := v.Covers(tt.d); got != tt.want {
			t.Errorf("%v.Covers(%v) = %v, want %v", v, tt.d, got, tt.want)
		}
	}
}

func TestDotLessTable(t *testing.T) {
	// Less is the tie-break every replica must agree on: HLC first, then
	// replica, then counter.
	tests := []struct {
		name string
		a, b vv.Dot
		want bool
	}{
		{"hlc decides", vv.Dot{Replica: 9, Counter: 9, HLC: 1}, vv.Dot{Replica: 1, Counter: 1, HLC: 2}, true},
		{"hlc decides, reversed", vv.Dot{Replica: 1, Counter: 1, HLC: 2}, vv.Dot{Replica: 9, Counter: 9, HLC: 1}, false},
		{"replica breaks hlc tie", vv.Dot{Replica: 2, Counter: 9, HLC: 5}, vv.Dot{Replica: 3, Counter: 1, HLC: 5}, true},
		{"counter breaks the rest", vv.Dot{Replica: 2, Counter: 1, HLC: 5}, vv.Dot{Replica: 2, Counter: 2, HLC: 5}, true},
		{"not less than itself", vv.Dot{Replica: 2, Counter: 2, HLC: 5}, vv.Dot{Replica: 2, Counter: 2, HLC: 5}, false},
	}
	for _, tt := range tests {
		if got := tt.a.Less(tt.b); got != tt.want {
			t.Errorf("%s: %v.Less(%v) = %v, want %v", tt.name, tt.a, tt.b, got, tt.want)
		}
	}
}

func TestCompareProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b := smallVV.Draw(t, "a"), smallVV.Draw(t, "b")
		ab, ba := a.Compare(b), b.Compare(a)

		// Compare agrees with the pointwise definition.
		var want vv.Ordering
		switch le, ge := leq(a, b), leq(b, a); {
		case le && ge:
			want = vv.Equal
		case le:
			want = vv.Before
		case ge:
			want = vv.After
		default:
			want = vv.Concurrent
		}
		if ab != want {
			t.Fatalf("%v.Compare(%v) = %v, want %v", a, b, ab, want)
		}

		// Consistency: Before and After mirror each other, Equal and
		// Concurrent are symmetric.
		mirror := map[vv.Ordering]vv.Ordering{
			vv.Equal: vv.Equal, vv.Before: vv.After, vv.After: vv.Before, vv.Concurrent: vv.Concurrent,
		}
		if ba != mirror[ab] {
			t.Fatalf("%v.Compare(%v) = %v but %v.Compare(%v) = %v", a, b, ab, b, a, ba)
		}
		if a.Compare(a) != vv.Equal {
			t.Fatalf("%v is not Equal to itself", a)
		}
	})
}

func TestMergeProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := smallVV.Draw(t, "a"), smallVV.Draw(t, "b"), smallVV.Draw(t, "c")
		aBefore, bBefore := a.Clone(), b.Clone()
		ab := a.Merge(b)

		if a.Compare(aBefore) != vv.Equal || b.Compare(bBefore) != vv.Equal {
			t.Fatalf("Merge modified its inputs: a %v -> %v, b %v -> %v", aBefore, a, bBefore, b)
		}
		if got := b.Merge(a); got.Compare(ab) != vv.Equal {
			t.Fatalf("not commutative: %v.Merge(%v) = %v, reversed %v", a, b, ab, got)
		}
		if l, r := ab.Merge(c), a.Merge(b.Merge(c)); l.Compare(r) != vv.Equal {
			t.Fatalf("not associative: (a∨b)∨c = %v, a∨(b∨c) = %v", l, r)
		}
		if got := a.Merge(a); got.Compare(a) != vv.Equal {
			t.Fatalf("not idempotent: %v.Merge(itself) = %v", a, got)
		}
		for _, in := range []vv.VV{a, b} {
			if o := ab.Compare(in); o != vv.Equal && o != vv.After {
				t.Fatalf("Merge(%v, %v) = %v does not dominate %v (%v)", a, b, ab, in, o)
			}
		}
		// It is the least upper bound: nothing beyond the inputs' entries,
		// and no zero entries (the VV invariant).
		for r, n := range ab {
			if n == 0 || n != max(a[r], b[r]) {
				t.Fatalf("Merge(%v, %v)[%d] = %d, want %d", a, b, r, n, max(a[r], b[r]))
			}
		}
		// Whatever either side covers, the merge covers.
		d := vv.Dot{Replica: rapid.Uint32Range(0, 4).Draw(t, "replica"), Counter: rapid.Uint64Range(1, 4).Draw(t, "counter")}
		if (a.Covers(d) || b.Covers(d)) != ab.Covers(d) {
			t.Fatalf("%v covers %v: %v; inputs %v: %v, %v: %v", ab, d, ab.Covers(d), a, a.Covers(d), b, b.Covers(d))
		}
	})
}

func TestBumpAndClone(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := smallVV.Draw(t, "v").Clone() // Bump needs a non-nil map
		r := rapid.Uint32Range(0, 5).Draw(t, "replica")
		old := v.Clone()
		n := v.Bump(r)
		if n != old[r]+1 || v[r] != n {
			t.Fatalf("Bump(%d) on %v returned %d, vector now %v", r, old, n, v)
		}
		if v.Compare(old) != vv.After || !v.Covers(vv.Dot{Replica: r, Counter: n}) ||
			old.Covers(vv.Dot{Replica: r, Counter: n}) {
			t.Fatalf("after Bump(%d): %v vs %v", r, v, old)
		}
		// The clone taken before the bump must not have seen it.
		if old[r] == v[r] {
			t.Fatalf("Clone shares storage with the original")
		}
	})
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := wideVV.Draw(t, "v")
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "prefix")
		enc := v.Encode(slices.Clone(prefix))
		if !bytes.HasPrefix(enc, prefix) {
			t.Fatalf("Encode did not append to its buffer: %x does not start with %x", enc, prefix)
		}
		got, err := vv.Decode(enc[len(prefix):])
		if err != nil {
			t.Fatalf("Decode(Encode(%v)): %v", v, err)
		}
		if got == nil || got.Compare(v) != vv.Equal || len(got) != len(v) {
			t.Fatalf("Decode(Encode(%v)) = %v", v, got)
		}

		// An equal vector built another way (entries inserted in reverse
		// order, nil versus empty) encodes to the same bytes.
		same := vv.VV{}
		for _, r := range slices.Backward(v.Replicas()) {
			same[r] = v[r]
		}
		if a, b := v.Encode(nil), same.Encode(nil); !bytes.Equal(a, b) {
			t.Fatalf("equal vectors %v and %v encode to %x and %x", v, same, a, b)
		}
	})
}

func TestDecodeRejects(t *testing.T) {
	uv := func(xs ...uint64) []byte {
		var b []byte
		for _, x := range xs {
			b = binary.AppendUvarint(b, x)
		}
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"truncated varint", []byte{0x80}},
		{"replica without counter", uv(1)},
		{"zero counter", uv(1, 0)},
		{"repeated replica", uv(1, 1, 0, 2)},
		{"replica beyond 32 bits", uv(1<<32, 1)},
		{"sum of deltas beyond 32 bits", uv(math.MaxUint32, 1, 1, 1)},
		{"varint longer than 64 bits", append(bytes.Repeat([]byte{0xff}, 10), 0x01)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := vv.Decode(tt.b); err == nil {
				t.Errorf("Decode(%x) = %v, want an error", tt.b, v)
			}
		})
	}
}

// TestDecodeRejectsWrappedDelta pins down a bug found while fuzzing (see
// the report that came with these tests): Decode adds the replica delta in
// uint64 and only checks the sum against 2^32-1, so a delta near 2^64 wraps
// around to an earlier replica. The bytes below are (1,1) (1,1) (2^64-1,9):
// the third delta wraps back to replica 1, and Decode silently overwrites
// that replica's counter, accepting a duplicate it means to refuse (it
// refuses the same duplicate spelled with delta 0).
func TestDecodeRejectsWrappedDelta(t *testing.T) {
	b := binary.AppendUvarint(nil, 1)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, 1)
	b = binary.AppendUvarint(b, math.MaxUint64)
	b = binary.AppendUvarint(b, 9)
	if v, err := vv.Decode(b); err == nil {
		t.Errorf("Decode(%x) = %v, want an error (replicas must ascend)", b, v)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range []vv.VV{nil, {0: 1}, {1: 1, 2: 300}, {7: math.MaxUint64, math.MaxUint32: 1}} {
		f.Add(v.Encode(nil))
	}
	f.Add([]byte{0x80})
	f.Add([]byte{1, 1, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := vv.Decode(b) // must not panic, whatever b is
		if err != nil {
			if v != nil {
				t.Fatalf("Decode(%x) returned %v with error %v", b, v, err)
			}
			return
		}
		for r, c := range v {
			if c == 0 {
				t.Fatalf("Decode(%x) = %v accepted a zero counter for replica %d", b, v, r)
			}
		}
		enc := v.Encode(nil)
		again, err := vv.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(%x) = %v, but its encoding %x does not decode: %v", b, v, enc, err)
		}
		if again.Compare(v) != vv.Equal {
			t.Fatalf("Decode(%x) = %v re-encodes to %x which decodes to %v", b, v, enc, again)
		}
		// The encoding is canonical: encoding the round-tripped vector gives
		// the same bytes again.
		if enc2 := again.Encode(nil); !bytes.Equal(enc, enc2) {
			t.Fatalf("%v encodes to %x, its round trip to %x", v, enc, enc2)
		}
	})
}
