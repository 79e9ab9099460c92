// Package protocol holds one sync round trip as the engine sees it: the
// request a device sends and the response the server gives, in engine
// types (records, version vectors, outcomes), with no protobuf in sight.
//
// The server store decides a whole round trip from a Request
// (store.Store.Sync); the device replica builds Requests and applies
// Responses behind a small transport. The wire edge (api/wire) converts
// both to and from their protobuf messages, field for field, so the
// protocol on the wire (api/villagesync/v1/sync.proto) is unchanged.
// sync/DESIGN.md explains what each field means for both sides.
package protocol
