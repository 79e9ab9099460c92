package mixedfleet_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/faultnet"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var (
	seeds = flag.Int("mixedfleet.seeds", envInt("VILLAGESYNC_MIXEDFLEET_SEEDS", 3),
		"how many seeds TestMixedFleet runs (a long run: -mixedfleet.seeds=200, or VILLAGESYNC_MIXEDFLEET_SEEDS)")
	first    = flag.Uint64("mixedfleet.seed", 1, "the first seed")
	steps    = flag.Int("mixedfleet.steps", 20, "operations per device per seed")
	browsers = flag.Int("mixedfleet.browsers", 2, "how many of the fleet are browsers (the rest Go replicas)")
)

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

// One Chromium serves every seed; each browser device gets a browser
// context of its own, so its own origin-private file system.
func TestMain(m *testing.M) {
	os.Exit(chromium.Main(m))
}

// The fleet: who enrolls, for which village ("" for staff, who serve
// every village). Browsers take the first places. Two devices serve 南香村
// so that a browser and a Go replica write the same records.
var fleet = []struct {
	village string
	role    store.Role
}{
	{"南香村", store.Volunteer},
	{"东旺村", store.Volunteer},
	{"南香村", store.Volunteer},
	{"", store.Staff},
}

// TestMixedFleet runs seeded fleets of browsers and Go replicas writing at
// once over faulty links and checks the promises once the faults stop.
// Timing between the devices is the machine's, so a seed fixes each
// device's choices and the faults' sequence, not their interleaving.
func TestMixedFleet(t *testing.T) {
	var browser context.Context
	if *browsers > 0 {
		browser = chromium.Browser(t)
	}
	start := time.Now()
	var ops int
	for s := *first; s < *first+uint64(*seeds); s++ {
		if !t.Run(fmt.Sprint("seed", s), func(t *testing.T) { ops += run(t, browser, s) }) {
			t.Logf("replay: go test ./cmd/villagesync/internal/systest/mixedfleet "+
				"-run 'TestMixedFleet/seed%d$' -mixedfleet.seed %d -mixedfleet.seeds 1 -v", s, s)
			return
		}
	}
	t.Logf("%d seeds, %d operations in %v", *seeds, ops, time.Since(start).Round(time.Millisecond))
}

// member is one device of the fleet and what the test knows of it.
type member struct {
	name, village string
	dev           device
	rng           *rand.Rand
	browser       bool
	dates         int
}

// session is the test's own record of a logged class.
type session struct {
	id, village string
	children    int64
	creator     *member
	// shared: every device of its village writes its notes, so it is
	// never deleted; a private one only its creator writes, and deletes.
	shared, deleted bool
}

type world struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	st       *store.Store
	srv      *server.Running
	proxy    *faultnet.Proxy
	members  []*member
	mu       sync.Mutex // guards the rest: the devices run at once
	sessions []*session
	written  map[string]bool // every notes value written (values are unique)
	overrode map[string]bool // notes values a device overwrote having seen them
	ops      int
	did      map[string]int // operations by kind, for the log
}

