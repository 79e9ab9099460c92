package store

import "context"

// The store's decisions know no SQL. They reach the database through two
// interfaces: txn, one write transaction, and view, one read-only
// snapshot. Their methods are the statements the decisions need, declared
// by concern beside the decisions that use them (pushTxn in
// backend_push.go, and so on); sqlTxn and sqlView implement them in
// the *_sql.go files, for SQLite and PostgreSQL alike (db_sql.go); a third
// engine would implement the same methods. split_internal_test.go keeps
// the decisions free of SQL.

// txn is one write transaction. Only one is open at a time: in a process
// (Store.mu) and, on PostgreSQL, among every server sharing the database
// (the feed lock, backend_sql.go).
type txn interface {
	commit() error
	// rollback undoes an uncommitted transaction; after commit it does
	// nothing, so it can be deferred.
	rollback()
	pushTxn
	reviewTxn
	accessTxn
	supersedeTxn
	attachTxn
}

// view is one read-only snapshot: everything it reads is as of one moment.
type view interface {
	// close ends the snapshot.
	close()
	pullView
	reviewView
	accessView
	attachView
	recordsView
	statsView
}

// beginner opens transactions; *Store's SQLite backend is one.
type beginner interface {
	beginTxn(ctx context.Context) (txn, error)
	beginView(ctx context.Context) (view, error)
}

var _ beginner = (*Store)(nil)
