package report

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// snapshot is everything a report reads, from one read transaction.
type snapshot struct {
	seq      uint64
	villages *schema.Villages
	sessions []session
	tasks    []task
	loans    []loan
	stored   []store.MonthKey // past months reported before
	devices  []Device
	open     []OpenConflicts
}

type session struct {
	village, date, volunteers string
	children                  int64
}

type task struct {
	village, kind, status, unit string
	quantity                    sql.NullFloat64
	reportedAt, finishedAt      sql.NullString
}

// reportedMonth is the month of reported_at, or of finished_at for a task
// written down only when it was finished.
func (t task) reportedMonth() string {
	if t.reportedAt.Valid {
		return monthOfTime(t.reportedAt.String)
	}
	return monthOfTime(t.finishedAt.String)
}

// doneMonth is the month a done (or checked) task was finished, or "";
// a task marked done without a finishing time counts in the month it was
// reported (it was not forgotten, only its time was).
func (t task) doneMonth() string {
	if t.status != "done" && t.status != "checked" {
		return ""
	}
	if !t.finishedAt.Valid {
		return t.reportedMonth()
	}
	return monthOfTime(t.finishedAt.String)
}

type loan struct {
	village, library, card, lent string
	due, returned                sql.NullString
}

// The queries leave out deleted records and, for sessions, the later of a
// pair flagged as a probable duplicate until staff resolve the flag, as
// long as the pair still is one: if the earlier session was deleted, or
// either was corrected to another village, date or class, both count.
const (
	sessionsQuery = `SELECT COALESCE(village, ''), COALESCE(session_date, ''), COALESCE(volunteers, ''),
		COALESCE(children_present, 0)
		FROM tutoring_sessions
		WHERE _deleted = 0
		  AND id NOT IN (
		    SELECT c.record_id FROM conflicts c
		    JOIN tutoring_sessions a ON a.id = c.record_id
		    JOIN tutoring_sessions b ON b.id = c.other_id
		    WHERE c.kind = 'duplicate_session' AND c.resolution IS NULL AND b._deleted = 0
		      AND a.village = b.village AND a.session_date = b.session_date
		      AND COALESCE(a.class_group, '') = COALESCE(b.class_group, ''))`
	tasksQuery = `SELECT COALESCE(village, ''), COALESCE(kind, ''), COALESCE(status, ''), COALESCE(unit, ''),
		quantity, reported_at, finished_at
		FROM cleanup_tasks WHERE _deleted = 0`
	// A loan's library is its book's, deleted book or not (the copy was
	// still lent from that library); a book the server lacks is "unknown".
	loansQuery = `SELECT COALESCE(l.village, ''), COALESCE(b.library, '` + UnknownLibrary + `'),
		COALESCE(l.borrower_card, ''), COALESCE(l.lent_on, ''), l.due_on, l.returned_on
		FROM loans l LEFT JOIN books b ON b.id = l.book_id
		WHERE l._deleted = 0`
)

func read(ctx context.Context, r *sql.DB) (*snapshot, error) {
	tx, err := r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer tx.Rollback()
	s := &snapshot{}
	// The feed position first: it starts the read snapshot.
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'seq'`).Scan(&s.seq); err != nil {
		return nil, fmt.Errorf("report: feed position: %w", err)
	}
	if s.villages, err = sqlite.Villages(ctx, tx); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	steps := []struct {
		what, query string
		scan        func(sqlite.Scanner) error
	}{
		{"sessions", sessionsQuery, func(sc sqlite.Scanner) error {
			var v session
			err := sc.Scan(&v.village, &v.date, &v.volunteers, &v.children)
			s.sessions = append(s.sessions, v)
			return err
		}},
		{"cleanup tasks", tasksQuery, func(sc sqlite.Scanner) error {
			var v task
			err := sc.Scan(&v.village, &v.kind, &v.status, &v.unit, &v.quantity, &v.reportedAt, &v.finishedAt)
			s.tasks = append(s.tasks, v)
			return err
		}},
		{"loans", loansQuery, func(sc sqlite.Scanner) error {
			var v loan
			err := sc.Scan(&v.village, &v.library, &v.card, &v.lent, &v.due, &v.returned)
			s.loans = append(s.loans, v)
			return err
		}},
		{"reported months", `SELECT village, month FROM report_months`, func(sc sqlite.Scanner) error {
			var k store.MonthKey
			err := sc.Scan(&k.Village, &k.Month)
			s.stored = append(s.stored, k)
			return err
		}},
		{"devices", `SELECT id, name, COALESCE(last_seen_ms, 0)
			FROM replicas WHERE id != 1 ORDER BY id`, func(sc sqlite.Scanner) error {
			var d Device
			var ms int64
			err := sc.Scan(&d.Replica, &d.Name, &ms)
			if ms != 0 {
				d.LastSeen = time.UnixMilli(ms).In(Zone)
			}
			s.devices = append(s.devices, d)
			return err
		}},
		{"open conflicts", `SELECT kind, count(*) FROM conflicts
			WHERE resolution IS NULL GROUP BY kind ORDER BY kind`, func(sc sqlite.Scanner) error {
			var c OpenConflicts
			err := sc.Scan(&c.Kind, &c.Count)
			s.open = append(s.open, c)
			return err
		}},
	}
	for _, st := range steps {
		if err := each(ctx, tx, st.query, st.scan); err != nil {
			return nil, fmt.Errorf("report: read %s: %w", st.what, err)
		}
	}
	return s, nil
}

func each(ctx context.Context, tx *sql.Tx, query string, scan func(sqlite.Scanner) error) error {
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
