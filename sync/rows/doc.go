// Package rows maps a record's replicated state to a SQLite row and back.
//
// The server and the device store records the same way (a column per
// field, the version vector, the per-field dots and the tombstone as
// compact blobs), so they share this mapping; each adds its own
// bookkeeping columns through the extra arguments.
package rows
