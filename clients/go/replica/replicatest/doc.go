// Package replicatest runs a real villagesync server on 127.0.0.1:0 over a
// temporary SQLite file (or a PostgreSQL database when EngineEnv says so),
// for integration tests in every package, and enrolls devices on it.
package replicatest
