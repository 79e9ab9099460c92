package schema

import (
	"slices"
	"time"
)

// The volunteer forms (the CLI's log-session, report-cleanup, lend and
// return; the web app's screens) fill in a field left empty with the
// form's default, else the column's Default. The defaults are data here,
// beside the columns they fill, so every client that offers the forms
// (the Go replica, the generated TypeScript) fills them the same way.

// Fill is how a form fills an empty field.
type Fill uint8

const (
	// FillToday: today's date, YYYY-MM-DD.
	FillToday Fill = iota + 1
	// FillNow: the current time, RFC 3339.
	FillNow
	// FillDaysAfter: Days after the date given in From (today when From
	// is empty or not a date): a loan recorded late falls due after it
	// was lent, not after today.
	FillDaysAfter
)

func (f Fill) String() string {
	switch f {
	case FillToday:
		return "today"
	case FillNow:
		return "now"
	case FillDaysAfter:
		return "days_after"
	}
	return "none"
}

// FormDefault is what a form fills one field with.
type FormDefault struct {
	Column string
	Fill   Fill
	From   string // FillDaysAfter: the date column counted from
	Days   int    // FillDaysAfter: how many days after
	// When, if set, is a column whose given value must be one of WhenIn
	// for the default to apply (a task reported done finished now).
	When   string
	WhenIn []string
}

// Form is one volunteer form: a table and its defaults, in order.
type Form struct {
	Name     string
	Table    string
	Defaults []FormDefault
}

// LoanDays is how long a loan runs when no due date is given.
const LoanDays = 14

var forms = []*Form{
	{Name: "log-session", Table: "tutoring_sessions", Defaults: []FormDefault{
		{Column: "session_date", Fill: FillToday},
	}},
	{Name: "report-cleanup", Table: "cleanup_tasks", Defaults: []FormDefault{
		{Column: "reported_at", Fill: FillNow},
		{Column: "finished_at", Fill: FillNow, When: "status", WhenIn: []string{"done", "checked"}},
	}},
	{Name: "lend", Table: "loans", Defaults: []FormDefault{
		{Column: "lent_on", Fill: FillToday},
		{Column: "due_on", Fill: FillDaysAfter, From: "lent_on", Days: LoanDays},
	}},
	{Name: "return", Table: "loans", Defaults: []FormDefault{
		{Column: "returned_on", Fill: FillToday},
	}},
}

// Forms lists the volunteer forms in a fixed order.
func Forms() []*Form { return forms }

// FormNamed returns the named form, or nil.
func FormNamed(name string) *Form {
	for _, f := range forms {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// FillDefaults returns the text f fills each of its fields with at now,
// given what the volunteer typed (column -> text, empty for not given).
// A field given is still listed: the caller uses the typed text first.
func (f *Form) FillDefaults(given map[string]string, now time.Time) map[string]string {
	out := map[string]string{}
	for _, d := range f.Defaults {
		if d.When != "" && !slices.Contains(d.WhenIn, given[d.When]) {
			continue
		}
		switch d.Fill {
		case FillToday:
			out[d.Column] = now.Format(time.DateOnly)
		case FillNow:
			out[d.Column] = now.Format(time.RFC3339)
		case FillDaysAfter:
			from := now
			if t, err := time.Parse(time.DateOnly, given[d.From]); err == nil {
				from = t
			}
			out[d.Column] = from.AddDate(0, 0, d.Days).Format(time.DateOnly)
		}
	}
	return out
}
