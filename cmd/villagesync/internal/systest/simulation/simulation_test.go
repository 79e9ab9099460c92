package simulation_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/faultnet"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

var (
	seeds = flag.Int("sim.seeds", 200, "how many seeds TestSimulation runs (a long run: -sim.seeds=100000)")
	first = flag.Uint64("sim.seed", 1, "the first seed")
	steps = flag.Int("sim.steps", 60, "operations per seed")
	every = flag.Int("sim.pgevery", 20, "TestSimulationOnPostgres runs every this many of TestSimulation's seeds")
)

// TestSimulation runs seeded worlds of devices editing offline over a
// faulty network and checks the promises once the faults stop.
func TestSimulation(t *testing.T) {
	for s := *first; s < *first+uint64(*seeds); s++ {
		if !t.Run(fmt.Sprint("seed", s), func(t *testing.T) { simulate(t, s, "") }) {
			t.Logf("replay: go test ./cmd/villagesync/internal/systest/simulation "+
				"-run 'TestSimulation/seed%d$' -sim.seed %d -sim.seeds 1 -v", s, s)
			return
		}
	}
}

// TestSimulationOnPostgres runs a share of the seeds with the server's
// store on PostgreSQL: the same worlds, so a seed that passes on SQLite
// and fails here points at the engine. A share, not all: each seed costs
// a database and its schema, and the SQLite run already covers the
// promises' logic; the share is what keeps CI's time in bounds.
func TestSimulationOnPostgres(t *testing.T) {
	pgtest.Require(t)
	for s := *first; s < *first+uint64(*seeds); s++ {
		if (s-*first)%uint64(max(*every, 1)) != 0 {
			continue
		}
		if !t.Run(fmt.Sprint("seed", s), func(t *testing.T) { simulate(t, s, pgtest.URL(t)) }) {
			t.Logf("replay: go test ./cmd/villagesync/internal/systest/simulation "+
				"-run 'TestSimulationOnPostgres/seed%d$' -sim.seed %d -sim.seeds 1 -v", s, s)
			return
		}
	}
}

type device struct {
	name, village string // village "" for staff
	file          string
	r             *replica.Replica
	link          *faultnet.Client
	dates         int
}

// session is the simulation's own record of a logged class.
type session struct {
	id, village, date, class string
	children                 int64
	creator                  *device
	deleted, shared          bool // shared: others may write its notes, so it is never deleted
	duplicateOf              string
}

type world struct {
	t        *testing.T
	ctx      context.Context
	rng      *rand.Rand
	dir      string
	dsn      string // the server's store: a PostgreSQL URL, or "" for a file in dir
	addr     string
	st       *store.Store
	srv      *server.Running
	devices  []*device
	sessions []*session
	written  map[string]bool // every notes value written (values are unique)
	overrode map[string]bool // notes values a device overwrote having seen them
	// Hand-carried files on their way: push files for the server, and
	// pull files for each device (by name). Some are lost, some carried
	// twice, some arrive late.
	pushFiles [][]byte
	pullFiles map[string][][]byte
	carried   carriedCounts
}

// carriedCounts are what the carried path did in one seed, to show that
// it ran (the test logs them at -v).
type carriedCounts struct{ out, carried, lost, pulls, in, refused int }

func (w *world) startServer() {
	var err error
	dsn := w.dsn
	if dsn == "" {
		dsn = filepath.Join(w.dir, "server.db")
	}
	// A restart reopens the same file or database, as a real one would.
	if w.st, err = store.Open(w.ctx, dsn, store.Options{}); err != nil {
		w.t.Fatal(err)
	}
	addr := w.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	// Generous limits: the simulation tests sync, not rate limiting, and
	// its devices pull pages of one record as fast as they can.
	lim := rpc.Limits{RequestsPerSecond: 1e6, Burst: 1e6, Timeout: time.Minute}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	if w.srv, err = server.StartTLS(w.st, addr, log, 0, server.TLS{}, lim); err != nil {
		w.t.Fatal(err)
	}
	w.addr = strings.TrimPrefix(w.srv.URL, "http://")
}

