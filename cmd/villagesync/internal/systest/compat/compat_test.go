package compat

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// previousRelease is the release devices in the field run: the last
// commit before schema version 2 (issue 14), which states no schema
// version and drops the fields it does not know from pulled records.
// Move it forward when a release ships (sync/DESIGN.md, Versions).
const previousRelease = "e03d72b576c2b56f8000ffbd147e04b50da8b2e5"

var previous = flag.String("compat.previous", previousRelease, "git commit of the release to test against")

// skipOrFail skips, or fails where VILLAGESYNC_REQUIRE_ALL is set: CI sets
// it, so a missing tool there is a failure, not a silent skip.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("VILLAGESYNC_REQUIRE_ALL") != "" {
		t.Fatalf(format+" (VILLAGESYNC_REQUIRE_ALL is set, so this does not skip)", args...)
	}
	t.Skipf(format, args...)
}

// root is the repository's top folder.
func root(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		skipOrFail(t, "not in a git checkout (%v): the previous release is built from the repository's history", err)
	}
	return strings.TrimSpace(string(out))
}

// build builds the villagesync command from the tree at dir into out.
func build(t *testing.T, dir, out string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/villagesync")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", dir, err, b)
	}
}

// binaries builds this tree's command and the previous release's.
func binaries(t *testing.T) (current, prev string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		skipOrFail(t, "the go command is not on PATH: %v", err)
	}
	top := root(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "prev-src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	// git archive, not a worktree: the checkout is left as it was.
	archive := exec.Command("git", "-C", top, "archive", "--format=tar", *previous)
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	untar.Stdin = pipe
	var archErr bytes.Buffer
	archive.Stderr = &archErr
	if err := untar.Start(); err != nil {
		t.Fatal(err)
	}
	if err := archive.Run(); err != nil {
		skipOrFail(t, "git archive %s: %v: %s (a shallow clone lacks it: git fetch --unshallow)",
			*previous, err, archErr.String())
	}
	if err := untar.Wait(); err != nil {
		t.Fatal(err)
	}
	current, prev = filepath.Join(dir, "villagesync-current"), filepath.Join(dir, "villagesync-prev")
	build(t, top, current)
	build(t, src, prev)
	return current, prev
}

func TestMixedVersions(t *testing.T) {
	current, prev := binaries(t)
	for _, c := range []struct {
		name                     string
		server, volunteer, staff string
	}{
		{"previous server, current and previous devices", prev, current, prev},
		{"current server, previous and current devices", current, prev, current},
	} {
		t.Run(c.name, func(t *testing.T) { fleet(t, c.server, c.volunteer, c.staff) })
	}
	t.Run("previous device keeps a field it does not know", func(t *testing.T) { olderDevice(t, current, prev) })
	t.Run("newer device waits for the server's update", func(t *testing.T) { olderServer(t, current, prev) })
}

// digest is a valid attachment digest: records sync without the bytes.
var digest = strings.Repeat("5e", 32)

// site is a server's folder and database and the command runs against it.
type site struct {
	t   *testing.T
	dir string
	db  string
	url string
	env []string
}

func newSite(t *testing.T) *site {
	dir := t.TempDir()
	return &site{t: t, dir: dir, db: filepath.Join(dir, "server.db"),
		env: []string{"VILLAGESYNC_CREDENTIALS=" + filepath.Join(dir, "admin.db")}}
}

