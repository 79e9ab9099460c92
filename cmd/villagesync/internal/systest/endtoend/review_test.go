package endtoend

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"testing"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Found in review: a village created offline and its first record travel
// in one push; the record must not be refused for an unknown village.
func TestNewVillageAndItsRecordInOnePush(t *testing.T) {
	e := newEnv(t)
	a := e.enrolled("a", store.Admin, nil, replica.Options{})
	put(t, a, "villages", "", "name", "新村", "pinyin", "Xincun")
	book := put(t, a, "books", "", "village", "新村", "library", "children", "title", "小王子")
	if st := syncOK(t, a); st.Rejected != 0 {
		t.Errorf("sync %v", st)
	}
	if rec, _ := a.Get(context.Background(), "books", book); rec == nil {
		t.Error("the book written on the device is gone from it")
	}
	assertConverged(t, e, a)
}

// Found in review: a replay gets its first answer even when a rule it
// passed then (the village exists) no longer holds.
func TestReplayIsNotCheckedAgainstNewerState(t *testing.T) {
	e := newEnv(t)
	tr := &dropResponses{next: http.DefaultTransport}
	a := e.device("a", replica.Options{HTTPClient: tr, Retries: -1})
	b := e.enrolled("b", store.Admin, nil, replica.Options{})
	ctx := context.Background()
	vid := put(t, b, "villages", "", "name", "新村", "pinyin", "Xincun")
	syncOK(t, b)
	syncOK(t, a)
	put(t, a, "books", "", "village", "新村", "library", "children", "title", "t")
	tr.drop.Store(1)
	if _, err := a.Sync(ctx); err == nil {
		t.Fatal("lost response not noticed")
	}
	if err := b.Delete(ctx, "villages", vid); err != nil {
		t.Fatal(err)
	}
	syncOK(t, b)
	if st := syncOK(t, a); st.Applied != 1 || st.Rejected != 0 {
		t.Errorf("replay outcomes %v, want the first push's: applied", st)
	}
	if rej, _ := a.Rejected(ctx); len(rej) != 0 {
		t.Errorf("an applied change is listed as rejected: %+v", rej)
	}
}

// Found in review: a request refused for its cursor must not have pushed.
func TestRefusedRequestDoesNotPush(t *testing.T) {
	e := newEnv(t)
	a := e.device("a", replica.Options{})
	syncOK(t, a)
	d, err := sql.Open("sqlite3", filepath.Join(e.dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`UPDATE meta SET value = 1000000 WHERE key = 'cursor'`); err != nil {
		t.Fatal(err)
	}
	d.Close()
	before := e.serverDump()
	put(t, a, "books", "", "village", "南香村", "library", "children", "title", "x")
	if _, err := a.Sync(context.Background()); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Fatalf("err = %v, want FailedPrecondition", err)
	}
	if after := e.serverDump(); after != before {
		t.Errorf("a refused request changed the server:\n%s", after)
	}
}