func (w *world) stopServer() {
	if err := w.srv.Stop(); err != nil {
		w.t.Fatal(err)
	}
	if err := w.st.Close(); err != nil {
		w.t.Fatal(err)
	}
}

// simulate runs one seed's world; dsn is the server store's PostgreSQL
// URL, or "" for a SQLite file.
func simulate(t *testing.T, seed uint64, dsn string) {
	w := &world{t: t, ctx: context.Background(), rng: rand.New(rand.NewPCG(seed, 1950)), dir: t.TempDir(), dsn: dsn,
		written: map[string]bool{}, overrode: map[string]bool{}, pullFiles: map[string][][]byte{}}
	w.startServer()
	defer func() { w.stopServer() }()
	for i, v := range []string{"南香村", "东旺村", "旺渔村", ""} {
		d := &device{name: fmt.Sprintf("d%d", i), village: v, link: &faultnet.Client{Rand: w.rng}}
		d.file = filepath.Join(w.dir, d.name+".db")
		role, villages := store.Volunteer, []string{v}
		if v == "" {
			role, villages = store.Staff, nil
		}
		code, err := w.st.CodeFor(w.ctx, d.name, role, villages)
		if err != nil {
			t.Fatal(err)
		}
		if d.r, err = replica.Init(w.ctx, d.file, w.srv.URL, code, d.name, w.opts(d)); err != nil {
			t.Fatal(err)
		}
		w.devices = append(w.devices, d)
	}
	defer func() {
		for _, d := range w.devices {
			d.r.Close()
		}
	}()

	for _, d := range w.devices {
		d.link.On = true
	}
	for step := 0; step < *steps; step++ {
		w.step(step)
	}
	for _, d := range w.devices {
		d.link.On = false
	}
	w.settle()
	w.check()
	t.Logf("carried: %+v", w.carried)
}

func (w *world) opts(d *device) replica.Options {
	return replica.Options{HTTPClient: d.link, PageLimit: uint32(1 + w.rng.IntN(3)), PushBatch: 1 + w.rng.IntN(4)}
}

func (w *world) step(step int) {
	d := w.devices[w.rng.IntN(len(w.devices))]
	switch op := w.rng.IntN(100); {
	case op < 30 && d.village != "":
		w.logSession(d)
	case op < 40:
		w.editNotes(d, step)
	case op < 45 && d.village == "":
		w.duplicate(d)
	case op < 50 && d.village != "":
		w.deleteOwn(d)
	case op < 53:
		// The server goes down and comes back between two calls.
		w.stopServer()
		w.startServer()
	case op < 58:
		// The server forgets deletes every device it counts as active
		// has seen (here: none counts, so devices behind must re-pull).
		h, err := w.st.SafeHorizon(w.ctx, 0)
		if err != nil {
			w.t.Fatal(err)
		}
		if _, err := w.st.CollectTombstones(w.ctx, h); err != nil {
			w.t.Fatal(err)
		}
	case op < 61:
		// The app is killed and restarted (after whatever its last sync
		// committed, mid-sync included when a response was lost).
		if err := d.r.Close(); err != nil {
			w.t.Fatal(err)
		}
		var err error
		if d.r, err = replica.Open(w.ctx, d.file, w.opts(d)); err != nil {
			w.t.Fatal(err)
		}
	case op < 74:
		w.carry(d, op)
	default:
		d.r.Sync(w.ctx) // errors are the faults at work
	}
}

