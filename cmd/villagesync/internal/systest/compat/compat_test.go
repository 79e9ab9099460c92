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
	"testing"
	"time"
)

// previousRelease is the last commit before the restructuring of issue 10:
// devices in the field run it. Move it forward when a release ships.
const previousRelease = "93e58be057250ff5f35afee5ffd81297ceecfb78"

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
}

// fleet runs a server of one version, a volunteer's phone and a staff
// laptop of the versions given, through enrollment, a synced record, a
// concurrent edit of one field and a report.
func fleet(t *testing.T, serverBin, volunteerBin, staffBin string) {
	dir := t.TempDir()
	db := filepath.Join(dir, "server.db")
	url := serve(t, serverBin, db)
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
	report := run(volunteerBin, "report", "--server", url, "--format", "csv")
	if !strings.Contains(report, "南香村") {
		t.Fatalf("the report has no 南香村 row:\n%s", report)
	}
}

// serve starts `villagesync serve` and returns its URL once it serves.
func serve(t *testing.T, bin, db string) string {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--db", db, "--listen", "127.0.0.1:0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
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
		return u
	case <-time.After(time.Minute):
		t.Fatalf("%s serve did not start within a minute", filepath.Base(bin))
	}
	return ""
}
