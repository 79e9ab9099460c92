package multiserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func TestMain(m *testing.M) { os.Exit(serveproc.Main(m)) }

// serve starts `villagesync serve` on db and returns once it logs the
// address it serves on. The rate limit is raised: pullers here poll far
// faster than a phone.
func serve(t *testing.T, db string) *serveproc.Proc {
	t.Helper()
	cmd := exec.Command(serveproc.Build(t), "serve", "--db", db, "--listen", "127.0.0.1:0", "--shutdown-grace", "1s",
		"--device-rate", "10000", "--device-burst", "10000")
	cmd.Env = append(os.Environ(), "VILLAGESYNC_LOG_LEVEL=info")
	return serveproc.Start(t, cmd)
}

// alternate sends each request to the next server in turn, whatever URL
// the client built it for: a round-robin proxy with no affinity.
type alternate struct {
	mu    sync.Mutex
	next  int
	hosts []string
}

func (a *alternate) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	host := a.hosts[a.next%len(a.hosts)]
	a.next++
	a.mu.Unlock()
	req = req.Clone(req.Context())
	req.URL.Host, req.Host = host, ""
	return http.DefaultTransport.RoundTrip(req)
}

func alternating(servers []*serveproc.Proc) *http.Client {
	a := &alternate{}
	for _, s := range servers {
		a.hosts = append(a.hosts, strings.TrimPrefix(s.URL, "http://"))
	}
	return &http.Client{Transport: a, Timeout: time.Minute}
}

// puller is a device that pulls the feed over the wire itself, so that it
// sees every record each page carries (a replica would merge a duplicate
// away unseen), and counts them by id.
type puller struct {
	sync                  villagesyncv1connect.SyncServiceClient
	replica               uint32
	serverID, incarnation uint64
	scopeHash, cursor     uint64
	got                   map[string]int
	pulls                 int
}

func newPuller(ctx context.Context, t *testing.T, servers []*serveproc.Proc, code string) *puller {
	t.Helper()
	hc := alternating(servers)
	resp, err := villagesyncv1connect.NewAccessServiceClient(hc, servers[0].URL).
		Enroll(ctx, &v1.EnrollRequest{Code: code, DeviceName: "puller"})
	if err != nil {
		t.Fatalf("enroll a puller: %v", err)
	}
	return &puller{
		sync:    villagesyncv1connect.NewSyncServiceClient(bearer.Client(hc, resp.GetToken()), servers[0].URL),
		replica: resp.GetReplica(), serverID: resp.GetServerId(), got: map[string]int{},
	}
}

// pullToEnd pulls pages until the feed has no more: it then holds every
// row committed before the call.
func (p *puller) pullToEnd(ctx context.Context) error {
	for {
		m, err := p.sync.Sync(ctx, &v1.SyncRequest{
			Replica: p.replica, ServerId: p.serverID, Cursor: p.cursor, PageLimit: 7,
			ScopeHash: p.scopeHash, Incarnation: p.incarnation, SchemaVersion: schema.Version,
		})
		if err != nil {
			return fmt.Errorf("pull from %d (pull %d): %w", p.cursor, p.pulls, err)
		}
		p.pulls++
		if m.GetRestored() || m.GetRepull() {
			return fmt.Errorf("pull from %d: restored %v, re-pull %v: the servers disagree about the database",
				p.cursor, m.GetRestored(), m.GetRepull())
		}
		if p.incarnation != 0 && m.GetIncarnation() != p.incarnation {
			return fmt.Errorf("incarnation %x, then %x: the servers disagree", p.incarnation, m.GetIncarnation())
		}
		if m.GetRescoped() && p.scopeHash != 0 {
			return fmt.Errorf("rescoped again at %d: the servers disagree about the device's scope", p.cursor)
		}
		p.incarnation = m.GetIncarnation()
		if m.GetRescoped() { // the scope comes with a rescope only
			p.scopeHash = m.GetScopeHash()
		}
		if m.GetNextCursor() < p.cursor {
			return fmt.Errorf("cursor moved back from %d to %d", p.cursor, m.GetNextCursor())
		}
		for _, r := range m.GetChanges() {
			p.got[r.GetId()]++
		}
		p.cursor = m.GetNextCursor()
		if !m.GetHasMore() {
			return nil
		}
	}
}

