// Package rpc implements the Connect services of villagesync.v1 over the
// server store: it converts wire messages with package wire, enforces
// request limits, and maps engine errors to precise Connect codes. A
// refused call names the request field at fault, in a v1.ErrorDetail and
// at the start of its message, which Localize says in the language of the
// request's Accept-Language (zh or en).
package rpc
