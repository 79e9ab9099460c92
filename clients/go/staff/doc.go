// Package staff is the client side of what town staff do against the
// server (review the conflict log), for the CLI and for tools.
package staff
