// Package rules holds the conformance test of the web app's record checks
// (clients/web/src/rules/check.ts, over data generated from schema/ by
// schema/internal/tsgen) against the server's (sync/record's Validate,
// CheckValues and CheckRequired): the same records, the same problems, the
// same words in English and Chinese. It has no code of its own.
package rules
