package record

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/vv"
	"github.com/google/uuid"
)

// Code classifies why a change was refused; the values are Connect code
// names so the edge can pass them on unchanged.
type Code string

const (
	CodeInvalidArgument  Code = "invalid_argument"
	CodePermissionDenied Code = "permission_denied"
	// CodeFailedPrecondition: the change edits a record whose delete the
	// server has already collected.
	CodeFailedPrecondition Code = "failed_precondition"
	// The codes of requests refused as a whole, beside a change's.
	CodeNotFound        Code = "not_found"
	CodeAlreadyExists   Code = "already_exists"
	CodeUnauthenticated Code = "unauthenticated"
	// CodeResourceExhausted: a device's share of the server (its
	// attachment quota) is used up.
	CodeResourceExhausted Code = "resource_exhausted"
)

// Problem is why one change (or one request) may not be applied. Field
// names what is wrong ("tutoring_sessions.children_present", "id",
// "version", "user").
type Problem struct {
	Code  Code
	Field string
	Msg   string
	// Format and Args are what Msg was made from (Problemf), so the edge
	// can say it in the caller's language (In). A problem read back off
	// the wire has its message only: Format is empty.
	Format string
	Args   []any
	// ZH, when set, is the message in Chinese, made beside the English
	// (a column check's schema.CheckError: its English holds the Chinese
	// in parentheses, which a Chinese reader should not get with English
	// around it). In(schema.ZH) says it instead of Format.
	ZH string
	// Err is the error the problem is a case of (errors.Is finds it), or
	// nil: store.ErrNoSuchUser for an unknown user.
	Err error
}

// Problemf is a problem of field, its message made from an English format
// and its arguments. The format must be a literal with a Chinese entry in
// schema's catalogue (a test checks every call).
func Problemf(code Code, field, format string, args ...any) *Problem {
	return &Problem{Code: code, Field: field, Msg: fmt.Sprintf(format, args...), Format: format, Args: args}
}

// Of records the error p is a case of, for errors.Is, and returns p.
func (p *Problem) Of(err error) *Problem {
	p.Err = err
	return p
}

// Unwrap is the error p is a case of.
func (p *Problem) Unwrap() error { return p.Err }

// In is Error said in l: the field's name and the message in that
// language. In(schema.EN) is Error().
func (p *Problem) In(l schema.Lang) string {
	msg := p.Msg
	if l == schema.ZH && p.ZH != "" {
		msg = p.ZH
	} else if p.Format != "" {
		msg = schema.Say(l, p.Format, p.Args...)
	}
	if p.Field == "" {
		return msg
	}
	return schema.FieldName(l, p.Field) + schema.Separator(l) + msg
}

// Error is "field: message", or the message alone when no field is named
// (a problem read back off the wire carries its whole message).
func (p *Problem) Error() string {
	if p.Field == "" {
		return p.Msg
	}
	return p.Field + ": " + p.Msg
}

func invalid(field, format string, args ...any) *Problem {
	return Problemf(CodeInvalidArgument, field, format, args...)
}

// Refused is the problem of field a column check (or a date order) found:
// its English as the check said it, after the column's name, and its
// Chinese kept for In.
func Refused(field string, err error) *Problem {
	var ce *schema.CheckError
	if !errors.As(err, &ce) {
		return invalid(field, "%v", err)
	}
	p := invalid(field, "%s", ce.EN)
	p.ZH = ce.ZH
	return p
}

// CheckID reports whether id is a UUID in canonical form (lower-case,
// hyphenated), so one record can never travel under two spellings.
func CheckID(id string) error {
	u, err := uuid.Parse(id)
	if err != nil || u.String() != id {
		return invalid("id", "%q is not a UUID in canonical form (like 0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f)", id)
	}
	return nil
}

// Validate checks the shape of a change pushed by replica pusher against
// its table: a canonical UUID, known fields with values that fit the
// column as far as the value alone tells (type, range, format), and dots
// that are the pusher's own and inside the change's version. It returns a
// *Problem or nil. What depends on the server's state (known villages, the
// time) is CheckValues, run once the change is known not to be a replay;
// required fields are CheckRequired, on the merged state, since a push
// carries only what changed.
func Validate(r *Record, pusher uint32) error {
	return validate(r, pusher, schema.Env{})
}

