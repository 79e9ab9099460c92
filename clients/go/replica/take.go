package replica

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// takeRows is how many pulled records one statement stores. A page of
// 1,000 was 2,000 statements (a read of _own and _acked, then INSERT OR
// REPLACE), each parsed again by SQLite: most of a device's time in an
// initial pull. A prepared multi-row upsert whose update is guarded by
// the pending check does the same in 1/takeRows of the statements;
// 64 rows of the widest table stay far below SQLite's 32,766 variables.
const takeRows = 64

// taker stores a page's pulled records in one transaction: in runs of one
// table, takeRows at a time, through statements prepared once per commit.
type taker struct {
	r     *Replica
	tx    *sql.Tx
	stmts map[takeKey]*sql.Stmt
	t     *schema.Table
	run   []*record.Record
	taken int // records stored (not skipped for pending writes)
}

type takeKey struct {
	t *schema.Table
	n int
}

func newTaker(r *Replica, tx *sql.Tx) *taker {
	return &taker{r: r, tx: tx, stmts: map[takeKey]*sql.Stmt{}}
}

// add queues rec of t, storing the queued run when it is full or when the
// table changes.
func (k *taker) add(ctx context.Context, t *schema.Table, rec *record.Record) error {
	if k.t != t {
		if err := k.flush(ctx); err != nil {
			return err
		}
		k.t = t
	}
	k.run = append(k.run, rec)
	if len(k.run) == takeRows {
		return k.flush(ctx)
	}
	return nil
}

// flush stores the queued run: each record takes the pulled state unless
// the device holds writes to it not yet pushed (_own > _acked), which
// the server will merge and hand back.
func (k *taker) flush(ctx context.Context) error {
	if len(k.run) == 0 {
		return nil
	}
	t, run := k.t, k.run
	k.run = k.run[:0]
	stmt, err := k.stmt(ctx, t, len(run))
	if err != nil {
		return err
	}
	var args []any
	for _, rec := range run {
		rec = knownFields(t, rec)
		own := int64(rec.Version[k.r.id])
		args = append(args, sqlite.Args(t, rec, own, own, k.r.gen, int64(rec.Seq))...)
	}
	res, err := stmt.ExecContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("sync: store %d records of %s from %s: %w", len(run), t.Name, run[0].ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sync: store %s: %w", t.Name, err)
	}
	k.taken += int(n)
	return nil
}

func (k *taker) stmt(ctx context.Context, t *schema.Table, n int) (*sql.Stmt, error) {
	key := takeKey{t, n}
	if s, ok := k.stmts[key]; ok {
		return s, nil
	}
	s, err := k.tx.PrepareContext(ctx, takeSQL(t, n))
	if err != nil {
		return nil, fmt.Errorf("sync: prepare store of %s: %w", t.Name, err)
	}
	k.stmts[key] = s
	return s, nil
}

// close flushes what is queued and releases the statements.
func (k *taker) close(ctx context.Context) error {
	err := k.flush(ctx)
	for _, s := range k.stmts {
		s.Close()
	}
	return err
}

// takeSQL stores n records of t: new ones are inserted; an existing row
// is overwritten whole (every column is set, as INSERT OR REPLACE did)
// only when it has nothing to push, so the rows changed are those taken.
func takeSQL(t *schema.Table, n int) string {
	cols := sqlite.InsertColumns(t, "_own", "_acked", "_gen", "_seq")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	set := make([]string, 0, len(cols)-1)
	for _, c := range cols[1:] {
		set = append(set, c+" = excluded."+c)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES %s ON CONFLICT (id) DO UPDATE SET %s WHERE %s._own <= %s._acked",
		t.Name, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat(row+", ", n), ", "),
		strings.Join(set, ", "), t.Name, t.Name)
}
