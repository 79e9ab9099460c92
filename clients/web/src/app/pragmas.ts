// The pragmas the worker runs on opening the database.
//
// Saving a record must take at most 20 ms (p99) without giving up
// durability: what the page reports as saved survives a killed browser
// and a power cut. The opfs-sahpool VFS's xSync is the access handle's
// flush() (an fsync of the OPFS file), so durability comes from
// synchronous=FULL; what the choices below change is how many writes and
// flushes a COMMIT costs.
//
// - locking_mode=EXCLUSIVE: the pool allows one connection to its files
//   at all (the page's Web Lock sees to that), so file locks buy nothing;
//   held for the connection's life they spare each transaction the
//   journal's creation and removal (a pool header rewrite and a flush
//   each) and the re-reading of the database header.
// - journal_mode=WAL: a COMMIT appends the changed pages to the WAL and
//   flushes once, instead of a rollback journal's write, flush, write
//   of the database, flush. The VFS has no shared memory (no xShm
//   methods); SQLite then keeps the WAL index on the heap, which it
//   allows only under exclusive locking, so locking_mode must come
//   first. It does so on every open: the file stays in WAL mode.
// - synchronous=FULL: in WAL mode, NORMAL would flush only at
//   checkpoints, and a power cut could lose the last commits the page
//   had reported as saved.
//
// Measured in headless Chromium on the 2-core build machine, which other
// jobs shared (load average 4 to 12), so the absolute figures wander;
// BenchmarkSavePragmas, 500 saves of one INSERT each, timed in the page:
//   synchronous=FULL, DELETE journal (before):  p99 33.6 ms
//   TRUNCATE journal:                           p50 14.3 ms, p99 31.7 ms
//   PERSIST journal:                            p50 13.0 ms, p99 26.3 ms
//   EXCLUSIVE + DELETE:                         p50  9.2 ms, p99 21.1 ms
//   EXCLUSIVE + WAL + FULL (chosen):            p50  7.0 ms, p99 19.9 ms
//   EXCLUSIVE + WAL + NORMAL (not durable):     p50  3.2 ms, p99 19.5 ms
// BenchmarkSaveRow, old and new side by side in one process under heavy
// load (1000 saves each, two runs): new/old p50 0.31 and 0.32, p99 0.50
// and 0.67 (old p50 27-33 ms; new p50 8.5-10.5 ms).
// The wasm build's page size is already 8192; the cache size does not
// matter to a one-row write.
// - wal_autocheckpoint=4000: the WAL is copied back into the database
//   when the worker is idle (db-worker.ts, idleCheckpointMs), not by the
//   commit that happens to cross SQLite's default of 1000 pages: that
//   save paid for the copy and its flush, the slowest saves of a run.
//   4000 pages (32 MB) is the fallback for a worker that is never idle.
export const openPragmas =
  "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; " +
  "PRAGMA wal_autocheckpoint=4000";

/** Run when the worker has been idle a while: copies the WAL back. */
export const idleCheckpoint = "PRAGMA wal_checkpoint(PASSIVE)";
