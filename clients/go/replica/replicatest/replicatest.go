package replicatest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Server is a running test server; it stops when the test ends.
type Server struct {
	*server.Running
	Store *store.Store
	Dir   string // the test's temporary directory
	File  string // the server database: a SQLite file, or a PostgreSQL URL under EngineEnv
}

// EngineEnv, set to "postgres", puts every Start's store on PostgreSQL (a
// new database from pgtest) instead of a SQLite file, as it does for
// sync/store's own tests: VILLAGESYNC_STORE_TEST_ENGINE=postgres go test
// ./cmd/villagesync/internal/systest/endtoend runs those tests on it.
// Tests that read File as a file skip or fail there; it is for packages
// that only talk to the server.
const EngineEnv = "VILLAGESYNC_STORE_TEST_ENGINE"

// Start starts a server whose log goes to log (discarded when nil).
func Start(tb testing.TB, log *slog.Logger) *Server {
	tb.Helper()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := tb.TempDir()
	file := filepath.Join(dir, "server.db")
	if os.Getenv(EngineEnv) == "postgres" {
		file = pgtest.URL(tb)
	}
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
func (s *Server) Device(tb testing.TB, user string, role store.Role, villages []string,
	opt replica.Options) *replica.Replica {
	tb.Helper()
	r, err := replica.Init(context.Background(), filepath.Join(s.Dir, user+".db"), s.URL,
		s.Code(tb, user, role, villages...), user, opt)
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

// Required holds a valid value for every required field, so tests that
// create records need to name only the fields they are about.
var Required = map[string][]any{
	"tutoring_sessions": {"village", "南香村", "session_date", "2024-06-03", "children_present", 20},
	"cleanup_tasks":     {"village", "东旺村", "kind", "street_sweeping", "status", "reported"},
	"books":             {"village", "南香村", "library", "children", "title", "a book"},
	"loans": {"village", "旺渔村", "book_id", "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f",
		"borrower_card", "C-001", "lent_on", "2024-06-03"},
}

// Put writes a record through r (a new one with Required filled in when
// id is empty) from field, value pairs, and returns its id.
func Put(t testing.TB, r *replica.Replica, table, id string, kv ...any) string {
	t.Helper()
	if id == "" {
		kv = append(append([]any{}, Required[table]...), kv...)
	}
	vals, err := schema.Fields(kv...)
	if err != nil {
		t.Fatal(err)
	}
	id, err = r.Put(context.Background(), table, id, vals)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// SyncOK syncs r and fails the test on an error.
func SyncOK(t testing.TB, r *replica.Replica) replica.Stats {
	t.Helper()
	st, err := r.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync %s: %v", r.Name(), err)
	}
	return st
}

// SetField overwrites one column of a record in a device file without
// going through Put (and its checks), for tests of server-side refusals.
func SetField(file, table, id, field string, value any) error {
	d, err := sql.Open("sqlite3", file)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := d.Exec(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE id = ?`, table, field), value, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("no %s record %s", table, id)
	}
	return nil
}

// ServerDump is the server's whole state as a device sees it: a fresh
// staff device pulls everything (in small pages) and dumps it.
func (s *Server) ServerDump(tb testing.TB) string {
	tb.Helper()
	probe := s.Device(tb, fmt.Sprintf("probe-%d", probeN.Add(1)), store.Staff, nil, replica.Options{PageLimit: 7})
	SyncOK(tb, probe)
	return Dump(tb, probe)
}

var probeN atomic.Int64

// AssertConverged fails the test for every device whose state is not the
// server's.
func (s *Server) AssertConverged(tb testing.TB, devs ...*replica.Replica) {
	tb.Helper()
	want := s.ServerDump(tb)
	for _, d := range devs {
		if got := Dump(tb, d); got != want {
			tb.Errorf("%s differs from the server:\n got: %s\nwant: %s", d.Name(), got, want)
		}
	}
}