// carry is the hand-carried path (sync/DESIGN.md, Hand-carried sync):
// a device writes its changes to a file, the staff device carries a file
// (or it is lost, or carried again later), staff write a pull file for a
// device, and a device imports one of its files (late, or a second time).
func (w *world) carry(d *device, op int) {
	staffDev := w.devices[3]
	carry := villagesyncv1connect.NewCarryServiceClient(staffDev.r.HTTPClient(), w.srv.URL)
	switch {
	case op < 63:
		file, _, err := d.r.CarryOut(w.ctx)
		if err != nil {
			w.t.Fatalf("%s carry-out: %v", d.name, err)
		}
		w.pushFiles = append(w.pushFiles, file)
		w.carried.out++
	case op < 67:
		if len(w.pushFiles) == 0 {
			return
		}
		i := w.rng.IntN(len(w.pushFiles))
		file := w.pushFiles[i]
		switch w.rng.IntN(4) {
		case 0: // lost on the way
			w.pushFiles = slices.Delete(w.pushFiles, i, i+1)
			w.carried.lost++
			return
		case 1: // carried, and kept to be carried again
		default:
			w.pushFiles = slices.Delete(w.pushFiles, i, i+1)
		}
		if _, err := carry.Carry(w.ctx, &v1.CarryRequest{File: file}); err != nil {
			w.linkFault("carry", err)
			return
		}
		w.carried.carried++
	case op < 70:
		resp, err := carry.CarryFor(w.ctx, &v1.CarryForRequest{Replica: d.r.ID()})
		if err != nil {
			// The simulation collects deletes no device has seen: a
			// device behind that must pull everything again gets no file.
			w.linkFault("carry-for", err, "must pull everything again, which a file cannot do")
			w.carried.refused++
			return
		}
		w.pullFiles[d.name] = append(w.pullFiles[d.name], resp.File)
		w.carried.pulls++
	default:
		files := w.pullFiles[d.name]
		if len(files) == 0 {
			return
		}
		i := w.rng.IntN(len(files))
		file := files[i]
		if w.rng.IntN(3) != 0 { // else kept, to be imported again
			w.pullFiles[d.name] = slices.Delete(files, i, i+1)
		}
		if w.rng.IntN(4) == 0 {
			w.carried.lost++
			return
		}
		if _, err := d.r.CarryIn(w.ctx, file); err != nil {
			// A file made before a pull that a later page of another file
			// (or a direct sync) did not reach is refused with a gap; no
			// other refusal may happen here.
			if !strings.Contains(err.Error(), "sync directly or ask for a new file") {
				w.t.Fatalf("%s carry-in: %v", d.name, err)
			}
			w.carried.refused++
			return
		}
		w.carried.in++
	}
}

// linkFault fails the test unless err is the faulty network at work or
// a refusal that says one of expected: any other refusal by the server
// would be a bug here.
func (w *world) linkFault(what string, err error, expected ...string) {
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeUnknown, connect.CodeCanceled, connect.CodeDeadlineExceeded:
		return
	}
	for _, e := range expected {
		if strings.Contains(err.Error(), e) {
			return
		}
	}
	w.t.Fatalf("%s: %v", what, err)
}

func (w *world) put(d *device, table, id string, kv ...any) string {
	vals, err := schema.Fields(kv...)
	if err != nil {
		w.t.Fatal(err)
	}
	id, err = d.r.Put(w.ctx, table, id, vals)
	if err != nil {
		w.t.Fatalf("%s put %s: %v", d.name, table, err)
	}
	return id
}

func (w *world) logSession(d *device) {
	d.dates++
	s := &session{village: d.village,
		date:  time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d.dates).Format(time.DateOnly),
		class: []string{"一年级", "三年级", "五年级"}[w.rng.IntN(3)], children: int64(5 + w.rng.IntN(40)),
		creator: d, shared: w.rng.IntN(2) == 0}
	s.id = w.put(d, "tutoring_sessions", "", "village", s.village, "session_date", s.date, "class_group", s.class,
		"children_present", s.children)
	w.sessions = append(w.sessions, s)
}

