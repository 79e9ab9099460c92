package server

import (
	"fmt"
	"testing"
	"time"
)

// The first refusal of a caller is logged; those within the minute after
// it are counted into the next line, logged once the minute is over.
func TestRefusalsCountedPerMinute(t *testing.T) {
	r := &refusals{byCaller: map[string]*refusal{}}
	t0 := time.Now()
	steps := []struct {
		caller string
		at     time.Duration
		want   int
	}{
		{"device 7", 0, 1},
		{"device 7", time.Second, 0},
		{"addr 192.0.2.1", 2 * time.Second, 1},
		{"device 7", 30 * time.Second, 0},
		{"device 7", 61 * time.Second, 3},
		{"device 7", 62 * time.Second, 0},
		{"device 7", 200 * time.Second, 2},
	}
	for i, s := range steps {
		if got := r.note(s.caller, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%s at %v): log %d, want %d", i, s.caller, s.at, got, s.want)
		}
	}
}

// Past maxRefusalCallers, callers quiet for a minute are forgotten and
// the map stays bounded.
func TestRefusalsStayBounded(t *testing.T) {
	r := &refusals{byCaller: map[string]*refusal{}}
	t0 := time.Now()
	for i := range maxRefusalCallers {
		r.note(fmt.Sprint("addr ", i), t0)
	}
	if got := r.note("new", t0.Add(time.Second)); got != 1 || len(r.byCaller) != maxRefusalCallers {
		t.Errorf("a new caller with the map full: log %d, %d callers", got, len(r.byCaller))
	}
	if got := r.note("later", t0.Add(2*time.Minute)); got != 1 || len(r.byCaller) != 1 {
		t.Errorf("a minute on: log %d, %d callers kept, want only the new one", got, len(r.byCaller))
	}
}
