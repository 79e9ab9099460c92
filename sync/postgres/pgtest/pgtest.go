// Package pgtest gives tests a real PostgreSQL: one cluster per test
// binary, started on first use in a temporary directory, listening on
// 127.0.0.1 only, run as a user other than root (PostgreSQL refuses root),
// and a fresh database for each caller. A machine without PostgreSQL
// skips the test, saying how to get it; under VILLAGESYNC_REQUIRE_ALL
// (set by CI) that is a failure instead.
//
// VILLAGESYNC_TEST_POSTGRES=postgres://... uses that server instead of
// starting one (its user must be allowed to create databases).
package pgtest

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/postgres"
)

const install = "PostgreSQL is needed: apt-get install postgresql (its initdb and postgres under " +
	"/usr/lib/postgresql/*/bin), or set VILLAGESYNC_TEST_POSTGRES to a server's URL"

var (
	once     sync.Once
	base     string // URL of the cluster's maintenance database
	startErr error
	serial   atomic.Int64
)

// Available says whether a cluster runs or can be started, starting it.
func Available() bool {
	once.Do(start)
	return startErr == nil
}

// Require skips t (fails it under VILLAGESYNC_REQUIRE_ALL) when this
// machine has no PostgreSQL to start, without starting it.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv("VILLAGESYNC_TEST_POSTGRES") != "" {
		return
	}
	if _, err := binDir(); err != nil {
		skip(t, err)
	}
}

func skip(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("VILLAGESYNC_REQUIRE_ALL") != "" {
		t.Fatalf("%s: %v (VILLAGESYNC_REQUIRE_ALL is set, so this does not skip)", install, err)
	}
	t.Skipf("%s: %v", install, err)
}

// URL returns the URL of a new, empty database, dropped when t ends. It
// skips t (fails it under VILLAGESYNC_REQUIRE_ALL) without PostgreSQL.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(start)
	if startErr != nil {
		skip(t, startErr)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), serial.Add(1))
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer admin.Close()
		// WITH (FORCE): a server the test left open must not keep it.
		admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`)
	})
	u, _ := url.Parse(base)
	u.Path = "/" + name
	return u.String()
}

func start() {
	if u := os.Getenv("VILLAGESYNC_TEST_POSTGRES"); u != "" {
		base = u
		return
	}
	bin, err := binDir()
	if err != nil {
		startErr = err
		return
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			startErr = fmt.Errorf("running as root, and there is no user postgres to run the server as: %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	dir, err := os.MkdirTemp("", "villagesync-pg-")
	if err != nil {
		startErr = err
		return
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			startErr = err
			return
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "villagesync", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		startErr = fmt.Errorf("initdb: %v: %s", err, out)
		return
	}
	port, err := freePort()
	if err != nil {
		startErr = err
		return
	}
	// fsync off: a test cluster is thrown away; the crash tests kill the
	// villagesync server, not PostgreSQL.
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-k", dir, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	// The server dies with the test binary, whatever way it ends.
	srv.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	stderr, err := srv.StderrPipe()
	if err != nil {
		startErr = err
		return
	}
	if err := srv.Start(); err != nil {
		startErr = fmt.Errorf("start postgres: %w", err)
		return
	}
	// Ready when it says so: no polling.
	sc := bufio.NewScanner(stderr)
	var log []string
	ready := false
	for sc.Scan() {
		line := sc.Text()
		log = append(log, line)
		if strings.Contains(line, "database system is ready to accept connections") {
			ready = true
			break
		}
	}
	if !ready {
		srv.Wait()
		startErr = fmt.Errorf("postgres did not start: %s", strings.Join(log, "\n"))
		return
	}
	go func() { // keep draining, or the server blocks on a full pipe
		for sc.Scan() {
		}
	}()
	base = fmt.Sprintf("postgres://villagesync@127.0.0.1:%d/postgres?sslmode=disable", port)
	db, err := postgres.Open(context.Background(), base, 2)
	if err != nil {
		startErr = err
		return
	}
	db.Close()
}

func binDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "postgres")); err == nil {
			return filepath.Dir(p), nil
		}
		// Debian links initdb into PATH but not postgres: follow the link.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no initdb found")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
