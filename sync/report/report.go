package report

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// Zone is where months and "today" are counted: China Standard Time, which
// has no daylight saving. A server running in UTC still turns the month at
// the villages' midnight.
var Zone = time.FixedZone("CST", 8*60*60)

// UnknownLibrary is the library of loans whose book the server does not
// have (not synced yet, or a mistyped id).
const UnknownLibrary = "unknown"

// Source is the server store as a report needs it: one consistent read of
// what a report counts, and the one write a report makes (remembering the
// past months it reported). *store.Store is one; the report itself knows
// no SQL, so a second server store provides the same two calls.
type Source interface {
	ReportSnapshot(ctx context.Context) (*Snapshot, error)
	NoteReportedMonths(ctx context.Context, seq uint64, digests map[MonthKey]string,
		now time.Time) (map[MonthKey]ReportedMonth, error)
	// ReportedMonths returns what NoteReportedMonths stored of each month
	// of keys (none for a month never noted), writing nothing.
	ReportedMonths(ctx context.Context, keys []MonthKey) (map[MonthKey]ReportedMonth, error)
}

// Request selects what to report.
type Request struct {
	// FromMonth and ToMonth bound the period, "YYYY-MM", inclusive. Empty
	// FromMonth starts at the first month with data; empty ToMonth ends at
	// the current month (or the last month with data, if later).
	FromMonth, ToMonth string
	// Villages, in any spelling the villages table knows (name, pinyin,
	// alias); empty means every village.
	Villages []string
	// Now is the report's time; zero means time.Now().
	Now time.Time
	// Scope, when not nil, is every village the caller may see (a
	// volunteer's): Villages must be among them (empty means all of them),
	// and the report holds nothing of another village, not its rows, its
	// totals, its name or its open conflicts. Nil: every village.
	// A scoped report reads which months were first reported and revised
	// but marks none: only a report of every village (a coordinator's,
	// staff's) reports a month.
	Scope []string
	// User, when set, leaves in the freshness only that user's devices.
	User string
}

// Report is the figures of every (village, month) with activity in the
// period, each village's totals, the grand total and the data's freshness.
//
// Its JSON is what `villagesync report --format json` prints: times are
// RFC 3339 in Zone (Build and wire.FromReport give them so), zero ones
// left out, and slices are never nil, so an empty list is [] not null.
type Report struct {
	FromMonth string `json:"from_month"`
	ToMonth   string `json:"to_month"`
	// Rows are ordered by village, then month.
	Rows []Row `json:"rows"`
	// VillageTotals has one row per village in scope (Month empty).
	VillageTotals []Row `json:"village_totals"`
	// Total is every village in scope (Village and Month empty).
	Total     Row       `json:"total"`
	Freshness Freshness `json:"freshness"`
}

// Row is the figures of one village in one month, of one village over the
// period (Month empty) or of all villages (Village and Month empty).
type Row struct {
	Village       string `json:"village"`
	VillagePinyin string `json:"village_pinyin"`
	Month         string `json:"month"`
	Figures
	// FirstReportedAt is when the server first reported this past month;
	// RevisedAt, when its figures were last seen to differ from an earlier
	// report (zero if never). Both are zero for the current month and for
	// totals.
	FirstReportedAt time.Time `json:"first_reported_at,omitzero"`
	RevisedAt       time.Time `json:"revised_at,omitzero"`
}

// Figures are one row's numbers. Their JSON is also what a past month's
// digest hashes (see acc.digest): changing it would flag every month ever
// reported as revised.
type Figures struct {
	Tutoring Tutoring `json:"tutoring"`
	// One per schema.CleanupKinds, in order.
	Cleanup []Cleanup `json:"cleanup"`
	// One per schema.Libraries, in order, then UnknownLibrary when the
	// report has any such loan.
	Loans []Loans `json:"loans"`
}

// Tutoring is the 7pm classroom's figures.
type Tutoring struct {
	Sessions           int64 `json:"sessions"`
	StudentAttendances int64 `json:"student_attendances"`
	Volunteers         int64 `json:"volunteers"` // distinct names
}

