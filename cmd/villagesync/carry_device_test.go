package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// carryWorld is a server, a staff laptop (李老师) and a volunteer's phone
// (王芳, 南香村) that enrolled and then never had signal again.
type carryWorld struct {
	t            *testing.T
	srv          *testServer
	dir          string
	staff, phone string
}

func newCarryWorld(t *testing.T) *carryWorld {
	w := &carryWorld{t: t, srv: startServer(t), dir: t.TempDir()}
	w.staff, w.phone = filepath.Join(w.dir, "staff.db"), filepath.Join(w.dir, "phone.db")
	w.must("device", "--db", w.staff, "init", "--server", w.srv.URL, "--code", w.srv.code(t, "李老师"),
		"--name", "laptop")
	w.must("device", "--db", w.phone, "init", "--server", w.srv.URL, "--code",
		w.srv.Code(t, "王芳", store.Volunteer, "南香村"), "--name", "王芳的手机")
	return w
}

func (w *carryWorld) cli(args ...string) (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), args, &out)
	return out.String(), err
}

func (w *carryWorld) must(args ...string) string {
	w.t.Helper()
	out, err := w.cli(args...)
	if err != nil {
		w.t.Fatalf("villagesync %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// dump is a device file's replicated state and its status (pending,
// refused), for "nothing changed" checks.
func (w *carryWorld) dump(file string) string {
	w.t.Helper()
	r, err := replica.Open(context.Background(), file, replica.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	defer r.Close()
	s, err := r.Status(context.Background())
	if err != nil {
		w.t.Fatal(err)
	}
	return replicatest.Dump(w.t, r) + "\npending " + strings.Join(pendingOf(s.Pending), ",")
}

func pendingOf(m map[string]int) []string {
	var out []string
	for _, t := range []string{"tutoring_sessions", "books", "loans", "cleanup_tasks"} {
		if m[t] > 0 {
			out = append(out, t)
		}
	}
	return out
}

// The story: a phone that never connects gets its writes to the
// server by a file a staff laptop carries; the audit and the conflict log
// name the phone and the carrier; the same file carried twice changes
// nothing; a pull file made before the phone's first direct sync changes
// nothing after it; that sync finds the server had everything (it
// writes nothing there) and the three converge.
func TestPhoneThatNeverConnects(t *testing.T) {
	w := newCarryWorld(t)
	// Staff log a class; the phone gets it by a pull file.
	shared := strings.TrimSpace(w.must("device", "--db", w.staff, "put", "tutoring_sessions",
		"village=南香村", "session_date=2024-06-01", "children_present=20"))
	w.must("device", "--db", w.staff, "sync")
	in := filepath.Join(w.dir, "for-phone.vsc")
	w.must("carry-for", "--device", w.staff, "王芳的手机", in)
	if out := w.must("device", "--db", w.phone, "carry-in", in); !strings.Contains(out, "pulled 1 records") {
		t.Errorf("carry-in: %s", out)
	}
	if out := w.must("device", "--db", w.phone, "get", "tutoring_sessions", shared); !strings.Contains(out, "2024-06-01") {
		t.Fatalf("the phone does not hold the staff's class after carry-in: %s", out)
	}

	// Offline, the phone logs two classes and notes on the shared one;
	// staff note it too.
	for _, date := range []string{"2024-06-03", "2024-06-04"} {
		w.must("device", "--db", w.phone, "log-session", "--village", "南香村", "--date", date, "--children", "9")
	}
	w.must("device", "--db", w.phone, "put", "tutoring_sessions", "--id", shared, "notes=分数练习")
	w.must("device", "--db", w.staff, "put", "tutoring_sessions", "--id", shared, "notes=复习小数")
	w.must("device", "--db", w.staff, "sync")

	out := filepath.Join(w.dir, "phone-changes.vsc")
	os.WriteFile(out, []byte("an older file"), 0o644) // replaced, and made owner-only
	if o := w.must("device", "--db", w.phone, "carry-out", out); !strings.Contains(o, "3 changes") ||
		!strings.Contains(o, "stay pending until the server confirms") {
		t.Errorf("carry-out: %s", o)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the push file: %v %v; want mode 0600", fi, err)
	}
	phoneBefore := w.dump(w.phone)
	if !strings.Contains(phoneBefore, "pending tutoring_sessions") {
		t.Errorf("after carry-out the changes are not pending:\n%s", phoneBefore)
	}

	// A pull file made now, before the server has the phone's changes,
	// to import after the phone's direct sync.
	stale := filepath.Join(w.dir, "stale.vsc")
	w.must("carry-for", "--device", w.staff, "王芳的手机", stale)

	c := w.must("carry", "--device", w.staff, out)
	if !strings.Contains(c, "王芳的手机") || !strings.Contains(c, "3 change(s)") || strings.Contains(c, "rejected") {
		t.Errorf("carry:\n%s", c)
	}
	server := w.srv.ServerDump(t)
	if c := w.must("carry", "--device", w.staff, out); strings.Count(c, "already_had") != 4 { // 3 lines and the sum
		t.Errorf("the same file carried again:\n%s", c)
	}
	if again := w.srv.ServerDump(t); again != server {
		t.Errorf("carrying the file again changed the server:\n%s\nwas\n%s", again, server)
	}
	if a := w.must("audit", "--device", w.staff, "tutoring_sessions", shared); !strings.Contains(a, "carried by 李老师 (laptop)") ||
		!strings.Contains(a, "王芳的手机") || !strings.Contains(a, "conflict(s) logged") {
		t.Errorf("audit of the shared class:\n%s", a)
	}
	if cf := w.must("conflicts", "--device", w.staff); !strings.Contains(cf, `"field":"notes"`) ||
		!strings.Contains(cf, "王芳的手机") || !strings.Contains(cf, "李老师 (laptop)") {
		t.Errorf("conflicts:\n%s", cf)
	}
	if w.dump(w.phone) != phoneBefore {
		t.Error("carrying the file changed the phone")
	}

	// The phone's first direct sync: the server had all of it, says so
	// (a carried change's receipt is "already had": its first answer went
	// to the carrier), and writes nothing there.
	s := w.must("device", "--db", w.phone, "sync")
	if !strings.Contains(s, "pushed 3 (applied 0, merged 0, already had 3)") || !strings.Contains(s, "rejected 0, pulled 0") {
		t.Errorf("the phone's direct sync: %s", s)
	}
	t.Logf("the phone's direct sync after its file was carried: %s", strings.TrimSpace(s))
	if again := w.srv.ServerDump(t); again != server {
		t.Errorf("the phone's direct sync after the carry changed the server:\n%s\nwas\n%s", again, server)
	}
	phoneSynced := w.dump(w.phone)
	if o := w.must("device", "--db", w.phone, "carry-in", stale); !strings.Contains(o, "nothing new") {
		t.Errorf("a pull file from before the direct sync: %s", o)
	}
	if w.dump(w.phone) != phoneSynced {
		t.Error("a pull file from before the direct sync changed the phone")
	}
	w.must("device", "--db", w.staff, "sync")
	if p, s := w.dump(w.phone), w.dump(w.staff); p != s || strings.Contains(p, "pending tutoring") {
		t.Errorf("not converged:\nphone %s\nstaff %s", p, s)
	}
}

// Acks of a pull file settle the phone's changes without a direct sync,
// and importing it again changes nothing.
func TestPullFileAcksSettleCarriedChanges(t *testing.T) {
	w := newCarryWorld(t)
	w.must("device", "--db", w.staff, "sync")
	w.must("device", "--db", w.phone, "log-session", "--village", "南香村", "--date", "2024-06-03", "--children", "9")
	out := filepath.Join(w.dir, "out.vsc")
	w.must("device", "--db", w.phone, "carry-out", out)
	w.must("carry", "--device", w.staff, out)
	in := filepath.Join(w.dir, "in.vsc")
	if o := w.must("carry-for", "--device", w.staff, "王芳的手机", in); !strings.Contains(o, "1 acknowledgement") {
		t.Errorf("carry-for: %s", o)
	}
	if o := w.must("device", "--db", w.phone, "carry-in", in); !strings.Contains(o, "confirmed 1 own changes") {
		t.Errorf("carry-in: %s", o)
	}
	after := w.dump(w.phone)
	if strings.Contains(after, "pending tutoring") {
		t.Errorf("the acknowledged change is still pending:\n%s", after)
	}
	if o := w.must("device", "--db", w.phone, "carry-in", in); !strings.Contains(o, "nothing new") || w.dump(w.phone) != after {
		t.Errorf("the same pull file again: %s", o)
	}
	if s := w.must("device", "--db", w.phone, "sync"); !strings.Contains(s, "pushed 0") {
		t.Errorf("the sync after the acks pushed again: %s", s)
	}
}

// Tampered, another device's, a revoked device's, another server's:
// refused with a sentence, nothing applied, on the server and on the
// device.
func TestCarriedFilesRefused(t *testing.T) {
	w := newCarryWorld(t)
	other := filepath.Join(w.dir, "other.db")
	w.must("device", "--db", other, "init", "--server", w.srv.URL, "--code",
		w.srv.Code(t, "陈伟", store.Volunteer, "南香村"), "--name", "陈伟的手机")
	w.must("device", "--db", w.phone, "log-session", "--village", "南香村", "--date", "2024-06-03", "--children", "9")
	push := filepath.Join(w.dir, "push.vsc")
	w.must("device", "--db", w.phone, "carry-out", push)
	good, err := os.ReadFile(push)
	if err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(w.dir, "tampered.vsc")
	bad := bytes.Clone(good)
	bad[len(bad)-12] ^= 0x40
	os.WriteFile(tampered, bad, 0o600)

	// A second server, with its own staff, for the wrong-server case.
	srv2 := startServer(t)
	staff2 := filepath.Join(w.dir, "staff2.db")
	w.must("device", "--db", staff2, "init", "--server", srv2.URL, "--code", srv2.code(t, "赵老师"), "--name", "laptop2")

	forOther := filepath.Join(w.dir, "for-other.vsc")
	w.must("carry-for", "--device", w.staff, "陈伟的手机", forOther)
	forPhone := filepath.Join(w.dir, "for-phone.vsc")
	w.must("carry-for", "--device", w.staff, "王芳的手机", forPhone)
	pb, _ := os.ReadFile(forPhone)
	pb[len(pb)-12] ^= 0x40
	tamperedPull := filepath.Join(w.dir, "tampered-pull.vsc")
	os.WriteFile(tamperedPull, pb, 0o600)

	server, phone := w.srv.ServerDump(t), w.dump(w.phone)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"a tampered push file", []string{"carry", "--device", w.staff, tampered}, "damaged"},
		{"a push file on another server", []string{"carry", "--device", staff2, push}, "server"},
		{"a push file imported on a device", []string{"device", "--db", w.phone, "carry-in", push}, "villagesync carry"},
		{"another device's pull file", []string{"device", "--db", w.phone, "carry-in", forOther}, "import it on that device"},
		{"a tampered pull file", []string{"device", "--db", w.phone, "carry-in", tamperedPull}, "damaged"},
	} {
		if out, err := w.cli(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\n%s\nwant a refusal saying %q", c.name, err, out, c.want)
		}
	}
	if s := w.srv.ServerDump(t); s != server {
		t.Errorf("a refused file changed the server:\n%s\nwas\n%s", s, server)
	}
	if p := w.dump(w.phone); p != phone {
		t.Errorf("a refused file changed the phone:\n%s\nwas\n%s", p, phone)
	}

	// Revoked: the server takes nothing from the phone's file.
	r, err := replica.Open(context.Background(), w.phone, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id := r.ID()
	r.Close()
	if err := w.srv.Store.RevokeDevice(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := w.cli("carry", "--device", w.staff, push); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Errorf("a revoked device's file: %v", err)
	}
	if s := w.srv.ServerDump(t); s != server {
		t.Errorf("a revoked device's file changed the server")
	}
}
