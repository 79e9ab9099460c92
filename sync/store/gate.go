package store

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// pageGate puts pushes before page reads. A device waits for its
// acknowledgement (its records are safe) before it can do anything
// else, and a push is short and bounded; a page is the bulk of a busy
// server's work and can wait its turn. Without the gate, 500 phones
// coming back into range at once waited a minute for their
// acknowledgements behind each other's pages (docs/bench.md).
//
// So page reads go a few at a time (slots, about one a core), first come
// first served, and none starts while pushes are queued or being
// committed, nor within quiet of another push's arrival: phones coming
// back into range at once send their pushes over a second or so, and a
// page handed out in a gap between two of them makes its device apply it
// while the others still wait for their acknowledgements (on a phone
// that is its own CPU; on the benchmark's one machine it is everyone's).
// A page read that has waited maxYield goes ahead regardless (a stream
// of pushes must not starve pulls). A push's own round trip takes a page
// only if one can start at once (see Store.Sync): otherwise it is
// answered with its results alone, and the device comes back for its
// page.
type pageGate struct {
	mu      sync.Mutex
	slots   int // page reads at once
	free    int // page-read slots free
	pushing int // pushes queued or being committed
	waiting []*gateWaiter
	// arrivals counts pushes begun (the last one's number); last and prev
	// are the times of the last two.
	arrivals   uint64
	last, prev time.Time
	// recheck is set while a timer is due to grant at the end of a quiet
	// period.
	recheck bool
	// yield is how long a waiting page read gives way to pushes, quiet
	// how long after another push's arrival; tests change them.
	yield, quiet time.Duration
}

// maxYield bounds how long a page read gives way to pushes.
const maxYield = 2 * time.Second

// pushQuiet is how long page reads wait after a push arrives for more to
// come: far more than the gaps between pushes of a crowd, far less than
// a round trip on a village's link.
const pushQuiet = 25 * time.Millisecond

type gateWaiter struct {
	ready   chan struct{} // closed when the waiter holds a slot
	granted bool
	// impatient: it has waited maxYield, so pushes no longer hold it back.
	impatient bool
}

func newPageGate(slots int) *pageGate {
	if slots <= 0 {
		slots = max(2, runtime.GOMAXPROCS(0))
	}
	return &pageGate{slots: slots, free: slots, yield: maxYield, quiet: pushQuiet}
}

// pushBegin and pushEnd bracket a push, from the moment it is queued;
// pushBegin returns the push's number, for tryEnter.
func (g *pageGate) pushBegin() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.pushing++
	g.arrivals++
	g.prev, g.last = g.last, time.Now()
	return g.arrivals
}

func (g *pageGate) pushEnd() {
	g.mu.Lock()
	g.pushing--
	g.grantLocked()
	g.mu.Unlock()
}

// tryEnter takes a slot if a page read could start now: no push waits
// or arrived within quiet but push number own (the caller's; 0: none),
// no page read is queued before it, and a slot is free. When only the
// quiet period stands in the way, wait says how long it has left.
func (g *pageGate) tryEnter(own uint64) (ok bool, wait time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.pushing > 0 || len(g.waiting) > 0 || g.free == 0 {
		return false, 0
	}
	if left := g.quietLeft(own); left > 0 {
		return false, left
	}
	g.free--
	return true, 0
}

// enterAfterPush takes a slot for the round trip of push number own if
// a page read can start now, or once the quiet period is over and no
// other push came in it; otherwise it returns false (the caller answers
// without a page). A lone device waits a few milliseconds then, rather
// than a round trip on its link.
func (g *pageGate) enterAfterPush(ctx context.Context, own uint64) bool {
	ok, wait := g.tryEnter(own)
	if ok || wait == 0 {
		return ok
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	}
	ok, _ = g.tryEnter(own)
	return ok
}

// quietLeft is how long until no push but own arrived within quiet.
func (g *pageGate) quietLeft(own uint64) time.Duration {
	other := g.last
	if own != 0 && own == g.arrivals {
		other = g.prev
	}
	if other.IsZero() {
		return 0
	}
	return g.quiet - time.Since(other)
}

// enter waits for a slot, in turn; leave gives it back.
func (g *pageGate) enter(ctx context.Context) error {
	if ok, _ := g.tryEnter(0); ok {
		return nil
	}
	w := &gateWaiter{ready: make(chan struct{})}
	g.mu.Lock()
	g.waiting = append(g.waiting, w)
	g.grantLocked()
	g.mu.Unlock()
	yield := time.NewTimer(g.yield)
	defer yield.Stop()
	for {
		select {
		case <-w.ready:
			return nil
		case <-yield.C:
			g.mu.Lock()
			w.impatient = true
			g.grantLocked()
			g.mu.Unlock()
		case <-ctx.Done():
			g.mu.Lock()
			defer g.mu.Unlock()
			if w.granted {
				// Granted as the caller gave up: the slot goes on.
				g.free++
				g.grantLocked()
			} else {
				for i, o := range g.waiting {
					if o == w {
						g.waiting = append(g.waiting[:i], g.waiting[i+1:]...)
						break
					}
				}
			}
			return ctx.Err()
		}
	}
}

func (g *pageGate) leave() {
	g.mu.Lock()
	g.free++
	g.grantLocked()
	g.mu.Unlock()
}

// grantLocked hands free slots to the waiters in turn while no push
// holds them back; the caller holds g.mu.
func (g *pageGate) grantLocked() {
	for g.free > 0 && len(g.waiting) > 0 {
		if w := g.waiting[0]; !w.impatient {
			if g.pushing > 0 {
				return // pushEnd grants
			}
			if left := g.quietLeft(0); left > 0 {
				if !g.recheck {
					g.recheck = true
					time.AfterFunc(left, func() {
						g.mu.Lock()
						g.recheck = false
						g.grantLocked()
						g.mu.Unlock()
					})
				}
				return
			}
		}
		w := g.waiting[0]
		g.waiting = g.waiting[1:]
		g.free--
		w.granted = true
		close(w.ready)
	}
}
