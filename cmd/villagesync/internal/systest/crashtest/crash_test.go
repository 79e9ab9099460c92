package crashtest

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3" // "sqlite3", for integrity checks

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var (
	rounds = flag.Int("crash.rounds", 8,
		"server kills in TestServerSurvivesSIGKILL (rounds of device kills are 3 times this)")
	seed = flag.Uint64("crash.seed", 0, "seed for kill timing and write sizes (0: pick one and log it)")
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(serveproc.Main(m))
}

func pickSeed(t *testing.T) uint64 {
	s := *seed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (replay the same choices with -crash.seed=%d; kill timing still varies)", s, s)
	return s
}

// ---- the server as a child process ----

// serverProc is `villagesync serve` on a fixed address and database file,
// started again after every kill.
type serverProc struct {
	t       *testing.T
	bin, db string
	addr    string
	proc    *serveproc.Proc // the running process, nil between a kill and a start
	log     serveproc.Log   // the server's stderr lines, every run's
	starts  int
}

// tail is the end of the server's log, every run's, for failure messages.
func (s *serverProc) tail() string { return s.log.Tail(40) }

// start runs the server and waits until it logs that it is serving. The
// port of a killed server is normally free at once; a start that fails
// (the port still taken) is retried for a while.
func (s *serverProc) start() {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for attempt := 1; ; attempt++ {
		err := s.startOnce(time.Until(deadline))
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server did not start after %d attempts: %v\nserver log:\n%s", attempt, err, s.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *serverProc) startOnce(wait time.Duration) error {
	s.starts++
	run := s.starts
	cmd := exec.Command(s.bin, "serve", "--db", s.db, "--listen", s.addr, "--shutdown-grace", "1s")
	cmd.Env = append(os.Environ(), "VILLAGESYNC_LOG_LEVEL=info")
	p, err := serveproc.Launch(cmd, max(wait, time.Second), func(line string) {
		s.log.Add(fmt.Sprintf("[run %d] %s", run, line))
	})
	if err != nil {
		return err
	}
	if p.Addr != s.addr {
		p.Kill()
		return fmt.Errorf("server serves %s, want %s", p.Addr, s.addr)
	}
	s.proc = p
	return nil
}

// kill sends SIGKILL to the running server and waits until it is gone.
func (s *serverProc) kill() {
	s.t.Helper()
	if s.proc == nil {
		return
	}
	p := s.proc
	s.proc = nil
	cmd := p.Cmd
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Errorf("SIGKILL server: %v", err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		s.t.Fatalf("server process %d still running 10s after SIGKILL", cmd.Process.Pid)
	}
	// The exit must be the kill's: a server that had died on its own
	// (a panic, a fatal error) is a failure of its own.
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		s.t.Errorf("the server had exited on its own before the kill: %v\nserver log:\n%s", cmd.ProcessState, s.tail())
	}
}

// ---- devices in this process ----

// device is a replica in the test process that writes books with unique
// titles and syncs. written is every title in write order; the first
// acked of them were written before a Sync that returned without error
// began, so the server has acknowledged them.
type device struct {
	name    string
	r       *replica.Replica
	db      *sql.DB // the device file, read-only, for checks
	rng     *rand.Rand
	written []string
	acked   int

	syncs, failed, cutOff int
	lastErr               error
}

func books(title string) map[string]schema.Value {
	vals, err := schema.Fields("village", "南香村", "library", "children", "title", title)
	if err != nil {
		panic(err)
	}
	return vals
}

// run writes and syncs until stop is closed, sending on progress after
// every successful sync. The server is killed while it runs.
func (d *device) run(ctx context.Context, t *testing.T, round int, stop <-chan struct{}, killed func() bool,
	progress chan<- string) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		default:
		}
		for range 1 + d.rng.IntN(4) {
			title := fmt.Sprintf("%s-r%03d-%05d", d.name, round, len(d.written))
			if _, err := d.r.Put(ctx, "books", "", books(title)); err != nil {
				t.Errorf("%s: put %s: %v", d.name, title, err)
				return
			}
			d.written = append(d.written, title)
		}
		before := len(d.written)
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := d.r.Sync(sctx)
		cancel()
		d.syncs++
		if err == nil {
			if st.Rejected > 0 {
				t.Errorf("%s: the server rejected %d of its books: %v", d.name, st.Rejected, st)
			}
			d.acked = before
			select {
			case progress <- d.name:
			default:
			}
			continue
		}
		d.failed++
		d.lastErr = err
		if killed() && !strings.Contains(err.Error(), "connection refused") {
			// The kill cut off a request in flight.
			d.cutOff++
		}
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ---- checks ----