// run runs bin in the site's folder and returns its standard output; it
// fails the test if bin fails.
func (s *site) run(bin string, args ...string) string {
	s.t.Helper()
	out, errOut, err := s.try(bin, args...)
	if err != nil {
		s.t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (s *site) try(bin string, args ...string) (string, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env = s.dir, append(os.Environ(), s.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	return string(out), stderr.String(), err
}

// enroll makes the admin's laptop (admin.db, of adminBin) and a
// volunteer's phone (phone.db, of phoneBin) for 南香村.
func (s *site) enroll(serverBin, adminBin, phoneBin string) {
	s.t.Helper()
	code := func(out string) string {
		s.t.Helper()
		m := regexp.MustCompile(`--code (\S+)`).FindStringSubmatch(out)
		if m == nil {
			s.t.Fatalf("no enrollment code in %q", out)
		}
		return m[1]
	}
	s.run(adminBin, "device", "--db", "admin.db", "init", "--server", s.url,
		"--code", code(s.run(serverBin, "admin", "--db", s.db, "bootstrap", "李主任")), "--name", "office")
	s.run(adminBin, "admin", "add-user", "王芳", "volunteer", "南香村")
	s.run(phoneBin, "device", "--db", "phone.db", "init", "--server", s.url,
		"--code", code(s.run(adminBin, "admin", "enroll", "王芳")), "--name", "phone")
}

// olderDevice: a device of the previous release meets a record with a
// field of the new schema (sheet_photos) on a new server. It syncs,
// edits another field and syncs again; the field it never knew stays on
// the server and on the new device, beside its edit.
func olderDevice(t *testing.T, current, prev string) {
	s := newSite(t)
	s.url, _ = serve(t, current, s.db, "127.0.0.1:0")
	s.enroll(current, current, prev)
	id := strings.TrimSpace(s.run(current, "device", "--db", "admin.db", "put", "tutoring_sessions",
		"village=南香村", "session_date=2024-06-03", "children_present=30", "sheet_photos="+digest))
	s.run(current, "device", "--db", "admin.db", "sync")
	s.run(prev, "device", "--db", "phone.db", "sync")
	if got := s.run(prev, "device", "--db", "phone.db", "get", "tutoring_sessions", id); !strings.Contains(got, "2024-06-03") ||
		strings.Contains(got, digest) {
		t.Fatalf("the previous release's copy: %s; want the session without the field it does not know", got)
	}
	s.run(prev, "device", "--db", "phone.db", "put", "tutoring_sessions", "--id", id, "children_present=31")
	s.run(prev, "device", "--db", "phone.db", "sync")
	if rej := s.run(prev, "device", "--db", "phone.db", "rejected"); strings.TrimSpace(rej) != "" {
		t.Fatalf("the previous release's edit was refused: %s", rej)
	}
	s.run(current, "device", "--db", "admin.db", "sync")
	got := s.run(current, "device", "--db", "admin.db", "get", "tutoring_sessions", id)
	if !strings.Contains(got, digest) || !strings.Contains(got, "31") {
		t.Fatalf("the new device's copy: %s; want sheet_photos and the previous release's children_present=31", got)
	}
}

// olderServer: a device of this release writes a session with
// sheet_photos and one without, and syncs with a server of the previous
// release, which does not have the column. The plain session goes; the
// other waits on the device, said plainly, refused nowhere. The server is
// upgraded in place (the new binary on the same database and address),
// and the device's next sync pushes it.
func olderServer(t *testing.T, current, prev string) {
	s := newSite(t)
	var stop func()
	s.url, stop = serve(t, prev, s.db, "127.0.0.1:0")
	s.enroll(prev, current, current)
	photo := strings.TrimSpace(s.run(current, "device", "--db", "phone.db", "put", "tutoring_sessions",
		"village=南香村", "session_date=2024-06-03", "children_present=30", "sheet_photos="+digest))
	plain := strings.TrimSpace(s.run(current, "device", "--db", "phone.db", "put", "tutoring_sessions",
		"village=南香村", "session_date=2024-06-04", "children_present=28"))
	out := s.run(current, "device", "--db", "phone.db", "sync")
	if !strings.Contains(out, "1 change waits for the server's update (server schema 1, this app 2)") ||
		!strings.Contains(out, "applied 1") {
		t.Fatalf("sync with the previous server: %q; want one applied and one waiting for the server's update", out)
	}
	if rej := s.run(current, "device", "--db", "phone.db", "rejected"); strings.TrimSpace(rej) != "" {
		t.Fatalf("the waiting change landed in the refused list: %s", rej)
	}
	if st := s.run(current, "device", "--db", "phone.db", "status"); !strings.Contains(st, "waits for the server's update") {
		t.Fatalf("status does not say the change waits: %s", st)
	}
	s.run(current, "device", "--db", "admin.db", "sync")
	if got := s.run(current, "device", "--db", "admin.db", "list", "tutoring_sessions"); !strings.Contains(got, plain) ||
		strings.Contains(got, photo) {
		t.Fatalf("the previous server holds: %s; want the plain session only", got)
	}

	// In place: stop the old binary, start the new one on its database
	// and address, so the devices keep their server URL.
	stop()
	serve(t, current, s.db, strings.TrimPrefix(s.url, "http://"))
	out = s.run(current, "device", "--db", "phone.db", "sync")
	if !strings.Contains(out, "applied 1") || strings.Contains(out, "wait") {
		t.Fatalf("sync after the server's update: %q; want the waiting change applied", out)
	}
	s.run(current, "device", "--db", "admin.db", "sync")
	if got := s.run(current, "device", "--db", "admin.db", "get", "tutoring_sessions", photo); !strings.Contains(got, digest) {
		t.Fatalf("the updated server's copy: %s; want sheet_photos", got)
	}
}

// fleet runs a server of one version, a volunteer's phone and a staff
// laptop of the versions given, through enrollment, a synced record, a
// concurrent edit of one field and a report.
func fleet(t *testing.T, serverBin, volunteerBin, staffBin string) {
	dir := t.TempDir()
	db := filepath.Join(dir, "server.db")
	url, _ := serve(t, serverBin, db, "127.0.0.1:0")
	env := []string{"VILLAGESYNC_CREDENTIALS=" + filepath.Join(dir, "admin.db")}
	run := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, out, stderr.String())
		}
		return string(out)
	}
	code := func(out string) string {
		t.Helper()
		m := regexp.MustCompile(`--code (\S+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no enrollment code in %q", out)
		}
		return m[1]
	}
	// The admin's laptop runs the staff version; the volunteer's phone the other.
	run(staffBin, "device", "--db", "admin.db", "init", "--server", url,
		"--code", code(run(serverBin, "admin", "--db", db, "bootstrap", "李主任")), "--name", "office")
	run(staffBin, "admin", "add-user", "王芳", "volunteer", "南香村")
	run(volunteerBin, "device", "--db", "a.db", "init", "--server", url,
		"--code", code(run(staffBin, "admin", "enroll", "王芳")), "--name", "phone")

	id := strings.TrimSpace(run(volunteerBin, "device", "--db", "a.db", "put", "tutoring_sessions",
		"village=南香村", "session_date=2024-06-03", "children_present=30"))
	run(volunteerBin, "device", "--db", "a.db", "sync")
	run(staffBin, "device", "--db", "admin.db", "sync")
	// Offline on both: the same field, concurrently.
	run(volunteerBin, "device", "--db", "a.db", "put", "tutoring_sessions", "--id", id, "notes=分数练习")
	run(staffBin, "device", "--db", "admin.db", "put", "tutoring_sessions", "--id", id, "notes=复习小数")
	for _, d := range []struct{ bin, file string }{
		{volunteerBin, "a.db"}, {staffBin, "admin.db"}, {volunteerBin, "a.db"},
	} {
		run(d.bin, "device", "--db", d.file, "sync")
	}
	a := run(volunteerBin, "device", "--db", "a.db", "list", "tutoring_sessions")
	b := run(staffBin, "device", "--db", "admin.db", "list", "tutoring_sessions")
	if a != b || strings.Count(a, "\n") != 1 {
		t.Fatalf("the two devices did not converge:\nphone:  %s\nlaptop: %s", a, b)
	}
	conflicts := run(staffBin, "conflicts", "--open")
	if n := strings.Count(conflicts, "\n"); n != 1 || !strings.Contains(conflicts, `"notes"`) {
		t.Fatalf("want one open conflict on notes, got %d lines:\n%s", n, conflicts)
	}
	// One note won on both devices; the other is kept in the log.
	kept, lost := "复习小数", "分数练习"
	if !strings.Contains(a, kept) {
		kept, lost = lost, kept
	}
	if !strings.Contains(a, kept) || !strings.Contains(conflicts, lost) {
		t.Fatalf("want one note on the record and the other in the log:\nrecord: %s\nlog: %s", a, conflicts)
	}
	// The volunteer's report with her own device file: a device file is
	// only ever opened by the app that made it, or a newer one (an older
	// app refuses a newer file, saying to upgrade), so the admin's
	// credentials file, of the staff version, is not hers to read.
	report := run(volunteerBin, "report", "--device", "a.db", "--format", "csv")
	if !strings.Contains(report, "南香村") {
		t.Fatalf("the report has no 南香村 row:\n%s", report)
	}
}

// serve starts `villagesync serve` on listen and returns its URL once it
// serves, and a stop that ends it (also at the test's end).
func serve(t *testing.T, bin, db, listen string) (string, func()) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--db", db, "--listen", listen)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
		})
	}
	t.Cleanup(stop)
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`url=(\S+)`).FindStringSubmatch(sc.Text()); m != nil &&
				strings.Contains(sc.Text(), "villagesync server") {
				urls <- m[1]
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			t.Fatalf("%s serve exited before serving: %v", filepath.Base(bin), cmd.Wait())
		}
		return u, stop
	case <-time.After(time.Minute):
		t.Fatalf("%s serve did not start within a minute", filepath.Base(bin))
	}
	return "", stop
}
