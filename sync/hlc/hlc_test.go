package hlc

import (
	"testing"
	"time"
)

// The clock must keep increasing when the wall clock jumps back (a phone
// whose battery was swapped wakes up in 1970) and must move past times it
// observes from other replicas.
func TestClockNeverGoesBackwards(t *testing.T) {
	wall := time.Date(2024, 6, 3, 19, 0, 0, 0, time.UTC)
	c := &Clock{Wall: func() time.Time { return wall }}
	steps := []struct {
		name    string
		wall    time.Time
		observe uint64
	}{
		{"start", wall, 0},
		{"same millisecond", wall, 0},
		{"wall clock reset to 1970", time.Unix(0, 0), 0},
		{"observes a later remote time", time.Unix(0, 0), FromTime(wall.Add(time.Hour))},
		{"wall clock fixed", wall.Add(2 * time.Hour), 0},
	}
	var last uint64
	for _, s := range steps {
		wall = s.wall
		if s.observe != 0 {
			c.Observe(s.observe)
		}
		now := c.Now()
		if now <= last {
			t.Errorf("%s: %d is not after %d", s.name, now, last)
		}
		if s.observe != 0 && now <= s.observe {
			t.Errorf("%s: %d is not after the observed %d", s.name, now, s.observe)
		}
		last = now
	}
	if got := Time(last); !got.Equal(wall) {
		t.Errorf("Time(last) = %v, want the wall time %v once the wall clock is ahead again", got, wall)
	}
}

func TestNewStartsAfterPersistedTime(t *testing.T) {
	persisted := FromTime(time.Now().Add(24 * time.Hour))
	if now := New(persisted).Now(); now <= persisted {
		t.Errorf("New(%d).Now() = %d", persisted, now)
	}
}