// integrity runs PRAGMA integrity_check on a database file (which may be
// open in another process) and fails unless it answers ok.
func integrity(t *testing.T, file string) {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+file+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check %s: %v", file, err)
	}
	defer rows.Close()
	var res []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		res = append(res, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("integrity_check %s: %v", file, err)
	}
	if len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check %s: %q", file, res)
	}
}

// serverBooks reads id → title of the live books in a server database.
func serverBooks(t *testing.T, db queryer) map[string]string {
	t.Helper()
	rows, err := db.Query("SELECT id, title FROM books")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var title sql.NullString
		if err := rows.Scan(&id, &title); err != nil {
			t.Fatal(err)
		}
		out[id] = title.String
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queryer is what serverBooks reads through: a *sql.DB on a SQLite file,
// or a store's Reader on PostgreSQL (which rebinds the ? placeholders).
type queryer interface {
	Query(string, ...any) (*sql.Rows, error)
}

// openServerDB opens the server's database for the checks' reads, beside
// the server process: read-only on the SQLite file, or through a store of
// the test's own on PostgreSQL.
func openServerDB(ctx context.Context, t *testing.T, dbFile, pgURL string) (queryer, func()) {
	t.Helper()
	if pgURL != "" {
		st, err := store.Open(ctx, pgURL, store.Options{Conns: 2})
		if err != nil {
			t.Fatal(err)
		}
		return st.Reader(), func() { st.Close() }
	}
	db, err := sql.Open("sqlite3", "file:"+dbFile+"?_busy_timeout=10000&_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	return db, func() { db.Close() }
}

// deviceAcked lists the titles of a device's own books whose every write
// the device has marked acknowledged by the server.
func deviceAcked(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT title FROM books WHERE _own > 0 AND _acked >= _own")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var title string
		if err := rows.Scan(&title); err != nil {
			t.Fatal(err)
		}
		out = append(out, title)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func titles(m map[string]string) map[string]bool {
	out := make(map[string]bool, len(m))
	for _, title := range m {
		out[title] = true
	}
	return out
}

// dump is a replica's whole replicated state (replicatest.Dump).
func dump(t *testing.T, r *replica.Replica) string { return replicatest.Dump(t, r) }

// syncOnce syncs r, waiting and trying again while the server's per-device
// rate limit (10 requests a second, bursts of 40) refuses it: a long run
// pulls thousands of records.
func syncOnce(ctx context.Context, r *replica.Replica) (replica.Stats, error) {
	var total replica.Stats
	for try := 0; ; try++ {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		st, err := r.Sync(sctx)
		cancel()
		total.Pushed += st.Pushed
		total.Pulled += st.Pulled
		total.Rejected += st.Rejected
		if err == nil || connect.CodeOf(err) != connect.CodeResourceExhausted || try == 20 {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, err
		case <-time.After(time.Second):
		}
	}
}

// syncUntilQuiet syncs every device, in turns, until a turn moves nothing.
func syncUntilQuiet(ctx context.Context, t *testing.T, devs ...*replica.Replica) {
	t.Helper()
	for turn := 0; turn < 20; turn++ {
		moved := false
		for _, r := range devs {
			st, err := syncOnce(ctx, r)
			if err != nil {
				t.Fatalf("sync %s after the kills: %v", r.Name(), err)
			}
			if st.Rejected > 0 {
				t.Errorf("sync %s: %d rejected: %v", r.Name(), st.Rejected, st)
			}
			if st.Pushed > 0 || st.Pulled > 0 {
				moved = true
			}
		}
		if !moved {
			return
		}
	}
	t.Fatalf("devices still moving records after 20 turns of syncing")
}

// ---- the tests ----

func TestServerSurvivesSIGKILL(t *testing.T) { serverSurvivesSIGKILL(t, "") }

// TestServerOnPostgresSurvivesSIGKILL is the same with the server's store
// on PostgreSQL: a kill mid-transaction leaves PostgreSQL to roll back
// what the dead connection had begun, and the restarted server must find
// every acknowledged write there.
func TestServerOnPostgresSurvivesSIGKILL(t *testing.T) {
	pgtest.Require(t)
	serverSurvivesSIGKILL(t, pgtest.URL(t))
}

// serverSurvivesSIGKILL kills the server many times mid-traffic; pgURL is
// the server's PostgreSQL database, or "" for a SQLite file.
func serverSurvivesSIGKILL(t *testing.T, pgURL string) {
	bin := serveproc.Build(t)
	rng := rand.New(rand.NewPCG(pickSeed(t), 1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(30+2**rounds)*time.Second)
	defer cancel()
	began := time.Now()

	dir := t.TempDir()
	dbFile := filepath.Join(dir, "server.db")
	dsn := dbFile
	if pgURL != "" {
		dsn = pgURL
	}
	// Only a SQLite file has a PRAGMA integrity_check; PostgreSQL's own
	// recovery is not this test's subject.
	checkServer := func() {
		if pgURL == "" {
			integrity(t, dbFile)
		}
	}
	// Enrollment codes for three devices and a probe, made in the server
	// database before the server first runs.
	st, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"nanxiang", "dongwang", "wangyu", "probe"}
	codes := map[string]string{}
	for _, n := range names {
		if codes[n], err = st.CodeFor(ctx, n, store.Staff, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	srv := &serverProc{t: t, bin: bin, db: dsn, addr: serveproc.FreeAddr(t)}
	t.Cleanup(func() {
		if srv.proc != nil {
			srv.proc.Cmd.Process.Kill()
			select {
			case <-srv.proc.Done():
			case <-time.After(10 * time.Second):
			}
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", srv.tail())
		}
	})
	srv.start()
	url := "http://" + srv.addr

	var devs []*device
	for i, n := range names[:3] {
		// Small batches and pages: one Sync is several requests, so a
		// kill can land between two of them as well as inside one.
		r, err := replica.Init(ctx, filepath.Join(dir, n+".db"), url, codes[n], n,
			replica.Options{PushBatch: 3, PageLimit: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, n+".db")+"?_busy_timeout=10000&_query_only=1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		devs = append(devs, &device{name: n, r: r, db: db, rng: rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))})
	}

	serverDB, closeServerDB := openServerDB(ctx, t, dbFile, pgURL)
	defer closeServerDB()

	for round := range *rounds {
		stop := make(chan struct{})
		progress := make(chan string, 4096)
		var mu sync.Mutex
		isKilled := false
		killed := func() bool { mu.Lock(); defer mu.Unlock(); return isKilled }
		var wg sync.WaitGroup
		for _, d := range devs {
			wg.Go(func() { d.run(ctx, t, round, stop, killed, progress) })
		}
		// Kill after the k-th successful sync of this round (every device
		// syncs again at once, so others are in flight), sometimes a few
		// hundred microseconds later.
		k := 1 + rng.IntN(3*len(devs))
		var delay time.Duration
		if rng.IntN(2) == 0 {
			delay = time.Duration(rng.IntN(500)) * time.Microsecond
		}
		timeout := time.NewTimer(15 * time.Second)
		for seen := 0; seen < k; seen++ {
			select {
			case <-progress:
			case <-timeout.C:
				close(stop)
				wg.Wait()
				var errs []string
				for _, d := range devs {
					errs = append(errs, fmt.Sprintf("%s: %d syncs, last error %v", d.name, d.syncs, d.lastErr))
				}
				t.Fatalf("round %d: only %d of %d syncs succeeded in 15s\n%s", round, seen, k, strings.Join(errs, "\n"))
			}
		}
		timeout.Stop()
		if delay > 0 {
			time.Sleep(delay)
		}
		mu.Lock()
		isKilled = true
		mu.Unlock()
		srv.kill()
		close(stop)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}

		srv.start()
		checkServer()
		have := titles(serverBooks(t, serverDB))
		for _, d := range devs {
			for _, title := range d.written[:d.acked] {
				if !have[title] {
					t.Errorf("round %d: %s's book %q was acknowledged (a Sync returned after it was written) "+
						"but is not on the server after the restart", round, d.name, title)
				}
			}
			// Finer: what the device itself recorded as acknowledged, which
			// includes requests committed before a later one of the same
			// Sync was cut off.
			for _, title := range deviceAcked(t, d.db) {
				if !have[title] {
					t.Errorf("round %d: %s's book %q is marked acknowledged on the device but is not on the server after the restart",
						round, d.name, title)
				}
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	// No more kills: everyone syncs until quiet and must equal the server,
	// which must hold every book ever written (acknowledged or not).
	syncUntilQuiet(ctx, t, devs[0].r, devs[1].r, devs[2].r)
	probe, err := replica.Init(ctx, filepath.Join(dir, "probe.db"), url, codes["probe"], "probe",
		replica.Options{PageLimit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	if _, err := syncOnce(ctx, probe); err != nil {
		t.Fatal(err)
	}
	want := dump(t, probe)
	for _, d := range devs {
		if got := dump(t, d.r); got != want {
			t.Errorf("%s differs from the server:\n got: %s\nwant: %s", d.name, got, want)
		}
	}
	have := serverBooks(t, serverDB)
	all := 0
	syncs, failed, cutOff := 0, 0, 0
	haveTitles := titles(have)
	for _, d := range devs {
		all += len(d.written)
		syncs, failed, cutOff = syncs+d.syncs, failed+d.failed, cutOff+d.cutOff
		for _, title := range d.written {
			if !haveTitles[title] {
				t.Errorf("%s's book %q never reached the server", d.name, title)
			}
		}
	}
	if len(have) != all {
		t.Errorf("the server has %d books, the devices wrote %d", len(have), all)
	}
	checkServer()
	for _, d := range devs {
		integrity(t, filepath.Join(dir, d.name+".db"))
	}
	t.Logf("%d SIGKILLs of the server in %v: %d books, %d syncs (%d failed, %d of them cut off mid-request by a kill)",
		*rounds, time.Since(began).Round(time.Millisecond), all, syncs, failed, cutOff)
}

// TestDeviceSurvivesSIGKILL runs `villagesync device put` and `device sync`
// as processes on one device file and kills them part-way.
func TestDeviceSurvivesSIGKILL(t *testing.T) {
	bin := serveproc.Build(t)
	rng := rand.New(rand.NewPCG(pickSeed(t), 2))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(30+2**rounds)*time.Second)
	defer cancel()
	began := time.Now()

	srv := replicatest.Start(t, nil)
	file := filepath.Join(srv.Dir, "phone.db")
	r, err := replica.Init(ctx, file, srv.URL, srv.Code(t, "phone", store.Staff), "phone", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// proc is one device command; out holds what it printed.
	type proc struct {
		cmd    *exec.Cmd
		out    bytes.Buffer
		errOut bytes.Buffer
		done   chan struct{}
		killed bool
	}
	startProc := func(args ...string) *proc {
		p := &proc{cmd: exec.Command(bin, append([]string{"device", "--db", file}, args...)...), done: make(chan struct{})}
		p.cmd.Stdout = &p.out
		p.cmd.Stderr = &p.errOut
		p.cmd.Env = append(os.Environ(), "VILLAGESYNC_LOG_LEVEL=warn")
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			p.cmd.Process.Kill()
			<-p.done
		})
		return p
	}
	putArgs := func(title string) []string {
		return []string{"put", "books", "village=南香村", "library=children", "title=" + title}
	}
	// ids maps the id a put printed (so it returned: committed) to its title.
	ids := map[string]string{}
	printed := func(p *proc, title string) {
		line := strings.TrimSpace(p.out.String())
		if line == "" {
			return
		}
		if len(line) != 36 {
			t.Fatalf("put %s printed %q", title, line)
		}
		ids[line] = title
	}
	// How long a put takes here, so kills land before, inside and after it.
	t0 := time.Now()
	p := startProc(putArgs("calibration")...)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a put took over 20s")
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("put failed: %v", p.cmd.ProcessState)
	}
	printed(p, "calibration")
	span := max(time.Since(t0), 5*time.Millisecond)
	t0 = time.Now()
	p = startProc("sync")
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("a sync took over 20s")
	}
	if !p.cmd.ProcessState.Success() {
		t.Fatalf("sync failed: %v", p.cmd.ProcessState)
	}
	syncSpan := max(time.Since(t0), span)

	n := 3 * *rounds
	killedPuts, killedSyncs, rateLimited, attempted := 0, 0, 0, map[string]bool{"calibration": true}
	for i := range n {
		title := fmt.Sprintf("put-%04d", i)
		attempted[title] = true
		procs := []*proc{startProc(putArgs(title)...)}
		if i%2 == 1 {
			// A sync at the same time: one process writes while the other syncs.
			procs = append(procs, startProc("sync"))
		}
		delay := time.Duration(rng.Int64N(int64(span) * 3 / 2))
		if len(procs) > 1 {
			delay = time.Duration(rng.Int64N(int64(syncSpan) * 3))
		}
		kill := time.NewTimer(delay)
		for _, p := range procs {
			select {
			case <-p.done:
			case <-kill.C:
				for _, q := range procs {
					select {
					case <-q.done:
					default:
						q.killed = true
						q.cmd.Process.Signal(syscall.SIGKILL)
					}
				}
			}
		}
		kill.Stop()
		for j, p := range procs {
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Fatalf("device process %d still running 10s after SIGKILL", p.cmd.Process.Pid)
			}
			switch {
			case p.killed && j == 0:
				killedPuts++
			case p.killed:
				killedSyncs++
			case !p.cmd.ProcessState.Success() && j > 0 && strings.Contains(p.errOut.String(), "resource_exhausted"):
				// Syncs faster than the server's per-device rate limit
				// (a long run): refused, which is not a crash matter.
				rateLimited++
			case !p.cmd.ProcessState.Success():
				t.Errorf("%v exited with %v: %s", p.cmd.Args[4:], p.cmd.ProcessState, p.errOut.String())
			}
		}
		printed(procs[0], title)
		integrity(t, file)
		if t.Failed() {
			t.FailNow()
		}
	}

	// Every put that printed its id is on the device, then on the server.
	r, err = replica.Open(ctx, file, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for id, title := range ids {
		rec, err := r.Get(ctx, "books", id)
		if err != nil {
			t.Fatal(err)
		}
		if rec == nil || rec.Fields["title"].Value.Text != title {
			t.Errorf("put %s printed %s but the device has %v", title, id, rec)
		}
	}
	probe := srv.Device(t, "probe", store.Staff, nil, replica.Options{PageLimit: 100})
	syncUntilQuiet(ctx, t, r, probe)
	on := serverBooks(t, srv.Store.Reader())
	for id, title := range ids {
		if on[id] != title {
			t.Errorf("put %s (%s) is not on the server: %q", title, id, on[id])
		}
	}
	for id, title := range on {
		if !attempted[title] {
			t.Errorf("the server has a book nobody wrote: %s %q", id, title)
		}
	}
	if got, want := dump(t, r), dump(t, probe); got != want {
		t.Errorf("the device differs from the server:\n got: %s\nwant: %s", got, want)
	}
	integrity(t, file)
	t.Logf("%d rounds in %v (a put takes ~%v, a sync ~%v): killed %d of %d puts and %d of %d syncs "+
		"(%d syncs refused by the rate limit); %d puts printed their id, %d books on the server",
		n, time.Since(began).Round(time.Millisecond), span.Round(time.Millisecond), syncSpan.Round(time.Millisecond),
		killedPuts, n, killedSyncs, n/2, rateLimited, len(ids), len(on))
}
