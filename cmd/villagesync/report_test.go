package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	syncreport "github.com/futian-xiaomo/villagesync/sync/report" // package main has its own report
)

func TestCLIReport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out)
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("villagesync %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	a := filepath.Join(dir, "a.db")
	must("device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a")
	must("device", "--db", a, "put", "tutoring_sessions", "village=南香村", "session_date=2024-06-03",
		"volunteers=王芳,李雷", "children_present=30")
	must("device", "--db", a, "put", "tutoring_sessions", "village=东旺村", "session_date=2024-06-04", "children_present=12")
	must("device", "--db", a, "put", "tutoring_sessions", "village=旺渔村", "session_date=2024-06-05", "children_present=7")
	must("device", "--db", a, "sync")

	t.Setenv("VILLAGESYNC_CREDENTIALS", a)
	var rep syncreport.Report
	out := must("report", "--from", "2024-06", "--to", "2024-06", "--village", "nanxiang,Dongwang", "--format", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if rep.Total.Tutoring != (syncreport.Tutoring{Sessions: 2, StudentAttendances: 42, Volunteers: 2}) ||
		len(rep.Rows) != 2 {
		t.Errorf("json report: %+v", rep)
	}
	out = must("report", "--from", "2024-06", "--to", "2024-06",
		"--village", "旺渔村", "--village", "南香村", "--format", "json")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Total.Tutoring.Sessions != 2 ||
		rep.Total.Tutoring.StudentAttendances != 37 {
		t.Errorf("repeated --village: %+v (%v)", rep.Total, err)
	}

	table := must("report", "--server", srv.URL, "--from", "2024-06", "--to", "2024-06", "--lang", "en")
	for _, s := range []string{"village", "南香村 Nanxiang", "all villages", "last synced"} {
		if !strings.Contains(table, s) {
			t.Errorf("table lacks %q:\n%s", s, table)
		}
	}
	file := filepath.Join(dir, "r.csv")
	if out := must("report", "--from", "2024-06", "--format", "csv", "--out", file); out != "" {
		t.Errorf("--out also wrote to stdout: %q", out)
	}
	body, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(body), reportfmt.BOM+"村,月份,课堂次数") {
		t.Errorf("csv file: %q (%v)", body, err)
	}
	xlsx := filepath.Join(dir, "r.xlsx")
	must("report", "--format", "xlsx", "--out", xlsx)
	if b, err := os.ReadFile(xlsx); err != nil || !bytes.HasPrefix(b, []byte("PK")) {
		t.Errorf("xlsx file is not a zip (%v)", err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--format", "pdf"}, "format"},
		{[]string{"report", "--lang", "fr"}, "lang"},
		{[]string{"report", "--village", "Atlantis"}, "villages"},
		{[]string{"report", "--from", "2024-13"}, "from_month"},
		{[]string{"report", "extra"}, "unexpected"},
	} {
		if _, err := cli(tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error about %s", tc.args, err, tc.want)
		}
	}
}
