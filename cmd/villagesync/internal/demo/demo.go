package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Result is what the demo found, for tests.
type Result struct {
	Converged bool
	Conflicts []staff.Conflict
	// Sessions and Attendances are the coordinator report's totals.
	Sessions, Attendances int64
}

// Options say where the demo keeps its files and how it serves.
type Options struct {
	// Dir holds the server's and the phones' databases; empty means a
	// temporary directory, removed by Close.
	Dir string
	// Listen is the server's address; empty means a free port on 127.0.0.1.
	Listen string
	// UI is served on the API's port at "/" (the web console); nil serves
	// the API alone.
	UI http.Handler
}

// Season is a finished demo season whose server is still running, so a
// browser can look at it (demo --serve) and tests can drive it.
type Season struct {
	URL     string
	Store   *store.Store
	Result  Result
	closers []func() error
}

// Run runs the demo in dir (a temporary directory when empty), printing
// the story to w.
func Run(ctx context.Context, w io.Writer, dir string) (Result, error) {
	s, err := Start(ctx, w, Options{Dir: dir})
	if s == nil {
		return Result{}, err
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return s.Result, err
}

// Close stops the server and the phones and removes a temporary
// directory, in the reverse order of their start.
func (s *Season) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// Code makes a one-time enrollment code for one of the season's users
// (e.g. "futian-coordinator"), for a browser to sign in with.
func (s *Season) Code(ctx context.Context, user string) (string, time.Time, error) {
	return s.Store.NewEnrollmentCode(ctx, user, 24*time.Hour)
}

// Start runs the demo season as Run does and leaves its server running;
// the caller closes it. On an error after the start, the returned Season
// is non-nil and must still be closed.
func Start(ctx context.Context, w io.Writer, opts Options) (*Season, error) {
	s := &Season{}
	res, err := s.start(ctx, w, opts)
	s.Result = res
	if err != nil {
		return s, err
	}
	return s, nil
}

func (s *Season) start(ctx context.Context, w io.Writer, opts Options) (Result, error) {
	var res Result
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "villagesync-demo-")
		if err != nil {
			return res, err
		}
		s.closers = append(s.closers, func() error { return os.RemoveAll(d) })
		dir = d
	}
	listen := opts.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	log := slog.New(slog.DiscardHandler)

	st, err := store.Open(ctx, filepath.Join(dir, "server.db"), store.Options{Logger: log})
	if err != nil {
		return res, err
	}
	s.Store = st
	s.closers = append(s.closers, st.Close)
	srv, err := startServer(st, listen, log, opts.UI)
	if err != nil {
		return res, err
	}
	s.URL = srv.URL
	s.closers = append(s.closers, srv.Stop)
	say("server: %s (SQLite in %s)", srv.URL, dir)

	// Each phone is enrolled the way staff enroll a real one: a user with
	// a role (and, for volunteers, villages), a one-time code, a token.
	users := []struct {
		name    string
		role    store.Role
		village string
	}{
		{"nanxiang-volunteer", store.Volunteer, "南香村"},
		{"dongwang-volunteer", store.Volunteer, "东旺村"},
		{"wangyu-volunteer", store.Volunteer, "旺渔村"},
		{"xiaomo-town-staff", store.Staff, ""},
		{"futian-coordinator", store.Coordinator, ""},
	}
	devs := make([]*replica.Replica, len(users))
	for i, u := range users {
		var villages []string
		if u.village != "" {
			villages = []string{u.village}
		}
		if err := st.CreateUser(ctx, u.name, u.role, villages); err != nil {
			return res, err
		}
		code, _, err := st.NewEnrollmentCode(ctx, u.name, time.Hour)
		if err != nil {
			return res, err
		}
		if devs[i], err = replica.Init(ctx, filepath.Join(dir, u.name+".db"), srv.URL, code, u.name+"-phone",
			replica.Options{}); err != nil {
			return res, err
		}
		s.closers = append(s.closers, devs[i].Close)
	}
	vols, staffDev, coordinator := devs[:3], devs[3], devs[4]
	say("devices: a volunteer phone per village (it holds only its village), a town staff phone and a coordinator, " +
		"each enrolled with a one-time code")

	say("\n1. A season of the programs, March to July 2024, recorded offline:")
	if err := season(ctx, say, vols, staffDev); err != nil {
		return res, err
	}

	say("\n2. Every phone holds exactly the server's records for its villages (checked byte by byte):")
	res.Converged = true
	all, err := dump(ctx, staffDev, "")
	if err != nil {
		return res, err
	}
	for i, d := range vols {
		got, err := dump(ctx, d, users[i].village)
		if err != nil {
			return res, err
		}
		want, _ := dump(ctx, staffDev, users[i].village)
		if got != want || strings.Count(got, "\n") == 0 {
			res.Converged = false
		}
		say("   %-22s %3d records of %s, none of the other villages", d.Name(), strings.Count(got, "\n"), users[i].village)
	}
	if res.Converged {
		say("   converged: %d records on the staff phone; each volunteer phone matches it for its village",
			strings.Count(all, "\n"))
	} else {
		say("   NOT converged")
	}

	say("\n3. For staff: nothing was dropped; every losing value and every flag is kept for review")
	say("   (villagesync conflicts --server URL; resolve with villagesync conflicts resolve):")
	err = staff.Conflicts(ctx, staffDev.HTTPClient(), srv.URL, staff.Filter{}, func(c staff.Conflict) error {
		res.Conflicts = append(res.Conflicts, c)
		switch c.Kind {
		case record.KindDeleteVsEdit:
			say("   #%d %s: %s deleted a record while %s edited it; the record is kept",
				c.ID, c.Kind, c.Loser.Device, c.Winner.Device)
		case store.KindDoubleLoan:
			say("   #%d %s: one copy is out on cards %v and %v; both loans are kept",
				c.ID, c.Kind, c.Winner.Value, c.Loser.Value)
		case store.KindDuplicateSession:
			say("   #%d %s: the same class was logged twice; reports count it once until staff decide", c.ID, c.Kind)
		default:
			say("   #%d %s.%s: %q (%s) kept; %q (%s) kept for review", c.ID, c.Table, c.Field,
				fmt.Sprint(c.Winner.Value), c.Winner.Device, fmt.Sprint(c.Loser.Value), c.Loser.Device)
		}
		return nil
	})
	if err != nil {
		return res, err
	}

	say("\n4. For coordinators: the 7pm classroom's totals since the start (villagesync report --server URL")
	say("   gives every figure by village and month, as a table, CSV, XLSX or JSON, in Chinese or English):")
	rep, err := staff.Report(ctx, coordinator.HTTPClient(), srv.URL, report.Request{})
	if err != nil {
		return res, err
	}
	for _, row := range append(rep.VillageTotals, rep.Total) {
		name := row.Village + " " + row.VillagePinyin
		if row.Village == "" {
			name = "合计 total"
		}
		say("   %-16s %3d sessions  %5d student-attendances (人次)  %2d volunteers", name,
			row.Tutoring.Sessions, row.Tutoring.StudentAttendances, row.Tutoring.Volunteers)
	}
	res.Sessions, res.Attendances = rep.Total.Tutoring.Sessions, rep.Total.Tutoring.StudentAttendances
	return res, nil
}

// dump is a device's replicated state as JSON lines, of one village's
// program records (all when village is empty) and the villages table.
func dump(ctx context.Context, d *replica.Replica, village string) (string, error) {
	var b strings.Builder
	for _, table := range schema.TableNames() {
		recs, err := d.List(ctx, table)
		if err != nil {
			return "", err
		}
		for _, r := range recs {
			if v, ok := r.Fields["village"]; ok && village != "" && v.Value.Text != village {
				continue
			}
			line, _ := json.Marshal(replica.JSON(r))
			b.Write(line)
			b.WriteByte('\n')
		}
	}
	return b.String(), nil
}

// startServer serves st, with ui at "/" when it is set.
func startServer(st *store.Store, addr string, log *slog.Logger, ui http.Handler) (*server.Running, error) {
	return server.StartWith(st, addr, log, time.Second, server.TLS{}, server.Options{UI: ui})
}
