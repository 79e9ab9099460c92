package endtoend

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// tcpCounter counts bytes crossing the server's sockets, headers included.
type tcpCounter struct {
	net.Listener
	in, out atomic.Int64 // as seen by the server: in = requests, out = responses
}

func (l *tcpCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l *tcpCounter
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.l.in.Add(int64(n))
	return n, err
}

func (c *countedConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.l.out.Add(int64(n))
	return n, err
}

// wireEnv is a server whose socket traffic is counted.
func wireEnv(tb testing.TB) (url string, cnt *tcpCounter, dir string, st *store.Store) {
	tb.Helper()
	dir = tb.TempDir()
	var err error
	st, err = store.Open(context.Background(), filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cnt = &tcpCounter{Listener: ln}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.DiscardHandler)
	go func() { done <- server.Serve(ctx, cnt, server.Handler(st, log), log, 0) }()
	tb.Cleanup(func() { cancel(); <-done; st.Close() })
	return "http://" + ln.Addr().String(), cnt, dir, st
}

func session(i int) []any {
	// One class a day: distinct village, date and class, so none is a
	// probable duplicate.
	date := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format(time.DateOnly)
	return []any{"village", "南香村", "session_date", date, "start_time", "19:00",
		"class_group", fmt.Sprintf("grade %d", 1+i%6), "volunteers", "李老师,王同学", "subjects", "数学,语文",
		"children_present", 20 + i%15, "notes", fmt.Sprintf("第%d次课，复习分数和小数", i)}
}

// BenchmarkWire reports bytes on the wire (TCP, headers included) and HTTP
// requests per sync, for an idle sync and for pushing and pulling
// tutoring sessions. Run: go test ./cmd/villagesync/internal/systest/endtoend -run '^$' -bench Wire
func BenchmarkWire(b *testing.B) {
	const records = 2000
	ctx := context.Background()
	// Each iteration gets a fresh server, so every figure is for exactly
	// the records named, with nothing left over from an earlier iteration.
	type setup struct {
		cnt  *tcpCounter
		reqs *counting
		dev  *replica.Replica
	}
	device := func(b *testing.B, url, dir string, st *store.Store, name string, reqs *counting,
		sessions int) *replica.Replica {
		code, err := st.CodeFor(ctx, name, store.Staff, nil)
		if err != nil {
			b.Fatal(err)
		}
		d, err := replica.Init(ctx, filepath.Join(dir, name+".db"), url, code, name, replica.Options{HTTPClient: reqs})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		for i := range sessions {
			put(b, d, "tutoring_sessions", "", session(i)...)
		}
		return d
	}
	fresh := func(b *testing.B, pushed, pending int) setup {
		url, cnt, dir, st := wireEnv(b)
		reqs := &counting{next: &http.Transport{}}
		if pushed > 0 {
			syncOK(b, device(b, url, dir, st, "pusher", reqs, pushed))
		}
		d := device(b, url, dir, st, "measured", reqs, pending)
		if pending == 0 && pushed == 0 {
			syncOK(b, d)
		}
		return setup{cnt, reqs, d}
	}
	measure := func(name string, per int, prepare func(b *testing.B) setup) {
		b.Run(name, func(b *testing.B) {
			var in, out, n int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				s := prepare(b)
				s.cnt.in.Store(0)
				s.cnt.out.Store(0)
				s.reqs.n.Store(0)
				b.StartTimer()
				syncOK(b, s.dev)
				in, out, n = s.cnt.in.Load(), s.cnt.out.Load(), int64(s.reqs.n.Load())
			}
			b.ReportMetric(float64(in)/float64(per), "req-B/"+unit(per))
			b.ReportMetric(float64(out)/float64(per), "resp-B/"+unit(per))
			b.ReportMetric(float64(n), "requests/sync")
		})
	}
	measure("push-2000-sessions", records, func(b *testing.B) setup { return fresh(b, 0, records) })
	measure("idle", 1, func(b *testing.B) setup { return fresh(b, 0, 0) })
	measure("pull-2000-sessions", records, func(b *testing.B) setup { return fresh(b, records, 0) })
}

func unit(per int) string {
	if per == 1 {
		return "sync"
	}
	return "record"
}
