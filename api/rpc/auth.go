package rpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"

	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var (
	anyone  = []store.Role{store.Volunteer, store.Staff, store.Coordinator, store.Admin}
	readers = []store.Role{store.Staff, store.Coordinator, store.Admin}
	staff   = []store.Role{store.Staff, store.Admin}
	admins  = []store.Role{store.Admin}
)

// allowed says which roles may call each procedure. A procedure missing
// here is refused to everyone: a new RPC must be given its roles.
var allowed = map[string][]store.Role{
	villagesyncv1connect.SyncServiceSyncProcedure:                   anyone,
	villagesyncv1connect.ConflictServiceListConflictsProcedure:      readers,
	villagesyncv1connect.ConflictServiceResolveConflictProcedure:    staff,
	villagesyncv1connect.ReportServiceGetReportProcedure:            readers,
	villagesyncv1connect.AccessServiceWhoamiProcedure:               anyone,
	villagesyncv1connect.AccessServiceCreateUserProcedure:           admins,
	villagesyncv1connect.AccessServiceListUsersProcedure:            staff,
	villagesyncv1connect.AccessServiceSetVillagesProcedure:          admins,
	villagesyncv1connect.AccessServiceAddVillageProcedure:           admins,
	villagesyncv1connect.AccessServiceCreateEnrollmentCodeProcedure: staff,
	villagesyncv1connect.AccessServiceListDevicesProcedure:          staff,
	villagesyncv1connect.AccessServiceRevokeDeviceProcedure:         staff,
	villagesyncv1connect.AccessServiceListChangesProcedure:          readers,
}

// public procedures need no token: the enrollment code is the credential.
var public = map[string]bool{villagesyncv1connect.AccessServiceEnrollProcedure: true}

type principalKey struct{}

// PrincipalFrom returns the authenticated caller of a request.
func PrincipalFrom(ctx context.Context) (store.Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(store.Principal)
	return p, ok
}

// Limits bound what one device may ask of the server.
type Limits struct {
	// RequestsPerSecond and Burst bound each device's calls.
	RequestsPerSecond float64
	Burst             int
	// Timeout bounds the work of one call.
	Timeout time.Duration
}

// DefaultLimits are generous for a phone that syncs every few minutes and
// tight enough that one runaway device cannot starve the others.
var DefaultLimits = Limits{RequestsPerSecond: 10, Burst: 40, Timeout: time.Minute}

// Auth authenticates every call by its bearer token, checks the caller's
// role against the procedure, rate-limits each device and bounds each
// call's time. Tokens are never logged.
func Auth(st *store.Store, lim Limits) connect.UnaryInterceptorFunc {
	var mu sync.Mutex
	// Buckets per device, and per client address for calls without a
	// valid token (enrollment, bad tokens), so nobody can make the server
	// hash and look up tokens, or take the writer for enrollments, at will.
	limiters := map[string]*rate.Limiter{}
	// wait is how long key must wait for its next call; 0: it may call.
	wait := func(key string) time.Duration {
		if lim.RequestsPerSecond <= 0 {
			return 0
		}
		mu.Lock()
		defer mu.Unlock()
		l, ok := limiters[key]
		if !ok {
			if len(limiters) > 100000 {
				clear(limiters) // bounded memory; a reset only forgives
			}
			l = rate.NewLimiter(rate.Limit(lim.RequestsPerSecond), lim.Burst)
			limiters[key] = l
		}
		r := l.Reserve()
		d := r.Delay()
		if d > 0 {
			r.Cancel() // a refused call costs no token
		}
		return d
	}
	// tooFast says when to come back, so a phone with a long backlog waits
	// and goes on instead of failing: Retry-After in whole seconds for any
	// HTTP client, Retry-After-Ms for ours.
	tooFast := func(who string, d time.Duration) error {
		err := connect.NewError(connect.CodeResourceExhausted,
			fmt.Errorf("rate: %s is calling faster than %.0f requests a second; wait and retry", who, lim.RequestsPerSecond))
		err.Meta().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
		err.Meta().Set("Retry-After-Ms", strconv.FormatInt(max(d.Milliseconds(), 1), 10))
		return err
	}
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			if lim.Timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
				defer cancel()
			}
			proc := req.Spec().Procedure
			addr := "addr " + clientHost(req.Peer().Addr)
			if public[proc] {
				if d := wait(addr); d > 0 {
					return nil, tooFast(addr, d)
				}
				return next(ctx, req)
			}
			token, _ := strings.CutPrefix(req.Header().Get("Authorization"), "Bearer ")
			p, err := st.Authenticate(ctx, strings.TrimSpace(token))
			if err != nil {
				if d := wait(addr); d > 0 {
					return nil, tooFast(addr, d)
				}
				if errors.Is(err, store.ErrUnauthenticated) {
					return nil, connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("token: %v", err))
				}
				return nil, connect.NewError(connect.CodeInternal, errors.New("internal error; the server log has the details"))
			}
			if !slices.Contains(allowed[proc], p.Role) {
				return nil, connect.NewError(connect.CodePermissionDenied,
					fmt.Errorf("role: %s (user %s) may not call %s", p.Role, p.User, proc))
			}
			if d := wait(fmt.Sprint("device ", p.Replica)); d > 0 {
				return nil, tooFast(fmt.Sprint("device ", p.Replica), d)
			}
			return next(context.WithValue(ctx, principalKey{}, p), req)
		}
	}
}

// caller returns the authenticated caller; handlers run only behind Auth.
func caller(ctx context.Context) (store.Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return store.Principal{}, connect.NewError(connect.CodeUnauthenticated, errors.New("token: missing"))
	}
	return p, nil
}

// clientHost is the host part of a peer address ("ip:port").
func clientHost(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}
