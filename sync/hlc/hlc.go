package hlc

import (
	"sync"
	"time"
)

const logicalBits = 16

// Clock hands out increasing timestamps. The zero Clock uses time.Now.
type Clock struct {
	mu   sync.Mutex
	last uint64
	// Wall returns the wall clock; tests and the simulation replace it.
	Wall func() time.Time
}

// New returns a clock that starts after last (a value persisted earlier).
func New(last uint64) *Clock { return &Clock{last: last} }

func (c *Clock) wall() uint64 {
	now := time.Now
	if c.Wall != nil {
		now = c.Wall
	}
	ms := now().UnixMilli()
	if ms < 0 {
		ms = 0
	}
	return uint64(ms) << logicalBits
}

// Now returns a timestamp greater than every one returned or observed before.
func (c *Clock) Now() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.wall()
	if w > c.last {
		c.last = w
	} else {
		c.last++
	}
	return c.last
}

// Observe moves the clock past a timestamp seen from another replica.
func (c *Clock) Observe(ts uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ts > c.last {
		c.last = ts
	}
}

// Settle brings back a clock that ran far ahead (a phone whose date was
// years off) once its wall clock agrees with ref, a trusted clock (the
// server's), again: it is set to the later of ref and the wall clock.
// Dots stay unique (they carry counters), and causal order comes from
// version vectors, so a step back only changes how later ties are broken.
// It reports whether it moved the clock.
func (c *Clock) Settle(ref uint64, slack time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	wall := c.wall()
	refTime := Time(ref)
	if Time(c.last).Sub(refTime) <= slack || Time(wall).Sub(refTime) > slack {
		return false
	}
	c.last = max(ref, wall)
	return true
}

// Last returns the latest timestamp handed out or observed, for persisting.
func (c *Clock) Last() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Time returns the wall-clock part of ts.
func Time(ts uint64) time.Time { return time.UnixMilli(int64(ts >> logicalBits)).UTC() }

// FromTime returns the first timestamp of t.
func FromTime(t time.Time) uint64 { return uint64(t.UnixMilli()) << logicalBits }
