package replica

import (
	"context"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// The volunteer forms: what a volunteer fills in after an evening class,
// a cleanup or at the library desk (the CLI's log-session,
// report-cleanup, lend and return; a phone app's screens). Their fields
// are text as a person typed it, read by the column's rules as Put's
// field=value is (so a form of text boxes needs no conversions, and
// gomobile can bind them); an empty field takes its default. Errors name
// the form (log-session: ...), as the volunteer knows it.

// Session is one evening of the 7pm classroom.
type Session struct {
	Village    string // name, pinyin or alias: 南香村, Nanxiang, nanxiang
	Date       string // YYYY-MM-DD; default today
	Start      string // HH:MM; default the column's (19:00)
	Class      string
	Volunteers string // comma-separated
	Subjects   string // comma-separated
	Children   string // children present, a whole number
	Notes      string
}

// Cleanup is one environmental cleanup task as reported.
type Cleanup struct {
	Village  string
	Kind     string // one of schema.CleanupKinds
	Place    string
	Status   string // one of schema.CleanupStatuses; default the column's (reported)
	Quantity string // amount of work, a number, in Unit
	Unit     string
	Crew     string // people on the crew, a whole number
	Routine  string // the upkeep routine the task belongs to
	Notes    string
}

// Loan is a book copy lent to a borrower card. It belongs to the
// village of the book, so it has no village of its own to give.
type Loan struct {
	Book  string // the book copy's record id
	Card  string // borrower card code
	On    string // YYYY-MM-DD; default today
	Due   string // YYYY-MM-DD; default LoanDays after On
	Notes string
}

// LoanDays is how long a loan runs when no due date is given (the
// lend form's default, schema.LoanDays).
const LoanDays = schema.LoanDays

// LogSession records an evening session and returns its new id.
func (r *Replica) LogSession(ctx context.Context, s Session) (string, error) {
	return r.fillIn(ctx, "log-session", map[string]string{
		"village": s.Village, "session_date": s.Date, "start_time": s.Start, "class_group": s.Class,
		"volunteers": s.Volunteers, "subjects": s.Subjects, "children_present": s.Children, "notes": s.Notes,
	}, nil)
}

// ReportCleanup records a cleanup task, reported now, and returns its new
// id. A task reported done (or checked) finished now too.
func (r *Replica) ReportCleanup(ctx context.Context, c Cleanup) (string, error) {
	return r.fillIn(ctx, "report-cleanup", map[string]string{
		"village": c.Village, "kind": c.Kind, "place": c.Place, "status": c.Status, "quantity": c.Quantity,
		"unit": c.Unit, "crew_size": c.Crew, "routine": c.Routine, "notes": c.Notes,
	}, nil)
}

// Lend records a loan of a book copy on this device and returns its new
// id. The loan takes the book's village: the book must be on the device.
func (r *Replica) Lend(ctx context.Context, l Loan) (string, error) {
	// The form's due date counts from the date lent when one is given: a
	// loan recorded late falls due LoanDays after it was lent.
	return r.fillIn(ctx, "lend", map[string]string{
		"book_id": l.Book, "borrower_card": l.Card, "lent_on": l.On, "due_on": l.Due, "notes": l.Notes,
	}, func(vals map[string]schema.Value) error {
		book, err := r.Get(ctx, "books", vals["book_id"].Text)
		if err != nil || book == nil {
			return fmt.Errorf("lend: no book %q on this device (sync, or check the id)", vals["book_id"].Text)
		}
		vals["village"] = book.Fields["village"].Value
		return nil
	})
}

// Return records that loan came back on (YYYY-MM-DD; default today) and
// returns the loan's id.
func (r *Replica) Return(ctx context.Context, loan, on string) (string, error) {
	if on == "" {
		on = schema.FormNamed("return").FillDefaults(nil, time.Now())["returned_on"]
	}
	return r.Put(ctx, "loans", loan, map[string]schema.Value{"returned_on": schema.TextValue(on)})
}

// fillIn writes a new record of the named form's table from the form's
// fields: each column takes the text given, else the form's default
// (schema.Form), else the column's Default. complete, if not nil, adds
// what follows from the values.
func (r *Replica) fillIn(ctx context.Context, form string, given map[string]string,
	complete func(map[string]schema.Value) error) (string, error) {
	f := schema.FormNamed(form)
	if f == nil {
		return "", fmt.Errorf("%s: no such form in schema", form)
	}
	t, err := schema.Lookup(f.Table)
	if err != nil {
		return "", err
	}
	defaults := f.FillDefaults(given, time.Now())
	vals := map[string]schema.Value{}
	// In column order, so a form with two mistakes names the same one
	// first every time.
	for _, c := range t.Columns {
		raw := given[c.Name]
		if raw == "" {
			raw = defaults[c.Name]
		}
		switch {
		case raw != "":
			v, err := c.Parse(raw)
			if err != nil {
				return "", fmt.Errorf("%s: %w", form, err)
			}
			vals[c.Name] = v
		case !c.Default.IsNull():
			vals[c.Name] = c.Default
		}
	}
	if complete != nil {
		if err := complete(vals); err != nil {
			return "", err
		}
	}
	return r.Put(ctx, t.Name, "", vals)
}
