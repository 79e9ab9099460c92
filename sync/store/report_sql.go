package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// The queries leave out deleted records and, for sessions, the copies in
// a set flagged as probable duplicates until staff resolve the flag: a
// member is left out when an earlier member (lower id) is live and still
// the same village, date and class, so each group counts once. If the
// earlier ones were deleted, or the member was corrected to another
// village, date or class, it counts.
const (
	sessionsQuery = `SELECT id, COALESCE(village, ''), COALESCE(session_date, ''), COALESCE(volunteers, ''),
		COALESCE(children_present, 0)
		FROM tutoring_sessions a
		WHERE _deleted = 0
		  AND NOT EXISTS (
		    SELECT 1 FROM conflict_members m
		    JOIN conflicts c ON c.id = m.conflict_id
		    JOIN conflict_members o ON o.conflict_id = m.conflict_id AND o.record_id < m.record_id
		    JOIN tutoring_sessions b ON b.id = o.record_id
		    WHERE m.record_id = a.id AND c.kind = 'duplicate_session' AND c.resolution IS NULL AND b._deleted = 0
		      AND a.village = b.village AND a.session_date = b.session_date
		      AND COALESCE(a.class_group, '') = COALESCE(b.class_group, ''))`
	tasksQuery = `SELECT COALESCE(village, ''), COALESCE(kind, ''), COALESCE(status, ''), COALESCE(unit, ''),
		quantity, reported_at, finished_at
		FROM cleanup_tasks WHERE _deleted = 0`
	// A loan's library is its book's, deleted book or not (the copy was
	// still lent from that library); a book the server lacks is "unknown".
	loansQuery = `SELECT l.id, COALESCE(l.village, ''), COALESCE(b.library, '` + report.UnknownLibrary + `'),
		COALESCE(l.borrower_card, ''), COALESCE(l.lent_on, ''), l.due_on, l.returned_on
		FROM loans l LEFT JOIN books b ON b.id = l.book_id
		WHERE l._deleted = 0`
)

// ReportSnapshot reads everything a report counts in one read
// transaction (report.Source).
func (st *Store) ReportSnapshot(ctx context.Context) (*report.Snapshot, error) {
	// One snapshot, as a view's: on PostgreSQL REPEATABLE READ, so the
	// feed position stamped on the digests is the figures'.
	opts := &sql.TxOptions{ReadOnly: true}
	if st.shared() {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := st.r.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer tx.Rollback()
	s := &report.Snapshot{}
	// The feed position first: it starts the read snapshot.
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq'`).Scan(&s.Seq); err != nil {
		return nil, fmt.Errorf("report: feed position: %w", err)
	}
	if s.Villages, err = sqlite.Villages(ctx, tx); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	steps := []struct {
		what, query string
		scan        func(sqlite.Scanner) error
	}{
		{"sessions", sessionsQuery, func(sc sqlite.Scanner) error {
			var v report.Session
			err := sc.Scan(&v.ID, &v.Village, &v.Date, &v.Volunteers, &v.Children)
			s.Sessions = append(s.Sessions, v)
			return err
		}},
		{"cleanup tasks", tasksQuery, func(sc sqlite.Scanner) error {
			var v report.Task
			err := sc.Scan(&v.Village, &v.Kind, &v.Status, &v.Unit, &v.Quantity, &v.ReportedAt, &v.FinishedAt)
			s.Tasks = append(s.Tasks, v)
			return err
		}},
		{"loans", loansQuery, func(sc sqlite.Scanner) error {
			var v report.Loan
			err := sc.Scan(&v.ID, &v.Village, &v.Library, &v.Card, &v.Lent, &v.Due, &v.Returned)
			s.Loans = append(s.Loans, v)
			return err
		}},
		{"reported months", `SELECT village, month FROM report_months`, func(sc sqlite.Scanner) error {
			var k report.MonthKey
			err := sc.Scan(&k.Village, &k.Month)
			s.Stored = append(s.Stored, k)
			return err
		}},
		{"open conflicts", openByVillageQuery(), func(sc sqlite.Scanner) error {
			var c report.OpenInVillage
			err := sc.Scan(&c.Kind, &c.Village, &c.Count)
			s.Open = append(s.Open, c)
			return err
		}},
		{"open flags", openFlagsQuery(), func(sc sqlite.Scanner) error {
			var id uint64
			var kind, table, member string
			if err := sc.Scan(&id, &kind, &table, &member); err != nil {
				return err
			}
			if n := len(s.Flags); n == 0 || s.Flags[n-1].ID != id {
				s.Flags = append(s.Flags, report.Flag{ID: id, Kind: kind, Table: table})
			}
			f := &s.Flags[len(s.Flags)-1]
			f.Members = append(f.Members, member)
			return nil
		}},
	}
	for _, st := range steps {
		if err := eachRow(ctx, tx, st.query, st.scan); err != nil {
			return nil, fmt.Errorf("report: read %s: %w", st.what, err)
		}
	}
	// The devices as ListDevices lists them, lag included, in this snapshot.
	devices, err := devicesIn(ctx, &sqlView{s: st, tx: tx})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for _, d := range devices {
		s.Devices = append(s.Devices, report.Device{Replica: d.Replica, Name: d.Name, User: d.User,
			LastSeen: inZone(d.LastSeen), PulledSeq: d.PulledSeq, Behind: d.Behind, Revoked: inZone(d.Revoked)})
	}
	return s, nil
}

func inZone(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(report.Zone)
}

// openByVillageQuery counts the open conflict log entries by kind and by
// the village of their record (record_id; a flag's members share it), ""
// for a table of no village or a record the server no longer has.
func openByVillageQuery() string {
	var cases []string
	for _, t := range schema.Tables() {
		if t.Scope != "" {
			cases = append(cases, fmt.Sprintf(`WHEN '%s' THEN (SELECT %s FROM %s x WHERE x.id = c.record_id)`,
				t.Name, t.Scope, t.Name))
		}
	}
	return `SELECT kind, COALESCE(CASE tbl ` + strings.Join(cases, " ") + ` END, '') AS village, count(*)
		FROM conflicts c WHERE resolution IS NULL GROUP BY kind, village ORDER BY kind, village`
}

// openFlagsQuery lists the members of the open flag entries, by entry.
func openFlagsQuery() string {
	var kinds []string
	for kind := range schema.Flags() {
		kinds = append(kinds, "'"+kind+"'")
	}
	slices.Sort(kinds)
	return `SELECT c.id, c.kind, c.tbl, m.record_id FROM conflicts c
		JOIN conflict_members m ON m.conflict_id = c.id
		WHERE c.resolution IS NULL AND c.kind IN (` + strings.Join(kinds, ", ") + `)
		ORDER BY c.id, m.record_id`
}

func eachRow(ctx context.Context, tx *sqlTx, query string, scan func(sqlite.Scanner) error) error {
	rs, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		if err := scan(rs); err != nil {
			return err
		}
	}
	return rs.Err()
}