// Cleanup is one kind of cleanup task's figures.
type Cleanup struct {
	Kind       string     `json:"kind"`
	Reported   int64      `json:"reported"`
	Done       int64      `json:"done"`    // done or checked, finished in the month
	Checked    int64      `json:"checked"` // checked, finished in the month
	Quantities []Quantity `json:"quantities"`
}

// Quantity is the work of done tasks in one unit.
type Quantity struct {
	Unit   string  `json:"unit"`
	Amount float64 `json:"amount"`
}

// Loans is one library's figures.
type Loans struct {
	Library   string `json:"library"`
	Made      int64  `json:"made"`
	Returned  int64  `json:"returned"`
	Open      int64  `json:"open"`
	Overdue   int64  `json:"overdue"`
	Borrowers int64  `json:"borrowers"` // distinct cards lent to
}

// Freshness says how up to date the server's data is.
type Freshness struct {
	GeneratedAt   time.Time          `json:"generated_at"`
	FeedSeq       uint64             `json:"feed_seq"`
	Devices       []Device           `json:"devices"`
	OpenConflicts OpenConflictCounts `json:"open_conflicts"`
	// OpenFlags are, for each row with any (a month, a village's total
	// with Month empty, the grand total with Village empty too), the flags
	// not resolved yet on the records it counts, by kind: its figures may
	// change when staff resolve them. In the order of the rows, the
	// village totals, then the total.
	OpenFlags []RowFlags `json:"open_flags,omitempty"`
}

// RowFlags are the open flags on the records one row counts.
type RowFlags struct {
	Village string             `json:"village"`
	Month   string             `json:"month"`
	Flags   OpenConflictCounts `json:"flags"`
}

// Device is a registered device and its last sync as written down.
type Device struct {
	Replica  uint32    `json:"replica"`
	Name     string    `json:"name"`
	LastSeen time.Time `json:"last_seen,omitzero"` // zero: never, or not written down yet
	// User is the user the device is enrolled for.
	User string `json:"user,omitempty"`
	// PulledSeq is the feed position it has pulled up to (the cursor it
	// sent last), Behind the records in its scope after it that it would
	// pull now (see store.Device).
	PulledSeq uint64    `json:"pulled_seq,omitempty"`
	Behind    uint64    `json:"behind,omitempty"`
	Revoked   time.Time `json:"revoked_at,omitzero"`
}

// OpenConflicts counts the unresolved conflict log entries of one kind.
type OpenConflicts struct {
	Kind  string
	Count int64
}

// OpenConflictCounts are the open conflicts by kind, ordered by kind. In
// JSON they are one object, kind -> count.
type OpenConflictCounts []OpenConflicts

// Count is the number of open conflicts of kind; ok is false when there
// are none.
func (c OpenConflictCounts) Count(kind string) (n int64, ok bool) {
	for _, x := range c {
		if x.Kind == kind {
			return x.Count, true
		}
	}
	return 0, false
}

