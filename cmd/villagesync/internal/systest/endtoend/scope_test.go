package endtoend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// A volunteer's phone holds only her villages. When one is taken away,
// her unpushed writes to it still reach the server (which keeps what it
// refuses for staff), and then its records leave the phone.
func TestVillageTakenAwayLeavesThePhone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	staffDev := e.device("staff", replica.Options{})
	nx := put(t, staffDev, "books", "", "village", "南香村", "title", "南香的书")
	dw := put(t, staffDev, "books", "", "village", "东旺村", "title", "东旺的书")
	syncOK(t, staffDev)

	vol := e.enrolled("王芳", store.Volunteer, []string{"南香村", "东旺村"}, replica.Options{})
	syncOK(t, vol)
	for _, id := range []string{nx, dw} {
		if rec, _ := vol.Get(ctx, "books", id); rec == nil {
			t.Fatalf("volunteer of both villages lacks %s", id)
		}
	}
	// Offline, she edits the 东旺村 book; meanwhile 东旺村 is taken from her.
	put(t, vol, "books", dw, "notes", "written before the change reached me")
	if err := e.st.SetVillages(ctx, "王芳", []string{"南香村"}); err != nil {
		t.Fatal(err)
	}
	st := syncOK(t, vol)
	if st.Rejected != 1 {
		t.Errorf("sync %v: the edit to 东旺村 should be refused (permission) and kept", st)
	}
	if rec, _ := vol.Get(ctx, "books", dw); rec != nil {
		t.Errorf("the 东旺村 book is still on the phone: %+v", rec.Fields)
	}
	if rec, _ := vol.Get(ctx, "books", nx); rec == nil {
		t.Error("the 南香村 book left the phone")
	}
	// The server holds the refused edit, so it leaves the phone with its village.
	if rej, _ := vol.Rejected(ctx); len(rej) != 0 {
		t.Errorf("the refused edit of 东旺村 is still on the phone: %+v", rej)
	}
	if n, err := vol.RejectedRemoved(ctx); n != 1 || err != nil {
		t.Errorf("refused changes removed: %d %v, want 1", n, err)
	}
	var held string
	if err := e.st.Reader().QueryRow(`SELECT change FROM held_changes WHERE record_id = ?`, dw).Scan(&held); err != nil ||
		!strings.Contains(held, "written before the change reached me") {
		t.Errorf("the server does not keep the refused edit for staff: %q %v", held, err)
	}

	// Given back, the village's records return with the next sync.
	if err := e.st.SetVillages(ctx, "王芳", []string{"南香村", "东旺村"}); err != nil {
		t.Fatal(err)
	}
	syncOK(t, vol)
	if rec, _ := vol.Get(ctx, "books", dw); rec == nil {
		t.Error("the 东旺村 book did not come back")
	}
}

// Found in review: records a volunteer wrote herself come back when her
// village is given back (the re-pull must not skip her own writes).
func TestOwnRecordsReturnWithTheVillage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	vol := e.enrolled("王芳", store.Volunteer, []string{"南香村", "东旺村"}, replica.Options{PageLimit: 1})
	mine := put(t, vol, "books", "", "village", "东旺村", "title", "mine")
	also := put(t, vol, "books", "", "village", "东旺村", "title", "mine too")
	syncOK(t, vol)
	if err := e.st.SetVillages(ctx, "王芳", []string{"南香村"}); err != nil {
		t.Fatal(err)
	}
	syncOK(t, vol)
	if rec, _ := vol.Get(ctx, "books", mine); rec != nil {
		t.Fatal("the 东旺村 book is still on the phone")
	}
	if err := e.st.SetVillages(ctx, "王芳", []string{"南香村", "东旺村"}); err != nil {
		t.Fatal(err)
	}
	syncOK(t, vol)
	for _, id := range []string{mine, also} {
		if rec, _ := vol.Get(ctx, "books", id); rec == nil {
			t.Errorf("her own book %s did not come back (pages of one record)", id)
		}
	}
}

// Found in review: a record moved by staff to another village leaves the
// phones of the village it left.
func TestRecordMovedAwayLeavesThePhone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	staffDev := e.device("staff", replica.Options{})
	id := put(t, staffDev, "books", "", "village", "南香村", "title", "moving")
	stays := put(t, staffDev, "books", "", "village", "南香村", "title", "staying")
	syncOK(t, staffDev)
	vol := e.enrolled("王芳", store.Volunteer, []string{"南香村"}, replica.Options{})
	syncOK(t, vol)
	put(t, staffDev, "books", id, "village", "东旺村")
	syncOK(t, staffDev)
	syncOK(t, vol)
	if rec, _ := vol.Get(ctx, "books", id); rec != nil {
		t.Errorf("the book moved to 东旺村 is still on 南香村's phone: %+v", rec.Fields)
	}
	if rec, _ := vol.Get(ctx, "books", stays); rec == nil {
		t.Error("the book that stayed left the phone")
	}
	// Moved back, it returns.
	put(t, staffDev, "books", id, "village", "南香村")
	syncOK(t, staffDev)
	syncOK(t, vol)
	if rec, _ := vol.Get(ctx, "books", id); rec == nil {
		t.Error("the book moved back did not return")
	}
}

// The device file holds the token: only its owner may read it.
func TestDeviceFileIsPrivate(t *testing.T) {
	e := newEnv(t)
	e.device("a", replica.Options{})
	fi, err := os.Stat(filepath.Join(e.dir, "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("device file mode %v, want no access for group and others", perm)
	}
}
