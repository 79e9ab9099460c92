package schema

import (
	"sort"
	"strings"
)

// Format is a textual shape a text column must have.
type Format uint8

const (
	Free     Format = iota
	Date            // YYYY-MM-DD, not more than a day in the future
	Clock           // HH:MM
	DateTime        // RFC 3339, not more than a day in the future
	ISBN            // ISBN-10 or ISBN-13 with a valid check digit
	Village         // the canonical name of a known village
	// Attachments: the SHA-256 digests (64 lowercase hex digits) of
	// attachments, comma-separated, at most MaxItems, no repeats. The
	// bytes travel in the attachment lane (AttachmentService), after the
	// record: a record may name an attachment the server does not hold yet.
	Attachments
)

// MergeRule says how two concurrent writes of one field are decided.
type MergeRule uint8

const (
	// LastWriter: the later hybrid-logical-clock time wins.
	LastWriter MergeRule = iota
	// Forward: the value further along Enum wins (a status only moves
	// forward; an explicit step back is a later, causal edit).
	Forward
	// SetWins: a value wins over NULL (a return is a fact).
	SetWins
)

// Column is one replicated field of a table.
type Column struct {
	Name string
	Type Type
	// ZH is the field's Chinese name, for messages and report headers.
	ZH  string
	Doc string

	Format   Format
	Enum     []string // allowed text values, in order (Forward merges by it)
	Min, Max int64    // inclusive range for integers; ignored when both are 0
	MaxRunes int      // longest text in characters; 0 means the global byte limit only
	Required bool     // a record must have a non-NULL value
	Future   bool     // a date that may lie ahead (a due date)
	Default  Value    // filled in by friendly commands when not given
	Merge    MergeRule
	// MaxItems is the most attachments an Attachments column names (its
	// text has no MaxRunes: the count says more).
	MaxItems int
	// Since is the schema version (Version) that added the column; 0 for
	// the first schema's. A device holds back a change to a column its
	// server's version does not know yet (see sync/DESIGN.md, Versions).
	Since int
	// Multiline text may hold line breaks and tabs (notes); no text holds
	// other control characters (see ControlChar).
	Multiline bool
}

// Table is one synced table. Program tables have a UUID primary key "id",
// a "village" and free-text "notes"; the rest is the program's own.
type Table struct {
	Name    string
	ZH      string
	Doc     string
	Columns []Column
	// Program tables hold a program's records. The others are reference
	// data, seeded on every database at every start: their deletes are
	// never collected, or a seeded record whose delete was gone would
	// come back.
	Program bool
	// Scope is the column that ties a record to a village ("village" on
	// program tables): a volunteer reads and writes only records whose
	// scope is one of her villages, and a record whose scope changes
	// leaves the devices of the old one. Empty on reference tables, which
	// every device holds.
	Scope string
	// Writers says who may write the table.
	Writers Writers
	// Flags are the domain problems the server looks for after a write.
	Flags []Flag
	// Lookups lists the column sets the server looks records up by (to
	// flag duplicates and double loans), each indexed on the server.
	Lookups [][]string
	// DateOrders are the rules between the table's dates.
	DateOrders []DateOrder

	byName map[string]*Column
}

// Column returns the named column, or nil.
func (t *Table) Column(name string) *Column { return t.byName[name] }

// ColumnNames lists the replicated fields in definition order.
func (t *Table) ColumnNames() []string {
	names := make([]string, len(t.Columns))
	for i := range t.Columns {
		names[i] = t.Columns[i].Name
	}
	return names
}

type opt func(*Column)

