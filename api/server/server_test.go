package server_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// --tls-cert/--tls-key serve HTTPS, over HTTP/2 as gRPC needs.
func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := replicatest.SelfSigned(t, dir)
	st, err := store.Open(context.Background(), filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.StartTLS(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0,
		server.TLS{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if !strings.HasPrefix(srv.URL, "https://") {
		t.Fatalf("URL %s", srv.URL)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := grpchealth.NewClient(hc, srv.URL, connect.WithGRPC()).
		Check(context.Background(), &grpchealth.CheckRequest{})
	if err != nil || resp.Status != grpchealth.StatusServing {
		t.Fatalf("health over TLS: %v %v", resp, err)
	}
	if _, err := server.StartTLS(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0,
		server.TLS{CertFile: certFile}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
}
