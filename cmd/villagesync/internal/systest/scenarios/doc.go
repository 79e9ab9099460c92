// Package scenarios plays the shared device protocol scenarios
// (clients/protocol-scenarios) on the browser app's TypeScript replica
// (clients/web/src/replica), under Node over SQLite wasm in memory, as
// clients/go/replica's TestProtocolScenarios plays them on the Go replica:
// both devices must send the same requests and end in the same states. It
// has no code of its own.
package scenarios
