// Package replica (TypeScript): the browser app's device replica. The
// app must work offline in a village and sync later, exactly as the Go
// replica (clients/go/replica) does: same tables, same dots and version
// vectors, same requests, same reading of every answer. The protocol is
// written down once (sync/DESIGN.md, "A device, step by step") and held to
// by the shared scenarios (clients/protocol-scenarios), which the Go test
// cmd/villagesync/internal/systest/scenarios plays on this code under
// Node over SQLite wasm. It is written against a small Db interface
// (db.ts: exec/query/transaction, the shape of app/db.ts's worker client)
// so the app's OPFS worker can back it later.
//
// First slice: local put/delete, pending selection, the request,
// applied/merged/already-had/rejected, pulled records, the cursor in one
// transaction, has_more paging. Not yet: rescope, evicted, repull,
// restored, gc_horizon (the replica fails a sync that needs them rather
// than ignore them), value checks on put, scrub.
export type { Db } from "./db";
export { Replica, waitingNote } from "./replica";
export type { Options, Transport } from "./replica";
export { deviceDDL, tableDDL } from "./ddl";
export { playScenario } from "./scenarios";
