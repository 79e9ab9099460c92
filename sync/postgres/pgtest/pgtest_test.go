package pgtest

import (
	"context"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/postgres"
)

func TestFreshDatabases(t *testing.T) {
	ctx := context.Background()
	a, b := URL(t), URL(t)
	if a == b {
		t.Fatalf("two calls gave one database: %s", a)
	}
	db, err := postgres.Open(ctx, a, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE x (id TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	var user string
	if err := db.QueryRowContext(ctx, `SELECT current_user`).Scan(&user); err != nil || user != "villagesync" {
		t.Fatalf("user %q, %v", user, err)
	}
}