// editNotes writes a unique note on a shared session the device holds.
func (w *world) editNotes(d *device, step int) {
	var candidates []*session
	for _, s := range w.sessions {
		if s.shared && s.duplicateOf == "" && (d.village == "" || d.village == s.village) {
			if rec, _ := d.r.Get(w.ctx, "tutoring_sessions", s.id); rec != nil {
				candidates = append(candidates, s)
			}
		}
	}
	if len(candidates) == 0 {
		return
	}
	s := candidates[w.rng.IntN(len(candidates))]
	if rec, _ := d.r.Get(w.ctx, "tutoring_sessions", s.id); rec != nil {
		if old, ok := rec.Fields["notes"]; ok {
			w.overrode[old.Value.Text] = true
		}
	}
	note := fmt.Sprintf("%s-%d", d.name, step)
	w.written[note] = true
	w.put(d, "tutoring_sessions", s.id, "notes", note)
}

// duplicate: staff log again, from the paper sheet, a class they hold.
func (w *world) duplicate(d *device) {
	for _, i := range w.rng.Perm(len(w.sessions)) {
		s := w.sessions[i]
		if s.deleted || s.shared || s.duplicateOf != "" {
			continue
		}
		if rec, _ := d.r.Get(w.ctx, "tutoring_sessions", s.id); rec == nil {
			continue
		}
		dup := &session{village: s.village, date: s.date, class: s.class, children: s.children, creator: d, duplicateOf: s.id}
		dup.id = w.put(d, "tutoring_sessions", "", "village", s.village, "session_date", s.date, "class_group", s.class,
			"children_present", s.children)
		w.sessions = append(w.sessions, dup)
		s.shared = false // neither copy is deleted: the pair stays a pair
		return
	}
}

// deleteOwn deletes a private session the device logged (nobody else
// writes it, so the delete decides).
func (w *world) deleteOwn(d *device) {
	for _, s := range w.sessions {
		if s.creator == d && !s.shared && !s.deleted && s.duplicateOf == "" && !w.duplicated(s.id) {
			if err := d.r.Delete(w.ctx, "tutoring_sessions", s.id); err != nil {
				w.t.Fatal(err)
			}
			s.deleted = true
			return
		}
	}
}

func (w *world) duplicated(id string) bool {
	return slices.ContainsFunc(w.sessions, func(s *session) bool { return s.duplicateOf == id })
}

// settle syncs every device until a whole round moves nothing.
func (w *world) settle() {
	for round := 0; ; round++ {
		if round == 12 {
			w.t.Fatal("did not settle in 12 rounds")
		}
		moved := 0
		for _, d := range w.devices {
			st, err := d.r.Sync(w.ctx)
			if err != nil {
				w.t.Fatalf("%s: %v", d.name, err)
			}
			moved += st.Pushed + st.Pulled
		}
		if moved == 0 {
			return
		}
	}
}

