package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/metrics"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// MaxRequestBytes bounds one request message, after decompression: about
// MaxChanges records of typical size with room to spare. An Upload's
// chunk has its own bound, MaxAttachmentRequestBytes.
const MaxRequestBytes = 8 << 20

// MaxAttachmentRequestBytes bounds one AttachmentService request: a chunk
// (schema.AttachmentChunk) and headroom for the rest of the message. Its
// calls come a hundred a photo, so the 8 MiB a Sync may need would let
// each one hold that much memory for nothing.
const MaxAttachmentRequestBytes = schema.AttachmentChunk + 64<<10

// Options configure the server beyond its store and log; the zero value
// gives the defaults.
type Options struct {
	// Limits bound each device's calls; nil means rpc.DefaultLimits (a
	// zero rpc.Limits means no limits at all).
	Limits *rpc.Limits
	// UI serves every request that is not for the API, on the same port:
	// the web console at / and /assets/.... The API's paths are its
	// services' (/villagesync.v1.*/, over Connect, gRPC and gRPC-Web),
	// health and reflection; everything else goes to UI exactly as it
	// came, with none of the API's wrappers or bounds (MaxRequestBytes,
	// the dropped Date and Accept-Encoding headers). Nil: those requests
	// are answered 404.
	UI http.Handler
	// Metrics, when set, counts every call and what Sync and Carry pushed
	// and pulled. Its /metrics is served on its own listener (see
	// StartMetrics), or on this port when PublicMetricsToken is set.
	Metrics *metrics.Metrics
	// PublicMetricsToken, with Metrics, serves /metrics on the API's port
	// to requests bearing it (Authorization: Bearer ...). Empty: the API's
	// port serves no /metrics.
	PublicMetricsToken string
}

// Handler returns the HTTP handler serving every villagesync service.
// Every call but enrollment needs a device token (see rpc.Auth); lim
// overrides rpc.DefaultLimits. It serves no UI: see NewHandler.
func Handler(st *store.Store, log *slog.Logger, lim ...rpc.Limits) http.Handler {
	var opt Options
	if len(lim) > 0 {
		opt.Limits = &lim[0]
	}
	return NewHandler(st, log, opt)
}

// NewHandler returns the HTTP handler serving every villagesync service
// and, when opt.UI is set, the UI beside them.
func NewHandler(st *store.Store, log *slog.Logger, opt Options) http.Handler {
	limits := rpc.DefaultLimits
	if opt.Limits != nil {
		limits = *opt.Limits
	}
	svc := &rpc.Service{Store: st, Log: log}
	// Localize is outermost but for the metrics, so the request log keeps
	// the English; the metrics time the whole call, authentication too.
	chain := []connect.Interceptor{rpc.Localize(), logRequests(log), rpc.Auth(st, limits)}
	if opt.Metrics != nil {
		svc.Observer = opt.Metrics
		chain = append([]connect.Interceptor{opt.Metrics.Interceptor()}, chain...)
	}
	interceptors := connect.WithInterceptors(chain...)
	bound := func(n int) []connect.HandlerOption {
		return []connect.HandlerOption{connect.WithReadMaxBytes(n), connect.WithCompressMinBytes(512),
			wire.GzipHandler(int64(n)), interceptors}
	}
	opts := bound(MaxRequestBytes)
	mux := http.NewServeMux()
	mux.Handle(villagesyncv1connect.NewSyncServiceHandler(svc, opts...))
	mux.Handle(villagesyncv1connect.NewConflictServiceHandler(svc, opts...))
	mux.Handle(villagesyncv1connect.NewReportServiceHandler(&rpc.ReportService{Store: st, Log: log}, opts...))
	mux.Handle(villagesyncv1connect.NewAccessServiceHandler(svc, opts...))
	mux.Handle(villagesyncv1connect.NewAttachmentServiceHandler(&rpc.AttachmentService{Service: svc},
		bound(MaxAttachmentRequestBytes)...))
	// A carried file may be as large as wire.MaxCarriedBytes, with the
	// request around it.
	mux.Handle(villagesyncv1connect.NewCarryServiceHandler(&rpc.CarryService{Service: svc},
		bound(wire.MaxCarriedBytes+64<<10)...))
	services := []string{villagesyncv1connect.SyncServiceName, villagesyncv1connect.ConflictServiceName,
		villagesyncv1connect.ReportServiceName, villagesyncv1connect.AccessServiceName,
		villagesyncv1connect.AttachmentServiceName, villagesyncv1connect.CarryServiceName}
	// Health and reflection take no token, so their requests are bounded
	// (and inflated within the bound) like every other.
	bounded := []connect.HandlerOption{connect.WithReadMaxBytes(MaxRequestBytes), wire.GzipHandler(MaxRequestBytes)}
	healthPath, health := grpchealth.NewHandler(&checker{st: st, services: services}, bounded...)
	mux.Handle(healthPath, schemaHeaders(health))
	reflector := grpcreflect.NewStaticReflector(services...)
	mux.Handle(grpcreflect.NewHandlerV1(reflector, bounded...))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector, bounded...))
	if opt.Metrics != nil && opt.PublicMetricsToken != "" {
		mux.Handle("GET /metrics", metrics.Protect(opt.Metrics.Handler(), opt.PublicMetricsToken))
	}
	api := noDate(mux)
	ui := opt.UI
	if ui == nil {
		ui = http.NotFoundHandler()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A path the mux has a pattern for is the API's (a path it would
		// only redirect to one counts too: the API answers the redirect).
		if _, pattern := mux.Handler(r); pattern != "" {
			api.ServeHTTP(w, r)
			return
		}
		ui.ServeHTTP(w, r)
	})
}

