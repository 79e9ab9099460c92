// Package postgres is the server store's second engine: PostgreSQL through
// pgx's database/sql driver. It opens a pool, turns the store's `?`
// statements into PostgreSQL's `$n` (Rebind), marks errors that say the
// database cannot be reached or is out of resources (Unavailable), and
// runs migrations under an advisory lock, so that several servers starting
// at once against one database migrate it once.
//
// The statements themselves live with the store (sync/store's *_sql.go),
// written once in the SQL both engines speak; this package knows nothing
// of the store's tables.
package postgres
