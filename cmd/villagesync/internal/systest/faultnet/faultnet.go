package faultnet

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
)

// Client is a connect.HTTPClient that loses requests, loses responses
// after the server committed, and delivers requests twice, each about one
// call in ten, while On. Rand is not locked: the caller gives each
// client's user its own, or calls from one goroutine only (the
// simulation's world shares one among its devices to keep a seed's faults
// in one sequence).
type Client struct {
	Rand *rand.Rand
	On   bool
}

func (f *Client) Do(req *http.Request) (*http.Response, error) {
	if !f.On {
		return http.DefaultTransport.RoundTrip(req)
	}
	switch f.Rand.IntN(10) {
	case 0:
		return nil, errors.New("faultnet: request lost")
	case 1:
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
			return nil, errors.New("faultnet: response lost after the server committed")
		}
		return nil, err
	case 2:
		// Delivered twice: the first answer is lost, the replay's returned.
		if req.GetBody != nil {
			if resp, err := http.DefaultTransport.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// Counts are the faults a Proxy injected.
type Counts struct {
	Passed, Refused, Aborted, ResponsesLost int64
}

// Proxy serves Next, faulting the requests whose path starts with Prefix
// while on: it answers 503 before Next sees the request, or aborts the
// connection before Next sees it, or lets Next run to the end into a
// recorder (the server commits) and then aborts the connection, so the
// browser never reads the answer. Requests from many browsers arrive at
// once, so its random source is locked.
type Proxy struct {
	Next   http.Handler
	Prefix string

	mu     sync.Mutex
	rng    *rand.Rand
	on     atomic.Bool
	counts struct{ passed, refused, aborted, lost atomic.Int64 }
}

// NewProxy faults Prefix's requests to next by rng; it starts off.
func NewProxy(next http.Handler, prefix string, rng *rand.Rand) *Proxy {
	return &Proxy{Next: next, Prefix: prefix, rng: rng}
}

// Set turns the faults on or off.
func (p *Proxy) Set(on bool) { p.on.Store(on) }

// Counts says what the proxy did so far.
func (p *Proxy) Counts() Counts {
	return Counts{Passed: p.counts.passed.Load(), Refused: p.counts.refused.Load(),
		Aborted: p.counts.aborted.Load(), ResponsesLost: p.counts.lost.Load()}
}

func (p *Proxy) roll() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.IntN(10)
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.on.Load() || !strings.HasPrefix(r.URL.Path, p.Prefix) {
		p.Next.ServeHTTP(w, r)
		return
	}
	switch p.roll() {
	case 0:
		p.counts.refused.Add(1)
		http.Error(w, "faultnet: refused before the server", http.StatusServiceUnavailable)
	case 1:
		p.counts.aborted.Add(1)
		// ErrAbortHandler makes net/http close the connection without an
		// answer, as a dropped link would.
		panic(http.ErrAbortHandler)
	case 2:
		p.counts.lost.Add(1)
		rec := httptest.NewRecorder()
		p.Next.ServeHTTP(rec, r)
		panic(http.ErrAbortHandler)
	default:
		p.counts.passed.Add(1)
		p.Next.ServeHTTP(w, r)
	}
}

// Cutter is a link that drops every Every bytes a client sends, as a
// phone's signal does in a village: the connection carrying the byte at
// which the count runs out is cut there (the server reads a request cut
// short), and the count starts again on the next connection. It counts
// what the client writes to its sockets, headers included.
type Cutter struct {
	Every int64

	mu   sync.Mutex
	left int64 // bytes until the next cut; 0 before the first write
	on   atomic.Bool
	sent atomic.Int64
	cuts atomic.Int64
}

// NewCutter cuts every every bytes; it starts on.
func NewCutter(every int64) *Cutter {
	c := &Cutter{Every: every, left: every}
	c.on.Store(true)
	return c
}

// Set turns the cuts on or off.
func (c *Cutter) Set(on bool) { c.on.Store(on) }

// Sent is the bytes the client wrote so far; Cuts the links cut.
func (c *Cutter) Sent() int64 { return c.sent.Load() }
func (c *Cutter) Cuts() int64 { return c.cuts.Load() }

// Client is an HTTP client over the cutting link, with its own pool of
// connections.
func (c *Cutter) Client() *http.Client {
	d := &net.Dialer{}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &cutConn{Conn: conn, c: c}, nil
	}
	return &http.Client{Transport: tr}
}

type cutConn struct {
	net.Conn
	c *Cutter
}

func (cc *cutConn) Write(p []byte) (int, error) {
	c := cc.c
	if !c.on.Load() {
		c.sent.Add(int64(len(p)))
		return cc.Conn.Write(p)
	}
	c.mu.Lock()
	if int64(len(p)) < c.left {
		c.left -= int64(len(p))
		c.mu.Unlock()
		c.sent.Add(int64(len(p)))
		return cc.Conn.Write(p)
	}
	room := c.left
	c.left = c.Every
	c.mu.Unlock()
	c.cuts.Add(1)
	n, _ := cc.Conn.Write(p[:room])
	c.sent.Add(int64(n))
	cc.Conn.Close()
	return n, errors.New("faultnet: link cut")
}
