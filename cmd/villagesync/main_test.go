package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// testServer is a server on 127.0.0.1:0 over a temporary database.
type testServer struct{ *replicatest.Server }

// code makes a staff user and a one-time enrollment code for it.
func (s *testServer) code(t *testing.T, user string) string {
	t.Helper()
	return s.Code(t, user, store.Staff)
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	return &testServer{replicatest.Start(t, nil)}
}

// The hand-run walkthrough of the README, through the same entry point as
// the binary.
func TestCLIWalkthrough(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	cli := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, args, &out); err != nil {
			t.Fatalf("villagesync %s: %v", strings.Join(args, " "), err)
		}
		return out.String()
	}
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	cli("device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a")
	cli("device", "--db", b, "init", "--server", srv.URL, "--code", srv.code(t, "b"), "--name", "b")
	id := strings.TrimSpace(cli("device", "--db", a, "put", "tutoring_sessions",
		"village=南香村", "session_date=2024-06-03", "children_present=30"))
	if !strings.Contains(cli("device", "--db", a, "sync"), "applied 1") {
		t.Error("first sync did not apply the session")
	}
	cli("device", "--db", b, "sync")
	cli("device", "--db", a, "put", "tutoring_sessions", "--id", id, "notes=分数练习")
	cli("device", "--db", b, "put", "tutoring_sessions", "--id", id, "notes=复习小数")
	cli("device", "--db", a, "sync")
	cli("device", "--db", b, "sync")
	cli("device", "--db", a, "sync")
	ga := cli("device", "--db", a, "get", "tutoring_sessions", id)
	gb := cli("device", "--db", b, "get", "tutoring_sessions", id)
	if ga != gb {
		t.Errorf("get differs:\n%s%s", ga, gb)
	}
	if la, lb := cli("device", "--db", a, "list", "tutoring_sessions"),
		cli("device", "--db", b, "list", "tutoring_sessions"); la != lb || la != ga {
		t.Errorf("list differs:\n%s%s", la, lb)
	}
	if c := cli("conflicts", "--device", a); strings.Count(c, "\n") != 1 || !strings.Contains(c, `"field":"notes"`) {
		t.Errorf("conflicts:\n%s", c)
	}
	var out bytes.Buffer
	err := run(ctx, []string{"device", "--db", a, "put", "tutoring_sessions", "children_present=many"}, &out)
	if err == nil || !strings.Contains(err.Error(), "tutoring_sessions.children_present: want an integer") {
		t.Errorf("bad value: %v", err)
	}
}

