package rpc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var (
	anyone  = []store.Role{store.Volunteer, store.Staff, store.Coordinator, store.Admin}
	readers = []store.Role{store.Staff, store.Coordinator, store.Admin} // every village, read only
	staff   = []store.Role{store.Staff, store.Admin}
	admins  = []store.Role{store.Admin}
	writers = []store.Role{store.Volunteer, store.Staff, store.Admin} // coordinators write nothing
)

// allowed says which roles may call each procedure. A procedure missing
// here is refused to everyone: a new RPC must be given its roles.
//
// Those open to volunteers answer them within their villages (the
// handler narrows them): the report and its file hold only her villages
// and her devices, the records listed only hers, the device list only her devices, a record's history
// only records of her villages, the village list only hers. RevokeDevice
// is open to everyone for signing out: volunteers and coordinators may
// revoke only the device they call from.
var allowed = map[string][]store.Role{
	villagesyncv1connect.SyncServiceSyncProcedure:                   anyone,
	villagesyncv1connect.ConflictServiceListConflictsProcedure:      readers,
	villagesyncv1connect.ConflictServiceResolveConflictProcedure:    staff,
	villagesyncv1connect.ReportServiceGetReportProcedure:            anyone,
	villagesyncv1connect.ReportServiceExportReportProcedure:         anyone,
	villagesyncv1connect.ReportServiceListRecordsProcedure:          anyone,
	villagesyncv1connect.AccessServiceWhoamiProcedure:               anyone,
	villagesyncv1connect.AccessServiceCreateUserProcedure:           admins,
	villagesyncv1connect.AccessServiceListUsersProcedure:            staff,
	villagesyncv1connect.AccessServiceSetVillagesProcedure:          admins,
	villagesyncv1connect.AccessServiceAddVillageProcedure:           admins,
	villagesyncv1connect.AccessServiceListVillagesProcedure:         anyone,
	villagesyncv1connect.AccessServiceCreateEnrollmentCodeProcedure: staff,
	villagesyncv1connect.AccessServiceListDevicesProcedure:          anyone,
	villagesyncv1connect.AccessServiceRevokeDeviceProcedure:         anyone,
	villagesyncv1connect.AccessServiceListChangesProcedure:          anyone,
	villagesyncv1connect.AccessServiceResetBoxKeyProcedure:          staff,
	villagesyncv1connect.AttachmentServiceHoldsProcedure:            writers,
	villagesyncv1connect.AttachmentServiceUploadProcedure:           writers,
	villagesyncv1connect.AttachmentServiceFetchProcedure:            anyone,
	// Any enrolled device may carry a file: the changes are applied as
	// the device that made them, with its rights, not the carrier's.
	villagesyncv1connect.CarryServiceCarryProcedure:    anyone,
	villagesyncv1connect.CarryServiceCarryForProcedure: staff,
}

// lane are the procedures of the attachment lane. They count in a
// bucket of their own per device: a photo's hundred chunks must never
// make the device's next Sync wait or be refused.
var lane = map[string]bool{
	villagesyncv1connect.AttachmentServiceHoldsProcedure:  true,
	villagesyncv1connect.AttachmentServiceUploadProcedure: true,
	villagesyncv1connect.AttachmentServiceFetchProcedure:  true,
}

// LaneLimits is the attachment lane's rate and burst per device, from the
// limits of the other calls. The burst holds a whole photo's chunks: the
// interceptor runs after a chunk has crossed the link, so a chunk refused
// for coming too fast is one the device sends twice (a 3 MB photo re-sent
// 62% of its bytes with the Sync bucket's burst of 40, against a budget
// of 10%). The steady rate, four times a Sync's, is still above any
// village link (40 chunks a second is 1.3 MB/s).
func LaneLimits(lim Limits) (perSecond float64, burst int) {
	return 4 * lim.RequestsPerSecond, schema.MaxAttachmentBytes/schema.AttachmentChunk + lim.Burst
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
	// RequestsPerSecond and Burst bound each device's calls, and each
	// client address's enrollments and calls with a bad token.
	RequestsPerSecond float64
	Burst             int
	// Timeout bounds the work of one call.
	Timeout time.Duration
	// TrustedProxies are the reverse proxies whose X-Forwarded-For (or
	// Forwarded) header names the client; from anyone else the header is
	// ignored. Behind a proxy left out, every client has the proxy's
	// address and shares one bucket.
	TrustedProxies []netip.Prefix
}

