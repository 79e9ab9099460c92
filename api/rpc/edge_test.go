package rpc_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// caller is an HTTP client that connects from a loopback address of its
// own and sends the given headers.
type caller struct {
	hc     *http.Client
	header http.Header
}

func from(local string, kv ...string) *caller {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c := &caller{hc: &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}, header: http.Header{}}
	for i := 0; i+1 < len(kv); i += 2 {
		c.header.Set(kv[i], kv[i+1])
	}
	return c
}

func (c *caller) Do(req *http.Request) (*http.Response, error) {
	for k, v := range c.header {
		req.Header[k] = v
	}
	return c.hc.Do(req)
}

func (c *caller) whoami(url string) error {
	_, err := villagesyncv1connect.NewAccessServiceClient(c, url).Whoami(context.Background(), &v1.WhoamiRequest{})
	return err
}

// RFC 9110 makes the authentication scheme case-insensitive.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	_, reg, e := start(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if err := from("127.0.0.1", "Authorization", scheme+" "+reg.Token).whoami(e.url); err != nil {
			t.Errorf("Authorization: %s TOKEN: %v", scheme, err)
		}
	}
	err := from("127.0.0.1", "Authorization", "Basic "+reg.Token).whoami(e.url)
	if connect.CodeOf(err) != connect.CodeUnauthenticated || !strings.Contains(err.Error(), `"Basic"`) {
		t.Errorf("Authorization: Basic: %v, want unauthenticated naming the scheme", err)
	}
}

// A phone retrying a bad token and a new phone enrolling from the same
// address (one village's Wi-Fi) are counted apart.
func TestEnrollmentAndBadTokensCountApart(t *testing.T) {
	e := startAccess(t, rpc.Limits{RequestsPerSecond: 0.001, Burst: 3})
	stale := from("127.0.0.1", "Authorization", "Bearer revoked-long-ago")
	var err error
	for range 4 {
		err = stale.whoami(e.url)
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("4th bad token in a burst of 3: %v, want resource_exhausted", err)
	}
	code, _ := e.st.CodeFor(context.Background(), "new", store.Volunteer, []string{"南香村"})
	_, err = villagesyncv1connect.NewAccessServiceClient(from("127.0.0.1"), e.url).
		Enroll(context.Background(), &v1.EnrollRequest{Code: code, DeviceName: "new phone"})
	if err != nil {
		t.Errorf("an enrollment after another phone's bad tokens: %v", err)
	}
}

// Behind a trusted proxy each client has its own bucket; a client that is
// not a trusted proxy cannot pick its address by sending the header.
func TestForwardedForOnlyFromTrustedProxies(t *testing.T) {
	e := startAccess(t, rpc.Limits{RequestsPerSecond: 0.001, Burst: 3,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	bad := "Bearer not-a-token"
	var err error
	for range 4 {
		err = from("127.0.0.1", "Authorization", bad, "X-Forwarded-For", "192.0.2.1").whoami(e.url)
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "addr 192.0.2.1") {
		t.Fatalf("4th bad token of 192.0.2.1 in a burst of 3: %v, want resource_exhausted naming it", err)
	}
	err = from("127.0.0.1", "Authorization", bad, "X-Forwarded-For", "192.0.2.2").whoami(e.url)
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("another client behind the same proxy: %v, want unauthenticated", err)
	}
	for i := range 4 {
		err = from("127.0.0.2", "Authorization", bad, "X-Forwarded-For", fmt.Sprint("198.51.100.", i)).whoami(e.url)
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "addr 127.0.0.2") {
		t.Errorf("an untrusted client naming a new address each call: %v, want resource_exhausted for 127.0.0.2", err)
	}
}

// A device or client refused again and again is one info line a minute,
// with a count; each refusal is at debug level.
func TestRefusalsAreLoggedOncePerCaller(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	_, volReg := e.device(t, "王芳", store.Volunteer, "南香村")
	vol := from("127.0.0.1", "Authorization", "Bearer "+volReg.Token)
	stale := from("127.0.0.1", "Authorization", "Bearer revoked-long-ago")
	for range 20 {
		stale.whoami(e.url)
		_, err := villagesyncv1connect.NewAccessServiceClient(vol, e.url).
			ListUsers(context.Background(), &v1.ListUsersRequest{})
		if connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Fatalf("a volunteer listing users: %v", err)
		}
	}
	info, debug := map[string]int{}, 0
	for line := range strings.Lines(e.logs.String()) {
		switch {
		case strings.Contains(line, "level=INFO") && strings.Contains(line, "rpc"):
			for _, who := range []string{"addr 127.0.0.1", fmt.Sprint("device ", volReg.Replica)} {
				if strings.Contains(line, fmt.Sprintf("caller=%q", who)) {
					info[who]++
				}
			}
		case strings.Contains(line, "level=DEBUG") && strings.Contains(line, `msg="rpc refused"`):
			debug++
		}
	}
	if len(info) != 2 || info["addr 127.0.0.1"] != 1 || info[fmt.Sprint("device ", volReg.Replica)] != 1 {
		t.Errorf("info lines about refusals by caller: %v, want one each", info)
	}
	if debug != 40 {
		t.Errorf("%d refusals at debug level, want 40", debug)
	}
}
