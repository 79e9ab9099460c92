package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// ErrStorageUnavailable is in the chain of every error that comes from the
// database's storage failing (a full disk, a read-only file, an I/O
// error, a PostgreSQL server that cannot be reached) rather than from the
// request: the same request may succeed once the database is back, and
// nothing of it was written. The SQLite driver marks such errors
// (sqlite.ErrUnavailable); on PostgreSQL sqlDB and sqlTx do.
var ErrStorageUnavailable = sqlite.ErrUnavailable

// sqlBackend is the server database: a writer pool w, a reader pool r and
// the statements prepared on the writer. On SQLite w is one connection
// (SQLite has one writer) and r the read-only pool; on PostgreSQL both are
// the one pool.
type sqlBackend struct {
	w, r sqlDB
	// file is the SQLite database (nil on PostgreSQL), for what only
	// SQLite has: its file, its pragmas, closing both pools.
	file  *sqlite.DB
	stmts map[string]map[string]*sql.Stmt // table -> purpose -> statement on the writer
	// flagStmts are the flag look-ups (flagExistsQuery, flagQuery) prepared
	// on the writer, by their text, at open (read-only after): one runs
	// for every pushed record of a flagged table, and preparing it each
	// time cost as much as running it.
	flagStmts map[string]*sql.Stmt
	// conflictHigh is, on PostgreSQL, the highest conflict id whose
	// record is in Store.mayHaveOpen (guarded by Store.mu).
	conflictHigh int64
	// migratedFrom is the SQLite file's schema version before this start.
	migratedFrom int
}

// shared says the database may have other servers writing it (PostgreSQL).
func (b *sqlBackend) shared() bool { return b.w.pg }

// sqlTxn is txn: a transaction on the writer.
type sqlTxn struct {
	s  *Store
	tx *sqlTx
}

func (t *sqlTxn) commit() error { return t.tx.Commit() }
func (t *sqlTxn) rollback()     { t.tx.Rollback() }

// sqlView is view: a read-only transaction of the reader pool.
type sqlView struct {
	s  *Store
	tx *sqlTx
}

func (v *sqlView) close() { v.tx.Rollback() }

// beginTxn starts a write transaction. The caller holds s.mu.
//
// On PostgreSQL it first locks meta's seq row, the feed lock: every write
// transaction of every server on the database takes it, so they run one
// at a time, as SQLite's one writer does, and commit in the order they
// took feed positions. A reader's snapshot therefore holds every row up to
// the feed position it reads (see sync/DESIGN.md, Several servers). Under
// the lock the transaction (READ COMMITTED: each statement sees what
// committed before it) catches up with what other servers wrote: the feed
// position, the clock, whether anything was collected, and the records
// that have gained open conflict entries.
func (s *Store) beginTxn(ctx context.Context) (txn, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if s.naiveFeed {
		if err := s.reserveNaively(ctx); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("begin: %w", err)
		}
	} else if s.shared() {
		if err := s.catchUp(ctx, tx); err != nil {
			tx.Rollback()
			return nil, fmt.Errorf("begin: %w", err)
		}
	}
	return &sqlTxn{s: s, tx: tx}, nil
}

// feedLock is the statement that takes the feed lock.
const feedLock = `SELECT value FROM meta WHERE key = 'seq' FOR UPDATE`

func (s *Store) catchUp(ctx context.Context, tx *sqlTx) error {
	var seq int64
	if err := tx.QueryRowContext(ctx, feedLock).Scan(&seq); err != nil {
		return fmt.Errorf("feed lock: %w", err)
	}
	var last int64
	var collected bool
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key = 'hlc'),
		EXISTS (SELECT 1 FROM collected)`).Scan(&last, &collected); err != nil {
		return fmt.Errorf("catch up: %w", err)
	}
	s.seq, s.anyCollected = uint64(seq), collected
	s.clock.Observe(uint64(last))
	return s.loadMayHaveOpen(ctx, tx)
}

// naiveBlock is how many feed positions a naive transaction reserves.
const naiveBlock = 1000

// reserveNaively is the naive design's start of a write transaction, for
// tests only (Store.naiveFeed): it reserves naiveBlock feed positions by
// moving the head in a statement of its own, committed at once, so it
// holds no lock while its transaction runs. The head then counts
// positions handed out, not committed: a reader can pass positions of a
// transaction still to commit.
func (s *Store) reserveNaively(ctx context.Context) error {
	var end int64
	if err := s.w.QueryRowContext(ctx, `UPDATE meta SET value = value + ? WHERE key = 'seq' RETURNING value`,
		naiveBlock).Scan(&end); err != nil {
		return fmt.Errorf("reserve feed positions: %w", err)
	}
	s.seq = uint64(end) - naiveBlock
	return nil
}

// beginView starts a read-only snapshot: on PostgreSQL a REPEATABLE READ
// transaction, so that all it reads is as of one moment as on SQLite.
func (s *Store) beginView(ctx context.Context) (view, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.shared() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &sqlView{s: s, tx: tx}, nil
}

// loadMayHaveOpen adds to s.mayHaveOpen the records of the open field and
// delete-vs-edit entries logged since the last call (all of them at
// start). Another server may have logged some; the caller holds s.mu.
func (s *Store) loadMayHaveOpen(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) error {
	if s.mayHaveOpen == nil {
		s.mayHaveOpen = map[string]struct{}{}
	}
	rs, err := q.QueryContext(ctx, `SELECT id, tbl, record_id FROM conflicts
		WHERE id > ? AND resolution IS NULL AND kind IN (?, ?) ORDER BY id`,
		s.conflictHigh, record.KindField, record.KindDeleteVsEdit)
	if err != nil {
		return fmt.Errorf("read open conflicts: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var table, rec string
		if err := rs.Scan(&id, &table, &rec); err != nil {
			return fmt.Errorf("read open conflicts: %w", err)
		}
		s.mayHaveOpen[entryKey(table, rec)] = struct{}{}
		s.conflictHigh = id
	}
	return rs.Err()
}
