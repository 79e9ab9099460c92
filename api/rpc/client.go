package rpc

import (
	"container/list"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds the rate limiters kept in memory: devices and client
// addresses together.
const maxBuckets = 100_000

// buckets are token buckets by key (a device, or a client address and
// what it asks), least recently used last. When full, the bucket idle
// the longest goes: wiping them all would forgive the clients being
// refused right now, and a flood of new addresses could buy that at will.
type buckets struct {
	mu    sync.Mutex
	every rate.Limit
	burst int
	max   int
	byKey map[string]*list.Element // of *bucket
	lru   list.List
}

type bucket struct {
	key string
	l   *rate.Limiter
}

func newBuckets(perSecond float64, burst, max int) *buckets {
	return &buckets{every: rate.Limit(perSecond), burst: burst, max: max, byKey: map[string]*list.Element{}}
}

// wait is how long key must wait for its next call; 0: it may call now,
// and the call is counted.
func (b *buckets) wait(key string, now time.Time) time.Duration {
	if b.every <= 0 {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.byKey[key]
	if ok {
		b.lru.MoveToFront(e)
	} else {
		if b.lru.Len() >= b.max {
			oldest := b.lru.Back()
			b.lru.Remove(oldest)
			delete(b.byKey, oldest.Value.(*bucket).key)
		}
		e = b.lru.PushFront(&bucket{key: key, l: rate.NewLimiter(b.every, b.burst)})
		b.byKey[key] = e
	}
	r := e.Value.(*bucket).l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > 0 {
		r.CancelAt(now) // a refused call costs no token
	}
	return d
}

// clientAddr is the address of the client a request comes from, as the
// per-address limits count it. It is the peer's, unless the peer is one
// of the trusted proxies: then it is the nearest address in
// X-Forwarded-For (or, without that header, Forwarded) that is not a
// trusted proxy. Entries left of it are whatever the client sent and are
// never believed. An IPv6 client is counted by its /64, which one host
// typically holds whole.
func clientAddr(peer string, h http.Header, trusted []netip.Prefix) string {
	host := peer
	if hp, _, err := net.SplitHostPort(peer); err == nil {
		host = hp
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap()
	if isTrusted(addr, trusted) {
		hops := forwardedFor(h)
		for i := len(hops) - 1; i >= 0; i-- {
			hop, ok := parseHop(hops[i])
			if !ok {
				break // a proxy we trust wrote something we cannot read: stop at that proxy
			}
			addr = hop
			if !isTrusted(hop, trusted) {
				break
			}
		}
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor lists the hops a request passed, the client first, from
// X-Forwarded-For or else Forwarded's for= parameters (RFC 7239).
func forwardedFor(h http.Header) []string {
	var hops []string
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		for _, v := range xff {
			for hop := range strings.SplitSeq(v, ",") {
				hops = append(hops, strings.TrimSpace(hop))
			}
		}
		return hops
	}
	for _, v := range h.Values("Forwarded") {
		for elem := range strings.SplitSeq(v, ",") {
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(pair), "=")
				if strings.EqualFold(k, "for") {
					hops = append(hops, strings.Trim(val, `"`))
				}
			}
		}
	}
	return hops
}

// parseHop reads one hop: "192.0.2.1", "192.0.2.1:4711", "2001:db8::1"
// or "[2001:db8::1]:4711". Forwarded's "unknown" and obfuscated names
// are not addresses.
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// ParseTrustedProxies reads a list of addresses and CIDR prefixes
// separated by commas or spaces ("127.0.0.1, 10.0.0.0/8"); an address is
// a prefix of its full length.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if a, err := netip.ParseAddr(f); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR prefix such as 127.0.0.1/32 or 10.0.0.0/8", f)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