func TestCLIStatusShowsPendingAndLastSync(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	var out bytes.Buffer
	for _, args := range [][]string{
		{"device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a"},
		{"device", "--db", a, "put", "loans", "village=东旺村", "book_id=" + uuid.NewString(),
			"borrower_card=K-9", "lent_on=2024-06-03"},
	} {
		if err := run(ctx, args, &out); err != nil {
			t.Fatal(err)
		}
	}
	status := func() string {
		out.Reset()
		if err := run(ctx, []string{"device", "--db", a, "status"}, &out); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if s := status(); !strings.Contains(s, `"pending":{"loans":1}`) || strings.Contains(s, "last_sync") {
		t.Errorf("before sync: %s", s)
	}
	srv.Stop()
	if err := run(ctx, []string{"device", "--db", a, "sync"}, &out); err == nil ||
		!strings.Contains(err.Error(), "your changes are kept on this device") {
		t.Errorf("sync with the server down: %v", err)
	}
	if s := status(); !strings.Contains(s, `"pending":{"loans":1}`) || !strings.Contains(s, `"last_error":"sync with`) {
		t.Errorf("after a failed sync: %s", s)
	}
}

func TestFriendlyCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	a := filepath.Join(dir, "a.db")
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"device", "--db", a}, args...), &out)
		return strings.TrimSpace(out.String()), err
	}
	if _, err := cli("init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a"); err != nil {
		t.Fatal(err)
	}
	id, err := cli("log-session", "--village", "Nanxiang", "--date", "2024-06-03", "--children", "30", "--subject", "数学")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := cli("get", "tutoring_sessions", id)
	for _, want := range []string{`"village":"南香村"`, `"start_time":"19:00"`, `"children_present":30`, `"subjects":"数学"`} {
		if !strings.Contains(got, want) {
			t.Errorf("session %s lacks %s", got, want)
		}
	}
	if _, err := cli("log-session", "--village", "旺鱼村", "--date", "2024-06-03", "--children", "250"); err == nil ||
		!strings.Contains(err.Error(), "children_present: 250 is outside 0–200") {
		t.Errorf("children 250: %v", err)
	}
	if _, err := cli("log-session", "--village", "北村", "--children", "3"); err == nil ||
		!strings.Contains(err.Error(), "not a known village") {
		t.Errorf("unknown village: %v", err)
	}
	task, err := cli("report-cleanup", "--village", "dongwang", "--kind", "street_sweeping", "--place", "村口")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cli("get", "cleanup_tasks", task); !strings.Contains(got, `"status":"reported"`) ||
		!strings.Contains(got, `"village":"东旺村"`) {
		t.Errorf("cleanup task %s", got)
	}
	book, err := cli("put", "books", "village=旺渔村", "library=children", "title=小王子")
	if err != nil {
		t.Fatal(err)
	}
	loan, err := cli("lend", "--book", book, "--card", "WY-3", "--on", "2024-06-03", "--due", "2024-06-17")
	if err != nil {
		t.Fatal(err)
	}
	// The defaults (today, due in 14 days) must pass the server's rules.
	if _, err := cli("lend", "--book", book, "--card", "WY-4"); err != nil {
		t.Errorf("lend with the default dates: %v", err)
	}
	if _, err := cli("return", loan, "--on", "2024-06-10"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cli("get", "loans", loan); !strings.Contains(got, `"returned_on":"2024-06-10"`) ||
		!strings.Contains(got, `"village":"旺渔村"`) {
		t.Errorf("loan %s", got)
	}
}

// The admin walkthrough of the README: bootstrap, enroll, users, villages,
// devices, revoke, audit.
func TestAdminWalkthrough(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	run1 := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out)
		return out.String(), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := run1(args...)
		if err != nil {
			t.Fatalf("villagesync %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	codeIn := func(out string) string {
		t.Helper()
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) == 1 && len(f[0]) == 20 {
				return f[0]
			}
		}
		t.Fatalf("no code in:\n%s", out)
		return ""
	}
	out := must("admin", "--db", srv.File, "bootstrap", "李主任")
	if !strings.Contains(out, "█") && !strings.Contains(out, "▀") {
		t.Errorf("bootstrap shows no QR code:\n%s", out)
	}
	adminDB := filepath.Join(dir, "admin.db")
	must("device", "--db", adminDB, "enroll", "--server", srv.URL, "--name", "office", codeIn(out))
	t.Setenv("VILLAGESYNC_CREDENTIALS", adminDB)
	must("admin", "add-user", "王芳", "volunteer", "Nanxiang")
	if _, err := run1("admin", "add-user", "王芳", "volunteer", "南香村"); err == nil ||
		!strings.Contains(err.Error(), "already_exists") {
		t.Errorf("adding a user twice: %v", err)
	}
	if _, err := run1("admin", "add-user", "x", "volunteer", "北村"); err == nil ||
		!strings.Contains(err.Error(), "not a known village") {
		t.Errorf("an unknown village: %v", err)
	}
	phone := filepath.Join(dir, "phone.db")
	must("device", "--db", phone, "init", "--server", srv.URL, "--name", "nanxiang-phone",
		"--code", codeIn(must("admin", "enroll", "王芳")))
	if users := must("admin", "users"); !strings.Contains(users, `"name":"王芳"`) ||
		!strings.Contains(users, `"villages":["南香村"]`) {
		t.Errorf("users:\n%s", users)
	}
	id := strings.TrimSpace(must("device", "--db", phone, "log-session", "--village", "南香村",
		"--date", "2024-06-03", "--children", "9"))
	must("device", "--db", phone, "sync")
	if a := must("audit", "tutoring_sessions", id); !strings.Contains(a, "applied") ||
		!strings.Contains(a, "nanxiang-phone") || !strings.Contains(a, "王芳") {
		t.Errorf("audit:\n%s", a)
	}
	devs := must("admin", "devices")
	var replica string
	for _, line := range strings.Split(devs, "\n") {
		if strings.Contains(line, "nanxiang-phone") {
			var d struct{ Replica uint32 }
			json.Unmarshal([]byte(line), &d)
			replica = fmt.Sprint(d.Replica)
		}
	}
	// A box key reset (after a device restored from an older copy of its
	// file) answers the device, its key forgotten.
	if out := must("admin", "reset-key", replica); !strings.Contains(out, "nanxiang-phone") {
		t.Errorf("admin reset-key: %s", out)
	}
	must("admin", "revoke", replica)
	if _, err := run1("device", "--db", phone, "sync"); err == nil || !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("sync of a revoked phone: %v", err)
	}
}

