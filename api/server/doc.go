// Package server wires the villagesync HTTP server: the Connect services
// (which also speak gRPC and gRPC-Web), gRPC health and reflection, request
// limits, HTTP/1.1 and cleartext HTTP/2 on one port, and graceful shutdown.
//
// A UI (the web console) can share the port: Options.UI serves every path
// the API does not, untouched by the API's wrappers (see NewHandler and
// StartWith). The package cannot import the console (api imports no
// clients/); the command passes it in.
package server
