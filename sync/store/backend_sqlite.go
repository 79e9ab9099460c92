package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// ErrStorageUnavailable is in the chain of every error that comes from the
// database's storage failing (a full disk, a read-only file, an I/O
// error) rather than from the request: the same request may succeed once
// the disk is fixed, and nothing of it was written. The SQLite driver
// marks such errors (sqlite.ErrUnavailable); another backend wraps its
// own with this sentinel.
var ErrStorageUnavailable = sqlite.ErrUnavailable

// sqliteTxn is txn on SQLite: a transaction on the one writer connection.
type sqliteTxn struct {
	s  *Store
	tx *sql.Tx
}

func (t *sqliteTxn) commit() error { return t.tx.Commit() }
func (t *sqliteTxn) rollback()     { t.tx.Rollback() }

// sqliteView is view on SQLite: a read-only transaction of the reader pool.
type sqliteView struct {
	s  *Store
	tx *sql.Tx
}

func (v *sqliteView) close() { v.tx.Rollback() }

// beginTxn starts a write transaction. The caller holds s.mu.
func (s *Store) beginTxn(ctx context.Context) (txn, error) {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	return &sqliteTxn{s: s, tx: tx}, nil
}

// beginView starts a read-only snapshot.
func (s *Store) beginView(ctx context.Context) (view, error) {
	tx, err := s.db.R.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("begin read: %w", err)
	}
	return &sqliteView{s: s, tx: tx}, nil
}
