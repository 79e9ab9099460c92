// Package db opens SQLite databases the way villagesync needs them and
// applies embedded migrations.
//
// Both ends use WAL mode with synchronous=FULL, so a transaction that has
// committed (and so a write acknowledged to anyone) survives a process
// kill or a power cut. Writes go through one connection: SQLite allows a
// single writer anyway, and queueing in Go is cheaper and fairer than
// busy-waiting on the file lock. Reads use a separate pool that sees
// committed snapshots while the writer works.
package db
