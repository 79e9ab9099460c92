// Package multiserver runs two real villagesync serve processes on one
// PostgreSQL database, with devices that send each request to either of
// them (no affinity, as behind a round-robin proxy), and checks that the
// change feed stays exact under concurrent writers on both: every puller
// receives every pushed record exactly once. It is a test-only package:
//
//	go test ./cmd/villagesync/internal/systest/multiserver          # 4 pushers, 3 pullers
//	go test ./cmd/villagesync/internal/systest/multiserver -short   # fewer records
//
// It needs PostgreSQL (sync/postgres/pgtest) and skips without it, failing
// instead under VILLAGESYNC_REQUIRE_ALL.
package multiserver
