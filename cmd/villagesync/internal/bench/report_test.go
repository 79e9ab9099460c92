package bench

import (
	"strings"
	"testing"
)

func TestTargets(t *testing.T) {
	base := []Result{{Scenario: "raw SQLite insert (baseline)", Records: 100000, PerSecond: 200000}}
	tests := []struct {
		name   string
		result Result
		target string
		met    bool
	}{
		{"fast push", Result{Scenario: "initial push", Records: 100000, PerSecond: 130000, Ratio: 0.65, BytesUp: 5e6},
			"initial push of 100,000 ≥ 25%", true},
		{"push under a quarter of raw", Result{Scenario: "initial push", Records: 100000, PerSecond: 40000,
			Ratio: 0.2, BytesUp: 5e6},
			"initial push of 100,000 ≥ 25%", false},
		{"push 20x the peer but under a quarter", Result{Scenario: "initial push", Records: 100000,
			PerSecond: 125000, Ratio: 0.24,
			BytesUp: 5e6}, "initial push of 100,000 ≥ 25%", false},
		{"push bytes", Result{Scenario: "initial push", Records: 100000, Ratio: 1, BytesUp: 161 * 100000},
			"initial push ≤ 160 B", false},
		{"pull at a third of raw", Result{Scenario: "initial pull", Records: 100000, PerSecond: 130000, Ratio: 0.33,
			BytesDown: 5e6}, "initial pull of 100,000 ≥ 40%", false},
		{"fast pull", Result{Scenario: "initial pull", Records: 100000, PerSecond: 130000, Ratio: 0.41,
			BytesDown: 5e6}, "initial pull of 100,000 ≥ 40%", true},
		{"pull bytes", Result{Scenario: "initial pull", Records: 100000, Ratio: 1, BytesDown: 160 * 100000},
			"initial pull ≤ 160 B", true},
		{"idle", Result{Scenario: "idle sync (among 100,000)", Requests: 1, BytesUp: 290, BytesDown: 110}, "idle sync", true},
		{"idle too big", Result{Scenario: "idle sync (among 100,000)", Requests: 1, BytesUp: 300, BytesDown: 101},
			"idle sync", false},
		{"idle two requests", Result{Scenario: "idle sync (among 100,000)", Requests: 2, BytesUp: 100, BytesDown: 100},
			"idle sync", false},
		{"many devices", Result{Scenario: "500 devices at once", P99: 0.9}, "500 devices at once", true},
		{"many devices slow", Result{Scenario: "500 devices at once", P99: 1.1}, "500 devices at once", false},
		{"many devices failed", Result{Scenario: "500 devices at once", P99: 0.5, Failed: 1}, "500 devices at once", false},
		{"memory", Result{Scenario: "initial pull (memory)", Records: 1000000,
			ServerRSS: 100 << 20, DeviceRSS: 150 << 20, Ratio: 1},
			"1,000,000-record initial pull", true},
		{"memory over", Result{Scenario: "initial pull (memory)", Records: 1000000,
			ServerRSS: 151 << 20, DeviceRSS: 50 << 20, Ratio: 1},
			"1,000,000-record initial pull", false},
		{"memory unmeasured", Result{Scenario: "initial pull (memory)", Records: 1000000, ServerRSS: 50 << 20, Ratio: 1},
			"1,000,000-record initial pull", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks := Targets(&Report{Baseline: base, Results: []Result{tt.result}})
			for _, c := range checks {
				if strings.HasPrefix(c.Target, tt.target) {
					if c.Met != tt.met {
						t.Errorf("%s: met = %v, want %v (%s)", c.Target, c.Met, tt.met, c.Got)
					}
					return
				}
			}
			t.Fatalf("no check starting %q in %+v", tt.target, checks)
		})
	}
}

func TestEditTargets(t *testing.T) {
	idle := Result{Scenario: "idle sync (among 100,000)", Requests: 1, BytesUp: 290, BytesDown: 100}
	big := Result{Scenario: "1-record edit among 100,000", Records: 1, Among: 100000,
		Requests: 1, BytesUp: 500, BytesDown: 200, Seconds: 0.004}
	small := Result{Scenario: "1-record edit among 1,000", Records: 1, Among: 1000,
		Requests: 1, BytesUp: 500, BytesDown: 200, Seconds: 0.002}
	echo := Result{Scenario: "sync after the 1-record edit among 100,000", Requests: 1, BytesUp: 290, BytesDown: 400}
	checks := Targets(&Report{Results: []Result{idle, big, small, echo}})
	want := map[string]bool{
		"1-record edit among 100,000: 1 request, ≤ 1 KB":                       true,
		"1-record edit among 100,000 within 1.5x of 1-record edit among 1,000": false, // 2x
		"the sync after an edit costs what an idle sync does (no echo)":        false,
	}
	for _, c := range checks {
		if m, ok := want[c.Target]; ok {
			if c.Met != m {
				t.Errorf("%s: met = %v, want %v (%s)", c.Target, c.Met, m, c.Got)
			}
			delete(want, c.Target)
		}
	}
	if len(want) > 0 {
		t.Errorf("checks missing: %v in %+v", want, checks)
	}
}