// DefaultLimits are generous for a phone that syncs every few minutes and
// tight enough that one runaway device cannot starve the others.
var DefaultLimits = Limits{RequestsPerSecond: 10, Burst: 40, Timeout: time.Minute}

// Auth authenticates every call by its bearer token, checks the caller's
// role against the procedure, rate-limits each device and bounds each
// call's time. Tokens are never logged.
func Auth(st *store.Store, lim Limits) connect.UnaryInterceptorFunc {
	// Buckets per device, and per client address for calls without a
	// valid token, so nobody can make the server hash and look up tokens,
	// or take the writer for enrollments, at will. Enrollments and bad
	// tokens count apart: a phone retrying a revoked token must not keep
	// a new phone on the same network from enrolling.
	limiters := newBuckets(lim.RequestsPerSecond, lim.Burst, maxBuckets)
	lanePerSecond, laneBurst := LaneLimits(lim)
	laneLimiters := newBuckets(lanePerSecond, laneBurst, maxBuckets)
	// tooFast says when to come back, so a phone with a long backlog waits
	// and goes on instead of failing: Retry-After in whole seconds for any
	// HTTP client, Retry-After-Ms for ours.
	tooFast := func(who string, d time.Duration) error {
		err := refuse(connect.CodeResourceExhausted, "rate",
			"%s is calling faster than %.0f requests a second; wait and retry", who, lim.RequestsPerSecond)
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
			addr := "addr " + clientAddr(req.Peer().Addr, req.Header(), lim.TrustedProxies)
			noteCaller(ctx, addr)
			if public[proc] {
				if d := limiters.wait("enroll "+addr, time.Now()); d > 0 {
					return nil, tooFast(addr, d)
				}
				return next(ctx, req)
			}
			var p store.Principal
			token, err := bearerToken(req.Header().Get("Authorization"))
			if err == nil {
				p, err = st.Authenticate(ctx, token)
			}
			if err != nil {
				if d := limiters.wait("bad token "+addr, time.Now()); d > 0 {
					return nil, tooFast(addr, d)
				}
				// Every refusal of a token is a problem of the token field.
				var pr *record.Problem
				if errors.Is(err, store.ErrUnauthenticated) && errors.As(err, &pr) {
					return nil, connect.NewError(connect.CodeUnauthenticated, pr)
				}
				return nil, refuse(connect.CodeInternal, "", "internal error; the server log has the details")
			}
			device := fmt.Sprint("device ", p.Replica)
			noteCaller(ctx, device)
			if !slices.Contains(allowed[proc], p.Role) {
				return nil, refuse(connect.CodePermissionDenied, "role", "%s (user %s) may not call %s", p.Role, p.User, proc)
			}
			bucket := limiters
			if lane[proc] {
				bucket = laneLimiters
			}
			if d := bucket.wait(device, time.Now()); d > 0 {
				return nil, tooFast(device, d)
			}
			return next(context.WithValue(ctx, principalKey{}, p), req)
		}
	}
}

// bearerToken is the token of an Authorization header ("" when there is
// none); the scheme is case-insensitive (RFC 9110 11.1), so "bearer x" is
// "Bearer x".
func bearerToken(header string) (string, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", nil
	}
	scheme, token, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", record.Problemf(record.CodeUnauthenticated, "token",
			"the Authorization header's scheme is %q; send \"Bearer TOKEN\"", scheme).
			Of(store.ErrUnauthenticated)
	}
	return strings.TrimSpace(token), nil
}

// callerNote is where Auth writes who a call is from, for the request
// log that runs outside it.
type callerNote struct{ who string }

type callerNoteKey struct{}

// WithCaller returns ctx in which Auth notes who calls ("device 7", or
// "addr 192.0.2.1" before a token is accepted), and a function reading
// it: empty until Auth has seen the call.
func WithCaller(ctx context.Context) (context.Context, func() string) {
	n := &callerNote{}
	return context.WithValue(ctx, callerNoteKey{}, n), func() string { return n.who }
}

func noteCaller(ctx context.Context, who string) {
	if n, ok := ctx.Value(callerNoteKey{}).(*callerNote); ok {
		n.who = who
	}
}

// caller returns the authenticated caller; handlers run only behind Auth.
func caller(ctx context.Context) (store.Principal, error) {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return store.Principal{}, refuse(connect.CodeUnauthenticated, "token", "missing")
	}
	return p, nil
}