// CheckValues checks a change's values against env: villages that exist,
// dates not in the future, and writes not stamped far ahead of the
// server's clock (a phone whose date is years off would otherwise move
// every clock forward and win every tie). Validate has passed.
func CheckValues(r *Record, env schema.Env) error {
	t, err := schema.Lookup(r.Table)
	if err != nil {
		return invalid("table", "%v", err)
	}
	if !env.Now.IsZero() {
		limit := env.Now.Add(MaxClockAhead)
		check := func(field string, d vv.Dot) error {
			if at := hlc.Time(d.HLC); at.After(limit) {
				return invalid(field, "written at %s by the device's clock, more than a day ahead of the server's (%s): "+
					"set the device's date and time (设备时间比服务器快一天以上，请校正手机日期和时间)",
					at.Format(time.RFC3339), env.Now.UTC().Format(time.RFC3339))
			}
			return nil
		}
		for _, name := range r.FieldNames() {
			if err := check(r.Table+"."+name+".dot", r.Fields[name].Dot); err != nil {
				return err
			}
		}
		if r.Tombstone != nil {
			if err := check("tombstone.dot", r.Tombstone.Dot); err != nil {
				return err
			}
		}
	}
	for _, name := range r.FieldNames() {
		if col := t.Column(name); col != nil {
			if err := col.CheckIn(r.Fields[name].Value, env); err != nil {
				return Refused(r.Table+"."+name, err)
			}
		}
	}
	return nil
}

func validate(r *Record, pusher uint32, env schema.Env) error {
	t, err := schema.Lookup(r.Table)
	if err != nil {
		return invalid("table", "%v", err)
	}
	if err := CheckID(r.ID); err != nil {
		return err
	}
	if len(r.Version) == 0 {
		return invalid("version", "is empty")
	}
	for rep, c := range r.Version {
		if c == 0 {
			return invalid("version", "replica %d has counter 0", rep)
		}
		if c > vv.MaxCounter {
			return invalid("version", "replica %d has counter %d, more than a counter can be (%d)", rep, c, vv.MaxCounter)
		}
	}
	if len(r.Fields) == 0 && r.Tombstone == nil {
		return invalid("fields", "the change carries no fields and no delete")
	}
	checkDot := func(field string, d vv.Dot) error {
		if d.Replica != pusher {
			return invalid(field, "dot of replica %d in a change pushed by replica %d (a device pushes only its own writes)",
				d.Replica, pusher)
		}
		if d.Counter == 0 || !r.Version.Covers(d) {
			return invalid(field, "dot counter %d is outside the change's version %s", d.Counter, r.Version)
		}
		return nil
	}
	for _, name := range r.FieldNames() {
		path := r.Table + "." + name
		col := t.Column(name)
		if col == nil {
			return invalid(path, schema.UnknownFieldFormat, strings.Join(t.ColumnNames(), ", "))
		}
		f := r.Fields[name]
		if err := col.CheckIn(f.Value, env); err != nil {
			return Refused(path, err)
		}
		if err := checkDot(path+".dot", f.Dot); err != nil {
			return err
		}
	}
	if ts := r.Tombstone; ts != nil {
		if err := checkDot("tombstone.dot", ts.Dot); err != nil {
			return err
		}
		if !ts.Context.Covers(ts.Dot) {
			return invalid("tombstone.context", "%s does not include the delete itself (%s)", ts.Context, ts.Dot)
		}
		if o := ts.Context.Compare(r.Version); o != vv.Equal && o != vv.Before {
			return invalid("tombstone.context", "%s is not within the change's version %s", ts.Context, r.Version)
		}
	}
	return nil
}

// MaxClockAhead is how far ahead of the server a device's clock may be.
const MaxClockAhead = 24 * time.Hour

// CheckRequired reports the first required field a live record lacks, or
// the first rule between its fields it breaks (checkDateOrders) among the
// rules on a field the change being checked writes (Writes).
func CheckRequired(r *Record, written func(name string) bool) error {
	if r.Deleted() {
		return nil
	}
	t, err := schema.Lookup(r.Table)
	if err != nil {
		return invalid("table", "%v", err)
	}
	missing := t.MissingRequired(func(name string) bool {
		f, ok := r.Fields[name]
		return ok && !f.Value.IsNull()
	})
	if len(missing) == 0 {
		return checkDateOrders(r, t, written)
	}
	c := t.Column(missing[0])
	return invalid(r.Table+"."+c.Name, schema.RequiredFormat, c.ZH)
}

// Writes says which fields change c writes, for CheckRequired.
func Writes(c *Record) func(name string) bool {
	return func(name string) bool {
		_, ok := c.Fields[name]
		return ok
	}
}
