package store

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// enterAsync starts g.enter in a goroutine and returns once it is queued;
// its outcome arrives on the channel.
func enterAsync(t *testing.T, g *pageGate, ctx context.Context) <-chan error {
	t.Helper()
	g.mu.Lock()
	before := len(g.waiting)
	g.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- g.enter(ctx) }()
	for {
		g.mu.Lock()
		n := len(g.waiting)
		g.mu.Unlock()
		if n > before {
			return done
		}
		select {
		case err := <-done:
			t.Fatalf("enter returned at once (%v), want it queued", err)
		default:
			runtime.Gosched()
		}
	}
}

func queued(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("a page read started (%v), want it still waiting", err)
	default:
	}
}

// The gate's rules: a few page reads at once, first come first served,
// none starting while a push waits unless it has given way long enough.
func TestPageGate(t *testing.T) {
	ctx := context.Background()
	t.Run("slots", func(t *testing.T) {
		g := newPageGate(2)
		for range 2 {
			if err := g.enter(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if ok, _ := g.tryEnter(0); ok {
			t.Fatal("a third page read started with two slots")
		}
		third := enterAsync(t, g, ctx)
		fourth := enterAsync(t, g, ctx)
		queued(t, third)
		g.leave()
		if err := <-third; err != nil {
			t.Fatal(err)
		}
		queued(t, fourth)
		g.leave()
		if err := <-fourth; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("pushes first", func(t *testing.T) {
		g := newPageGate(2)
		g.yield = time.Hour
		g.pushBegin()
		if ok, _ := g.tryEnter(0); ok {
			t.Fatal("a page read started while a push waits")
		}
		read := enterAsync(t, g, ctx)
		g.pushBegin()
		g.pushEnd()
		queued(t, read) // one push still waits
		g.pushEnd()
		if err := <-read; err != nil {
			t.Fatal(err)
		}
		// A queued page read goes before a new one, even with a slot free.
		g.pushBegin()
		queuedRead := enterAsync(t, g, ctx)
		g.pushEnd()
		if err := <-queuedRead; err != nil {
			t.Fatal(err)
		}
		if g.free != 0 {
			t.Fatalf("%d slots free, want 0", g.free)
		}
	})
	t.Run("a waiter in turn goes first", func(t *testing.T) {
		g := newPageGate(1)
		g.yield = time.Hour
		g.pushBegin()
		read := enterAsync(t, g, ctx)
		if ok, _ := g.tryEnter(0); ok {
			t.Fatal("a new page read jumped the queue")
		}
		g.pushEnd()
		if err := <-read; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("quiet after another push", func(t *testing.T) {
		g := newPageGate(2)
		g.quiet = time.Hour
		g.pushBegin()
		g.pushEnd()
		own := g.pushBegin()
		g.pushEnd()
		if ok, wait := g.tryEnter(0); ok || wait <= 0 {
			t.Fatalf("tryEnter = %v, %v just after a push, want a wait", ok, wait)
		}
		if ok, wait := g.tryEnter(own); ok || wait <= 0 {
			t.Fatalf("tryEnter(own) = %v, %v just after another push, want a wait", ok, wait)
		}
		g.quiet = 0
		if ok, _ := g.tryEnter(own); !ok {
			t.Fatal("no page read after the quiet period")
		}
	})
	t.Run("one's own push is no crowd", func(t *testing.T) {
		g := newPageGate(2)
		g.quiet = time.Hour
		own := g.pushBegin()
		g.pushEnd()
		if !g.enterAfterPush(ctx, own) {
			t.Fatal("a lone push was answered without its page")
		}
	})
	t.Run("a pusher waits out a short quiet", func(t *testing.T) {
		g := newPageGate(2)
		g.quiet = time.Millisecond
		g.pushBegin()
		g.pushEnd()
		own := g.pushBegin()
		g.pushEnd()
		if !g.enterAfterPush(ctx, own) {
			t.Fatal("no page after the quiet period, with no push in it")
		}
	})
	t.Run("a push waiting defers the page", func(t *testing.T) {
		g := newPageGate(2)
		own := g.pushBegin()
		g.pushBegin() // another, still being committed
		g.pushEnd()
		if g.enterAfterPush(ctx, own) {
			t.Fatal("a page read started while another push waits")
		}
	})
	t.Run("no starving", func(t *testing.T) {
		g := newPageGate(1)
		g.yield = time.Millisecond
		g.pushBegin() // a push that never ends
		if err := <-enterAsync(t, g, ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("giving up", func(t *testing.T) {
		g := newPageGate(1)
		g.yield = time.Hour
		if err := g.enter(ctx); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		gaveUp := enterAsync(t, g, cctx)
		next := enterAsync(t, g, ctx)
		cancel()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Fatalf("enter = %v, want canceled", err)
		}
		g.leave()
		if err := <-next; err != nil {
			t.Fatal(err)
		}
		g.leave()
		if g.free != 1 || len(g.waiting) != 0 {
			t.Fatalf("free %d, waiting %d: want 1 and 0", g.free, len(g.waiting))
		}
	})
}

// While page reads are busy, a push is answered at once with its
// results and no page; the device's next round trip gets the page, and
// nothing is lost or sent twice.
func TestBusyServerAcknowledgesBeforeThePage(t *testing.T) {
	ctx := context.Background()
	s, admin := openWithAdmin(t, testDSN(t))
	t.Cleanup(func() { s.Close() })
	code, err := s.CodeFor(ctx, "li", Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	phone, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	// The phone's first sync: its scope, and the feed's head.
	first, err := s.Sync(ctx, phone, &protocol.Request{Replica: phone.Replica})
	if err != nil {
		t.Fatal(err)
	}
	cursor := first.NextCursor
	news := []*record.Record{book(admin.Replica, "一"), book(admin.Replica, "二")}
	if _, err := s.Push(ctx, admin, news); err != nil {
		t.Fatal(err)
	}

	for range s.gate.slots {
		if err := s.gate.enter(ctx); err != nil {
			t.Fatal(err)
		}
	}
	own := book(phone.Replica, "三")
	busy, err := s.Sync(ctx, phone, &protocol.Request{Replica: phone.Replica, Cursor: cursor,
		ScopeHash: first.ScopeHash, Changes: []protocol.Change{{Record: own}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(busy.Results) != 1 || busy.Results[0].Outcome != record.Applied {
		t.Fatalf("results %+v, want the push applied", busy.Results)
	}
	if len(busy.Records) != 0 || !busy.HasMore || busy.NextCursor != cursor {
		t.Fatalf("busy answer: %d records, more %v, next %d; want none, more, next %d",
			len(busy.Records), busy.HasMore, busy.NextCursor, cursor)
	}

	// A first sync that carries changes gets its scope and results alone
	// too; its cursor stays at the start.
	code2, err := s.CodeFor(ctx, "wang", Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := s.Enroll(ctx, code2, "phone")
	if err != nil {
		t.Fatal(err)
	}
	fourth := book(second.Replica, "四")
	firstBusy, err := s.Sync(ctx, second, &protocol.Request{Replica: second.Replica,
		Changes: []protocol.Change{{Record: fourth}}})
	if err != nil {
		t.Fatal(err)
	}
	if !firstBusy.Rescoped || firstBusy.ScopeHash != ScopeHash(second) || len(firstBusy.Records) != 0 ||
		!firstBusy.HasMore || firstBusy.NextCursor != 0 || firstBusy.Results[0].Outcome != record.Applied {
		t.Fatalf("busy first sync: rescoped %v, %d records, more %v, next %d, %+v; want its scope and results alone",
			firstBusy.Rescoped, len(firstBusy.Records), firstBusy.HasMore, firstBusy.NextCursor, firstBusy.Results)
	}

	for range s.gate.slots {
		s.gate.leave()
	}
	page, err := s.Sync(ctx, phone, &protocol.Request{Replica: phone.Replica, Cursor: cursor,
		ScopeHash: first.ScopeHash})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range page.Records {
		got[r.ID] = true
	}
	if len(page.Records) != 3 || !got[news[0].ID] || !got[news[1].ID] || !got[fourth.ID] || page.HasMore {
		t.Fatalf("page %+v, more %v: want the admin's two books, the second phone's, and no more", got, page.HasMore)
	}
}
