package rpc

import (
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/store"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("127.0.0.1, 10.0.0.0/8 ::1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, peer string
		header     http.Header
		want       string
	}{
		{"no proxy", "192.0.2.7:5000", nil, "192.0.2.7"},
		{"an untrusted peer's header is ignored", "192.0.2.7:5000",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "192.0.2.7"},
		{"a trusted proxy names the client", "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"what the client wrote left of it is not believed", "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"203.0.113.9, 10.1.1.1, 198.51.100.1"}}, "198.51.100.1"},
		{"a chain of trusted proxies", "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"198.51.100.1, 10.1.1.1", "10.2.2.2"}}, "198.51.100.1"},
		{"all trusted: the first", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"10.3.3.3, 10.1.1.1"}},
			"10.3.3.3"},
		{"a hop with a port", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {"198.51.100.1:4711"}},
			"198.51.100.1"},
		{"an unreadable hop stops at the proxy", "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"198.51.100.1, garbage"}}, "127.0.0.1"},
		{"an empty header", "127.0.0.1:5000", http.Header{"X-Forwarded-For": {""}}, "127.0.0.1"},
		{"Forwarded", "127.0.0.1:5000",
			http.Header{"Forwarded": {`for=203.0.113.9;proto=https, For="[2001:db8:1:2::9]:4711";by=10.0.0.1`}},
			"2001:db8:1:2::/64"},
		{"Forwarded unknown", "127.0.0.1:5000", http.Header{"Forwarded": {"for=unknown"}}, "127.0.0.1"},
		{"X-Forwarded-For before Forwarded", "127.0.0.1:5000",
			http.Header{"X-Forwarded-For": {"198.51.100.1"}, "Forwarded": {"for=203.0.113.9"}}, "198.51.100.1"},
		{"an IPv6 client counts by its /64", "[2001:db8:aa:bb:1:2:3:4]:443", nil, "2001:db8:aa:bb::/64"},
		{"IPv4 in IPv6", "[::ffff:192.0.2.7]:5000", nil, "192.0.2.7"},
		{"an IPv6 proxy", "[::1]:5000", http.Header{"X-Forwarded-For": {"::ffff:198.51.100.1"}}, "198.51.100.1"},
	} {
		if got := clientAddr(tt.peer, tt.header, trusted); got != tt.want {
			t.Errorf("%s: clientAddr(%s, %v) = %s, want %s", tt.name, tt.peer, tt.header, got, tt.want)
		}
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []netip.Prefix
		err  bool
	}{
		{"", nil, false},
		{"127.0.0.1", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, false},
		{"10.1.2.3/8,  fd00::/8", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("fd00::/8")}, false},
		{"::ffff:10.0.0.0/104", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false},
		{"nginx", nil, true},
		{"10.0.0.0/33", nil, true},
	} {
		got, err := ParseTrustedProxies(tt.in)
		if (err != nil) != tt.err || len(got) != len(tt.want) {
			t.Errorf("ParseTrustedProxies(%q) = %v, %v", tt.in, got, err)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParseTrustedProxies(%q) = %v, want %v", tt.in, got, tt.want)
			}
		}
	}
}

// A full set of buckets drops the one idle longest: a client being
// refused keeps its bucket however many new clients come.
func TestBucketsEvictTheIdlest(t *testing.T) {
	b := newBuckets(0.001, 1, 3)
	now := time.Now()
	call := func(key string) bool { now = now.Add(time.Millisecond); return b.wait(key, now) == 0 }
	if !call("busy") || call("busy") {
		t.Fatal("a bucket of 1 did not refuse the second call")
	}
	call("idle")
	call("b")
	for i := range 10 {
		if call("busy") {
			t.Fatalf("after %d new clients the busy client was forgiven", i)
		}
		call(string(rune('c' + i)))
	}
	if len(b.byKey) != 3 || b.lru.Len() != 3 {
		t.Errorf("%d buckets (%d in the list), want at most 3", len(b.byKey), b.lru.Len())
	}
	if !call("idle") {
		t.Error("the idlest bucket was kept")
	}
}

func TestBearerToken(t *testing.T) {
	for _, tt := range []struct{ header, token string }{
		{"Bearer abc", "abc"}, {"bearer abc", "abc"}, {"BEARER  abc ", "abc"}, {"", ""},
	} {
		if got, err := bearerToken(tt.header); got != tt.token || err != nil {
			t.Errorf("bearerToken(%q) = %q, %v; want %q", tt.header, got, err, tt.token)
		}
	}
	for _, h := range []string{"Basic YTpi", "abc", "Bearerabc"} {
		if _, err := bearerToken(h); !errors.Is(err, store.ErrUnauthenticated) {
			t.Errorf("bearerToken(%q): %v, want unauthenticated", h, err)
		}
	}
}
