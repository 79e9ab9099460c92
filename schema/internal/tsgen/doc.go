// Command tsgen writes clients/web/src/rules/schema.gen.ts: the tables,
// their columns' rules, the column check messages, the Chinese message
// catalogue and field names, and the volunteer forms' defaults, as
// TypeScript data, so the web app checks a record with exactly the
// server's rules and says exactly the server's messages (rules/check.ts
// reads nothing else). Run by make generate:
//
//	go run ./schema/internal/tsgen clients/web/src/rules/schema.gen.ts
//
// The output is deterministic (sorted maps, no timestamps), so make
// check-generated catches a schema change not regenerated. It imports
// only schema: it lives under schema/ because it is schema's data.
package main