func (w *world) check() {
	t := w.t
	staffDev := w.devices[3]
	// Every replica equals the server for its villages, record by record
	// and version by version (the staff phone holds every village).
	var all []*record.Record
	for _, table := range schema.TableNames() {
		recs, err := staffDev.r.List(w.ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	for _, d := range w.devices[:3] {
		for _, table := range schema.TableNames() {
			got, _ := d.r.List(w.ctx, table)
			var want []*record.Record
			for _, r := range all {
				if r.Table == table && (r.Fields["village"].Value.Text == d.village || r.Table == "villages") {
					want = append(want, r)
				}
			}
			if len(got) != len(want) {
				var g, wnt []string
				for _, r := range got {
					g = append(g, fmt.Sprintf("%s del=%v v=%s", r.ID[len(r.ID)-6:], r.Deleted(), r.Version))
				}
				for _, r := range want {
					wnt = append(wnt, fmt.Sprintf("%s del=%v v=%s", r.ID[len(r.ID)-6:], r.Deleted(), r.Version))
				}
				t.Fatalf("%s holds %d %s, the server %d for %s:\n%v\n%v", d.name, len(got), table, len(want), d.village, g, wnt)
			}
			for i := range got {
				if !got[i].Equal(want[i]) {
					t.Fatalf("%s %s %s differs from the server:\n%+v\n%+v", d.name, table, got[i].ID, got[i], want[i])
				}
			}
		}
	}
	// ...and the staff phone equals what a fresh device pulls.
	probeCode, err := w.st.CodeFor(w.ctx, "probe", store.Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := replica.Init(w.ctx, filepath.Join(w.dir, "probe.db"), w.srv.URL, probeCode, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if _, err := probe.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		p, _ := probe.Get(w.ctx, r.Table, r.ID)
		if p == nil || !p.Equal(r) {
			t.Fatalf("the staff phone's %s %s differs from the server's", r.Table, r.ID)
		}
	}

	// Nothing vanished: every note is there, or was overwritten by a
	// device that had seen it, or lost a logged conflict.
	final := map[string]bool{}
	for _, r := range all {
		if n, ok := r.Fields["notes"]; ok {
			final[n.Value.Text] = true
		}
	}
	losers := map[string]bool{}
	var open []staff.Conflict
	hc := staffDev.r.HTTPClient()
	if err := staff.Conflicts(w.ctx, hc, w.srv.URL, staff.Filter{}, func(c staff.Conflict) error {
		if s, ok := c.Loser.Value.(string); ok {
			losers[s] = true
		}
		if c.Resolution == "" {
			open = append(open, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The open entries tell the truth about the end: none says an edit
	// kept a record that is deleted (or collected), and none offers a value
	// a delete of its record had seen.
	byID := map[string]*record.Record{}
	for _, r := range all {
		byID[r.Table+"/"+r.ID] = r
	}
	for _, c := range open {
		r := byID[c.Table+"/"+c.RecordID]
		switch c.Kind {
		case record.KindDeleteVsEdit:
			if r == nil || r.Deleted() {
				t.Errorf("open delete_vs_edit entry %d says an edit kept %s %s, which is deleted", c.ID, c.Table, c.RecordID)
			}
		case record.KindField:
			if r != nil && r.Tombstone != nil &&
				r.Tombstone.Context.Covers(vv.Dot{Replica: c.Loser.Replica, Counter: c.Loser.Counter}) {
				t.Errorf("open entry %d offers %s.%s = %v, which a delete of the record had seen",
					c.ID, c.Table, c.Field, c.Loser.Value)
			}
		}
	}
	for note := range w.written {
		if !final[note] && !w.overrode[note] && !losers[note] {
			t.Errorf("note %q vanished", note)
		}
	}
	// Every session the simulation created is there, deleted exactly when
	// its creator deleted it.
	for _, s := range w.sessions {
		var rec *record.Record
		for _, r := range all {
			if r.ID == s.id {
				rec = r
			}
		}
		if rec == nil {
			if s.deleted {
				continue // deleted, and its tombstone collected
			}
			t.Fatalf("session %s (%s %s) vanished", s.id, s.village, s.date)
		}
		if rec.Deleted() != s.deleted {
			t.Errorf("session %s: deleted %v, want %v", s.id, rec.Deleted(), s.deleted)
		}
		if rec.Fields["children_present"].Value.Int != s.children {
			t.Errorf("session %s: %d children, want %d", s.id, rec.Fields["children_present"].Value.Int, s.children)
		}
	}

	// The report's totals equal the simulation's own: live sessions, a
	// duplicate counted once.
	var wantSessions, wantAttendances int64
	for _, s := range w.sessions {
		if !s.deleted && s.duplicateOf == "" {
			wantSessions++
			wantAttendances += s.children
		}
	}
	rep, err := staff.Report(w.ctx, hc, w.srv.URL, report.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Total.Tutoring; got.Sessions != wantSessions || got.StudentAttendances != wantAttendances {
		t.Errorf("report: %d sessions, %d attendances; the simulation made %d and %d",
			got.Sessions, got.StudentAttendances, wantSessions, wantAttendances)
	}
}
