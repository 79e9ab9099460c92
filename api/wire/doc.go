// Package wire converts between the generated protobuf messages and the
// engine's own types, so the protobuf types stay at the edges (the RPC
// handlers and the device client) and the engine never imports them.
package wire