// noDate drops the Date header net/http adds to every response: devices
// do not use it (they get the server's clock in the body), and on an idle
// sync it is a tenth of the bytes.
func noDate(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Date"] = nil
		if r.URL.Path == villagesyncv1connect.SyncServiceSyncProcedure {
			w = &unadvertised{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})
}

// unadvertised drops the Accept-Encoding header Connect puts on unary
// responses to list the compressions it accepts: a device is built with
// the server's list, and on an idle sync those 23 bytes are a sixth of
// the answer.
type unadvertised struct {
	http.ResponseWriter
	done bool
}

func (u *unadvertised) WriteHeader(code int) {
	if !u.done {
		u.done = true
		u.Header()["Accept-Encoding"] = nil
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *unadvertised) Write(b []byte) (int, error) {
	if !u.done {
		u.WriteHeader(http.StatusOK)
	}
	return u.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (u *unadvertised) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// logRequests logs every RPC at debug level, with the procedure, peer,
// caller, protocol and duration, and refusals at info, once a minute per
// caller (device, or client address before a token is accepted) with how
// many there were: a phone retrying a revoked token, or a scanner, would
// otherwise fill the log. Internal errors are logged in full, at error
// level, where they are mapped to a code.
func logRequests(log *slog.Logger) connect.UnaryInterceptorFunc {
	refused := &refusals{byCaller: map[string]*refusal{}}
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			ctx, who := rpc.WithCaller(ctx)
			resp, err := next(ctx, req)
			caller := who()
			if caller == "" {
				caller = "addr " + req.Peer().Addr
			}
			attrs := []any{"procedure", req.Spec().Procedure, "peer", req.Peer().Addr, "caller", caller,
				"protocol", req.Peer().Protocol, "duration", time.Since(start)}
			if err == nil {
				log.Debug("rpc", attrs...)
				return resp, err
			}
			code := connect.CodeOf(err)
			attrs = append(attrs, "code", code.String(), "err", err)
			if code == connect.CodeInternal || code == connect.CodeUnknown || code == connect.CodeDataLoss {
				log.Info("rpc failed", attrs...)
				return resp, err
			}
			log.Debug("rpc refused", attrs...)
			if n := refused.note(caller, start); n > 0 {
				log.Info("rpc refused", "caller", caller, "refused", n, "procedure", req.Spec().Procedure,
					"code", code.String(), "err", err)
			}
			return resp, err
		}
	}
}

// refusals count refused calls per caller between the info lines.
type refusals struct {
	mu       sync.Mutex
	byCaller map[string]*refusal
	swept    time.Time // a full map is swept at most once a second
}

type refusal struct {
	logged time.Time // the last info line
	since  int       // refusals since, not logged at info
}

// maxRefusalCallers bounds the callers counted; past it, callers not
// logged within the minute are forgotten (their next refusal is logged).
const maxRefusalCallers = 10_000

// note counts a refusal of caller at now and says how many to log at
// info: those since the last line, this one included, once a minute has
// passed since it; 0 within the minute.
func (r *refusals) note(caller string, now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.byCaller[caller]
	if ok && now.Sub(e.logged) < time.Minute {
		e.since++
		return 0
	}
	if !ok {
		if len(r.byCaller) >= maxRefusalCallers && now.Sub(r.swept) >= time.Second {
			r.swept = now
			for k, old := range r.byCaller {
				if now.Sub(old.logged) >= time.Minute {
					delete(r.byCaller, k)
				}
			}
		}
		if len(r.byCaller) >= maxRefusalCallers {
			return 1 // every caller is busy: log without counting
		}
		e = &refusal{}
		r.byCaller[caller] = e
	}
	n := e.since + 1
	e.logged, e.since = now, 0
	return n
}

