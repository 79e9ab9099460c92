package demo_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/demo"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// The README's first command must keep telling a true story: replicas
// converge, every kind of conflict and flag reaches the log, and the
// coordinator report shows the season's 65 sessions and 1,950
// student-attendances, the duplicate counted once.
func TestDemoSeason(t *testing.T) {
	var out bytes.Buffer
	dir := t.TempDir()
	res, err := demo.Run(context.Background(), &out, dir)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !res.Converged {
		t.Errorf("replicas did not converge:\n%s", out.String())
	}
	kinds := map[string]int{}
	for _, c := range res.Conflicts {
		kinds[c.Kind]++
	}
	want := map[string]int{record.KindField: 2, record.KindDeleteVsEdit: 1,
		store.KindDoubleLoan: 1, store.KindDuplicateSession: 1}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s entries, want %d (all: %v)", kinds[k], k, n, kinds)
		}
	}
	// Counted here straight from the server's database, independently of
	// the report code: live sessions, the open duplicate left out.
	st, err := store.Open(context.Background(), filepath.Join(dir, "server.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var sessions, attendances int64
	err = st.Reader().QueryRow(`SELECT count(*), COALESCE(sum(children_present), 0) FROM tutoring_sessions
		WHERE _deleted = 0 AND id NOT IN (
			SELECT record_id FROM conflicts WHERE kind = 'duplicate_session' AND resolution IS NULL)`).
		Scan(&sessions, &attendances)
	if err != nil {
		t.Fatal(err)
	}
	if sessions != demo.SeasonSessions || attendances != demo.SeasonAttendances {
		t.Errorf("server holds %d sessions, %d attendances; want %d and %d",
			sessions, attendances, demo.SeasonSessions, demo.SeasonAttendances)
	}
	if res.Sessions != demo.SeasonSessions || res.Attendances != demo.SeasonAttendances {
		t.Errorf("report: %d sessions, %d attendances; want %d and %d\n%s",
			res.Sessions, res.Attendances, demo.SeasonSessions, demo.SeasonAttendances, out.String())
	}
}
