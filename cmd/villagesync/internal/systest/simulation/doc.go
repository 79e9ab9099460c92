// Package simulation holds the seeded simulation of villagesync: devices
// in the three villages and a staff phone edit offline, delete, log the
// same class twice and sync in random order over a network that loses
// requests, loses responses after the server committed and delivers
// requests twice, while the server restarts and apps are killed. Once the
// faults stop and everyone syncs until quiet, it checks that every replica
// equals the server, that no written value vanished, and that the report's
// totals equal the simulation's own. It is a test-only package.
package simulation