// Headers of health answers that state the server's schema versions,
// so a person or a monitor can tell which apps it serves without syncing
// (grpcurl -v ... grpc.health.v1.Health/Check shows them).
const (
	SchemaVersionHeader = "Villagesync-Schema-Version"
	OldestAppHeader     = "Villagesync-Oldest-App-Schema"
)

// schemaHeaders adds the schema headers to h's answers. Only health
// carries them: on every sync they would cost bytes the answer already
// carries in its body.
func schemaHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(SchemaVersionHeader, strconv.Itoa(schema.Version))
		w.Header().Set(OldestAppHeader, strconv.Itoa(schema.OldestApp))
		h.ServeHTTP(w, r)
	})
}

// checker reports SERVING while the database answers.
type checker struct {
	st       *store.Store
	services []string
}

func (c *checker) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	known := req.Service == ""
	for _, s := range c.services {
		known = known || s == req.Service
	}
	if !known {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("unknown service %q", req.Service))
	}
	if err := c.st.Ping(ctx); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// Serve serves h on ln until ctx is done, then shuts down gracefully:
// in-flight syncs finish (up to grace), new connections are refused.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, grace time.Duration) error {
	return serve(ctx, ln, h, log, grace, TLS{})
}

// TLS names a certificate and key to serve HTTPS with (HTTP/1.1 and
// HTTP/2); empty means cleartext (HTTP/1.1 and h2c), e.g. behind a proxy
// that terminates TLS.
type TLS struct{ CertFile, KeyFile string }

func (t TLS) on() bool { return t.CertFile != "" || t.KeyFile != "" }

func serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger, grace time.Duration, tls TLS) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	if tls.on() {
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	srv := &http.Server{
		Handler:           h,
		Protocols:         &protocols,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() {
		if tls.on() {
			errc <- srv.ServeTLS(ln, tls.CertFile, tls.KeyFile)
			return
		}
		errc <- srv.Serve(ln)
	}()
	log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// The grace is over: cut the connections still busy. Their
		// devices retry, and a retried sync never duplicates anything.
		log.Warn("shutdown grace elapsed; closing busy connections", "err", err)
		srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Running is a server started by Start.
type Running struct {
	URL  string
	stop context.CancelFunc
	done chan error

	once sync.Once
	err  error
}

// Start serves st on addr (use "127.0.0.1:0" for a free port) in the
// background; Stop shuts it down. For the demo and tests.
func Start(st *store.Store, addr string, log *slog.Logger, grace time.Duration) (*Running, error) {
	return StartTLS(st, addr, log, grace, TLS{})
}

// StartTLS is Start serving HTTPS when tls names a certificate; lim
// overrides rpc.DefaultLimits.
func StartTLS(st *store.Store, addr string, log *slog.Logger, grace time.Duration, tls TLS,
	lim ...rpc.Limits) (*Running, error) {
	var opt Options
	if len(lim) > 0 {
		opt.Limits = &lim[0]
	}
	return StartWith(st, addr, log, grace, tls, opt)
}

// StartWith is StartTLS with options: the limits, and a UI served on the
// same port (see Options).
func StartWith(st *store.Store, addr string, log *slog.Logger, grace time.Duration, tls TLS,
	opt Options) (*Running, error) {
	if tls.on() && (tls.CertFile == "" || tls.KeyFile == "") {
		return nil, errors.New("tls: give both --tls-cert and --tls-key")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{URL: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	if tls.on() {
		r.URL = "https://" + ln.Addr().String()
	}
	go func() { r.done <- serve(ctx, ln, NewHandler(st, log, opt), log, grace, tls) }()
	return r, nil
}

// StartMetrics serves m's /metrics (and nothing else) on addr, in
// cleartext, to requests bearing token when it is set; Stop shuts it
// down. Its own port keeps the exposition off the API's unless the
// operator asks (Options.PublicMetricsToken).
func StartMetrics(m *metrics.Metrics, addr, token string, log *slog.Logger, grace time.Duration) (*Running, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Protect(m.Handler(), token))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{URL: "http://" + ln.Addr().String(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- serve(ctx, ln, mux, log.With("server", "metrics"), grace, TLS{}) }()
	return r, nil
}

// Stop shuts the server down and waits for it. Later calls return the
// first call's result.
func (r *Running) Stop() error {
	r.once.Do(func() {
		r.stop()
		r.err = <-r.done
	})
	return r.err
}
