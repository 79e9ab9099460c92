package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/report"
)

// MonthKey and ReportedMonth are the report's; the store keeps them.
type (
	MonthKey      = report.MonthKey
	ReportedMonth = report.ReportedMonth
)

// NoteReportedMonths remembers the digests (hashes of the figures) of past
// months that a report read at feed position seq, and returns what it
// knows of each: a month seen for the first time is stored; a month whose
// digest differs from the stored one is marked revised now and its digest
// replaced, unless the stored digest was read at a later feed position
// (a slower report from an older snapshot).
func (s *Store) NoteReportedMonths(ctx context.Context, seq uint64, digests map[MonthKey]string,
	now time.Time) (map[MonthKey]ReportedMonth, error) {
	out := make(map[MonthKey]ReportedMonth, len(digests))
	if len(digests) == 0 {
		return out, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("note reported months: %w", err)
	}
	defer tx.Rollback()
	get, err := tx.PrepareContext(ctx, `SELECT digest, first_reported_ms, COALESCE(revised_ms, 0), feed_seq
		FROM report_months WHERE village = ? AND month = ?`)
	if err != nil {
		return nil, fmt.Errorf("note reported months: %w", err)
	}
	defer get.Close()
	ms := now.UnixMilli()
	wrote := false
	for k, digest := range digests {
		var stored string
		var first, revised, storedSeq int64
		err := get.QueryRowContext(ctx, k.Village, k.Month).Scan(&stored, &first, &revised, &storedSeq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if _, err := tx.ExecContext(ctx, `INSERT INTO report_months (village, month, digest, first_reported_ms, feed_seq)
				VALUES (?, ?, ?, ?, ?)`,
				k.Village, k.Month, digest, ms, int64(seq)); err != nil {
				return nil, fmt.Errorf("note reported month %s %s: %w", k.Village, k.Month, err)
			}
			first, wrote = ms, true
		case err != nil:
			return nil, fmt.Errorf("note reported month %s %s: %w", k.Village, k.Month, err)
		case stored != digest && int64(seq) >= storedSeq:
			if _, err := tx.ExecContext(ctx, `UPDATE report_months SET digest = ?, revised_ms = ?, feed_seq = ?
				WHERE village = ? AND month = ?`,
				digest, ms, int64(seq), k.Village, k.Month); err != nil {
				return nil, fmt.Errorf("note reported month %s %s: %w", k.Village, k.Month, err)
			}
			revised, wrote = ms, true
		}
		m := ReportedMonth{FirstReported: time.UnixMilli(first).UTC()}
		if revised != 0 {
			m.Revised = time.UnixMilli(revised).UTC()
		}
		out[k] = m
	}
	if !wrote {
		return out, nil
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("note reported months: commit: %w", err)
	}
	return out, nil
}
