// Package sync_test keeps the folders layers: it fails when a package
// imports, even indirectly, something its layer may not depend on. The
// rules are the package map at the top of sync/DESIGN.md.
package sync_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/futian-xiaomo/villagesync"

// wireAndUp is what the engine must never depend on: the RPC framework,
// protobuf, HTTP, and the layers above it.
var wireAndUp = []string{
	"connectrpc.com/...", "google.golang.org/protobuf/...", "google.golang.org/grpc/...", "net/http",
	module + "/api/...", module + "/clients/...", module + "/cmd/...",
}

// layers lists, for each set of packages (a go list pattern), the import
// paths none of them may depend on (an exact path, or a prefix with /...).
// Test files are not checked: a test may run both ends together.
var layers = []struct {
	packages  string
	forbidden []string
	except    []string // packages of the set the rule does not cover
}{
	// The program tables and their rules: shared by every layer, so they
	// depend on none.
	{"./schema/...", append([]string{module + "/sync/..."}, wireAndUp...), nil},
	// The engine: records, merges, the server store, reports.
	{"./sync/...", wireAndUp, nil},
	// The contract and the wire edge serve clients; they never need one.
	{"./api/...", []string{module + "/clients/...", module + "/cmd/..."}, nil},
	// Devices and staff tools talk to a server over the wire; only the test
	// helpers that start one for integration tests embed it.
	{"./clients/...", []string{module + "/cmd/...", module + "/api/rpc", module + "/api/server"},
		[]string{module + "/clients/go/replica/replicatest"}},
	// Only a replica keeps a database: the wire edge and the staff tools
	// stay free of the server store and of cgo, so they build for any
	// target (the browser's WebAssembly among them).
	{"./api/wire", serverStorage, nil},
	{"./clients/...", serverStorage,
		[]string{module + "/clients/go/replica", module + "/clients/go/replica/replicatest"}},
	// The console's embedded files are the only thing the server takes
	// from clients/web: the package serves them and depends on nothing of
	// ours (its own test holds it to the standard library).
	{"./clients/web", []string{module + "/..."}, nil},
}

// serverStorage is the server store and its engines: SQLite (which needs
// cgo) and PostgreSQL.
var serverStorage = []string{module + "/sync/store", module + "/sync/sqlite", "github.com/mattn/go-sqlite3",
	module + "/sync/postgres", "github.com/jackc/pgx/v5"}

func TestLayers(t *testing.T) {
	for _, l := range layers {
		t.Run(strings.TrimPrefix(l.packages, "./")+" "+path.Base(l.forbidden[0]), func(t *testing.T) {
			deps := depsOf(t, l.packages)
			if len(deps) == 0 {
				t.Fatalf("go list %s found no packages", l.packages)
			}
			for pkg, imports := range deps {
				if slices.Contains(l.except, pkg) {
					continue
				}
				if bad := leaks(imports, l.forbidden); len(bad) > 0 {
					more := ""
					if len(bad) > 3 {
						bad, more = bad[:3], fmt.Sprintf(" and %d more", len(bad)-3)
					}
					t.Errorf("%s depends on %s%s, which its layer may not (see the package map in sync/DESIGN.md; go list -deps %s)",
						pkg, strings.Join(bad, ", "), more, pkg)
				}
			}
		})
	}
}

// TestLayersCatchALeak makes sure the check can fail: the wire edge does
// import Connect, so holding it to the engine's rule must report it.
func TestLayersCatchALeak(t *testing.T) {
	deps := depsOf(t, "./api/rpc")
	got := leaks(deps[module+"/api/rpc"], wireAndUp)
	if !slices.Contains(got, "connectrpc.com/connect") || !slices.Contains(got, "net/http") {
		t.Fatalf("api/rpc held to the engine's rule: leaks %v, want connectrpc.com/connect and net/http among them", got)
	}
}

// depsOf maps each package matching pattern to everything it depends on,
// directly or not, leaving test files out.
func depsOf(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	noteSources(t)
	cmd := exec.Command("go", "list", "-deps=false", "-f", "{{.ImportPath}} {{join .Deps \" \"}}", pattern)
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, stderr.String())
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			deps[f[0]] = f[1:]
		}
	}
	return deps
}

// noteSources opens every Go file of the module, so that go test's cache,
// which knows only the files a test opens, runs this test again when an
// import changes (go list runs in another process).
func noteSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".go") {
			return err
		}
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// leaks returns the imports that match a forbidden path or prefix.
func leaks(imports, forbidden []string) []string {
	var out []string
	for _, imp := range imports {
		for _, f := range forbidden {
			if imp == f || strings.HasSuffix(f, "/...") &&
				(imp == path.Dir(f) || strings.HasPrefix(imp, strings.TrimSuffix(f, "..."))) {
				out = append(out, imp)
				break
			}
		}
	}
	return out
}
