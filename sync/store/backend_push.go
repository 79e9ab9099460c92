package store

import (
	"context"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// pushTxn and pullView are the statements that push.go, pull.go, roundtrip.go need.
//
// Errors are returned as the backend reports them, unless a method says
// otherwise; the decisions add the context.
type pushTxn interface {
	// beginSavepoint opens the savepoint of one push of a group commit;
	// rollbackSavepoint undoes everything written since, and
	// releaseSavepoint ends it (keeping what is written, to commit with
	// the transaction). An error from rollbackSavepoint means the whole
	// transaction is gone (SQLite rolls it back itself on a full disk).
	beginSavepoint(ctx context.Context) error
	rollbackSavepoint(ctx context.Context) error
	releaseSavepoint(ctx context.Context) error

	// villages reads the village resolver from the villages table, as the
	// transaction sees it (its own writes included).
	villages(ctx context.Context) (*schema.Villages, error)

	// loadRecord reads the stored state of record id of t, with Seq set
	// to its feed position; it returns nil, false, nil when there is no
	// such row (a collected record has none). Run for every pushed change.
	loadRecord(ctx context.Context, t *schema.Table, id string) (*record.Record, bool, error)
	// loadRecords reads the stored states of records ids of t, as
	// loadRecord does, in a few statements (not one per id): those with
	// no row are left out of the map, which is keyed by id.
	loadRecords(ctx context.Context, t *schema.Table, ids []string) (map[string]*record.Record, error)
	// loadCollected reads what a collected delete of record id of t left
	// (its version, tombstone and feed position) as a record without
	// fields; nil, nil when nothing of it was collected. Its errors carry
	// the table and id.
	loadCollected(ctx context.Context, t *schema.Table, id string) (*record.Record, error)
	// writeRecord stores r, a merged state of a record of t, replacing
	// any stored state, at feed position seq, written by replica origin
	// (pulls skip a device's own writes by it).
	writeRecord(ctx context.Context, t *schema.Table, r *record.Record, seq uint64, origin uint32) error

	// readReceipt reads what replica was last told of its change to
	// record id of table: the change's counter and its outcome; ok is
	// false when there is no receipt.
	readReceipt(ctx context.Context, replica uint32, table, id string) (counter uint64, outcome record.Outcome,
		ok bool, err error)
	// writeReceipts keeps what each replica was told of its change
	// (counter) to a record, replacing the previous receipt, in a few
	// statements; at most one receipt per record and replica.
	writeReceipts(ctx context.Context, rs []receipt) error

	// insertMove notes that record id of table left village from at feed
	// position seq (the moves pulls turn into evictions).
	insertMove(ctx context.Context, seq uint64, table, id, from string) error
	// insertConflict logs c, detected at now, in the conflict log, with
	// who carried the write of replica carried in a file (carriedBy; ""
	// for none): of the winner's side or the loser's, whichever is its.
	insertConflict(ctx context.Context, c record.Conflict, carried uint32, carriedBy string, now time.Time) error
	// insertAudits adds audit rows, in order, in a few statements: who
	// (replica; user, 0 for none, stored as no user) did what to a record
	// and with what outcome.
	insertAudits(ctx context.Context, as []auditEntry) error
	// insertHeld keeps a refused change (change, its JSON) of replica for
	// staff, with the problem's code and message, noting its size in bytes.
	insertHeld(ctx context.Context, replica uint32, table, id, code, message, change string, bytes int64,
		now time.Time) error
	// heldUsage returns how many refused changes of replica are held and
	// their size in bytes; it reads an index, not the changes.
	heldUsage(ctx context.Context, replica uint32) (rows, bytes int64, err error)
}

// receipt is what replica was told of its change (counter) to a record.
type receipt struct {
	replica   uint32
	table, id string
	counter   uint64
	outcome   record.Outcome
}

// auditEntry is one audit row.
type auditEntry struct {
	table, id       string
	replica         uint32
	user            int64
	outcome, detail string
	at              time.Time
}

// pullView is the snapshot a pull reads.
type pullView interface {
	// feedHead reads the feed's last position (the seq of meta).
	feedHead(ctx context.Context) (uint64, error)
	// readFeed reads up to limit records of t whose feed position is after
	// after, in feed order, with Seq set, leaving out those last written by
	// replica notOrigin; when scoped, only those whose t.Scope is one of
	// villages (none when villages is empty).
	readFeed(ctx context.Context, t *schema.Table, after uint64, notOrigin int64, scoped bool, villages []string,
		limit int) ([]*record.Record, error)
	// eachMove calls fn for each record that left one of villages between
	// feed positions from (excluded) and to, after user userID was given
	// that village (moves out of a village the user no longer has are left
	// out), once per record, in the order of its first such move, and
	// stops at fn's first error, which it returns as is. Its own errors
	// say "pull: moves".
	eachMove(ctx context.Context, from, to uint64, userID int64, villages []string,
		fn func(protocol.RecordRef) error) error
	// recordVillage reads the t.Scope of record id of t ("" when NULL); ok
	// is false when there is no such row.
	recordVillage(ctx context.Context, t *schema.Table, id string) (village string, ok bool, err error)
}
