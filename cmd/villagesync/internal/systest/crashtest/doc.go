// Package crashtest kills real villagesync processes with SIGKILL and
// checks what the storage promises: after a restart the SQLite files pass
// PRAGMA integrity_check, no write acknowledged to a device is missing on
// the server, and every device converges with the server.
//
// The tests build the villagesync command once and run it as a child
// process: the server in TestServerSurvivesSIGKILL (killed in the middle
// of concurrent syncing by three devices, many times; again in
// TestServerOnPostgresSurvivesSIGKILL with its store on PostgreSQL, where
// only the devices' files get the integrity check), a device in
// TestDeviceSurvivesSIGKILL (killed in the middle of puts and syncs). It is
// a test-only package:
//
//	go test ./cmd/villagesync/internal/systest/crashtest                                 # 8 server kills, 24 rounds of device kills
//	go test ./cmd/villagesync/internal/systest/crashtest -crash.rounds=40 -crash.seed=7  # a longer run, replaying a seed
package crashtest