func run(t *testing.T, browser context.Context, seed uint64) int {
	w := &world{t: t, ctx: context.Background(), dir: t.TempDir(), written: map[string]bool{}, overrode: map[string]bool{},
		did: map[string]int{}}
	var err error
	if w.st, err = store.Open(w.ctx, filepath.Join(w.dir, "server.db"), store.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.st.Close() })
	// Generous limits: the test is of sync, not of rate limiting.
	lim := rpc.Limits{RequestsPerSecond: 1e6, Burst: 1e6, Timeout: time.Minute}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	if w.srv, err = server.StartWith(w.st, "127.0.0.1:0", log, 0, server.TLS{},
		server.Options{Limits: &lim, UI: web.Handler()}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.srv.Stop() })

	// The browsers' way in: the harness, then a proxy that faults sync
	// calls (enrollment is the access service's, and goes through),
	// then the real server as a device reaches it.
	target, err := url.Parse(w.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorHandler = func(rw http.ResponseWriter, r *http.Request, err error) {
		// A reloaded tab cancels its call: the proxy has nobody to tell.
		if r.Context().Err() == nil {
			log.Error("mixedfleet proxy", "path", r.URL.Path, "err", err)
		}
		rw.WriteHeader(http.StatusBadGateway)
	}
	w.proxy = faultnet.NewProxy(rp, "/villagesync.v1.SyncService/",
		rand.New(rand.NewPCG(seed, 13)))
	front := httptest.NewServer(appharness.Handler(w.proxy))
	t.Cleanup(front.Close)

	for i, f := range fleet {
		m := &member{village: f.village, rng: rand.New(rand.NewPCG(seed, uint64(i))), browser: i < *browsers}
		var villages []string
		if f.village != "" {
			villages = []string{f.village}
		}
		kind := "go"
		if m.browser {
			kind = "browser"
		}
		m.name = fmt.Sprintf("%s%d", kind, i)
		code, err := w.st.CodeFor(w.ctx, m.name, f.role, villages)
		if err != nil {
			t.Fatal(err)
		}
		if m.browser {
			m.dev, err = newBrowserDevice(browser, front.URL, code, m.name)
		} else {
			m.dev, err = newGoDevice(w.ctx, w.dir, w.srv.URL, code, m.name, m.rng)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.dev.close() })
		w.members = append(w.members, m)
	}

	w.faults(true)
	var wg sync.WaitGroup
	errs := make([]error, len(w.members))
	for i, m := range w.members {
		wg.Go(func() {
			for step := range *steps {
				if err := w.step(m, step); err != nil {
					errs[i] = fmt.Errorf("%s step %d: %w", m.name, step, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	w.faults(false)
	w.settle()
	w.check()
	c := w.proxy.Counts()
	t.Logf("%d operations %v; browser link: %d passed, %d refused, %d aborted, %d answers lost after the commit",
		w.ops, w.did, c.Passed, c.Refused, c.Aborted, c.ResponsesLost)
	return w.ops
}

func (w *world) faults(on bool) {
	w.proxy.Set(on)
	for _, m := range w.members {
		if g, ok := m.dev.(*goDevice); ok {
			g.link.On = on
		}
	}
}

// step is one thing a device does: the device's own choice by its seeded
// source; an error is a failure of something that must not fail (a sync's
// error is the faults at work and is not returned).
func (w *world) step(m *member, step int) error {
	op := m.rng.IntN(100)
	w.mu.Lock()
	w.ops++
	w.did[opName(op, m)]++
	w.mu.Unlock()
	switch {
	case op < 30 && m.village != "":
		return w.logSession(m)
	case op < 50:
		return w.editNotes(m, step)
	case op < 58 && m.village != "":
		return w.deleteOwn(m)
	case op < 62:
		// The app is killed, or the tab reloaded, between two calls
		// (after whatever its last sync committed, when an answer was lost).
		return m.dev.restart()
	case op < 65:
		// The tab is reloaded while its sync is under way: the worker
		// ends wherever it is, its transaction committed or not.
		if b, ok := m.dev.(*browserDevice); ok {
			return b.reloadDuringSync()
		}
		return m.dev.restart()
	case op < 68:
		// The server forgets deletes every device it counts as active has
		// seen (here none counts: devices behind must pull their scope
		// again), as store.CollectEvery does while it serves.
		h, err := w.st.SafeHorizon(w.ctx, 0)
		if err != nil {
			return err
		}
		_, err = w.st.CollectTombstones(w.ctx, h)
		return err
	default:
		m.dev.sync()
		return nil
	}
}

// opName names step's choice op for m, as step's switch makes it.
func opName(op int, m *member) string {
	switch {
	case op < 30 && m.village != "":
		return "log"
	case op < 50:
		return "edit"
	case op < 58 && m.village != "":
		return "delete"
	case op < 62:
		return "restart"
	case op < 65 && m.browser:
		return "reload-mid-sync"
	case op < 65:
		return "restart"
	case op < 68:
		return "collect"
	}
	return "sync"
}

func (w *world) logSession(m *member) error {
	m.dates++
	// Each device its own dates: two classes alike (village, date, class)
	// would be flagged as one logged twice, which this test does not do.
	idx := slices.Index(w.members, m)
	date := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, idx*400+m.dates).Format(time.DateOnly)
	s := &session{village: m.village, children: int64(5 + m.rng.IntN(40)), creator: m, shared: m.rng.IntN(2) == 0}
	id, err := m.dev.logSession(m.village, date, []string{"一年级", "三年级", "五年级"}[m.rng.IntN(3)], s.children)
	if err != nil {
		return err
	}
	s.id = id
	w.mu.Lock()
	w.sessions = append(w.sessions, s)
	w.mu.Unlock()
	return nil
}

// editNotes writes a unique note on a shared session the device holds,
// having read the note it overwrites.
func (w *world) editNotes(m *member, step int) error {
	w.mu.Lock()
	var candidates []*session
	for _, s := range w.sessions {
		if s.shared && (m.village == "" || m.village == s.village) {
			candidates = append(candidates, s)
		}
	}
	w.mu.Unlock()
	for _, i := range m.rng.Perm(len(candidates)) {
		s := candidates[i]
		old, held, err := m.dev.notes(s.id)
		if err != nil {
			return err
		}
		if !held {
			continue
		}
		note := fmt.Sprintf("%s-%d", m.name, step)
		w.mu.Lock()
		if old != "" {
			w.overrode[old] = true
		}
		w.written[note] = true
		w.mu.Unlock()
		return m.dev.editNotes(s.id, note)
	}
	return nil
}

// deleteOwn deletes a private session the device logged: nobody else
// writes it, so the delete decides.
func (w *world) deleteOwn(m *member) error {
	w.mu.Lock()
	var target *session
	for _, s := range w.sessions {
		if s.creator == m && !s.shared && !s.deleted {
			target = s
			s.deleted = true
			break
		}
	}
	w.mu.Unlock()
	if target == nil {
		return nil
	}
	return m.dev.remove(target.id)
}

// settle syncs every device, the faults off, until nothing waits anywhere,
// then once more so that each pulls what the others pushed after it.
func (w *world) settle() {
	for round := 0; ; round++ {
		if round == 12 {
			w.t.Fatal("did not settle in 12 rounds")
		}
		waiting := 0
		for _, m := range w.members {
			if err := m.dev.sync(); err != nil {
				w.t.Fatalf("%s: sync without faults: %v", m.name, err)
			}
		}
		for _, m := range w.members {
			n, err := m.dev.pending()
			if err != nil {
				w.t.Fatal(err)
			}
			waiting += n
		}
		if waiting == 0 {
			for _, m := range w.members {
				if err := m.dev.sync(); err != nil {
					w.t.Fatalf("%s: sync without faults: %v", m.name, err)
				}
			}
			return
		}
	}
}

func (w *world) check() {
	t := w.t
	// The server's state as a fresh staff device pulls it.
	code, err := w.st.CodeFor(w.ctx, "probe", store.Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := replica.Init(w.ctx, filepath.Join(w.dir, "probe.db"), w.srv.URL, code, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if _, err := probe.Sync(w.ctx); err != nil {
		t.Fatal(err)
	}
	var all []*record.Record
	for _, table := range schema.TableNames() {
		recs, err := probe.List(w.ctx, table)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}

	// Every replica equals the server for its villages, record by record
	// and version by version.
	for _, m := range w.members {
		for _, table := range schema.TableNames() {
			got, err := m.dev.records(table)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]*record.Record{}
			for _, r := range all {
				if r.Table == table && (m.village == "" || r.Table == schema.VillageTable || r.Fields["village"].Value.Text == m.village) {
					want[r.ID] = r
				}
			}
			held := map[string]bool{}
			for _, g := range got {
				held[g.ID] = true
				wr := want[g.ID]
				if wr == nil {
					t.Errorf("%s holds %s %s (deleted %v), which the server does not give it", m.name, table, g.ID, g.Deleted())
					continue
				}
				if !g.Equal(wr) {
					t.Errorf("%s %s %s differs from the server:\n device %+v\n server %+v", m.name, table, g.ID, g, wr)
				}
			}
			for id, r := range want {
				if !held[id] {
					t.Errorf("%s lacks %s %s (deleted %v), which the server holds", m.name, table, id, r.Deleted())
				}
			}
		}
	}
	if t.Failed() {
		t.FailNow()
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
	if err := staff.Conflicts(w.ctx, probe.HTTPClient(), w.srv.URL, staff.Filter{}, func(c staff.Conflict) error {
		if s, ok := c.Loser.Value.(string); ok {
			losers[s] = true
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for note := range w.written {
		if !final[note] && !w.overrode[note] && !losers[note] {
			t.Errorf("note %q vanished: not live, not overwritten by a write that had seen it, not in the conflict log", note)
		}
	}
	// Every session the test logged is there, deleted exactly when its
	// creator deleted it, with the children it was logged with.
	byID := map[string]*record.Record{}
	for _, r := range all {
		if r.Table == sessions {
			byID[r.ID] = r
		}
	}
	var wantSessions, wantAttendances int64
	for _, s := range w.sessions {
		rec := byID[s.id]
		if rec == nil && s.deleted {
			continue // deleted, and its tombstone collected
		}
		if rec == nil {
			t.Errorf("session %s (%s, logged by %s) vanished", s.id, s.village, s.creator.name)
			continue
		}
		if rec.Deleted() != s.deleted {
			t.Errorf("session %s (logged by %s): deleted %v, want %v", s.id, s.creator.name, rec.Deleted(), s.deleted)
		}
		if got := rec.Fields["children_present"].Value.Int; got != s.children {
			t.Errorf("session %s (logged by %s): %d children, want %d", s.id, s.creator.name, got, s.children)
		}
		if !s.deleted {
			wantSessions++
			wantAttendances += s.children
		}
	}
	// The report counts what the fleet logged, each class once.
	rep, err := staff.Report(w.ctx, probe.HTTPClient(), w.srv.URL, report.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Total.Tutoring; got.Sessions != wantSessions || got.StudentAttendances != wantAttendances {
		t.Errorf("report: %d sessions, %d attendances; the fleet logged %d and %d",
			got.Sessions, got.StudentAttendances, wantSessions, wantAttendances)
	}
	t.Logf("%d sessions (%d deleted), %d notes written, %d conflict losers logged",
		len(w.sessions), len(w.sessions)-int(wantSessions), len(w.written), len(losers))
}
