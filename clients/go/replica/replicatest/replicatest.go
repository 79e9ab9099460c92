// Package replicatest runs a real villagesync server on 127.0.0.1:0 over a
// temporary SQLite file, for integration tests in every package, and
// enrolls devices on it.
package replicatest

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Server is a running test server; it stops when the test ends.
type Server struct {
	*server.Running
	Store *store.Store
	Dir   string // the test's temporary directory
	File  string // the server database
}

// Start starts a server whose log goes to log (discarded when nil).
func Start(tb testing.TB, log *slog.Logger) *Server {
	tb.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := tb.TempDir()
	file := filepath.Join(dir, "server.db")
	st, err := store.Open(context.Background(), file, store.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := server.Start(st, "127.0.0.1:0", log, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			tb.Error(err)
		}
		if err := st.Close(); err != nil {
			tb.Error(err)
		}
	})
	return &Server{Running: srv, Store: st, Dir: dir, File: file}
}

// Code makes user (with role and villages) unless it exists and returns a
// one-time enrollment code for it.
func (s *Server) Code(tb testing.TB, user string, role store.Role, villages ...string) string {
	tb.Helper()
	code, err := s.Store.CodeFor(context.Background(), user, role, villages)
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// Device enrolls a device file name.db for user and returns it open.
func (s *Server) Device(tb testing.TB, user string, role store.Role, villages []string, opt replica.Options) *replica.Replica {
	tb.Helper()
	r, err := replica.Init(context.Background(), filepath.Join(s.Dir, user+".db"), s.URL, s.Code(tb, user, role, villages...), user, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// Dump is a replica's whole replicated state as `device list` prints it,
// table by table: replicas that have converged dump equal strings.
func Dump(tb testing.TB, r *replica.Replica) string {
	tb.Helper()
	var b strings.Builder
	for _, table := range schema.TableNames() {
		recs, err := r.List(context.Background(), table)
		if err != nil {
			tb.Fatal(err)
		}
		for _, rec := range recs {
			line, _ := json.Marshal(replica.JSON(rec))
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}
