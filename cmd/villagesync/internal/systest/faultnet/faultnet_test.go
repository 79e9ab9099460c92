package faultnet_test

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/faultnet"
)

// The proxy's faults are what its counts say: a refused or aborted call
// never reaches the server, a lost answer does (the server commits) and
// the caller gets no answer, and only the prefix's paths are faulted, only
// while on.
func TestProxy(t *testing.T) {
	var reached atomic.Int64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		io.WriteString(w, "committed")
	})
	p := faultnet.NewProxy(next, "/sync/", rand.New(rand.NewPCG(1, 2)))
	srv := httptest.NewServer(p)
	defer srv.Close()
	// A client that reuses no connection: an aborted one is not retried
	// on a fresh one behind the test's back.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (answered, failed int) {
		resp, err := hc.Post(srv.URL+path, "text/plain", strings.NewReader("x"))
		if err != nil {
			return 0, 1
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && string(body) == "committed" {
			return 1, 0
		}
		return 0, 1
	}
	tests := []struct {
		name        string
		on          bool
		path        string
		wantFaulted bool
	}{
		{"off", false, "/sync/x", false},
		{"another path", true, "/ui/x", false},
		{"on", true, "/sync/x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.Set(tt.on)
			before, reachedBefore := p.Counts(), reached.Load()
			const calls = 200
			var answered, failed int
			for range calls {
				a, f := get(tt.path)
				answered += a
				failed += f
			}
			c := p.Counts()
			refused, aborted, lost := c.Refused-before.Refused, c.Aborted-before.Aborted, c.ResponsesLost-before.ResponsesLost
			passed := c.Passed - before.Passed
			if !tt.wantFaulted {
				if failed != 0 || refused+aborted+lost+passed != 0 || reached.Load()-reachedBefore != calls {
					t.Fatalf("%d of %d calls failed, counts moved by %d/%d/%d/%d; want none faulted",
						failed, calls, passed, refused, aborted, lost)
				}
				return
			}
			if refused == 0 || aborted == 0 || lost == 0 {
				t.Fatalf("in %d calls %d refused, %d aborted, %d lost: want each fault", calls, refused, aborted, lost)
			}
			if int64(answered) != passed || int64(failed) != refused+aborted+lost {
				t.Errorf("%d answered and %d failed; the proxy counts %d passed, %d faulted",
					answered, failed, passed, refused+aborted+lost)
			}
			if got := reached.Load() - reachedBefore; got != passed+lost {
				t.Errorf("the server saw %d calls, want %d passed + %d whose answer was lost", got, passed, lost)
			}
		})
	}
}

func TestCutter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	c := faultnet.NewCutter(10 << 10)
	hc := c.Client()
	ok, failed := 0, 0
	for i := 0; i < 20; i++ {
		resp, err := hc.Post(srv.URL, "application/octet-stream", bytes.NewReader(make([]byte, 3<<10)))
		if err != nil {
			failed++
			continue
		}
		resp.Body.Close()
		ok++
	}
	// 20 requests of a little over 3 KiB: about 6 cuts in 60 KiB.
	if n := c.Cuts(); n < 5 || n > 8 || int64(failed) != n {
		t.Fatalf("cuts %d, failed requests %d, ok %d; want about 6 cuts, each failing its request", n, failed, ok)
	}
}
