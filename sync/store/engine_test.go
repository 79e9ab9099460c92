package store

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
)

// engineEnv names the engine this test binary's stores run on: unset for
// SQLite, "postgres" when TestOnPostgres runs the package again.
const engineEnv = "VILLAGESYNC_STORE_TEST_ENGINE"

var onPostgres = os.Getenv(engineEnv) == "postgres"

// testDSN is a new server database for t: a file in a temporary
// directory, or on PostgreSQL a new database. Opening it again opens the
// same database (a restart).
func testDSN(t testing.TB) string {
	t.Helper()
	if onPostgres {
		return pgtest.URL(t)
	}
	return filepath.Join(t.TempDir(), "s.db")
}

// sqliteOnly skips a test of what only the SQLite engine has (its file,
// its pragmas, its backup) when the package runs on PostgreSQL.
func sqliteOnly(t testing.TB, what string) {
	t.Helper()
	if onPostgres {
		t.Skipf("SQLite only: %s", what)
	}
}

// TestOnPostgres runs every test of this package again with its stores on
// PostgreSQL: the same black-box and white-box tests of the sync core
// pass on both engines. It runs this test binary once more (with -race if
// this one has it) with engineEnv set; to run some tests on PostgreSQL
// only: VILLAGESYNC_STORE_TEST_ENGINE=postgres go test -run X ./sync/store.
func TestOnPostgres(t *testing.T) {
	if onPostgres {
		t.Skip("this is the run on PostgreSQL")
	}
	pgtest.Require(t)
	args := []string{"-test.count=1", "-test.timeout=20m"}
	if testing.Short() {
		args = append(args, "-test.short")
	}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), engineEnv+"=postgres")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the package's tests on PostgreSQL: %v\n%s", err, tail(string(out), 200))
	}
	if testing.Verbose() {
		t.Logf("%s", tail(string(out), 40))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
