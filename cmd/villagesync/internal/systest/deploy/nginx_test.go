package deploy

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/require"
)

const nginxBin = "/usr/sbin/nginx"

// TestPostgresGuideNginxFailsOver runs docs/postgres.md's nginx upstream
// as written (only addresses and certificate files changed) in front of
// two serve processes, and stops one: health checks through nginx keep
// passing, because the upstream needs no affinity and retries the other
// server. The servers use SQLite files of their own here (the guide's
// shared PostgreSQL is not what this checks: the proxy's configuration
// is).
func TestPostgresGuideNginxFailsOver(t *testing.T) {
	if _, err := os.Stat(nginxBin); err != nil {
		require.SkipOrFail(t, "nginx is not installed (apt-get install nginx): %v", err)
	}
	guide, err := os.ReadFile(filepath.Join(repoRoot(t), "docs", "postgres.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```nginx\n(.*?)```").FindSubmatch(guide)
	if m == nil {
		t.Fatal("docs/postgres.md has no nginx section")
	}
	site := string(m[1])

	var servers []*server
	for i := range 2 {
		dir := t.TempDir()
		env := []string{"PATH=/usr/bin:/bin", "VILLAGESYNC_LISTEN=127.0.0.1:0",
			"VILLAGESYNC_DB=" + filepath.Join(dir, fmt.Sprintf("server%d.db", i)), "VILLAGESYNC_TRUSTED_PROXIES=127.0.0.1"}
		servers = append(servers, start(t, []string{binary(t), "serve", "--shutdown-grace", "1s"}, env, dir))
	}
	dir := t.TempDir()
	certFile, keyFile, pool := replicatest.SelfSigned(t, dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, r := range [][2]string{
		{"listen 443 ", "listen " + addr + " "},
		{"/etc/ssl/sync.pem", certFile}, {"/etc/ssl/sync.key", keyFile},
		{"server 10.0.0.11:8080;", "server " + servers[0].addr + ";"},
		{"server 10.0.0.12:8080;", "server " + servers[1].addr + ";"},
	} {
		if !strings.Contains(site, r[0]) {
			t.Fatalf("docs/postgres.md's nginx section has no %q to replace", r[0])
		}
		site = strings.ReplaceAll(site, r[0], r[1])
	}
	url := startNginx(t, dir, site, addr)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	health := func() error {
		resp, err := client.Post(url+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader("{}"))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health through nginx: %s", resp.Status)
		}
		return nil
	}
	// Round robin: four checks reach both servers.
	for i := range 4 {
		if err := health(); err != nil {
			t.Fatalf("check %d with both servers up: %v", i, err)
		}
	}
	servers[0].stop(t, syscall.SIGTERM, 10*time.Second)
	for i := range 4 {
		if err := health(); err != nil {
			t.Fatalf("check %d with one server stopped: %v (the upstream should try the other)", i, err)
		}
	}
}

// startNginx runs nginx with site (an http-block server and upstream) in
// dir, wrapped in what /etc/nginx/nginx.conf gives a site, until the test
// ends; it returns once nginx accepts on addr.
func startNginx(t *testing.T, dir, site, addr string) string {
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
	cmd := exec.Command(nginxBin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
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
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx exited (%v):\n%s", err, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not accept on %s: %v", addr, err)
		}
	}
}
