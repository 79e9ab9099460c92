// Package web serves the villagesync web console, and at /app/ the
// volunteer app (SQLite in the browser, see README.md): the built files of the
// TypeScript beside it (src/, bundled by build.mjs into dist/), embedded in
// the binary so `villagesync serve` and `demo` need no Node and no other
// host (village networks are weak and may be cut off from the internet).
//
// dist/ is generated and committed like api/gen: `make web` rebuilds it and
// CI's `make check-generated` fails when it is stale. The package imports
// the standard library only, since the server embeds it: the console's
// data comes from the same Connect API as every other client, never from
// here.
package web
