package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// `migrate` prints a line a table and the verification; bootstrap and
// mark-restored take the PostgreSQL URL; a second migrate is refused.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	from := filepath.Join(t.TempDir(), "s.db")
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "--db", from, "bootstrap", "ana"}, &out); err != nil {
		t.Fatal(err)
	}
	to := pgtest.URL(t)
	out.Reset()
	if err := run(ctx, []string{"migrate", "--from", from, "--to", to}, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"copied users", "table ", "users ", "replicas ", "copied and verified in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("migrate printed no %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "DIFFERS") {
		t.Errorf("migrate:\n%s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate", "--from", from, "--to", to, "--verify"}, &out); err != nil ||
		!strings.Contains(out.String(), "the copy matches") {
		t.Errorf("verify: %v\n%s", err, out.String())
	}
	if err := run(ctx, []string{"migrate", "--from", from, "--to", to}, &out); err == nil ||
		!strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second migrate: %v", err)
	}
	out.Reset()
	if err := run(ctx, []string{"admin", "--db", to, "bootstrap", "bo"}, &out); err != nil {
		t.Errorf("bootstrap on PostgreSQL: %v", err)
	}

	st, err := store.Open(ctx, to, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc := st.Incarnation()
	st.Close()
	out.Reset()
	if err := run(ctx, []string{"admin", "--db", to, "mark-restored"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "marked restored") || !strings.Contains(out.String(), "restart every server") ||
		strings.Contains(out.String(), "password") {
		t.Errorf("mark-restored printed:\n%s", out.String())
	}
	st, err = store.Open(ctx, to, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Incarnation() == inc {
		t.Error("mark-restored left the incarnation")
	}
}

// `backup` of a PostgreSQL database says what to use instead and writes
// nothing.
func TestBackupRefusesPostgres(t *testing.T) {
	out := filepath.Join(t.TempDir(), "b.db")
	err := run(context.Background(), []string{"backup", "--db", "postgres://u@localhost/villagesync", "--out", out},
		&bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "pg_dump") || !strings.Contains(err.Error(), "mark-restored") {
		t.Errorf("backup of PostgreSQL: %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("backup of PostgreSQL wrote %s: %v", out, err)
	}
}
