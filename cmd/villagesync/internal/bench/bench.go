package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Config says what to run. The zero value of a size skips its scenario.
type Config struct {
	Bin        string // the villagesync binary: servers and devices run as its processes
	Dir        string // scratch space, removed by the caller
	Sizes      []int  // initial push and pull of each size
	EditAmong  int    // incremental edits among this many synced records
	SmallAmong int    // ...compared with the same edit among this many
	Devices    int    // devices syncing at once...
	PerDevice  int    // ...each with this many new records
	Million    int    // records of the memory scenario
	// DB, a postgres:// URL, runs the server stores on PostgreSQL: each
	// world gets a database of its own created on that server (and
	// dropped after), and the baseline is a raw insert there. "": SQLite
	// files in Dir.
	DB string
	// TwoServers devices sync at once through two servers on one
	// PostgreSQL database (PostgreSQL only; 0 skips).
	TwoServers int
	Progress   io.Writer // a line as each scenario starts; nil for none
}

// Result is one scenario's figures. Speeds come with their ratio to the
// same run's raw insert rate into the same engine, the machine's
// practical limit.
type Result struct {
	Scenario  string  `json:"scenario"`
	Records   int     `json:"records"`
	Among     int     `json:"among,omitempty"` // an edit's records among this many
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"records_per_second,omitempty"`
	Ratio     float64 `json:"ratio_to_raw_insert,omitempty"`
	Requests  int     `json:"http_requests"`
	BytesUp   int64   `json:"bytes_up"`
	BytesDown int64   `json:"bytes_down"`
	// Peak resident memory, where it was measured for this scenario alone.
	ServerRSS int64 `json:"server_peak_rss_bytes,omitempty"`
	DeviceRSS int64 `json:"device_peak_rss_bytes,omitempty"`
	// Latencies of the devices syncing at once, in seconds.
	P50 float64 `json:"p50_seconds,omitempty"`
	P99 float64 `json:"p99_seconds,omitempty"`
	Max float64 `json:"max_seconds,omitempty"`
	// Failed counts syncs that returned an error (many devices).
	Failed int `json:"failed,omitempty"`
	// FloorP99 is the p99 of the same devices' sync with no server and no
	// network (see floor.go), measured in the same run; the whole sync's
	// target is a multiple of it. Set on the whole-sync row, and on the
	// floor's own row (Floor true), which has no target of its own.
	FloorP99 float64 `json:"floor_p99_seconds,omitempty"`
	Floor    bool    `json:"floor,omitempty"`
}

// Report is a whole run.
type Report struct {
	Engine   string    `json:"engine"` // of the server store and the baseline: SQLite or PostgreSQL
	Started  time.Time `json:"started"`
	CPUs     int       `json:"cpus"`
	Baseline []Result  `json:"baseline"`
	Results  []Result  `json:"results"`
}

// Run runs the configured scenarios.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now(), Engine: "SQLite"}
	rep.CPUs = runtime.NumCPU()
	b := &bench{cfg: cfg, rep: rep}
	if cfg.DB != "" {
		if !postgres.IsURL(cfg.DB) {
			return nil, fmt.Errorf("db: %q is not a postgres:// URL", postgres.Redact(cfg.DB))
		}
		rep.Engine = "PostgreSQL"
		var err error
		if b.admin, err = postgres.Open(ctx, cfg.DB, 2); err != nil {
			return nil, err
		}
		defer b.admin.Close()
	} else if cfg.TwoServers > 0 {
		return nil, errors.New("two servers share a PostgreSQL database: give its URL (--db postgres://...)")
	}
	sizes := slices.Clone(cfg.Sizes)
	if cfg.EditAmong > 0 && !slices.Contains(sizes, cfg.EditAmong) {
		sizes = append(sizes, cfg.EditAmong)
	}
	baselines := slices.Clone(sizes)
	if cfg.Million > 0 && !slices.Contains(baselines, cfg.Million) {
		baselines = append(baselines, cfg.Million) // its speeds get a ratio of their own size
	}
	for _, n := range baselines {
		if err := b.baseline(ctx, n); err != nil {
			return nil, err
		}
	}
	for _, n := range sizes {
		if err := b.pushPull(ctx, n, n == cfg.EditAmong); err != nil {
			return nil, err
		}
	}
	if cfg.SmallAmong > 0 {
		if err := b.editAmongSmall(ctx); err != nil {
			return nil, err
		}
	}
	if cfg.Devices > 0 {
		if err := b.manyDevices(ctx, cfg.Devices, 1); err != nil {
			return nil, err
		}
	}
	if cfg.TwoServers > 0 {
		if err := b.manyDevices(ctx, cfg.TwoServers, 2); err != nil {
			return nil, err
		}
	}
	if cfg.Million > 0 {
		if err := b.memory(ctx); err != nil {
			return nil, err
		}
	}
	return rep, nil
}

type bench struct {
	cfg   Config
	rep   *Report
	runs  int
	admin *sql.DB // on PostgreSQL, to create and drop each world's database
}

func (b *bench) say(format string, args ...any) {
	if b.cfg.Progress != nil {
		fmt.Fprintf(b.cfg.Progress, format+"\n", args...)
	}
}

func (b *bench) add(r Result) {
	if r.Records > 0 && r.Seconds > 0 && r.PerSecond == 0 && r.P99 == 0 {
		r.PerSecond = float64(r.Records) / r.Seconds
	}
	if base := b.baselineRate(r.Records); base > 0 && r.PerSecond > 0 {
		r.Ratio = r.PerSecond / base
	}
	b.rep.Results = append(b.rep.Results, r)
}

// baselineRate is the raw insert rate measured for n rows (or the nearest
// size measured).
func (b *bench) baselineRate(n int) float64 {
	best, rate := -1, 0.0
	for _, r := range b.rep.Baseline {
		if d := abs(r.Records - n); best < 0 || d < best {
			best, rate = d, r.PerSecond
		}
	}
	return rate
}

func abs(x int) int { return max(x, -x) }

// world is a fresh server store with its own scratch folder, served by
// one server process or several (reached in turn through rr).
type world struct {
	dir  string
	srvs []*serverProc
	rr   *roundRobin // with several servers
	drop func() error
}

func (b *bench) newWorld(ctx context.Context, users ...string) (*world, map[string]string, error) {
	return b.newWorldOf(ctx, users, nil, 1)
}

// freshStore returns where a new, empty server store goes (a file in dir,
// or a new database on the PostgreSQL server) and how to remove it.
func (b *bench) freshStore(ctx context.Context, dir string) (string, func() error, error) {
	if b.admin == nil {
		return filepath.Join(dir, "server.db"), func() error { return nil }, nil
	}
	name := fmt.Sprintf("bench_%d_%d", os.Getpid(), b.runs)
	if _, err := b.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s (the URL's user must be allowed to): %w", name, err)
	}
	u, err := url.Parse(b.cfg.DB)
	if err != nil {
		return "", nil, errors.New("db: the URL does not parse")
	}
	u.Path = "/" + name
	drop := func() error {
		// WITH (FORCE): a server that did not stop cleanly must not keep it.
		_, err := b.admin.ExecContext(context.WithoutCancel(ctx), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		return err
	}
	return u.String(), drop, nil
}

// newWorldOf is newWorld with volunteers and a number of servers: a user
// named in villages serves that village alone; the others are staff, who
// see every village.
func (b *bench) newWorldOf(ctx context.Context, users []string,
	villages map[string]string, servers int) (*world, map[string]string, error) {
	b.runs++
	w := &world{dir: filepath.Join(b.cfg.Dir, fmt.Sprint("world", b.runs))}
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return nil, nil, err
	}
	file, drop, err := b.freshStore(ctx, w.dir)
	if err != nil {
		return nil, nil, err
	}
	w.drop = drop
	ok := false
	defer func() {
		if !ok {
			w.close()
		}
	}()
	// Enrollment codes are made before the server runs: setting up is not
	// what is measured.
	st, err := store.Open(ctx, file, store.Options{})
	if err != nil {
		return nil, nil, err
	}
	codes := map[string]string{}
	for _, u := range users {
		role, scope := store.Staff, []string(nil)
		if v, ok := villages[u]; ok {
			role, scope = store.Volunteer, []string{v}
		}
		if codes[u], err = st.CodeFor(ctx, u, role, scope); err != nil {
			st.Close()
			return nil, nil, err
		}
	}
	if err := st.Close(); err != nil {
		return nil, nil, err
	}
	for range servers {
		srv, err := startServer(ctx, b.cfg.Bin, file)
		if err != nil {
			return nil, nil, err
		}
		w.srvs = append(w.srvs, srv)
	}
	if servers > 1 {
		if w.rr, err = newRoundRobin(w.srvs); err != nil {
			return nil, nil, err
		}
	}
	ok = true
	return w, codes, nil
}

func (w *world) close() error {
	var errs []error
	if w.rr != nil {
		errs = append(errs, w.rr.close())
	}
	for _, s := range w.srvs {
		errs = append(errs, s.stop())
	}
	if w.drop != nil {
		errs = append(errs, w.drop())
	}
	return errors.Join(errs...)
}

// URL is where devices reach the world's servers.
func (w *world) URL() string {
	if w.rr != nil {
		return w.rr.URL()
	}
	return w.srvs[0].URL()
}

// counted is the bytes forwarded to and from all the world's servers.
func (w *world) counted() (up, down int64) {
	for _, s := range w.srvs {
		u, d := s.proxy.counted()
		up, down = up+u, down+d
	}
	return up, down
}

// resetPeak starts a new peak-memory window on every server.
func (w *world) resetPeak() bool {
	ok := true
	for _, s := range w.srvs {
		ok = s.resetPeak() && ok
	}
	return ok
}

// peakRSS is the largest server's peak resident memory.
func (w *world) peakRSS() int64 {
	var top int64
	for _, s := range w.srvs {
		top = max(top, s.peakRSS())
	}
	return top
}

// device enrolls a device file in w and closes it.
func (w *world) device(ctx context.Context, name, code string) (string, error) {
	file := filepath.Join(w.dir, name+".db")
	r, err := replica.Init(ctx, file, w.URL(), code, name, replica.Options{})
	if err != nil {
		return "", err
	}
	return file, r.Close()
}

// load writes n new sessions on a device, the way a program's spreadsheet
// would arrive (not measured).
func load(ctx context.Context, file string, first, n int) ([]string, error) {
	return loadIn(ctx, file, first, n, "")
}

// loadIn is load with every record in village (any village if "").
func loadIn(ctx context.Context, file string, first, n int, village string) ([]string, error) {
	r, err := replica.Open(ctx, file, replica.Options{})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var ids []string
	const chunk = 50_000 // bounded memory for a million rows
	for lo := first; lo < first+n; lo += chunk {
		hi := min(lo+chunk, first+n)
		rows := make([]replica.Row, 0, hi-lo)
		for i := lo; i < hi; i++ {
			cells := Session(i)
			if village != "" {
				// Session(i) is distinct in its own village; moved to
				// another, its class is made distinct there too, or every
				// third record would be a probable duplicate (flagged for
				// staff, and no longer the new records the scenario means).
				cells["village"] = village
				cells["class_group"] = fmt.Sprintf("第%d组", i)
			}
			rows = append(rows, replica.Row{Line: i + 1, Cells: cells})
		}
		got, err := r.Import(ctx, "tutoring_sessions", rows, nil)
		if err != nil {
			return nil, err
		}
		ids = append(ids, got...)
	}
	return ids, nil
}

// Session is the i-th benchmark record: a class with about 280 bytes of
// JSON, distinct in village, date and group so none is a probable
// duplicate of another.
func Session(i int) map[string]string {
	k := i / len(villages)
	date := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, k/1000).Format(time.DateOnly)
	return map[string]string{
		"village":          villages[i%len(villages)],
		"session_date":     date,
		"start_time":       "19:00",
		"class_group":      fmt.Sprintf("第%d组", k%1000),
		"volunteers":       "李老师,王同学",
		"subjects":         "数学,语文",
		"children_present": strconv.Itoa(20 + i%15),
		"notes":            fmt.Sprintf("第%d次课，复习分数和小数", i),
	}
}

// measured is one device process's sync.
type measured struct {
	seconds  float64
	requests int
	rss      int64
	up, down int64
}

var roundTrips = regexp.MustCompile(`round trips (\d+)`)

// syncProcess runs `villagesync device --db file sync` as its own process,
// as a phone would, and measures it.
func (w *world) syncProcess(ctx context.Context, bin, file string) (measured, error) {
	up0, down0 := w.counted()
	cmd := exec.CommandContext(ctx, bin, "device", "--db", file, "sync")
	peak := file + ".peak"
	cmd.Env = append(os.Environ(), PeakRSSEnv+"="+peak)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	m := measured{seconds: time.Since(start).Seconds()}
	if err != nil {
		return m, fmt.Errorf("device sync: %w\n%s", err, out)
	}
	if k := roundTrips.FindSubmatch(out); k != nil {
		m.requests, _ = strconv.Atoi(string(k[1]))
	}
	if b, err := os.ReadFile(peak); err == nil {
		m.rss, _ = strconv.ParseInt(string(b), 10, 64)
	}
	up, down := w.counted()
	m.up, m.down = up-up0, down-down0
	return m, nil
}

// syncHere syncs an open replica in this process (for small syncs, where
// starting a process would be most of the time).
func (w *world) syncHere(ctx context.Context, r *replica.Replica) (measured, error) {
	up0, down0 := w.counted()
	start := time.Now()
	st, err := r.Sync(ctx)
	m := measured{seconds: time.Since(start).Seconds(), requests: st.RoundTrips}
	up, down := w.counted()
	m.up, m.down = up-up0, down-down0
	return m, err
}

func (b *bench) baseline(ctx context.Context, n int) error {
	b.say("raw %s insert of %d rows", b.rep.Engine, n)
	var secs float64
	var err error
	if b.admin != nil {
		b.runs++
		dsn, drop, ferr := b.freshStore(ctx, "")
		if ferr != nil {
			return ferr
		}
		secs, err = rawInsertPostgres(ctx, dsn, n)
		err = errors.Join(err, drop())
	} else {
		secs, err = rawInsert(ctx, filepath.Join(b.cfg.Dir, fmt.Sprintf("raw%d.db", n)), n)
	}
	if err != nil {
		return err
	}
	b.rep.Baseline = append(b.rep.Baseline, Result{Scenario: "raw " + b.rep.Engine + " insert (baseline)", Records: n, Seconds: secs,
		PerSecond: float64(n) / secs, Ratio: 1})
	return nil
}

// rawInsert inserts n sessions straight into a SQLite table of the same
// columns, with a prepared statement in one transaction, on the same
// settings as a device file (WAL, synchronous=FULL).
func rawInsert(ctx context.Context, file string, n int) (float64, error) {
	d, err := sqlite.Open(ctx, file, 1, sqlite.Kind{})
	if err != nil {
		return 0, err
	}
	defer d.Close()
	t, _ := schema.Lookup("tutoring_sessions")
	cols := t.ColumnNames()
	if _, err := d.W.ExecContext(ctx,
		"CREATE TABLE s (id TEXT PRIMARY KEY NOT NULL, "+strings.Join(cols, ", ")+")"); err != nil {
		return 0, err
	}
	rows := make([]map[string]string, n)
	ids := make([]string, n)
	for i := range rows {
		rows[i] = Session(i)
		ids[i] = fmt.Sprintf("0190a6e4-5b7a-7c3e-8f00-%012x", i)
	}
	start := time.Now()
	tx, err := d.W.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx,
		"INSERT INTO s (id, "+strings.Join(cols, ", ")+") VALUES (?"+strings.Repeat(", ?", len(cols))+")")
	if err != nil {
		return 0, err
	}
	args := make([]any, len(cols)+1)
	for i, r := range rows {
		args[0] = ids[i]
		for j, c := range cols {
			args[j+1] = nullable(r[c])
		}
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// rawChunk is the rows of one multi-row INSERT of the PostgreSQL
// baseline: a push request's records, and 9,000 parameters, well under
// the protocol's 65,535.
const rawChunk = 1000

// rawInsertPostgres inserts n sessions straight into a PostgreSQL table of
// the same columns, through the store's driver (pgx by database/sql), in
// one transaction of multi-row INSERTs of rawChunk rows: the fastest
// plain SQL, since a statement a row would measure n round trips rather
// than the engine. (COPY is faster still, but no store could use it for
// what it writes.) The database's durability is left as the server has it.
func rawInsertPostgres(ctx context.Context, dsn string, n int) (float64, error) {
	d, err := postgres.Open(ctx, dsn, 2)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	t, _ := schema.Lookup("tutoring_sessions")
	cols := t.ColumnNames()
	if _, err := d.ExecContext(ctx,
		"CREATE TABLE s (id text PRIMARY KEY NOT NULL, "+strings.Join(cols, " text, ")+" text)"); err != nil {
		return 0, err
	}
	rows := make([]map[string]string, n)
	ids := make([]string, n)
	for i := range rows {
		rows[i] = Session(i)
		ids[i] = fmt.Sprintf("0190a6e4-5b7a-7c3e-8f00-%012x", i)
	}
	insert := func(k int) string {
		var q strings.Builder
		q.WriteString("INSERT INTO s (id, " + strings.Join(cols, ", ") + ") VALUES ")
		p := 0
		for r := range k {
			if r > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(")
			for c := range len(cols) + 1 {
				if c > 0 {
					q.WriteString(", ")
				}
				p++
				fmt.Fprintf(&q, "$%d", p)
			}
			q.WriteString(")")
		}
		return q.String()
	}
	full := insert(rawChunk)
	start := time.Now()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	args := make([]any, 0, rawChunk*(len(cols)+1))
	for lo := 0; lo < n; lo += rawChunk {
		hi := min(lo+rawChunk, n)
		args = args[:0]
		for i := lo; i < hi; i++ {
			args = append(args, ids[i])
			for _, c := range cols {
				args = append(args, nullable(rows[i][c]))
			}
		}
		q := full
		if hi-lo < rawChunk {
			q = insert(hi - lo)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, fmt.Errorf("raw insert: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// pushPull: a device pushes n new records, a fresh device pulls them, and
// the idle sync after; among n, the incremental edits too.
func (b *bench) pushPull(ctx context.Context, n int, edits bool) error {
	w, err := b.newPair(ctx, n)
	if err != nil {
		return err
	}
	defer w.close()
	if err := b.processSync(ctx, w.world, w.pusher, "initial push", n); err != nil {
		return err
	}
	if err := b.processSync(ctx, w.world, w.puller, "initial pull", n); err != nil {
		return err
	}

	r, err := replica.Open(ctx, w.puller, replica.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	m, err := w.syncHere(ctx, r)
	if err != nil {
		return err
	}
	b.add(Result{Scenario: fmt.Sprintf("idle sync (among %s)", count(n)), Seconds: m.seconds,
		Requests: m.requests, BytesUp: m.up, BytesDown: m.down})
	if !edits {
		return nil
	}
	for _, k := range []int{1, 10} {
		if err := b.edit(ctx, w.world, r, w.ids[:k], n); err != nil {
			return err
		}
	}
	return nil
}

// editRepeats: an edit's sync takes milliseconds, so each is measured
// several times and the median kept (the machine is shared and noisy).
const editRepeats = 7

// edit edits k of the first records on r and syncs, editRepeats times,
// then measures the sync after (which must cost what an idle sync does).
func (b *bench) edit(ctx context.Context, w *world, r *replica.Replica, list []string, among int) error {
	k := len(list)
	b.say("%d-record edit among %d", k, among)
	var times []float64
	var m measured
	var err error
	for rep := range editRepeats {
		for _, id := range list {
			vals, _ := schema.Fields("notes", fmt.Sprintf("改过 %d", rep))
			if _, err := r.Put(ctx, "tutoring_sessions", id, vals); err != nil {
				return err
			}
		}
		if m, err = w.syncHere(ctx, r); err != nil {
			return err
		}
		times = append(times, m.seconds)
	}
	slices.Sort(times)
	b.add(Result{Scenario: fmt.Sprintf("%d-record edit among %s", k, count(among)), Records: k, Among: among,
		Seconds: times[len(times)/2], Requests: m.requests, BytesUp: m.up, BytesDown: m.down})
	after, err := w.syncHere(ctx, r)
	if err != nil {
		return err
	}
	b.add(Result{Scenario: fmt.Sprintf("sync after the %d-record edit among %s", k, count(among)), Seconds: after.seconds,
		Requests: after.requests, BytesUp: after.up, BytesDown: after.down})
	return nil
}

func (b *bench) editAmongSmall(ctx context.Context) error {
	n := b.cfg.SmallAmong
	w, err := b.newPair(ctx, n)
	if err != nil {
		return err
	}
	defer w.close()
	if _, err := w.syncProcess(ctx, b.cfg.Bin, w.pusher); err != nil {
		return err
	}
	r, err := replica.Open(ctx, w.puller, replica.Options{})
	if err != nil {
		return err
	}
	defer r.Close()
	if _, err := r.Sync(ctx); err != nil {
		return err
	}
	return b.edit(ctx, w.world, r, w.ids[:1], n)
}

// manyDevices: devices, each with new records, all sync at once. They
// are volunteers spread over the three villages, as phones would be, so
// each pulls what the others logged in its village. Two latencies per
// device: until its own records are acknowledged (the first round trip,
// which carries them), and until its sync is done (every page pulled).
//
// With several servers on one store, each of a device's requests goes to
// the next server in turn, whichever served its last: no affinity.
func (b *bench) manyDevices(ctx context.Context, n, servers int) error {
	per := b.cfg.PerDevice
	names := make([]string, n)
	villageOf := map[string]string{}
	for i := range names {
		names[i] = fmt.Sprintf("phone%03d", i)
		villageOf[names[i]] = villages[i%len(villages)]
	}
	w, codes, err := b.newWorldOf(ctx, names, villageOf, servers)
	if err != nil {
		return err
	}
	defer w.close()
	b.say("enrolling %d devices with %d records each", n, per)
	devs := make([]*replica.Replica, n)
	acked := make([]time.Time, n)
	floorDir := filepath.Join(w.dir, "floor")
	if err := os.MkdirAll(floorDir, 0o700); err != nil {
		return err
	}
	floorDevs := make([]floorDevice, n)
	defer func() {
		for _, d := range devs {
			if d != nil {
				d.Close()
			}
		}
	}()
	for i, name := range names {
		file, err := w.device(ctx, name, codes[name])
		if err != nil {
			return err
		}
		own, err := loadIn(ctx, file, i*per, per, villageOf[name])
		if err != nil {
			return err
		}
		floorDevs[i] = floorDevice{village: villageOf[name], own: own}
		if floorDevs[i].file, err = copyDevice(file, floorDir); err != nil {
			return err
		}
		progress := func(replica.Stats) {
			if acked[i].IsZero() {
				acked[i] = time.Now()
			}
		}
		if devs[i], err = replica.Open(ctx, file, replica.Options{Progress: progress}); err != nil {
			return err
		}
	}
	b.say("%d devices syncing at once", n)
	up0, down0 := w.counted()
	w.resetPeak()
	full := make([]float64, n)
	ack := make([]float64, n)
	reqs := make([]int, n)
	pulled := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	start := time.Now()
	for i, d := range devs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			t0 := time.Now()
			st, err := d.Sync(ctx)
			full[i], reqs[i], pulled[i], errs[i] = time.Since(t0).Seconds(), st.RoundTrips, st.Pulled, err
			ack[i] = acked[i].Sub(t0).Seconds()
		}()
	}
	close(gate)
	wg.Wait()
	wall := time.Since(start).Seconds()
	up, down := w.counted()
	failed := 0
	requests, pulledAll := 0, 0
	for i := range devs {
		requests += reqs[i]
		pulledAll += pulled[i]
		if errs[i] != nil {
			failed++
		}
	}
	scenario := fmt.Sprintf("%d devices at once × %d new records", n, per)
	if servers > 1 {
		scenario = fmt.Sprintf("%d devices at once × %d new records, %d servers", n, per, servers)
	}
	res := Result{Scenario: scenario + ": acknowledged", Records: n * per, Seconds: wall,
		PerSecond: float64(n*per) / wall, BytesUp: up - up0, BytesDown: down - down0,
		ServerRSS: w.peakRSS(), Requests: requests, Failed: failed}
	res.P50, res.P99, res.Max = percentiles(ack)
	b.add(res)
	if failed > 0 {
		res.Scenario = scenario + ": whole sync"
		res.P50, res.P99, res.Max = percentiles(full)
		b.add(res)
		return fmt.Errorf("%d of %d devices failed to sync: %w", failed, n, errors.Join(errs...))
	}

	// The floor: what each village's devices hold now, applied by fresh
	// copies of the devices at once with no server and no network.
	held := map[string][]*record.Record{}
	for i, d := range devs {
		v := villageOf[names[i]]
		if _, ok := held[v]; ok {
			continue
		}
		if held[v], err = d.List(ctx, "tutoring_sessions"); err != nil {
			return fmt.Errorf("floor: %w", err)
		}
	}
	b.say("floor: %d devices applying the same records at once, no server", n)
	floorSecs, floorPulled, err := floor(ctx, floorDevs, held, protocol.DefaultPageLimit)
	if err != nil {
		return err
	}
	fl := Result{Scenario: scenario + ": floor (devices alone, no server)", Records: floorPulled,
		Floor: true}
	fl.P50, fl.P99, fl.Max = percentiles(floorSecs)
	fl.Seconds = fl.Max
	fl.FloorP99 = fl.P99

	res.Scenario = scenario + ": whole sync"
	res.P50, res.P99, res.Max = percentiles(full)
	res.FloorP99 = fl.P99
	b.say("pulled %d records in the sync, %d in the floor", pulledAll, floorPulled)
	b.add(res)
	b.add(fl)
	return nil
}

var villages = []string{"南香村", "东旺村", "旺渔村"}

// percentiles returns the median, 99th percentile and maximum of xs.
func percentiles(xs []float64) (p50, p99, top float64) {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2], xs[(len(xs)*99+99)/100-1], xs[len(xs)-1]
}

// memory: peak memory of server and device during a large initial pull.
func (b *bench) memory(ctx context.Context) error {
	n := b.cfg.Million
	w, err := b.newPair(ctx, n)
	if err != nil {
		return err
	}
	defer w.close()
	if err := b.processSync(ctx, w.world, w.pusher, "initial push (to load the memory pull)", n); err != nil {
		return err
	}
	return b.processSync(ctx, w.world, w.puller, "initial pull (memory)", n)
}

// pair is a fresh world with two devices: the pusher, holding n new
// records (ids), and the puller, empty.
type pair struct {
	*world
	pusher, puller string
	ids            []string
}

func (b *bench) newPair(ctx context.Context, n int) (*pair, error) {
	w, codes, err := b.newWorld(ctx, "pusher", "puller")
	if err != nil {
		return nil, err
	}
	p := &pair{world: w}
	if p.pusher, err = w.device(ctx, "pusher", codes["pusher"]); err == nil {
		if p.puller, err = w.device(ctx, "puller", codes["puller"]); err == nil {
			b.say("loading %d records on a device", n)
			p.ids, err = load(ctx, p.pusher, 0, n)
		}
	}
	if err != nil {
		w.close()
		return nil, err
	}
	return p, nil
}

// processSync measures one device process's sync of n records as
// scenario, with the server's peak memory for that sync alone.
func (b *bench) processSync(ctx context.Context, w *world, file, scenario string, n int) error {
	b.say("%s of %d", scenario, n)
	if !w.resetPeak() {
		b.say("warning: cannot reset the server's peak memory; its figure covers what came before too")
	}
	m, err := w.syncProcess(ctx, b.cfg.Bin, file)
	if err != nil {
		return err
	}
	b.add(Result{Scenario: scenario, Records: n, Seconds: m.seconds, Requests: m.requests,
		BytesUp: m.up, BytesDown: m.down,
		ServerRSS: w.peakRSS(), DeviceRSS: m.rss})
	return nil
}