// MarshalJSON writes {"kind": count, ...}, keys sorted, {} when empty.
func (c OpenConflictCounts) MarshalJSON() ([]byte, error) {
	m := make(map[string]int64, len(c))
	for _, x := range c {
		m[x.Kind] = x.Count
	}
	// The caller's encoder decides on HTML escaping: it re-escapes what
	// a marshaler returns only if it escapes itself.
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads what MarshalJSON writes, ordered by kind.
func (c *OpenConflictCounts) UnmarshalJSON(b []byte) error {
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	out := OpenConflictCounts{}
	for _, k := range slices.Sorted(mapKeys(m)) {
		out = append(out, OpenConflicts{Kind: k, Count: m[k]})
	}
	*c = out
	return nil
}

var monthRE = regexp.MustCompile(`^\d{4}-(0[1-9]|1[0-2])$`)

func invalid(field, format string, args ...any) error {
	return record.Problemf(record.CodeInvalidArgument, field, format, args...)
}

// Build reads the server's records and computes the report. Problems with
// the request are *record.Problem errors naming the field.
func Build(ctx context.Context, src Source, req Request) (*Report, error) {
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.In(Zone)
	for _, f := range []struct{ name, value string }{{"from_month", req.FromMonth}, {"to_month", req.ToMonth}} {
		if f.value != "" && !monthRE.MatchString(f.value) {
			return nil, invalid(f.name, "%q is not a month like 2024-06", f.value)
		}
	}
	if req.FromMonth != "" && req.ToMonth != "" && req.ToMonth < req.FromMonth {
		return nil, invalid("to_month", "%s is before from_month %s", req.ToMonth, req.FromMonth)
	}
	snap, err := src.ReportSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	only, err := selectVillages(snap.Villages, req)
	if err != nil {
		return nil, err
	}
	b := &builder{
		current: now.Format("2006-01"),
		today:   now.Format(time.DateOnly),
		from:    req.FromMonth,
		to:      req.ToMonth,
		accs:    map[MonthKey]*acc{},
	}
	b.period(snap, only)
	b.add(snap, only)

	rep := &Report{
		FromMonth: b.from,
		ToMonth:   b.to,
		Rows:      []Row{},
		// Never nil, so the JSON has [] rather than null.
		VillageTotals: []Row{},
		Freshness: Freshness{GeneratedAt: now, FeedSeq: snap.Seq, Devices: []Device{},
			OpenConflicts: openConflicts(snap.Open, req.Scope)},
	}
	for _, d := range snap.Devices {
		if req.User == "" || d.User == req.User {
			rep.Freshness.Devices = append(rep.Freshness.Devices, d)
		}
	}
	libs := slices.Clone(schema.Libraries)
	for _, a := range b.accs {
		if _, ok := a.loans[UnknownLibrary]; ok {
			libs = append(libs, UnknownLibrary)
			break
		}
	}
	row := func(k MonthKey) Row {
		return Row{Village: k.Village, VillagePinyin: snap.Villages.Pinyin(k.Village), Month: k.Month,
			Figures: b.accs[k].figures(libs)}
	}

	// Months before the current one are remembered by digest, to flag
	// later changes.
	var keys []MonthKey
	digests := map[MonthKey]string{}
	for k, a := range b.accs {
		if k.Village == "" || k.Month == "" {
			continue
		}
		keys = append(keys, k)
		if k.Month < b.current {
			digests[k] = a.digest()
		}
	}
	slices.SortFunc(keys, func(x, y MonthKey) int {
		return cmp.Or(cmp.Compare(x.Village, y.Village), cmp.Compare(x.Month, y.Month))
	})
	var noted map[MonthKey]ReportedMonth
	if req.Scope == nil {
		noted, err = src.NoteReportedMonths(ctx, snap.Seq, digests, now)
	} else {
		// A volunteer's view of her village is not a report to the
		// coordinators: were it noted, a month only she had looked at
		// would show them "revised" after a late sync, though none of
		// them had reported it.
		noted, err = src.ReportedMonths(ctx, slices.Collect(maps.Keys(digests)))
	}
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		r := row(k)
		r.FirstReportedAt, r.RevisedAt = inZone(noted[k].FirstReported), inZone(noted[k].Revised)
		rep.Rows = append(rep.Rows, r)
		rep.Freshness.OpenFlags = b.accs[k].openFlags(k, rep.Freshness.OpenFlags)
	}

	// A total for every village in scope, active or not.
	villages := map[string]bool{}
	if only != nil {
		villages = only
	} else {
		for _, n := range snap.Villages.Names() {
			villages[n] = true
		}
		for k := range b.accs {
			if k.Village != "" {
				villages[k.Village] = true
			}
		}
	}
	for _, v := range slices.Sorted(mapKeys(villages)) {
		k := b.acc(v, "")
		rep.VillageTotals = append(rep.VillageTotals, row(k))
		rep.Freshness.OpenFlags = b.accs[k].openFlags(k, rep.Freshness.OpenFlags)
	}
	k := b.acc("", "")
	rep.Total = row(k)
	rep.Freshness.OpenFlags = b.accs[k].openFlags(k, rep.Freshness.OpenFlags)
	return rep, nil
}

