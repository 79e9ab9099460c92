// Package staff is the client side of what town staff do against the
// server, for the CLI and for tools: review the conflict log, manage
// users, villages and devices, and read a record's audit trail. Each call
// takes the HTTP client that carries a staff device's token and the
// server's URL.
package staff
