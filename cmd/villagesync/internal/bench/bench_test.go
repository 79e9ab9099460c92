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
)

// TestSmallRun runs every scenario at toy sizes against real processes and
// checks the figures the table is built from: they must add up, not be
// fast (CI machines are shared; speeds are the command's business).
func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and runs servers")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "villagesync")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin,
		"github.com/futian-xiaomo/villagesync/cmd/villagesync").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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