// Pushers and pullers on two serve processes of one PostgreSQL database,
// each request to either server: every puller receives every pushed
// record exactly once (the records are written once, so a record that
// came twice came twice from the feed), while the pushes commit on both
// servers at once. A feed whose positions could commit out of order
// would let a puller's cursor pass a row still to commit (see
// sync/DESIGN.md, Several servers, and sync/store's
// TestFeedCursorNeverPassesARowThatCanStillAppear for that interleaving
// played deterministically).
func TestPullersGetEveryRowOnceFromTwoServers(t *testing.T) {
	pushers, pullers, rounds := 4, 3, 25
	if testing.Short() {
		rounds = 8
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	db := pgtest.URL(t)
	serveproc.Build(t)

	// Enrollment codes, made in the database before the servers run.
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	codes := make([]string, pushers+pullers)
	for i := range codes {
		if codes[i], err = st.CodeFor(ctx, fmt.Sprint("user", i), store.Staff, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	servers := []*serveproc.Proc{serve(t, db), serve(t, db)}

	dir := t.TempDir()
	devs := make([]*replica.Replica, pushers)
	for i := range devs {
		// Small batches: a sync is several pushes, interleaving with the
		// other pushers' on the other server.
		r, err := replica.Init(ctx, filepath.Join(dir, fmt.Sprint("pusher", i, ".db")), servers[i%2].URL,
			codes[i], fmt.Sprint("pusher", i), replica.Options{HTTPClient: alternating(servers), PushBatch: 2, PageLimit: 50})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		devs[i] = r
	}
	pulls := make([]*puller, pullers)
	for i := range pulls {
		pulls[i] = newPuller(ctx, t, servers, codes[pushers+i])
	}

	var (
		mu     sync.Mutex
		pushed = map[string]bool{}
	)
	pushing := sync.WaitGroup{}
	errs := make(chan error, pushers+pullers)
	for i, r := range devs {
		pushing.Go(func() {
			for round := range rounds {
				for k := range 1 + (i+round)%3 {
					vals, err := schema.Fields("village", "南香村", "library", "children",
						"title", fmt.Sprintf("pusher %d round %d book %d", i, round, k))
					if err != nil {
						errs <- err
						return
					}
					id, err := r.Put(ctx, "books", "", vals)
					if err != nil {
						errs <- fmt.Errorf("pusher %d: put: %w", i, err)
						return
					}
					mu.Lock()
					pushed[id] = true
					mu.Unlock()
				}
				st, err := r.Sync(ctx)
				if err != nil {
					errs <- fmt.Errorf("pusher %d round %d: sync: %w", i, round, err)
					return
				}
				if st.Rejected > 0 {
					errs <- fmt.Errorf("pusher %d round %d: %d rejected", i, round, st.Rejected)
					return
				}
			}
		})
	}
	pushersDone := make(chan struct{})
	go func() { pushing.Wait(); close(pushersDone) }()

	pulling := sync.WaitGroup{}
	for i, p := range pulls {
		pulling.Go(func() {
			// Pull while the pushes go on, then once more from after the
			// last push was acknowledged: that pull reaches every row.
			for {
				select {
				case <-pushersDone:
					if err := p.pullToEnd(ctx); err != nil {
						errs <- fmt.Errorf("puller %d: %w", i, err)
					}
					return
				default:
				}
				if err := p.pullToEnd(ctx); err != nil {
					errs <- fmt.Errorf("puller %d: %w", i, err)
					return
				}
			}
		})
	}
	pulling.Wait()
	<-pushersDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	for i, p := range pulls {
		var missing, twice []string
		for id := range pushed {
			switch n := p.got[id]; {
			case n == 0:
				missing = append(missing, id)
			case n > 1:
				twice = append(twice, fmt.Sprintf("%s ×%d", id, n))
			}
		}
		for id, n := range p.got {
			if !pushed[id] && n > 1 { // the server's own seed rows, once each too
				twice = append(twice, fmt.Sprintf("%s ×%d", id, n))
			}
		}
		if len(missing) > 0 || len(twice) > 0 {
			t.Errorf("puller %d (%d pulls, cursor %d): of %d pushed, %d missing %v, %d more than once %v",
				i, p.pulls, p.cursor, len(pushed), len(missing), missing, len(twice), twice)
		} else {
			t.Logf("puller %d: all %d records exactly once in %d pulls (cursor %d)", i, len(pushed), p.pulls, p.cursor)
		}
	}
	t.Logf("%d pushers × %d rounds, %d pullers, two servers: %v", pushers, rounds, pullers,
		time.Since(began).Round(time.Millisecond))
}
