package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// StatsTimeout bounds the store reads of one scrape: a scrape that finds
// the database busy reports villagesync_store_up 0 rather than queueing.
const StatsTimeout = 5 * time.Second

// Outcomes of pushed records, the values of villagesync_pushed_records_total's
// outcome label (see rpc.SyncCounts).
var Outcomes = []string{"applied", "merged", "already_had", "held", "refused"}

// Metrics holds one server's registry and its counters.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	pushed   *prometheus.CounterVec
	pulled   prometheus.Counter
}

// New returns the metrics of a server over st, with Go's and the
// process's own beside them; log takes a failed scrape of the store.
func New(st *store.Store, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.Default()
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "villagesync_rpc_requests_total",
			Help: "Connect, gRPC and gRPC-Web calls served, by procedure and code (ok for success).",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "villagesync_rpc_duration_seconds",
			Help: "Time to serve a call, authentication included, by procedure.",
			// From an idle sync on a fast disk (about a millisecond) to a
			// full page or a carried file on a slow one, and the 30 s a
			// phone waits at most.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"procedure"}),
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "villagesync_pushed_records_total",
			Help: "Changes pushed by Sync and Carry, by outcome: applied, merged, already_had, " +
				"held (refused and kept for staff) or refused (not kept).",
		}, []string{"outcome"}),
		pulled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "villagesync_pulled_records_total",
			Help: "Records sent in Sync answers' pages.",
		}),
	}
	// Every outcome is exposed from the start, so a rate over it has a 0
	// to start from.
	for _, o := range Outcomes {
		m.pushed.WithLabelValues(o)
	}
	m.reg.MustRegister(m.requests, m.duration, m.pushed, m.pulled, newStoreCollector(st, log),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the server's registry, for tests and for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// ObserveSync counts what one Sync or Carry pushed and pulled
// (rpc.SyncObserver).
func (m *Metrics) ObserveSync(n rpc.SyncCounts) {
	for i, k := range []int{n.Applied, n.Merged, n.AlreadyHad, n.Held, n.Refused} {
		if k > 0 {
			m.pushed.WithLabelValues(Outcomes[i]).Add(float64(k))
		}
	}
	if n.Pulled > 0 {
		m.pulled.Add(float64(n.Pulled))
	}
}

var _ rpc.SyncObserver = (*Metrics)(nil)

// Interceptor counts every call and its duration. The procedure is the
// spec's, one of the services' own (a path no handler serves never gets
// here), so the label's values are a fixed set.
func (m *Metrics) Interceptor() connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			start := time.Now()
			resp, err := next(ctx, req)
			procedure := req.Spec().Procedure
			code := "ok"
			if err != nil {
				code = connect.CodeOf(err).String()
			}
			m.requests.WithLabelValues(procedure, code).Inc()
			m.duration.WithLabelValues(procedure).Observe(time.Since(start).Seconds())
			return resp, err
		}
	}
}

// Handler serves the exposition. A collector's error is served as a 500
// with what it could not gather, which the store collector never causes:
// it reports villagesync_store_up 0 instead.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, MaxRequestsInFlight: 4,
		Timeout: StatsTimeout + 5*time.Second})
}

// Protect serves h only to requests with "Authorization: Bearer token",
// compared in constant time; others get 401. An empty token serves
// everyone (a listener only the operator's scraper reaches).
func Protect(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="villagesync metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// storeCollector reads store.Stats when scraped.
type storeCollector struct {
	st  *store.Store
	log *slog.Logger

	up, head, conflicts, held, active, lagMax, lag *prometheus.Desc
}

// lagBuckets are feed positions behind the head: from a device that is
// current to one a season behind.
var lagBuckets = []float64{0, 1, 10, 100, 1000, 10_000, 100_000, 1_000_000}

func newStoreCollector(st *store.Store, log *slog.Logger) *storeCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &storeCollector{st: st, log: log,
		up: d("villagesync_store_up", "1 when this scrape read the database's gauges, 0 when it failed "+
			"or took longer than the scrape's bound (the gauges are then left out)."),
		head:      d("villagesync_feed_head_seq", "The feed position: the seq of the newest write."),
		conflicts: d("villagesync_conflicts_open", "Conflict log entries awaiting review."),
		held:      d("villagesync_held_changes", "Refused changes held on the server for staff."),
		active: d("villagesync_devices_active", "Devices not revoked that synced within the last "+
			store.StatsActiveWithin.String()+"."),
		lagMax: d("villagesync_device_lag_max", "Feed positions the slowest active device is behind the head."),
		lag:    d("villagesync_device_lag", "Active devices by feed positions behind the head."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.head, c.conflicts, c.held, c.active, c.lagMax, c.lag} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), StatsTimeout)
	defer cancel()
	st, err := c.st.Stats(ctx)
	if err != nil {
		if !errors.Is(err, context.DeadlineExceeded) {
			c.log.Warn("metrics: reading the store's gauges", "err", err)
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	gauge(c.up, 1)
	gauge(c.head, float64(st.Head))
	gauge(c.conflicts, float64(st.OpenConflicts))
	gauge(c.held, float64(st.HeldChanges))
	gauge(c.active, float64(len(st.Lags)))
	gauge(c.lagMax, float64(st.MaxLag()))
	buckets := make(map[float64]uint64, len(lagBuckets))
	var sum float64
	for _, l := range st.Lags {
		sum += float64(l)
		for _, b := range lagBuckets {
			if float64(l) <= b {
				buckets[b]++
			}
		}
	}
	ch <- prometheus.MustNewConstHistogram(c.lag, uint64(len(st.Lags)), sum, buckets)
}
