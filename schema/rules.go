package schema

import (
	"time"
)

// Writers says who may write a table's records, in the schema's terms:
// roles belong to the store, which maps each of these to its own.
type Writers uint8

const (
	// ProgramWriters: whoever may write program data. A writer limited to
	// some villages writes only records whose Scope is one of them.
	ProgramWriters Writers = iota
	// AdminsOnly: administrators only. For reference data every program
	// relies on: a volunteer's mistake there would reach every device.
	AdminsOnly
)

func (w Writers) String() string {
	if w == AdminsOnly {
		return "admins only"
	}
	return "program writers"
}

// Kinds of flag, as the conflict log names them.
const (
	KindDoubleLoan       = "double_loan"
	KindDuplicateSession = "duplicate_session"
)

// Resolutions a flag may allow; the store carries them out.
const (
	// ResolveNoted: staff have seen it; nothing changes.
	ResolveNoted = "noted"
	// ResolveDistinct: the two records are not the same after all.
	ResolveDistinct = "distinct"
	// ResolveMerge deletes the later of the two records, while they
	// still match.
	ResolveMerge = "merge"
)

// Flag is a domain problem the server looks for after each write: another
// live record of the same table that matches the written one. Devices do
// not see each other's writes, so only the server can; it logs each pair
// once, beside the field conflicts, for staff.
type Flag struct {
	// Kind names the entries in the conflict log.
	Kind string
	// Field is what an entry names as its field.
	Field string
	// Match lists the columns (text) the two records share. A column that
	// is not required matches NULL and '' alike: a class group left empty
	// is one group whether a device sent '' or nothing. A Lookups index
	// starts with these columns, so the look-up stays cheap on a busy day.
	Match []string
	// WhileNull lists columns that must be NULL on both records: a loan
	// is a problem only while it is open (returned_on NULL).
	WhileNull []string
	// Label is the column an entry shows for each of the two records (the
	// borrower card, the class group), so staff can tell them apart.
	Label string
	// Resolutions lists what staff may resolve an entry as.
	Resolutions []string
	// Record and Alike say in staff's words what each record is and what
	// the two share ("session", "the same class"), for messages;
	// RecordZH and AlikeZH in Chinese.
	Record, Alike     string
	RecordZH, AlikeZH string
}

// Flag returns t's flag of kind, or nil.
func (t *Table) Flag(kind string) *Flag {
	for i := range t.Flags {
		if t.Flags[i].Kind == kind {
			return &t.Flags[i]
		}
	}
	return nil
}

// Flags lists the flags of every table, by kind.
func Flags() map[string]*Flag {
	m := map[string]*Flag{}
	for _, t := range tables {
		for i := range t.Flags {
			m[t.Flags[i].Kind] = &t.Flags[i]
		}
	}
	return m
}

// DateOrder is a rule between two date columns of one record: Later is not
// before Earlier and, when WithinDays is set, at most that many days after
// it. A column's own check cannot see the other column; the rule holds on
// the whole record, the merged one on the server, so it is checked where
// required fields are.
type DateOrder struct {
	Earlier, Later string
	WithinDays     int
}

// CheckDateOrders reports the first of t's date orders that the record
// whose values text returns breaks, naming the Later column. A rule with a
// date absent (or not a date: the column check says so) holds, and so does
// one whose dates written (nil: every field) says neither is being written.
// The error is a *CheckError, in both languages.
func (t *Table) CheckDateOrders(text func(name string) (string, bool), written func(name string) bool) (field string,
	err error) {
	for _, o := range t.DateOrders {
		if written != nil && !written(o.Earlier) && !written(o.Later) {
			continue
		}
		a, aok := text(o.Earlier)
		b, bok := text(o.Later)
		if !aok || !bok {
			continue
		}
		ta, errA := time.Parse(time.DateOnly, a)
		tb, errB := time.Parse(time.DateOnly, b)
		if errA != nil || errB != nil {
			continue
		}
		early, late := t.Column(o.Earlier), t.Column(o.Later)
		if tb.Before(ta) {
			en, zh := late.say("order_before", b, o.Earlier, a, early.ZH)
			return o.Later, &CheckError{EN: en, ZH: zh}
		}
		if o.WithinDays > 0 && tb.After(ta.AddDate(0, 0, o.WithinDays)) {
			en, zh := late.say("order_within", b, o.WithinDays, o.Earlier, a, early.ZH)
			return o.Later, &CheckError{EN: en, ZH: zh}
		}
	}
	return "", nil
}
