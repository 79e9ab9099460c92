package endtoend

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// phoneBytes is everything the phone's file holds on disk: the database,
// its log and the log's index.
func phoneBytes(t *testing.T, file string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// Found by an outside tester: after a volunteer moved village and her
// phone synced, the old village's notes were still in the bytes of the
// phone's file (free pages, the log) and her refused changes of it stayed
// in `rejected` for ever. A device holds only its villages, in its file too.
func TestReassignedPhoneKeepsNothingOfTheOldVillage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	vol := e.enrolled("王芳", store.Volunteer, []string{"南香村"}, replica.Options{})
	file := filepath.Join(e.dir, "王芳.db")

	var secrets []string
	secret := func(s string) string { secrets = append(secrets, s); return s }
	var ids []string
	for i := range 40 {
		ids = append(ids, put(t, vol, "books", "", "village", "南香村", "title", fmt.Sprintf("book %d", i),
			"notes", secret(fmt.Sprintf("NXNOTE-%03d-%s", i, strings.Repeat("南香", 20)))))
	}
	// Edited: the first value stays behind in free space unless scrubbed.
	put(t, vol, "books", ids[0], "notes", secret("NXBEFORE-EDIT"))
	put(t, vol, "books", ids[0], "notes", "after the edit")
	refused := put(t, vol, "books", "", "village", "南香村", "title", "soon too long",
		"notes", secret("NXREFUSED-at-the-server"))
	forceTitle(t, e, "王芳", refused, strings.Repeat("x", schema.MaxTextBytes+1))
	if st := syncOK(t, vol); st.Rejected != 1 {
		t.Fatalf("sync %v, want the forged title refused", st)
	}
	// Written offline while staff move her: refused by the server (not her
	// village any more), which holds it.
	put(t, vol, "books", ids[1], "notes", secret("NXPENDING-when-moved"))

	var all []byte
	for _, b := range phoneBytes(t, file) {
		all = append(all, b...)
	}
	if !bytes.Contains(all, []byte("NXNOTE-007")) {
		t.Fatal("the notes are not in the phone's bytes before the move: the check below would prove nothing")
	}

	staffDev := e.device("staff", replica.Options{})
	put(t, staffDev, "books", "", "village", "东旺村", "title", "东旺的书", "notes", "DWNOTE")
	syncOK(t, staffDev)
	if err := e.st.SetVillages(ctx, "王芳", []string{"东旺村"}); err != nil {
		t.Fatal(err)
	}
	st := syncOK(t, vol)
	if st.Rejected != 1 {
		t.Errorf("sync after the move %v: the pending 南香村 edit should be refused", st)
	}

	check := func(when string) {
		t.Helper()
		files := phoneBytes(t, file)
		for name, b := range files {
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s: %s still holds %q", when, name, s)
				}
			}
		}
		if !bytes.Contains(bytes.Join([][]byte{files[filepath.Base(file)], files[filepath.Base(file)+"-wal"]}, nil),
			[]byte("DWNOTE")) {
			t.Errorf("%s: the new village's record is not in the file", when)
		}
	}
	check("after the sync")

	rej, err := vol.Rejected(ctx)
	if err != nil || len(rej) != 0 {
		t.Errorf("refused changes left on the phone: %+v %v", rej, err)
	}
	if n, err := vol.RejectedRemoved(ctx); err != nil || n != 2 {
		t.Errorf("removed refused changes: %d %v, want 2", n, err)
	}
	if s, err := vol.Status(ctx); err != nil || s.RejectedRemoved != 2 || s.Rejected != 0 {
		t.Errorf("status %+v %v: want 2 refused changes removed, none kept", s, err)
	}
	for _, want := range []string{"NXREFUSED-at-the-server", "NXPENDING-when-moved"} {
		var n int
		if err := e.st.Reader().QueryRow(`SELECT count(*) FROM held_changes WHERE change LIKE ?`,
			"%"+want+"%").Scan(&n); err != nil || n != 1 {
			t.Errorf("the server does not hold %q for staff: %d %v", want, n, err)
		}
	}

	// A refused change of the village she serves now stays on the phone.
	mine := put(t, vol, "books", "", "village", "东旺村", "title", "soon too long")
	forceTitle(t, e, "王芳", mine, strings.Repeat("y", schema.MaxTextBytes+1))
	if st := syncOK(t, vol); st.Rejected != 1 {
		t.Errorf("sync %v, want the forged title refused", st)
	}
	if rej, _ := vol.Rejected(ctx); len(rej) != 1 || rej[0].ID != mine {
		t.Errorf("the refused 东旺村 change: %+v", rej)
	}
	if err := vol.Close(); err != nil {
		t.Fatal(err)
	}
	check("closed")
}
