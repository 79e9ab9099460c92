package nginxproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/require"
)

// Bin is where Debian's nginx package installs nginx.
const Bin = "/usr/sbin/nginx"

// Require skips t, or fails it under VILLAGESYNC_REQUIRE_ALL, if nginx is
// not installed.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Bin); err != nil {
		require.SkipOrFail(t, "nginx is not installed (%s): apt-get install -y nginx", Bin)
	}
}

var section = regexp.MustCompile("(?s)```nginx\n(.*?)```")

// Section is the first nginx code block of the Markdown file doc, so that
// a test runs the documentation as written.
func Section(t testing.TB, doc string) string {
	t.Helper()
	b, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	m := section.FindSubmatch(b)
	if m == nil {
		t.Fatalf("%s has no nginx section", filepath.Base(doc))
	}
	return string(m[1])
}

// Edit replaces each pair's first string in site by its second, failing t
// where site lacks one: a test that replaced nothing would test another
// configuration than the one it names. from names the site in messages.
func Edit(t testing.TB, from, site string, pairs ...[2]string) string {
	t.Helper()
	for _, r := range pairs {
		if !strings.Contains(site, r[0]) {
			t.Fatalf("%s's nginx section has no %q to replace", from, r[0])
		}
		site = strings.ReplaceAll(site, r[0], r[1])
	}
	return site
}

// Start runs nginx with site (http-block server and upstream directives)
// in dir until the test ends, and returns "https://" + addr once nginx
// accepts on addr, where site listens (serveproc.FreeAddr picks one).
func Start(t testing.TB, dir, site, addr string) string {
	t.Helper()
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 64; }
http {
  access_log %[1]s/access.log;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
%[2]s}
`, dir, site)
	confFile := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	errorLog := filepath.Join(dir, "error.log")
	cmd := exec.Command(Bin, "-p", dir, "-e", errorLog, "-c", confFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(errorLog)
			t.Logf("nginx error.log:\n%s", b)
		}
	})
	// nginx says nothing when it is ready: wait until it accepts, or exits.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "https://" + addr
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup's receive
			b, _ := os.ReadFile(errorLog)
			t.Fatalf("nginx exited (%v):\n%s", err, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept on %s: %v", addr, err)
		}
	}
}