// selectVillages is the set of villages req reports on, canonical: nil
// for every village.
func selectVillages(known *schema.Villages, req Request) (map[string]bool, error) {
	var scope map[string]bool
	if req.Scope != nil {
		scope = map[string]bool{}
		for _, v := range req.Scope {
			if c, ok := known.Canonical(v); ok {
				scope[c] = true
			}
		}
		if len(req.Villages) == 0 {
			return scope, nil
		}
	}
	if len(req.Villages) == 0 {
		return nil, nil
	}
	only := map[string]bool{}
	for _, v := range req.Villages {
		c, ok := known.Canonical(v)
		if !ok {
			// A caller limited to some villages is told only of hers.
			var names []string
			for _, n := range known.Names() {
				if scope == nil || scope[n] {
					names = append(names, n+" "+known.Pinyin(n))
				}
			}
			return nil, invalid("villages", "%q is not a known village (known: %s)", v, strings.Join(names, ", "))
		}
		if scope != nil && !scope[c] {
			return nil, record.Problemf(record.CodePermissionDenied, "villages", "%q is not one of your villages (%s)",
				v, strings.Join(slices.Sorted(mapKeys(scope)), ", "))
		}
		only[c] = true
	}
	return only, nil
}

// openConflicts sums the open entries by kind, over the villages of scope
// (nil: all, and entries about no village).
func openConflicts(open []OpenInVillage, scope []string) OpenConflictCounts {
	out := OpenConflictCounts{}
	for _, o := range open {
		if scope != nil && !slices.Contains(scope, o.Village) {
			continue
		}
		if n := len(out); n > 0 && out[n-1].Kind == o.Kind {
			out[n-1].Count += o.Count
			continue
		}
		out = append(out, OpenConflicts{Kind: o.Kind, Count: o.Count})
	}
	return out
}

