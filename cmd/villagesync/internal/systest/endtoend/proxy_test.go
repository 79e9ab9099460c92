package endtoend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/nginxproc"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// readmeNginx is the README's nginx section, read from README.md: the
// test changes only the port, the certificate files and villagesync's
// address, so the README is tested as written.
func readmeNginx(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's folder")
		}
		dir = parent
	}
	return nginxproc.Section(t, filepath.Join(dir, "README.md"))
}

// The README's nginx in front of a server that trusts it: bad tokens from
// one client do not lock out another client's enrollment, the limit still
// bites the client that earned it, and gRPC works through grpc_pass.
func TestBehindTheReadmeNginx(t *testing.T) {
	nginxproc.Require(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lim := rpc.DefaultLimits
	lim.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")} // serve --trusted-proxies 127.0.0.1
	srv, err := server.StartTLS(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0, server.TLS{}, lim)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	proxy, pool := startNginx(t, dir, strings.TrimPrefix(srv.URL, "http://"))

	// 60 calls with a bad token from 127.0.0.2, over HTTP/1.1 and the
	// Connect protocol: past the burst they are refused, naming the client.
	stale := villagesyncv1connect.NewAccessServiceClient(
		bearer.Client(clientFrom("127.0.0.2", pool, false), "revoked-long-ago"), proxy)
	refused := 0
	for range 60 {
		_, err := stale.Whoami(ctx, &v1.WhoamiRequest{})
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated:
		case connect.CodeResourceExhausted:
			refused++
			if !strings.Contains(err.Error(), "addr 127.0.0.2") {
				t.Fatalf("refused as %v; want the client's address, not the proxy's", err)
			}
		default:
			t.Fatalf("a bad token through nginx: %v", err)
		}
	}
	if refused == 0 {
		t.Fatal("60 bad tokens in a row were never refused: behind nginx the limit does not bite")
	}

	// Another client's bad token is its own: not refused for 127.0.0.2's.
	h2 := clientFrom("127.0.0.3", pool, true)
	_, err = villagesyncv1connect.NewAccessServiceClient(bearer.Client(h2, "mistyped"), proxy, connect.WithGRPC()).
		Whoami(ctx, &v1.WhoamiRequest{})
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("a bad token from another client after %d refused: %v, want unauthenticated", refused, err)
	}
	// An enrollment from 127.0.0.3, over gRPC (HTTP/2 through grpc_pass).
	code, err := st.CodeFor(ctx, "王芳", store.Volunteer, []string{"南香村"})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := villagesyncv1connect.NewAccessServiceClient(h2, proxy, connect.WithGRPC()).
		Enroll(ctx, &v1.EnrollRequest{Code: code, DeviceName: "王芳的手机"})
	if err != nil {
		t.Fatalf("an enrollment from another client after %d refused bad tokens: %v", refused, err)
	}
	who, err := villagesyncv1connect.NewAccessServiceClient(bearer.Client(h2, reg.Token), proxy, connect.WithGRPC()).
		Whoami(ctx, &v1.WhoamiRequest{})
	if err != nil || who.Replica != reg.Replica {
		t.Fatalf("Whoami over gRPC through nginx: %v, %v; want replica %d", who, err, reg.Replica)
	}
	sync, err := villagesyncv1connect.NewSyncServiceClient(bearer.Client(h2, reg.Token), proxy, connect.WithGRPC()).
		Sync(ctx, &v1.SyncRequest{Replica: reg.Replica})
	if err != nil || !sync.Rescoped {
		t.Fatalf("first Sync over gRPC through nginx: %v, %v", sync, err)
	}
}

// clientFrom is an HTTPS client that trusts pool and connects from the
// loopback address local, over HTTP/2 or only HTTP/1.1.
func clientFrom(local string, pool *x509.CertPool, h2 bool) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	var p http.Protocols
	p.SetHTTP1(!h2)
	p.SetHTTP2(h2)
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, Protocols: &p,
		TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// startNginx runs nginx with readmeNginx in dir, in front of upstream,
// until the test ends, and returns its URL and the pool trusting its
// certificate.
func startNginx(t *testing.T, dir, upstream string) (string, *x509.CertPool) {
	t.Helper()
	certFile, keyFile, pool := replicatest.SelfSigned(t, dir)
	addr := serveproc.FreeAddr(t)
	site := nginxproc.Edit(t, "the README", readmeNginx(t),
		[2]string{"listen 443 ", "listen " + addr + " "},
		[2]string{"/etc/ssl/sync.pem", certFile}, [2]string{"/etc/ssl/sync.key", keyFile},
		[2]string{"grpc://127.0.0.1:8080", "grpc://" + upstream})
	return nginxproc.Start(t, dir, site, addr), pool
}
