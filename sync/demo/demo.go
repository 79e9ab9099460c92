// Package demo runs villagesync end to end in one process: a server on
// embedded SQLite in a temporary directory and three device replicas that
// edit offline, then sync. It is the README's first command, so it tells
// the story a newcomer needs: offline edits, a concurrent edit of one
// field, concurrent edits of different fields, a delete racing an edit,
// convergence, and the conflict log.
package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/server"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Result is what the demo found, for tests.
type Result struct {
	Converged bool
	Conflicts []staff.Conflict
}

// Run runs the demo in dir (a temporary directory when empty), printing
// the story to w.
func Run(ctx context.Context, w io.Writer, dir string) (Result, error) {
	var res Result
	if dir == "" {
		d, err := os.MkdirTemp("", "villagesync-demo-")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	say := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	log := slog.New(slog.DiscardHandler)

	st, err := store.Open(ctx, filepath.Join(dir, "server.db"), store.Options{Logger: log})
	if err != nil {
		return res, err
	}
	defer st.Close()
	srv, err := server.Start(st, "127.0.0.1:0", log, time.Second)
	if err != nil {
		return res, err
	}
	defer srv.Stop()
	say("server: %s (SQLite in %s)", srv.URL, dir)

	names := []string{"nanxiang-volunteer", "dongwang-staff", "wangyu-volunteer"}
	devs := make([]*replica.Replica, len(names))
	for i, n := range names {
		if devs[i], err = replica.Init(ctx, filepath.Join(dir, n+".db"), srv.URL, n, replica.Options{}); err != nil {
			return res, err
		}
		defer devs[i].Close()
		say("device %-20s replica %d", n, devs[i].ID())
	}
	a, b, c := devs[0], devs[1], devs[2]
	syncAll := func(label string, ds ...*replica.Replica) error {
		for _, d := range ds {
			stats, err := d.Sync(ctx)
			if err != nil {
				return fmt.Errorf("%s: %w", d.Name(), err)
			}
			say("  sync %-20s %s", d.Name(), stats)
		}
		return nil
	}
	put := func(d *replica.Replica, table, id string, kv ...any) (string, error) {
		vals, err := schema.Fields(kv...)
		if err != nil {
			return "", err
		}
		return d.Put(ctx, table, id, vals)
	}

	say("\n1. A volunteer in Nanxiang logs tonight's 7pm class and a library book, then syncs.")
	session, err := put(a, "tutoring_sessions", "", "village", "南香村", "session_date", "2024-06-03", "start_time", "19:00",
		"class_group", "grade 3-4", "subjects", "数学", "children_present", 30, "notes", "分数练习")
	if err != nil {
		return res, err
	}
	book, err := put(a, "books", "", "village", "南香村", "library", "children", "copy_no", 1, "title", "小王子", "notes", "donated")
	if err != nil {
		return res, err
	}
	if err := syncAll("", a, b, c); err != nil {
		return res, err
	}

	say("\n2. Everyone goes offline and edits:")
	say("   - nanxiang-volunteer corrects the head count to 32           (field children_present)")
	say("   - dongwang-staff and wangyu-volunteer both rewrite the notes (same field: a conflict)")
	say("   - nanxiang-volunteer deletes the book; wangyu-volunteer edits its notes at the same time")
	if _, err := put(a, "tutoring_sessions", session, "children_present", 32); err != nil {
		return res, err
	}
	if _, err := put(b, "tutoring_sessions", session, "notes", "分数练习；两名新同学"); err != nil {
		return res, err
	}
	if _, err := put(c, "tutoring_sessions", session, "notes", "分数练习，下次复习小数"); err != nil {
		return res, err
	}
	if err := a.Delete(ctx, "books", book); err != nil {
		return res, err
	}
	if _, err := put(c, "books", book, "notes", "cover torn, needs repair"); err != nil {
		return res, err
	}

	say("\n3. Back in range, each device syncs (one request each), then once more to settle:")
	if err := syncAll("", a, b, c, a, b); err != nil {
		return res, err
	}

	say("\n4. Every replica now holds the same state:")
	res.Converged = true
	var first map[string]string
	for _, d := range devs {
		got := map[string]string{}
		for _, table := range []string{"tutoring_sessions", "books"} {
			recs, err := d.List(ctx, table)
			if err != nil {
				return res, err
			}
			for _, r := range recs {
				line, _ := json.Marshal(replica.JSON(r))
				got[table+"/"+r.ID] = string(line)
			}
		}
		if first == nil {
			first = got
			for _, line := range got {
				say("   %s", line)
			}
		} else if fmt.Sprint(got) != fmt.Sprint(first) {
			res.Converged = false
		}
	}
	if res.Converged {
		say("   converged: all %d devices hold byte-identical records", len(devs))
	} else {
		say("   NOT converged")
	}

	say("\n5. Nothing was dropped: the conflict log (villagesync conflicts --server URL) holds every losing value:")
	err = staff.Conflicts(ctx, nil, srv.URL, staff.Filter{}, func(c staff.Conflict) error {
		res.Conflicts = append(res.Conflicts, c)
		if c.Kind == record.KindDeleteVsEdit {
			say("   #%d %s %s: %s deleted it while %s edited it; the record is kept (edit %q) for staff to decide",
				c.ID, c.Table, c.RecordID, c.Loser.Device, c.Winner.Device, fmt.Sprint(c.Winner.Value))
			return nil
		}
		say("   #%d %s.%s: %q from %s won (later clock); the losing %q from %s is kept here for review",
			c.ID, c.Table, c.Field, fmt.Sprint(c.Winner.Value), c.Winner.Device, fmt.Sprint(c.Loser.Value), c.Loser.Device)
		return nil
	})
	return res, err
}
