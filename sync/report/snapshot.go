package report

import (
	"database/sql"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// Snapshot is everything a report reads, from one read transaction of the
// server store (Source.ReportSnapshot).
type Snapshot struct {
	// Seq is the feed position the read saw.
	Seq      uint64
	Villages *schema.Villages
	// Sessions leaves out deleted sessions and the later of a pair flagged
	// as a probable duplicate while the flag is open and the pair still is
	// one; Tasks and Loans leave out deleted records.
	Sessions []Session
	Tasks    []Task
	Loans    []Loan
	// Stored are the past months reported before.
	Stored  []MonthKey
	Devices []Device
	// Open counts the unresolved conflict log entries by kind and by the
	// village of the record each is about ("" for a record of no village,
	// or one the server no longer has), ordered by kind, then village.
	Open []OpenInVillage
	// Flags are the open flag entries (duplicate_session, double_loan),
	// each with its members: a row shows those on the records it counts.
	Flags []Flag
}

// OpenInVillage counts open conflict log entries of one kind about the
// records of one village.
type OpenInVillage struct {
	Kind, Village string
	Count         int64
}

// Flag is an open flag entry of the conflict log.
type Flag struct {
	ID      uint64
	Kind    string
	Table   string
	Members []string // record ids
}

// Session is what a report counts of a 7pm class.
type Session struct {
	ID                        string
	Village, Date, Volunteers string
	Children                  int64
}

// Task is what a report counts of a cleanup task.
type Task struct {
	Village, Kind, Status, Unit string
	Quantity                    sql.NullFloat64
	ReportedAt, FinishedAt      sql.NullString
}

// ReportedMonth is the month of reported_at, or of finished_at for a task
// written down only when it was finished.
func (t Task) ReportedMonth() string {
	if t.ReportedAt.Valid {
		return monthOfTime(t.ReportedAt.String)
	}
	return monthOfTime(t.FinishedAt.String)
}

// DoneMonth is the month a done (or checked) task was finished, or "";
// a task marked done without a finishing time counts in the month it was
// reported (it was not forgotten, only its time was).
func (t Task) DoneMonth() string {
	if t.Status != "done" && t.Status != "checked" {
		return ""
	}
	if !t.FinishedAt.Valid {
		return t.ReportedMonth()
	}
	return monthOfTime(t.FinishedAt.String)
}

// Loan is what a report counts of a loan. Library is its book's, deleted
// book or not (the copy was still lent from that library); UnknownLibrary
// for a book the server lacks.
type Loan struct {
	ID                           string
	Village, Library, Card, Lent string
	Due, Returned                sql.NullString
}

// MonthKey names one village's month in a report ("YYYY-MM").
type MonthKey struct{ Village, Month string }

// ReportedMonth is what the server remembers of a reported month.
type ReportedMonth struct {
	FirstReported time.Time
	// Revised is zero unless the figures changed after the first report;
	// then it is the latest time a change was seen.
	Revised time.Time
}
