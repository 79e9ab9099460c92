// Package rpc implements the Connect services of villagesync.v1 over the
// server store: it converts wire messages with package wire, enforces
// request limits, and maps engine errors to precise Connect codes.
package rpc