// serve refuses flags that would make it silently misbehave, naming the
// flag, before it opens (or creates) its database.
func TestServeRefusesBadLimits(t *testing.T) {
	db := filepath.Join(t.TempDir(), "s.db")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--keep-deletes", "-1h"}, "keep-deletes:"},
		{[]string{"--device-rate", "-2"}, "device-rate:"},
		{[]string{"--device-rate", "5", "--device-burst", "0"}, "device-burst:"},
		{[]string{"--trusted-proxies", "127.0.0.1,nginx"}, "trusted-proxies:"},
		{[]string{"--device-attachment-quota", "0"}, "device-attachment-quota:"},
		{[]string{"--device-attachment-quota", "lots"}, "invalid value"},
	} {
		err := run(context.Background(),
			append([]string{"serve", "--db", db, "--listen", "127.0.0.1:0"}, tt.args...), &bytes.Buffer{})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("serve %v: %v, want an error starting %q", tt.args, err, tt.want)
		}
	}
	t.Setenv("VILLAGESYNC_TRUSTED_PROXIES", "10.0.0.0/33")
	err := run(context.Background(), []string{"serve", "--db", db, "--listen", "127.0.0.1:0"}, &bytes.Buffer{})
	if err == nil || !strings.HasPrefix(err.Error(), "trusted-proxies:") || !strings.Contains(err.Error(), "10.0.0.0/33") {
		t.Errorf("serve with VILLAGESYNC_TRUSTED_PROXIES=10.0.0.0/33: %v, want it refused", err)
	}
	t.Setenv("VILLAGESYNC_TRUSTED_PROXIES", "")
	// The quota's environment variable is read like the flag.
	t.Setenv("VILLAGESYNC_DEVICE_ATTACHMENT_QUOTA", "-5")
	err = run(context.Background(), []string{"serve", "--db", db, "--listen", "127.0.0.1:0"}, &bytes.Buffer{})
	if err == nil || !strings.HasPrefix(err.Error(), "device-attachment-quota:") {
		t.Errorf("serve with VILLAGESYNC_DEVICE_ATTACHMENT_QUOTA=-5: %v, want it refused", err)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("a refused serve created its database (%v)", err)
	}
}

// A serve flag comes from its environment variable unless the command line
// gives it, whatever its type; a bad value is an error.
func TestFlagFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		args      []string
		want      string
		wantErr   bool
	}{
		{"byte count from env", "1048576", nil, "1048576 720h0m0s", false},
		{"command line wins", "1048576", []string{"--quota", "7"}, "7 720h0m0s", false},
		{"unset", "", nil, "5 720h0m0s", false},
		{"bad byte count", "lots", nil, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("VILLAGESYNC_TEST_QUOTA", tc.env)
			t.Setenv("VILLAGESYNC_TEST_KEEP", "")
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			quota := fs.Int64("quota", 5, "")
			keep := fs.Duration("keep", 720*time.Hour, "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := errors.Join(flagFromEnv(fs, "quota", "VILLAGESYNC_TEST_QUOTA"),
				flagFromEnv(fs, "keep", "VILLAGESYNC_TEST_KEEP"))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v, want an error: %v", err, tc.wantErr)
			}
			if got := fmt.Sprint(*quota, " ", *keep); err == nil && got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}