// inZone is t in Zone, the zero time left zero.
func inZone(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.In(Zone)
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// builder accumulates figures per (village, month); Month "" is a
// village's total, Village "" the grand total.
type builder struct {
	current, today string
	from, to       string
	accs           map[MonthKey]*acc
}

func (b *builder) acc(village, month string) MonthKey {
	k := MonthKey{Village: village, Month: month}
	if b.accs[k] == nil {
		b.accs[k] = newAcc()
	}
	return k
}

func (b *builder) in(month string) bool { return month != "" && b.from <= month && month <= b.to }

// each calls f with the accumulators a record of village in month counts
// in: its row, its village's total and the grand total.
func (b *builder) each(village, month string, f func(*acc)) {
	if !b.in(month) {
		return
	}
	for _, k := range []MonthKey{b.acc(village, month), b.acc(village, ""), b.acc("", "")} {
		f(b.accs[k])
	}
}

// period fills in an open-ended from or to: the first month with data (or
// a month reported before), and the current month or the last with data.
func (b *builder) period(snap *Snapshot, only map[string]bool) {
	var months []string
	note := func(village string, ms ...string) {
		if only != nil && !only[village] {
			return
		}
		for _, m := range ms {
			if m != "" {
				months = append(months, m)
			}
		}
	}
	for _, s := range snap.Sessions {
		note(s.Village, monthOfDate(s.Date))
	}
	for _, t := range snap.Tasks {
		note(t.Village, t.ReportedMonth(), t.DoneMonth())
	}
	for _, l := range snap.Loans {
		note(l.Village, monthOfDate(l.Lent), monthOfDate(l.Returned.String))
	}
	for _, k := range snap.Stored {
		note(k.Village, k.Month)
	}
	if b.to == "" {
		b.to = max(b.current, b.from)
		for _, m := range months {
			b.to = max(b.to, m)
		}
	}
	if b.from == "" {
		b.from = b.to
		for _, m := range months {
			b.from = min(b.from, m)
		}
	}
}

// The tables whose records a report counts flags on.
const (
	sessionsTable = "tutoring_sessions"
	loansTable    = "loans"
)

func (b *builder) add(snap *Snapshot, only map[string]bool) {
	skip := func(village string) bool { return only != nil && !only[village] }
	flagged := map[string][]Flag{} // by table and record id
	for _, f := range snap.Flags {
		for _, id := range f.Members {
			flagged[f.Table+"/"+id] = append(flagged[f.Table+"/"+id], f)
		}
	}
	for _, s := range snap.Sessions {
		if skip(s.Village) {
			continue
		}
		names := volunteers(s.Volunteers)
		flags := flagged[sessionsTable+"/"+s.ID]
		b.each(s.Village, monthOfDate(s.Date), func(a *acc) {
			a.sessions++
			a.attendances += s.Children
			for _, n := range names {
				a.volunteers[n] = struct{}{}
			}
			a.flag(flags)
		})
	}
	for _, t := range snap.Tasks {
		if skip(t.Village) {
			continue
		}
		kind := t.Kind
		if !slices.Contains(schema.CleanupKinds, kind) {
			kind = "other"
		}
		b.each(t.Village, t.ReportedMonth(), func(a *acc) { a.cleanup(kind).reported++ })
		b.each(t.Village, t.DoneMonth(), func(a *acc) {
			c := a.cleanup(kind)
			c.done++
			if t.Status == "checked" {
				c.checked++
			}
			if t.Quantity.Valid {
				// Summed in thousandths, so 0.1 + 0.2 km is 0.3 km: totals
				// are exact to the precision anyone records work in.
				c.quantity[t.Unit] += int64(math.Round(t.Quantity.Float64 * 1000))
			}
		})
	}
	// Open and overdue are states at the end of a month, counted for
	// every month of the period up to the current one; a total counts them
	// at the end of the period.
	last := min(b.to, b.current)
	for _, l := range snap.Loans {
		if skip(l.Village) {
			continue
		}
		lent, returned := monthOfDate(l.Lent), monthOfDate(l.Returned.String)
		if lent == "" {
			continue
		}
		flags := flagged[loansTable+"/"+l.ID]
		b.each(l.Village, lent, func(a *acc) {
			o := a.loan(l.Library)
			o.made++
			o.borrowers[l.Card] = struct{}{}
			a.flag(flags)
		})
		b.each(l.Village, returned, func(a *acc) {
			a.loan(l.Library).returned++
			a.flag(flags)
		})
		for m := max(lent, b.from); m <= last && (returned == "" || m < returned); m = nextMonth(m) {
			overdue := l.Due.Valid && l.Due.String < b.ref(m)
			mark := func(k MonthKey) {
				o := b.accs[k].loan(l.Library)
				o.open++
				if overdue {
					o.overdue++
				}
				b.accs[k].flag(flags)
			}
			mark(b.acc(l.Village, m))
			if m == last {
				mark(b.acc(l.Village, ""))
				mark(b.acc("", ""))
			}
		}
	}
	// A past month reported before that now has nothing keeps its (empty)
	// row, so the change shows as a revision rather than a silent gap.
	for _, k := range snap.Stored {
		if !skip(k.Village) && b.in(k.Month) && k.Month < b.current {
			b.acc(k.Village, k.Month)
		}
	}
}

// ref is the date a loan open at the end of month is overdue against: the
// month's last day, or today for the current month.
func (b *builder) ref(month string) string {
	if month == b.current {
		return b.today
	}
	t, _ := time.Parse("2006-01", month)
	return t.AddDate(0, 1, -1).Format(time.DateOnly)
}

func nextMonth(m string) string {
	t, _ := time.Parse("2006-01", m)
	return t.AddDate(0, 1, 0).Format("2006-01")
}

// monthOfDate is the month of a YYYY-MM-DD date, or "" if s is not one.
func monthOfDate(s string) string {
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		return ""
	}
	return s[:7]
}