func enum(values ...string) opt { return func(c *Column) { c.Enum = values } }
func between(lo, hi int64) opt  { return func(c *Column) { c.Min, c.Max = lo, hi } }
func format(f Format) opt       { return func(c *Column) { c.Format = f } }
func runes(n int) opt           { return func(c *Column) { c.MaxRunes = n } }
func merge(m MergeRule) opt     { return func(c *Column) { c.Merge = m } }
func defaults(v Value) opt      { return func(c *Column) { c.Default = v } }
func items(n int) opt {
	return func(c *Column) { c.Format, c.MaxItems, c.MaxRunes = Attachments, n, 0 }
}
func since(v int) opt     { return func(c *Column) { c.Since = v } }
func required(c *Column)  { c.Required = true }
func future(c *Column)    { c.Future = true }
func multiline(c *Column) { c.Multiline = true }
func col(name string, t Type, zh, doc string, opts ...opt) Column {
	c := Column{Name: name, Type: t, ZH: zh, Doc: doc, MaxRunes: 200}
	if t != Text {
		c.MaxRunes = 0
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func newTable(name, zh, doc string, program bool, cols ...Column) *Table {
	var all []Column
	if program {
		all = append(all, col("village", Text, "村", "the village the record belongs to", format(Village), required))
	}
	all = append(all, cols...)
	all = append(all, col("notes", Text, "备注", "free text, lines and tabs allowed", runes(2000), multiline))
	t := &Table{Name: name, ZH: zh, Doc: doc, Columns: all, Program: program, byName: map[string]*Column{}}
	if program {
		t.Scope = "village"
	}
	for i := range t.Columns {
		t.byName[t.Columns[i].Name] = &t.Columns[i]
	}
	return t
}

// VillageTable holds the villages that Village-format columns name and
// that scope program records: a write to it changes what later writes of a
// push are checked against.
const VillageTable = "villages"

// Enumerations shared with reports and friendly commands.
var (
	CleanupKinds    = []string{"construction_waste", "road_levelling", "street_sweeping", "other"}
	CleanupStatuses = []string{"reported", "in_progress", "done", "checked"}
	Libraries       = []string{"party_villagers", "children"}
)

// MaxLoanDays is the longest a loan may run, lent_on to due_on: a year,
// a leap year's included.
const MaxLoanDays = 366

var tables = []*Table{
	newTable(VillageTable, "村", "a village served by the programs (reference data, synced to every device)", false,
		col("name", Text, "村名", "Chinese name, e.g. 南香村", required, runes(20)),
		col("pinyin", Text, "拼音", "e.g. Nanxiang", required, runes(40)),
		col("aliases", Text, "别名", "other spellings, comma-separated (e.g. 旺鱼村)", runes(200)),
	),
	newTable("tutoring_sessions", "夜间7点钟课堂", "the 7pm classroom: one evening session", true,
		col("session_date", Text, "日期", "YYYY-MM-DD", format(Date), required),
		col("start_time", Text, "开始时间", "HH:MM", format(Clock), defaults(TextValue("19:00"))),
		col("class_group", Text, "班级", "class or group", runes(60)),
		col("volunteers", Text, "志愿者", "volunteers who taught, comma-separated", runes(400)),
		col("subjects", Text, "科目", "subjects, comma-separated", runes(200)),
		col("children_present", Integer, "出席儿童数", "children present (student-attendances)", between(0, 200), required),
		col("sheet_photos", Text, "签到表照片", "photos of the sign-in sheet (签到表), the evidence behind the attendance figure",
			items(4), since(2)),
	),
	newTable("cleanup_tasks", "环境整治", "environmental cleanup: one task", true,
		col("kind", Text, "类别", "what kind of work", enum(CleanupKinds...), required),
		col("place", Text, "地点", "where", runes(200)),
		col("status", Text, "状态", "reported → in_progress → done → checked", enum(CleanupStatuses...),
			merge(Forward), required, defaults(TextValue("reported"))),
		col("quantity", Real, "数量", "amount of work, in unit"),
		col("unit", Text, "单位", "truckloads, metres, ...", runes(20)),
		col("crew_size", Integer, "人数", "people on the crew", between(0, 500)),
		col("reported_at", Text, "报告时间", "RFC 3339 time", format(DateTime)),
		col("finished_at", Text, "完成时间", "RFC 3339 time", format(DateTime)),
		col("routine", Text, "长效机制", "the long-term upkeep routine it belongs to, e.g. weekly sweeping of a street",
			runes(200)),
		col("photos_before", Text, "整治前照片", "photos before the work", items(4), since(2)),
		col("photos_after", Text, "整治后照片", "photos after the work", items(4), since(2)),
	),
	newTable("books", "图书", "one copy of a book in one of the two libraries", true,
		col("library", Text, "图书馆", "party_villagers (党群图书馆) or children (小学少儿图书馆)", enum(Libraries...), required),
		col("copy_no", Integer, "副本号", "copy number", between(1, 10000)),
		col("title", Text, "书名", "", required),
		col("author", Text, "作者", ""),
		col("isbn", Text, "ISBN", "ISBN-10 or ISBN-13", format(ISBN)),
		col("cover", Text, "封面", "a photo of the cover", items(1), since(2)),
	),
	newTable("loans", "借阅", "a copy lent to a borrower card", true,
		col("book_id", Text, "图书", "the id of the book copy", required, runes(36)),
		col("borrower_card", Text, "借书证", "pseudonymous card code, never a name", required, runes(32)),
		col("lent_on", Text, "借出日期", "YYYY-MM-DD", format(Date), required),
		col("due_on", Text, "应还日期", "YYYY-MM-DD", format(Date), future),
		col("returned_on", Text, "归还日期", "YYYY-MM-DD", format(Date), merge(SetWins)),
	),
}

func init() {
	// A village added by mistake would reach every device and every form.
	byName[VillageTable].Writers = AdminsOnly

	byName["tutoring_sessions"].Flags = []Flag{{
		Kind: KindDuplicateSession, Field: "session",
		Match: []string{"village", "session_date", "class_group"}, Label: "class_group",
		Resolutions: []string{ResolveDistinct, ResolveMerge},
		Record:      "session", Alike: "the same class", RecordZH: "课堂记录", AlikeZH: "同一班级的同一次课",
	}}
	// Both loans are kept: staff sort it out with the borrowers, and
	// nothing in the data changes.
	byName["loans"].Flags = []Flag{{
		Kind: KindDoubleLoan, Field: "book_id",
		Match: []string{"book_id"}, WhileNull: []string{"returned_on"}, Label: "borrower_card",
		Resolutions: []string{ResolveNoted},
		Record:      "loan", Alike: "an open loan of the same copy", RecordZH: "借阅记录", AlikeZH: "同一册书未归还的借阅",
	}}

	// A loan comes back after it went out, and falls due within a year:
	// the libraries lend for weeks (a summer holiday at most), so a due
	// date further out is a mistyped year, and such a loan would never
	// count as overdue in the reports.
	byName["loans"].DateOrders = []DateOrder{
		{Earlier: "lent_on", Later: "due_on", WithinDays: MaxLoanDays},
		{Earlier: "lent_on", Later: "returned_on"},
	}

	byName["tutoring_sessions"].Lookups = [][]string{{"village", "session_date", "class_group"}}
	byName["loans"].Lookups = [][]string{{"book_id"}}
	byName["books"].Lookups = [][]string{{"village"}}
}

var byName = func() map[string]*Table {
	m := map[string]*Table{}
	for _, t := range tables {
		m[t.Name] = t
	}
	return m
}()

// Tables lists the synced tables in a fixed order.
func Tables() []*Table { return tables }

// Lookup returns the named table or an error that lists the known ones.
func Lookup(name string) (*Table, error) {
	if t, ok := byName[name]; ok {
		return t, nil
	}
	return nil, Messagef(UnknownTableFormat, name, strings.Join(TableNames(), ", "))
}

// TableNames lists the table names, sorted.
func TableNames() []string {
	names := make([]string, 0, len(tables))
	for _, t := range tables {
		names = append(names, t.Name)
	}
	sort.Strings(names)
	return names
}
