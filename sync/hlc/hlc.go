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
