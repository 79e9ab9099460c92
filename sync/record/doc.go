// Package record is the replicated state of one record and the rule that
// merges two states of it.
//
// A record is a set of fields, each holding a value and the dot of the
// write that put it there, a version vector, and maybe a tombstone. Merge
// is a pure function of those: it decides per field whether one side had
// already seen the other's write or the two were concurrent, and in the
// latter case picks a deterministic winner and reports the loser as a
// Conflict for the server's log. Because it looks only at dots and version
// vectors, replicas that receive the same writes in any order end equal.
package record