// monthOfTime is the month of an RFC 3339 time in China time (the villages'
// calendar, whatever zone the device that wrote it was set to), or "" if s
// is not one.
func monthOfTime(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return ""
	}
	return t.In(Zone).Format("2006-01")
}

// volunteers splits a volunteers field into trimmed, non-empty names.
func volunteers(s string) []string {
	var out []string
	for _, n := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' || r == '、' }) {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

type acc struct {
	sessions, attendances int64
	volunteers            map[string]struct{}
	cleanups              map[string]*cleanupAcc
	loans                 map[string]*loanAcc
	flags                 map[string]map[uint64]struct{} // kind -> open entries on counted records
}

// flag notes the open flags of a record the row counts; an entry shared
// by several of them counts once.
func (a *acc) flag(fs []Flag) {
	for _, f := range fs {
		if a.flags == nil {
			a.flags = map[string]map[uint64]struct{}{}
		}
		if a.flags[f.Kind] == nil {
			a.flags[f.Kind] = map[uint64]struct{}{}
		}
		a.flags[f.Kind][f.ID] = struct{}{}
	}
}

// openFlags appends the row's open flags, if it has any, to out.
func (a *acc) openFlags(k MonthKey, out []RowFlags) []RowFlags {
	if len(a.flags) == 0 {
		return out
	}
	r := RowFlags{Village: k.Village, Month: k.Month, Flags: OpenConflictCounts{}}
	for _, kind := range slices.Sorted(mapKeys(a.flags)) {
		r.Flags = append(r.Flags, OpenConflicts{Kind: kind, Count: int64(len(a.flags[kind]))})
	}
	return append(out, r)
}

type cleanupAcc struct {
	reported, done, checked int64
	quantity                map[string]int64 // unit -> amount in thousandths
}

type loanAcc struct {
	made, returned, open, overdue int64
	borrowers                     map[string]struct{}
}

func newAcc() *acc {
	return &acc{volunteers: map[string]struct{}{}, cleanups: map[string]*cleanupAcc{}, loans: map[string]*loanAcc{}}
}

func (a *acc) cleanup(kind string) *cleanupAcc {
	if a.cleanups[kind] == nil {
		a.cleanups[kind] = &cleanupAcc{quantity: map[string]int64{}}
	}
	return a.cleanups[kind]
}

func (a *acc) loan(library string) *loanAcc {
	if a.loans[library] == nil {
		a.loans[library] = &loanAcc{borrowers: map[string]struct{}{}}
	}
	return a.loans[library]
}

func (a *acc) figures(libs []string) Figures {
	f := Figures{Tutoring: Tutoring{Sessions: a.sessions, StudentAttendances: a.attendances,
		Volunteers: int64(len(a.volunteers))}}
	for _, kind := range schema.CleanupKinds {
		c := Cleanup{Kind: kind, Quantities: []Quantity{}}
		if ca := a.cleanups[kind]; ca != nil {
			c.Reported, c.Done, c.Checked = ca.reported, ca.done, ca.checked
			for _, u := range slices.Sorted(mapKeys(ca.quantity)) {
				c.Quantities = append(c.Quantities, Quantity{Unit: u, Amount: float64(ca.quantity[u]) / 1000})
			}
		}
		f.Cleanup = append(f.Cleanup, c)
	}
	for _, lib := range libs {
		l := Loans{Library: lib}
		if la := a.loans[lib]; la != nil {
			l.Made, l.Returned, l.Open, l.Overdue, l.Borrowers =
				la.made, la.returned, la.open, la.overdue, int64(len(la.borrowers))
		}
		f.Loans = append(f.Loans, l)
	}
	return f
}

// digest is a hash of a row's own figures (the unknown library only when
// the row has such loans), so it does not depend on the other rows.
func (a *acc) digest() string {
	libs := slices.Clone(schema.Libraries)
	if a.loans[UnknownLibrary] != nil {
		libs = append(libs, UnknownLibrary)
	}
	body, _ := json.Marshal(a.figures(libs))
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:16])
}
