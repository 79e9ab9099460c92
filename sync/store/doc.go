// Package store is the server's side of sync: the SQLite database of
// records, the change feed, the conflict log and the replica registry.
//
// Sync is one round trip of a device, decided here whole: the checks on
// the request (its replica, server and incarnation, the collection horizon,
// the device's scope), the push, then one page of the pull. The edge only
// converts it from and to the wire, and maps refusals to status codes.
//
// Push applies each change with record.Merge inside one transaction per
// batch, stamps every written row with the next feed sequence number, and
// remembers per record and replica the outcome it answered, so that a
// replayed push gets the same answer. Pull reads rows after a cursor in
// sequence order from a read snapshot, skipping rows whose state the
// pulling replica already holds. Only the server ever merges; devices take
// the server's state whole.
package store
