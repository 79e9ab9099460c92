package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/metrics"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

const token = "metrics-token-7f3a"

// world is a server with metrics on a port of their own, over a store
// the test reads too.
type world struct {
	st       *store.Store
	api, met *server.Running
	dir      string
}

func start(t *testing.T, opt server.Options, metricsToken string) *world {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "server.db"), store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w := &world{st: st, dir: dir}
	if opt.Metrics == nil {
		opt.Metrics = metrics.New(st, log)
	}
	if w.api, err = server.StartWith(st, "127.0.0.1:0", log, 0, server.TLS{}, opt); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.api.Stop() })
	if w.met, err = server.StartMetrics(opt.Metrics, "127.0.0.1:0", metricsToken, log, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.met.Stop() })
	return w
}

// device enrolls a device called name for a new volunteer user.
func (w *world) device(t *testing.T, user, name string, villages ...string) *replica.Replica {
	t.Helper()
	ctx := context.Background()
	code, err := w.st.CodeFor(ctx, user, store.Volunteer, villages)
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.Init(ctx, filepath.Join(w.dir, name+".db"), w.api.URL, code, name, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// get fetches url with the bearer token (none when empty).
func get(t *testing.T, url, bearer string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape is one exposition, parsed, and its text.
type scrape struct {
	text string
	fams map[string]*dto.MetricFamily
}

func (w *world) scrape(t *testing.T) scrape {
	t.Helper()
	code, body := get(t, w.met.URL+"/metrics", token)
	if code != http.StatusOK {
		t.Fatalf("scrape: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, body)
	}
	return scrape{text: body, fams: fams}
}

// value is the sample of family name whose labels include want (a
// counter's or gauge's value, a histogram's count); 0 when absent.
func (s scrape) value(name string, want map[string]string) float64 {
	f := s.fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// A push and pull between two devices, with a conflict and a refusal,
// moves the counters by exactly what the devices were told; the gauges
// are the store's; and nothing in the exposition names anyone or
// anything of the test's.
func TestExpositionCountsAndNamesNothing(t *testing.T) {
	ctx := context.Background()
	w := start(t, server.Options{}, token)
	a := w.device(t, "wang-fang-user", "wang-fang-phone", "南香村")
	b := w.device(t, "li-lei-user", "li-lei-tablet", "南香村")

	before := w.scrape(t)
	var total replica.Stats
	add := func(s replica.Stats) {
		total.Applied += s.Applied
		total.Merged += s.Merged
		total.AlreadyHad += s.AlreadyHad
		total.Rejected += s.Rejected
		total.Pulled += s.Pulled
		total.RoundTrips += s.RoundTrips
	}
	id := replicatest.Put(t, a, "books", "", "title", "小王子")
	other := replicatest.Put(t, a, "books", "", "title", "西游记")
	add(replicatest.SyncOK(t, a))
	add(replicatest.SyncOK(t, b))
	// Both edit the same title: the second to sync merges, and the losing
	// value goes to the conflict log.
	replicatest.Put(t, a, "books", id, "title", "小王子 (A)")
	replicatest.Put(t, b, "books", id, "title", "小王子 (B)")
	add(replicatest.SyncOK(t, a))
	add(replicatest.SyncOK(t, b))
	// A book of another village is refused, and held for staff.
	refused := replicatest.Put(t, b, "books", "", "village", "东旺村", "title", "水浒传")
	add(replicatest.SyncOK(t, b))
	add(replicatest.SyncOK(t, a))
	// A call without a token is counted with its code.
	resp, err := http.Post(w.api.URL+villagesyncv1connect.SyncServiceSyncProcedure, "application/json",
		strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after := w.scrape(t)
	t.Logf("the devices saw %+v", total)
	if testing.Verbose() {
		for _, l := range strings.Split(after.text, "\n") {
			if strings.HasPrefix(l, "villagesync_") || strings.HasPrefix(l, "# TYPE villagesync_") {
				t.Log(l)
			}
		}
	}

	if total.Merged == 0 || total.Rejected == 0 || total.Pulled == 0 {
		t.Fatalf("the devices saw %+v; the test wants a merge, a refusal and a pull", total)
	}
	diff := func(name string, labels map[string]string) float64 {
		return after.value(name, labels) - before.value(name, labels)
	}
	sync := map[string]string{"procedure": villagesyncv1connect.SyncServiceSyncProcedure}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   int
	}{
		{"villagesync_pushed_records_total", map[string]string{"outcome": "applied"}, total.Applied},
		{"villagesync_pushed_records_total", map[string]string{"outcome": "merged"}, total.Merged},
		{"villagesync_pushed_records_total", map[string]string{"outcome": "already_had"}, total.AlreadyHad},
		{"villagesync_pushed_records_total", map[string]string{"outcome": "held"}, total.Rejected},
		{"villagesync_pushed_records_total", map[string]string{"outcome": "refused"}, 0},
		{"villagesync_pulled_records_total", nil, total.Pulled},
		{"villagesync_rpc_requests_total", map[string]string{"procedure": sync["procedure"], "code": "ok"}, total.RoundTrips},
		{"villagesync_rpc_requests_total", map[string]string{"procedure": sync["procedure"], "code": "unauthenticated"}, 1},
		{"villagesync_rpc_duration_seconds", sync, total.RoundTrips + 1},
	} {
		if got := diff(c.name, c.labels); got != float64(c.want) {
			t.Errorf("%s%v moved by %v, want %d", c.name, c.labels, got, c.want)
		}
	}

	st, err := w.st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.OpenConflicts != 1 || st.HeldChanges != 1 {
		t.Errorf("the store has %d open conflicts and %d held changes, want 1 and 1", st.OpenConflicts, st.HeldChanges)
	}
	for _, g := range []struct {
		name string
		want float64
	}{
		{"villagesync_store_up", 1},
		{"villagesync_feed_head_seq", float64(st.Head)},
		{"villagesync_conflicts_open", float64(st.OpenConflicts)},
		{"villagesync_held_changes", float64(st.HeldChanges)},
		{"villagesync_devices_active", float64(len(st.Lags))},
		{"villagesync_device_lag_max", float64(st.MaxLag())},
		{"villagesync_device_lag", float64(len(st.Lags))},
	} {
		if got := after.value(g.name, nil); got != g.want {
			t.Errorf("%s = %v, want the store's %v", g.name, got, g.want)
		}
	}
	if len(st.Lags) != 2 {
		t.Errorf("%d active devices, want the 2 that synced", len(st.Lags))
	}
	for _, fam := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if after.fams[fam] == nil {
			t.Errorf("no %s: Go's and the process's collectors are missing", fam)
		}
	}

	private := []string{"wang-fang-user", "wang-fang-phone", "li-lei-user", "li-lei-tablet", "南香村", "东旺村",
		"小王子", "水浒传", "西游记", id, other, refused, token, a.Name(), b.Name()}
	for _, s := range private {
		if strings.Contains(after.text, s) {
			t.Errorf("the exposition contains %q", s)
		}
	}
}

// The metrics listener wants the token; the API's port serves no
// /metrics unless the operator gave it one, and then behind it.
func TestToken(t *testing.T) {
	w := start(t, server.Options{}, token)
	for _, c := range []struct {
		url, bearer string
		want        int
	}{
		{w.met.URL + "/metrics", "", http.StatusUnauthorized},
		{w.met.URL + "/metrics", "wrong", http.StatusUnauthorized},
		{w.met.URL + "/metrics", token, http.StatusOK},
		{w.api.URL + "/metrics", "", http.StatusNotFound},
		{w.api.URL + "/metrics", token, http.StatusNotFound},
	} {
		if got, body := get(t, c.url, c.bearer); got != c.want {
			t.Errorf("GET %s with %q: %d, want %d (%.200s)", c.url, c.bearer, got, c.want, body)
		}
	}

	pub := start(t, server.Options{PublicMetricsToken: token}, "")
	for _, c := range []struct {
		url, bearer string
		want        int
	}{
		{pub.api.URL + "/metrics", "", http.StatusUnauthorized},
		{pub.api.URL + "/metrics", "wrong", http.StatusUnauthorized},
		{pub.api.URL + "/metrics", token, http.StatusOK},
		// Its own listener without a token serves anyone who reaches it.
		{pub.met.URL + "/metrics", "", http.StatusOK},
	} {
		if got, body := get(t, c.url, c.bearer); got != c.want {
			t.Errorf("GET %s with %q: %d, want %d (%.200s)", c.url, c.bearer, got, c.want, body)
		}
	}
}
