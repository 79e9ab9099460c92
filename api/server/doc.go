// Package server wires the villagesync HTTP server: the Connect services
// (which also speak gRPC and gRPC-Web), gRPC health and reflection, request
// limits, HTTP/1.1 and cleartext HTTP/2 on one port, and graceful shutdown.
package server
