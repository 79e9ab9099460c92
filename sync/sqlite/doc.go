// Package sqlite is villagesync's one SQLite layer, shared by the server
// store and the device replica: it opens databases the way villagesync
// needs them, applies embedded migrations, classifies SQLite's errors, and
// maps a record's replicated state to a row and back.
//
// Both ends use WAL mode with synchronous=FULL, so a transaction that has
// committed (and so a write acknowledged to anyone) survives a process
// kill or a power cut. Writes go through one connection: SQLite allows a
// single writer anyway, and queueing in Go is cheaper and fairer than
// busy-waiting on the file lock. Reads use a separate pool that sees
// committed snapshots while the writer works. Every error that says the
// storage itself fails (full, read-only, I/O) carries ErrUnavailable, so
// callers above the store can tell it apart without knowing SQLite.
//
// The server and the device store records the same way (a column per
// field, the version vector, the per-field dots and the tombstone as
// compact blobs); each adds its own bookkeeping columns through the extra
// arguments of Upsert and Args.
package sqlite
