package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

// cliIn runs the command and returns what it printed and its error.
func cliIn(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	err := run(ctx, args, &out)
	return out.String(), err
}

// A device name carrying an escape sequence is refused at enrollment;
// values that got into a database before (here written straight into the
// server's file) are printed escaped by report, audit, the JSON lists and
// the error line.
func TestCLIEscapesTerminalControls(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	code := srv.code(t, "a")
	_, err := cliIn(ctx, "device", "--db", a, "init", "--server", srv.URL, "--code", code, "--name", "\x1b[31mred")
	if err == nil || !strings.Contains(err.Error(), "invalid_argument") || !strings.Contains(err.Error(), "device_name") {
		t.Fatalf("a device name with an escape: %v", err)
	}
	if _, err := cliIn(ctx, "device", "--db", filepath.Join(dir, "b.db"), "init", "--server", srv.URL, "--code", code,
		"--name", "a"); err != nil {
		t.Fatal(err)
	}
	a = filepath.Join(dir, "b.db")
	id, err := cliIn(ctx, "device", "--db", a, "report-cleanup", "--village", "南香村", "--kind", "street_sweeping",
		"--status", "done", "--quantity", "3", "--unit", "km")
	if err != nil {
		t.Fatal(err)
	}
	id = strings.TrimSpace(id)
	if _, err := cliIn(ctx, "device", "--db", a, "put", "cleanup_tasks", "--id", id, "unit=\x1b[2Jkm"); err == nil ||
		!strings.Contains(err.Error(), "cleanup_tasks.unit: contains the control character U+001B") {
		t.Errorf("a unit with an escape, on the device: %v", err)
	}
	if _, err := cliIn(ctx, "device", "--db", a, "sync"); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", srv.File)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{
		"UPDATE replicas SET name = 'ph\x1b]0;owned\x07one' WHERE name = 'a'",
		"UPDATE users SET name = 'u\u009b2Jser' WHERE name = 'a'",
		"UPDATE cleanup_tasks SET unit = '\x1b[31mkm'",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("VILLAGESYNC_CREDENTIALS", a)
	raw := func(what, s string) {
		t.Helper()
		if strings.ContainsAny(s, "\x1b\x07\u009b") {
			t.Errorf("%s prints a raw control character:\n%q", what, s)
		}
	}
	table, err := cliIn(ctx, "report", "--from", "2020-01")
	if err != nil {
		t.Fatal(err)
	}
	raw("report", table)
	if !strings.Contains(table, `3 \x1b[31mkm`) || !strings.Contains(table, `ph\x1b]0;owned\x07one`) {
		t.Errorf("report does not show the escaped unit and device:\n%s", table)
	}
	trail, err := cliIn(ctx, "audit", "cleanup_tasks", id)
	if err != nil {
		t.Fatal(err)
	}
	raw("audit", trail)
	if !strings.Contains(trail, `ph\x1b]0;owned\x07one`) || !strings.Contains(trail, `u\u009b2Jser`) {
		t.Errorf("audit does not show the escaped device and user:\n%s", trail)
	}
	devices, err := cliIn(ctx, "admin", "devices")
	if err != nil {
		t.Fatal(err)
	}
	users, err := cliIn(ctx, "admin", "users")
	if err != nil {
		t.Fatal(err)
	}
	raw("admin devices", devices)
	raw("admin users", users)
	if !strings.Contains(users, `u\u009b2Jser`) {
		t.Errorf("admin users:\n%s", users)
	}
	var stderr bytes.Buffer
	printError(&stderr, errors.New("sync: rejected \x1b[31mred\nsecond line"))
	if got := stderr.String(); got != "villagesync: sync: rejected \\x1b[31mred\nsecond line\n" {
		t.Errorf("error line: %q", got)
	}
}

// report --out onto an existing file is refused (it could be a database)
// unless --force.
func TestCLIReportOutRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	if _, err := cliIn(ctx, "device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"),
		"--name", "a"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VILLAGESYNC_CREDENTIALS", a)
	before, err := os.ReadFile(srv.File)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cliIn(ctx, "report", "--format", "csv", "--out", srv.File)
	if err == nil || !strings.Contains(err.Error(), "exists; give --force to overwrite it") {
		t.Errorf("report --out onto the server database: %v", err)
	}
	if after, _ := os.ReadFile(srv.File); !bytes.Equal(before, after) {
		t.Error("the database changed")
	}
	file := filepath.Join(dir, "r.csv")
	os.WriteFile(file, []byte("old"), 0o600)
	if _, err := cliIn(ctx, "report", "--format", "csv", "--out", file, "--force"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); !strings.Contains(string(b), "村,月份") {
		t.Errorf("--force did not overwrite: %q", b)
	}
	if _, err := cliIn(ctx, "report", "--force"); err == nil || !strings.Contains(err.Error(), "--force goes with --out") {
		t.Errorf("--force alone: %v", err)
	}
}

