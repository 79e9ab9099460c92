package store

import (
	"context"
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
	tx, err := s.beginTxn(ctx)
	if err != nil {
		return nil, fmt.Errorf("note reported months: %w", err)
	}
	defer tx.rollback()
	get, err := tx.openReportMonths(ctx)
	if err != nil {
		return nil, fmt.Errorf("note reported months: %w", err)
	}
	defer get.close()
	// Stored to the millisecond, and read back so.
	stamp := time.UnixMilli(now.UnixMilli()).UTC()
	wrote := false
	for k, digest := range digests {
		stored, found, err := get.readReportedMonth(ctx, k)
		switch {
		case err != nil:
			return nil, fmt.Errorf("note reported month %s %s: %w", k.Village, k.Month, err)
		case !found:
			if err := tx.insertReportedMonth(ctx, k, digest, now, seq); err != nil {
				return nil, fmt.Errorf("note reported month %s %s: %w", k.Village, k.Month, err)
			}
			stored.first, wrote = stamp, true
		case stored.digest != digest && seq >= stored.seq:
			if err := tx.reviseReportedMonth(ctx, k, digest, now, seq); err != nil {
				return nil, fmt.Errorf("note reported month %s %s: %w", k.Village, k.Month, err)
			}
			stored.revised, wrote = stamp, true
		}
		out[k] = ReportedMonth{FirstReported: stored.first, Revised: stored.revised}
	}
	if !wrote {
		return out, nil
	}
	if err := tx.commit(); err != nil {
		return nil, fmt.Errorf("note reported months: commit: %w", err)
	}
	return out, nil
}

// ReportedMonths returns what is stored of each month of keys (none for a
// month never noted), writing nothing: a report of some villages only
// reads the marks the reports of every village made.
func (s *Store) ReportedMonths(ctx context.Context, keys []MonthKey) (map[MonthKey]ReportedMonth, error) {
	out := make(map[MonthKey]ReportedMonth, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return nil, fmt.Errorf("reported months: %w", err)
	}
	defer v.close()
	get, err := v.openReportMonths(ctx)
	if err != nil {
		return nil, fmt.Errorf("reported months: %w", err)
	}
	defer get.close()
	for _, k := range keys {
		stored, found, err := get.readReportedMonth(ctx, k)
		if err != nil {
			return nil, fmt.Errorf("reported month %s %s: %w", k.Village, k.Month, err)
		}
		if found {
			out[k] = ReportedMonth{FirstReported: stored.first, Revised: stored.revised}
		}
	}
	return out, nil
}
