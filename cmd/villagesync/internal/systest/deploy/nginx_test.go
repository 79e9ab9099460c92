package deploy

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/nginxproc"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
)

// TestPostgresGuideNginxFailsOver runs docs/postgres.md's nginx upstream
// as written (only addresses and certificate files changed) in front of
// two serve processes, and stops one: health checks through nginx keep
// passing, because the upstream needs no affinity and retries the other
// server. The servers use SQLite files of their own here (the guide's
// shared PostgreSQL is not what this checks: the proxy's configuration
// is).
func TestPostgresGuideNginxFailsOver(t *testing.T) {
	nginxproc.Require(t)
	site := nginxproc.Section(t, filepath.Join(repoRoot(t), "docs", "postgres.md"))

	var servers []*serveproc.Proc
	for i := range 2 {
		dir := t.TempDir()
		env := []string{"PATH=/usr/bin:/bin", "VILLAGESYNC_LISTEN=127.0.0.1:0",
			"VILLAGESYNC_DB=" + filepath.Join(dir, fmt.Sprintf("server%d.db", i)), "VILLAGESYNC_TRUSTED_PROXIES=127.0.0.1"}
		servers = append(servers, start(t, []string{serveproc.Build(t), "serve", "--shutdown-grace", "1s"}, env, dir))
	}
	dir := t.TempDir()
	certFile, keyFile, pool := replicatest.SelfSigned(t, dir)
	addr := serveproc.FreeAddr(t)
	site = nginxproc.Edit(t, "docs/postgres.md", site,
		[2]string{"listen 443 ", "listen " + addr + " "},
		[2]string{"/etc/ssl/sync.pem", certFile}, [2]string{"/etc/ssl/sync.key", keyFile},
		[2]string{"server 10.0.0.11:8080;", "server " + servers[0].Addr + ";"},
		[2]string{"server 10.0.0.12:8080;", "server " + servers[1].Addr + ";"})
	url := nginxproc.Start(t, dir, site, addr)
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
	servers[0].Stop(t, syscall.SIGTERM, 10*time.Second)
	for i := range 4 {
		if err := health(); err != nil {
			t.Fatalf("check %d with one server stopped: %v (the upstream should try the other)", i, err)
		}
	}
}
