package store

import "context"

// supersedeTxn is the statement supersede.go needs (it closes entries
// with reviewTxn's resolveConflictEntry).
type supersedeTxn interface {
	// openEntries returns the open field and delete-vs-edit entries of
	// record id of table (not the flags), by id.
	openEntries(ctx context.Context, table, id string) ([]openEntry, error)
}