// A --server or --token beside a device file was ignored; it is refused,
// unless --server names the device's own server.
func TestCLICredentialsConflict(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	if _, err := cliIn(ctx, "device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"),
		"--name", "a"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		env  bool
		want string // "" for accepted
	}{
		{[]string{"admin", "--device", a, "--server", "http://127.0.0.1:1", "users"}, false,
			"admin: --server http://127.0.0.1:1 and --device " + a + " conflict: the device is enrolled with " + srv.URL},
		{[]string{"admin", "--server", "http://127.0.0.1:1", "users"}, true, "and VILLAGESYNC_CREDENTIALS=" + a + " conflict"},
		{[]string{"conflicts", "--device", a, "--token", "t0k3n"}, false, "conflicts: --token and --device " + a + " conflict"},
		{[]string{"report", "--device", a, "--server", srv.URL + "/", "--format", "json"}, false, ""},
		{[]string{"admin", "--device", a, "users"}, false, ""},
	} {
		if tc.env {
			t.Setenv("VILLAGESYNC_CREDENTIALS", a)
		} else {
			t.Setenv("VILLAGESYNC_CREDENTIALS", "")
		}
		_, err := cliIn(ctx, tc.args...)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A loan recorded late falls due LoanDays after its lending, not after
// today; a due date a year past the lending is refused on the device.
func TestCLILoanDates(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	if _, err := cliIn(ctx, "device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"),
		"--name", "a"); err != nil {
		t.Fatal(err)
	}
	book, err := cliIn(ctx, "device", "--db", a, "put", "books", "village=南香村", "library=children", "title=西游记")
	if err != nil {
		t.Fatal(err)
	}
	book = strings.TrimSpace(book)
	id, err := cliIn(ctx, "device", "--db", a, "lend", "--book", book, "--card", "NX-1", "--on", "2020-01-06")
	if err != nil {
		t.Fatalf("a loan recorded years late: %v", err)
	}
	got, err := cliIn(ctx, "device", "--db", a, "get", "loans", strings.TrimSpace(id))
	due := time.Date(2020, 1, 6, 0, 0, 0, 0, time.UTC).AddDate(0, 0, replica.LoanDays).Format(time.DateOnly)
	if err != nil || !strings.Contains(got, `"due_on":"`+due+`"`) {
		t.Errorf("due date of a late loan: %s %v", got, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"lend", "--book", book, "--card", "NX-2", "--on", "2024-06-03", "--due", "9999-12-31"},
			"loans.due_on: 9999-12-31 is more than 366 days after lent_on 2024-06-03"},
		{[]string{"return", strings.TrimSpace(id), "--on", "2019-12-31"},
			"loans.returned_on: 2019-12-31 is before lent_on 2020-01-06"},
	} {
		if _, err := cliIn(ctx, append([]string{"device", "--db", a}, tc.args...)...); err == nil ||
			!strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// A file wrong on every row printed every row (120 MB for a million): the
// list stops at replica.MaxRowErrors and counts the rest, whether the rows
// fail to read (JSON lines), to parse or to import.
func TestCLIImportErrorsCapped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	if _, err := cliIn(ctx, "device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"),
		"--name", "a"); err != nil {
		t.Fatal(err)
	}
	var csv, jsonl strings.Builder
	csv.WriteString("village,library,title,copy_no\n")
	for range 500 {
		csv.WriteString("南香村,children,西游记,many\n")
		jsonl.WriteString("[]\n")
	}
	for name, content := range map[string]string{"books.csv": csv.String(), "books.jsonl": jsonl.String()} {
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := cliIn(ctx, "device", "--db", a, "import", file)
		if err == nil {
			t.Fatalf("%s imported", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, ": 500 row(s) have errors") || !strings.HasSuffix(msg, "\n  ... and 450 more") ||
			strings.Count(msg, "\n") != replica.MaxRowErrors+1 {
			t.Errorf("%s: %d lines:\n%.300s\n...%s", name, strings.Count(msg, "\n"), msg, msg[max(0, len(msg)-100):])
		}
	}
}
