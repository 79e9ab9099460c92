// Package vv holds version vectors and dots, the causal bookkeeping of sync.
//
// A version vector maps a replica number to how many of that replica's
// writes to one record the holder has seen; a dot names one write. The
// merge rule in package record decides everything from these two: a write
// whose dot a version vector covers is already known to its holder. Replica
// numbers are small integers handed out by the server, which keeps vectors
// a few bytes on the wire and in SQLite.
package vv
