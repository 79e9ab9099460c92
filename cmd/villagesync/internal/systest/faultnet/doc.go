// Package faultnet is the faulty network of the randomized system tests
// (simulation, mixedfleet): a client transport for Go replicas and a
// server-side handler for browsers, which cannot be given a transport of
// ours. Both lose requests before the server sees them and lose responses
// after the server committed, by a seeded random source, so a seed names
// the faults it injects. Cutter is a link that drops every so many bytes
// the client sends, for the budgets of the attachment lane (a photo's
// upload resumes where the cut left it). It is a test-only package.
package faultnet
