// Package bench measures sync the way a deployment would see it: a real
// `villagesync serve` process on loopback behind a proxy that counts every
// byte each way (HTTP headers included), device syncs run as their own
// `villagesync device sync` processes (so their peak memory is theirs
// alone), and every speed given as a ratio to the same run's raw insert
// of the same rows into the same engine (SQLite files, or PostgreSQL with
// Config.DB, where two servers may share one database), the machine's
// practical limit. Ratios, not
// absolute times, are what compare across the shared, noisy machines this
// runs on. `villagesync bench` prints its table; docs/bench.md holds the
// latest one.
package bench
