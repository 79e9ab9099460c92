// Package demo runs villagesync end to end in one process: a server on
// embedded SQLite in a temporary directory, a volunteer phone in each of
// the three villages and a town staff phone, all offline most of the
// time. It replays a season of the 7pm classroom, the cleanup and the
// libraries, with the field's usual accidents, and ends with what staff
// and coordinators see: converged replicas, the conflict log, the totals.
// It is the README's first command.
package demo
