package store

import (
	"context"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// reviewTxn and reviewView are the statements that review.go, conflicts.go, gc.go, reportmonths.go, report.go need.
//
// Unless a method says otherwise, its errors are the database's, unwrapped:
// the decisions add the context staff and the logs see.
type reviewTxn interface {
	// A flag entry stands for a set: its members (conflict_members) are
	// the records flagged together. "A case of f with" means: both live,
	// each of f.Match equal (an optional column compared with null as
	// empty), each of f.WhileNull null on both.
	//
	// firstFlagPartner returns the live record of t with the lowest id,
	// other than r, that is a case of f with r (as written, its f.Label
	// text "" when null), through the Lookups index; ok false when there
	// is none. The caller has checked that r has f.WhileNull null.
	firstFlagPartner(ctx context.Context, t *schema.Table, f *schema.Flag, r *record.Record) (flagPartner, bool, error)
	// leaveFlagSets removes record id (as stored) from the open entries of
	// f on t where no other member is a case of f with it any more (it was
	// deleted, returned or corrected); a deleted id leaves them all.
	leaveFlagSets(ctx context.Context, t *schema.Table, f *schema.Flag, id string) error
	// flagMembers returns those of ids that are members of any entry, in
	// a few statements.
	flagMembers(ctx context.Context, ids []string) (map[string]bool, error)
	// flaggedWith reports whether record id is a member of an entry of f
	// on t, open or resolved, together with a record that is a case of f
	// with it now: staff have it before them, or have judged it.
	flaggedWith(ctx context.Context, t *schema.Table, f *schema.Flag, id string) (bool, error)
	// openFlagSet returns the oldest open entry of f on t that has partner
	// as a member or, failing that, any live record that is a case of f
	// with r (r excluded); ok false when there is none.
	openFlagSet(ctx context.Context, t *schema.Table, f *schema.Flag, r *record.Record, partner string) (uint64,
		bool, error)
	// insertFlag logs an open flag entry of kind: record later, other
	// first, on field, both its members; the winner side holds the label
	// of the partner found, the loser side that of the record written
	// (both Text, no dots or versions), detected at now.
	insertFlag(ctx context.Context, table, later, first, field, kind, partnerLabel, writtenLabel string,
		now time.Time) error
	// joinFlagSet adds record id to the members of entry logID (nothing
	// when it is one).
	joinFlagSet(ctx context.Context, logID uint64, id string) error
	// flagSetCopies returns, by id, the members of entry logID on t that
	// an earlier member (lower id) is a case of f with: the copies a merge
	// deletes, keeping the first of each group.
	flagSetCopies(ctx context.Context, t *schema.Table, f *schema.Flag, logID uint64) ([]string, error)
	// selectConflicts is conflictReader inside the transaction.
	conflictReader
	// resolveConflictEntry marks log entry id resolved as resolution, by
	// by, at now.
	resolveConflictEntry(ctx context.Context, id uint64, resolution, by string, now time.Time) error

	// loadServerRecord returns table's record id as stored, live or
	// deleted; an error (sql.ErrNoRows in its chain on SQLite) when there
	// is none.
	loadServerRecord(ctx context.Context, t *schema.Table, id string) (*record.Record, error)
	// upsertServerRecord writes r as the server's write (replica
	// ServerReplica) at feed position seq, replacing what is stored.
	upsertServerRecord(ctx context.Context, t *schema.Table, r *record.Record, seq uint64) error
	// saveFeedPosition stores the feed position seq and the server clock's
	// last reading, so a restart resumes after them.
	saveFeedPosition(ctx context.Context, seq uint64) error

	// dropCollectedTrails deletes the receipts and moves of table's
	// records deleted at or before feed position horizon.
	dropCollectedTrails(ctx context.Context, table string, horizon uint64) error
	// collectDeleted moves table's records deleted at or before horizon to
	// the collected traces (version, tombstone, position; replacing an
	// older trace of the same id) and returns how many it removed.
	collectDeleted(ctx context.Context, table string, horizon uint64) (int64, error)
	// dropTracesBehindAll deletes the collected traces at or before the
	// lowest cursor of the enrolled devices (not revoked, however long ago
	// seen; the server aside).
	dropTracesBehindAll(ctx context.Context) error
	// raiseCollectHorizon stores horizon as the collection horizon unless
	// the stored one is higher: it never goes back.
	raiseCollectHorizon(ctx context.Context, horizon uint64) error

	// openReportMonths starts a batch of reads of report_months; the
	// caller closes it before the transaction ends.
	openReportMonths(ctx context.Context) (reportMonthReader, error)
	// insertReportedMonth stores a month seen for the first time.
	insertReportedMonth(ctx context.Context, k MonthKey, digest string, now time.Time, seq uint64) error
	// reviseReportedMonth replaces a month's digest, marks it revised at
	// now and read at feed position seq.
	reviseReportedMonth(ctx context.Context, k MonthKey, digest string, now time.Time, seq uint64) error
}

// reviewView is what ListConflicts reads of an entry's records, in one
// snapshot. ReportSnapshot is SQL through and through (report_sqlite.go).
type reviewView interface {
	// readRecord returns t's record id as stored, live or deleted, with
	// its Seq; ok false when there is none.
	readRecord(ctx context.Context, t *schema.Table, id string) (r *record.Record, ok bool, err error)
	// replicaName returns a replica's device name and its user's name
	// ("" for what the server does not know).
	replicaName(ctx context.Context, replica uint32) (replicaName, error)
	// openReportMonths starts a batch of reads of report_months (for a
	// report that marks none); the caller closes it before the view ends.
	openReportMonths(ctx context.Context) (reportMonthReader, error)
}

// reviewReads are the one-statement reads the Store makes outside any
// transaction.
type reviewReads interface {
	conflictReader
	// minActiveCursor returns the lowest cursor of the devices (the server
	// aside, not revoked) seen at or after since; ok false when there is
	// none.
	minActiveCursor(ctx context.Context, since time.Time) (cursor uint64, ok bool, err error)
}

var _ reviewReads = (*Store)(nil)

// conflictReader reads the conflict log.
type conflictReader interface {
	// selectConflicts returns the entries after f.AfterID (and just f.ID
	// when set; of f.Table when set; open ones only when f.OpenOnly,
	// resolved ones only when f.ResolvedOnly), by id, at most f.Limit,
	// with the names of the devices of both sides and of their users (""
	// for one the server no longer knows). f is already checked; it does
	// not read Records. Its errors carry their context ("list conflicts:
	// ...").
	selectConflicts(ctx context.Context, f ConflictFilter) ([]LoggedConflict, error)
}

// flagPartner is a record a flag pairs with the one written.
type flagPartner struct{ id, label string }

// reportMonthReader reads stored months for one batch.
type reportMonthReader interface {
	// readReportedMonth returns month k as stored; ok false when it is not.
	readReportedMonth(ctx context.Context, k MonthKey) (m storedMonth, ok bool, err error)
	close()
}

// storedMonth is a row of report_months.
type storedMonth struct {
	digest         string
	first, revised time.Time // revised is zero while not revised
	seq            uint64
}
