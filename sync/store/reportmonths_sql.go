package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// sqliteMonthReader is one prepared look-up of report_months for a batch.
type sqliteMonthReader struct{ get *sql.Stmt }

func (t *sqlTxn) openReportMonths(ctx context.Context) (reportMonthReader, error) {
	return openReportMonths(ctx, t.tx)
}

func (v *sqlView) openReportMonths(ctx context.Context) (reportMonthReader, error) {
	return openReportMonths(ctx, v.tx)
}

func openReportMonths(ctx context.Context, tx *sqlTx) (reportMonthReader, error) {
	get, err := tx.PrepareContext(ctx, `SELECT digest, first_reported_ms, COALESCE(revised_ms, 0), feed_seq
		FROM report_months WHERE village = ? AND month = ?`)
	if err != nil {
		return nil, err
	}
	return sqliteMonthReader{get: get}, nil
}

func (m sqliteMonthReader) close() { m.get.Close() }

func (m sqliteMonthReader) readReportedMonth(ctx context.Context, k MonthKey) (storedMonth, bool, error) {
	var stored string
	var first, revised, storedSeq int64
	err := m.get.QueryRowContext(ctx, k.Village, k.Month).Scan(&stored, &first, &revised, &storedSeq)
	if errors.Is(err, sql.ErrNoRows) {
		return storedMonth{}, false, nil
	}
	if err != nil {
		return storedMonth{}, false, err
	}
	sm := storedMonth{digest: stored, first: time.UnixMilli(first).UTC(), seq: uint64(storedSeq)}
	if revised != 0 {
		sm.revised = time.UnixMilli(revised).UTC()
	}
	return sm, true, nil
}

func (t *sqlTxn) insertReportedMonth(ctx context.Context, k MonthKey, digest string, now time.Time,
	seq uint64) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO report_months (village, month, digest, first_reported_ms, feed_seq)
				VALUES (?, ?, ?, ?, ?)`,
		k.Village, k.Month, digest, now.UnixMilli(), int64(seq))
	return err
}

func (t *sqlTxn) reviseReportedMonth(ctx context.Context, k MonthKey, digest string, now time.Time,
	seq uint64) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE report_months SET digest = ?, revised_ms = ?, feed_seq = ?
				WHERE village = ? AND month = ?`,
		digest, now.UnixMilli(), int64(seq), k.Village, k.Month)
	return err
}
