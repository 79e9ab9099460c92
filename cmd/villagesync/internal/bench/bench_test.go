package bench_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/bench"
	"github.com/futian-xiaomo/villagesync/sync/postgres"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
)

// TestSmallRun runs every scenario at toy sizes against real processes and
// checks the figures the table is built from: they must add up, not be
// fast (CI machines are shared; speeds are the command's business).
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs servers")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := build(ctx, t, dir)
	cfg := bench.Config{Bin: bin, Dir: filepath.Join(dir, "run"), Sizes: []int{1500}, EditAmong: 1500, SmallAmong: 100,
		Devices: 6, PerDevice: 5, Million: 300}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(scenario string, records int) bench.Result {
		t.Helper()
		for _, r := range rep.Results {
			if strings.HasPrefix(r.Scenario, scenario) && (records == 0 || r.Records == records) {
				return r
			}
		}
		t.Fatalf("no %q result in %+v", scenario, rep.Results)
		return bench.Result{}
	}
	if len(rep.Baseline) == 0 || rep.Baseline[0].PerSecond <= 0 {
		t.Errorf("no baseline: %+v", rep.Baseline)
	}
	push, pull := get("initial push", 1500), get("initial pull", 1500)
	// 1,500 records go in 2 requests of at most 1,000; a pull the same.
	for _, r := range []bench.Result{push, pull} {
		if r.Requests != 2 || r.BytesUp == 0 || r.BytesDown == 0 || r.Ratio <= 0 || r.DeviceRSS <= 0 || r.ServerRSS <= 0 {
			t.Errorf("%s: %+v", r.Scenario, r)
		}
	}
	if push.BytesUp < 1500*20 || pull.BytesDown < 1500*20 {
		t.Errorf("the proxy missed bytes: push up %d, pull down %d for 1,500 records", push.BytesUp, pull.BytesDown)
	}
	idle := get("idle sync", 0)
	if idle.Requests != 1 || idle.BytesUp+idle.BytesDown > 1024 {
		t.Errorf("idle sync: %+v", idle)
	}
	after := get("sync after the 1-record edit among 1,500", 0)
	if after.Requests != 1 || after.BytesUp+after.BytesDown > idle.BytesUp+idle.BytesDown+16 {
		t.Errorf("the sync after an edit echoed it: %+v, idle %+v", after, idle)
	}
	if e := get("1-record edit among 100", 1); e.Requests != 1 || e.Among != 100 {
		t.Errorf("edit among 100: %+v", e)
	}
	many := get("6 devices at once", 0)
	if many.Failed != 0 || many.P99 <= 0 || many.Requests < 6 {
		t.Errorf("many devices: %+v", many)
	}
	if mem := get("initial pull (memory)", 300); mem.DeviceRSS <= 0 || mem.ServerRSS <= 0 {
		t.Errorf("memory: %+v", mem)
	}
	var table strings.Builder
	if err := bench.WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"raw SQLite insert", "initial push", "× raw insert", "idle sync: 1 HTTP request"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, table.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Error(err)
	}
}

func build(ctx context.Context, t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "villagesync")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin,
		"github.com/futian-xiaomo/villagesync/cmd/villagesync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestPostgresRun keeps `bench --db postgres://` working at toy sizes: a
// database of its own for each world, dropped after; a raw PostgreSQL
// baseline that the speeds are ratios to; two servers on one database.
func TestPostgresRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs servers on PostgreSQL")
	}
	pgtest.Require(t)
	db := pgtest.URL(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bin := build(ctx, t, dir)
	cfg := bench.Config{Bin: bin, Dir: filepath.Join(dir, "run"), DB: db, Sizes: []int{300}, PerDevice: 5, TwoServers: 6}
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Engine != "PostgreSQL" || len(rep.Baseline) != 1 || rep.Baseline[0].PerSecond <= 0 ||
		rep.Baseline[0].Scenario != "raw PostgreSQL insert (baseline)" {
		t.Errorf("baseline: engine %q, %+v", rep.Engine, rep.Baseline)
	}
	seen := map[string]bench.Result{}
	for _, r := range rep.Results {
		seen[r.Scenario] = r
	}
	for _, s := range []string{"initial push", "initial pull"} {
		if r := seen[s]; r.Records != 300 || r.Requests != 1 || r.Ratio <= 0 || r.ServerRSS <= 0 {
			t.Errorf("%s: %+v", s, r)
		}
	}
	for _, s := range []string{"acknowledged", "whole sync"} {
		r := seen["6 devices at once × 5 new records, 2 servers: "+s]
		if r.Records != 30 || r.Failed != 0 || r.P99 <= 0 || r.Requests < 6 {
			t.Errorf("two servers, %s: %+v in %+v", s, r, rep.Results)
		}
	}
	var table strings.Builder
	if err := bench.WriteTable(&table, rep); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "| scenario (PostgreSQL) ") {
		t.Errorf("the table does not name its engine:\n%s", table.String())
	}
	admin, err := postgres.Open(ctx, db, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var left []string
	rows, err := admin.QueryContext(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%'")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		left = append(left, n)
	}
	if err := rows.Err(); err != nil || len(left) > 0 {
		t.Errorf("databases the bench made are left on the server: %v (%v)", left, err)
	}
}

// TestTwoServersNeedPostgres: two servers share a database only on
// PostgreSQL, so asking for them on SQLite is refused before anything runs.
func TestTwoServersNeedPostgres(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  bench.Config
		want string
	}{
		{"two servers on SQLite", bench.Config{TwoServers: 10}, "--db postgres://"},
		{"a file as --db", bench.Config{DB: "/tmp/x.db"}, "not a postgres:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Dir = t.TempDir()
			if _, err := bench.Run(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
