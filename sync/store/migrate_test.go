package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/postgres"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// migrationSource is a SQLite server database with devices, records,
// conflicts of text and of numbers, and the token of one device.
func migrationSource(t *testing.T, books int) (file, token string, photo []byte, sid, inc uint64) {
	t.Helper()
	ctx := context.Background()
	file = filepath.Join(t.TempDir(), "s.db")
	s, err := Open(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ps []Principal
	for _, name := range []string{"ana", "bo"} {
		code, err := s.CodeFor(ctx, name, Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, tok, err := s.Enroll(ctx, code, name+"'s tablet")
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
		token = tok
	}
	var recs []*record.Record
	for i := range books {
		recs = append(recs, book(ps[0].Replica, fmt.Sprintf("book %d", i)))
	}
	if _, err := s.Push(ctx, ps[0], recs); err != nil {
		t.Fatal(err)
	}
	// The same records written concurrently by the other device: conflicts
	// logged with text and with numbers.
	other := book(ps[1].Replica, "another title")
	other.ID = recs[0].ID
	s1, s2 := session(ps[0].Replica, 3), session(ps[1].Replica, 3)
	s2.ID = s1.ID
	s2.Fields["children_present"] = record.Field{Value: schema.IntValue(31),
		Dot: vv.Dot{Replica: ps[1].Replica, Counter: 1, HLC: 2}}
	for i, rs := range [][]*record.Record{{s1}, {other, s2}} {
		if _, err := s.Push(ctx, ps[i], rs); err != nil {
			t.Fatal(err)
		}
	}
	// A photo: its bytes go as BYTEA.
	var img bytes.Buffer
	if err := jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	photo = img.Bytes()
	sum := sha256.Sum256(photo)
	digest := hex.EncodeToString(sum[:])
	withCover := book(ps[0].Replica, "with a cover")
	withCover.Fields["cover"] = record.Field{Value: schema.TextValue(digest), Dot: withCover.Fields["title"].Dot}
	if _, err := s.Push(ctx, ps[0], []*record.Record{withCover}); err != nil {
		t.Fatal(err)
	}
	if res, err := s.AppendChunk(ctx, ps[0], Chunk{Digest: digest, Size: uint64(len(photo)), Data: photo}); err != nil ||
		!res.Stored {
		t.Fatal(res, err)
	}
	var conflicts int
	s.Reader().QueryRow(`SELECT count(*) FROM conflicts WHERE typeof(winner_value) = 'integer'`).Scan(&conflicts)
	if conflicts == 0 {
		t.Fatal("the source holds no conflict over a number")
	}
	return file, token, photo, s.ServerID(), s.Incarnation()
}

// A server database copied to PostgreSQL is the same server: its id,
// incarnation and devices' tokens; verification passes, and catches a
// changed row; a used target is refused.
func TestMigrateToPostgres(t *testing.T) {
	sqliteOnly(t, "copies a SQLite file (to PostgreSQL)")
	ctx := context.Background()
	from, token, photo, sid, inc := migrationSource(t, 1200)
	to := pgtest.URL(t)
	var progress strings.Builder
	checks, err := MigrateToPostgres(ctx, from, to, &progress)
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, progress.String())
	}
	rows := map[string]int64{}
	for _, c := range checks {
		if !c.OK() {
			t.Errorf("%s differs", c.Table)
		}
		rows[c.Table] = c.TargetRows
	}
	if rows["books"] < 1200 || rows["conflicts"] == 0 || rows["replicas"] != 3 || rows["meta"] == 0 ||
		rows["attachments"] != 1 || rows["attachment_refs"] != 1 {
		t.Errorf("copied %v", rows)
	}
	if !strings.Contains(progress.String(), "books") {
		t.Errorf("progress: %q", progress.String())
	}

	s, err := Open(ctx, to, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.ServerID() != sid || s.Incarnation() != inc {
		t.Errorf("server %x incarnation %x, want %x %x", s.ServerID(), s.Incarnation(), sid, inc)
	}
	p, err := s.Authenticate(ctx, token)
	if err != nil || p.Device != "bo's tablet" {
		t.Errorf("the device's token: %v, %v", p, err)
	}
	sum := sha256.Sum256(photo)
	if a, err := s.FetchAttachment(ctx, p, hex.EncodeToString(sum[:]), false, 0, 0); err != nil || !bytes.Equal(a.Data, photo) {
		t.Errorf("the photo after the copy: %d bytes, %v", len(a.Data), err)
	}
	if id, err := s.Register(ctx, "new"); err != nil || id != 4 {
		t.Errorf("a new device after the copy got %d, %v; want 4 (ids go on)", id, err)
	}
	var logged string
	s.Reader().QueryRow(`SELECT winner_value FROM conflicts WHERE winner_type = ? LIMIT 1`, int64(schema.Integer)).Scan(&logged)
	if logged != "31" && logged != "20" {
		t.Errorf("a conflict's number is %q on PostgreSQL", logged)
	}
	s.Close()

	if _, err := MigrateToPostgres(ctx, from, to, nil); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Errorf("a second copy into a used database: %v", err)
	}
	// Back to the copied state (the new device and the restart changed it),
	// then spoil one row.
	db, err := postgres.Open(ctx, to, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `DELETE FROM replicas WHERE id = 4`); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCopy(ctx, from, to); err != nil && !strings.Contains(err.Error(), "meta") {
		t.Errorf("verify after restoring the copy: %v", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE books SET title = 'changed' WHERE id = (SELECT min(id) FROM books)`); err != nil {
		t.Fatal(err)
	}
	checks, err = VerifyCopy(ctx, from, to)
	if !errors.Is(err, ErrCopyDiffers) || !strings.Contains(err.Error(), "books") {
		t.Fatalf("a changed row: %v", err)
	}
	for _, c := range checks {
		if c.Table == "books" && (c.OK() || c.SourceRows != c.TargetRows) {
			t.Errorf("books: %+v", c)
		}
	}
}

// A source a server still has open is refused, and the target is left
// as it was.
func TestMigrateRefusesARunningServer(t *testing.T) {
	sqliteOnly(t, "copies a SQLite file")
	ctx := context.Background()
	from := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(ctx, from, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CodeFor(ctx, "ana", Staff, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := MigrateToPostgres(ctx, from, pgtest.URL(t), nil); err == nil || !strings.Contains(err.Error(), "stop the server") {
		t.Errorf("migrate while a server runs: %v", err)
	}
}

// A target that is not PostgreSQL, or a source that does not exist, is
// refused before anything is written.
func TestMigrateRefuses(t *testing.T) {
	sqliteOnly(t, "copies a SQLite file")
	ctx := context.Background()
	dir := t.TempDir()
	for _, c := range []struct{ from, to, want string }{
		{filepath.Join(dir, "none.db"), "postgres://localhost/x", "no such file"},
		{filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db"), "into PostgreSQL"},
		{"postgres://localhost/x", "postgres://localhost/y", "into PostgreSQL"},
	} {
		if _, err := MigrateToPostgres(ctx, c.from, c.to, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s to %s: %v, want %q", c.from, c.to, err, c.want)
		}
	}
}

// After mark-restored the database has a new incarnation, on either
// engine, and keeps its server id.
func TestMarkRestored(t *testing.T) {
	ctx := context.Background()
	dsn := testDSN(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sid, inc := s.ServerID(), s.Incarnation()
	s.Close()
	was, now, err := MarkRestored(ctx, dsn)
	if err != nil || was != inc || now == inc {
		t.Fatalf("mark restored: %x → %x, %v (was %x)", was, now, err, inc)
	}
	s, err = Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Incarnation() != now || s.ServerID() != sid {
		t.Errorf("after: server %x incarnation %x, want %x %x", s.ServerID(), s.Incarnation(), sid, now)
	}
}

// BenchmarkMigrateToPostgres is the figure docs/postgres.md gives: 10,000
// records pushed by one device (with their audit, receipts and conflicts)
// copied and verified.
//
//	go test ./sync/store -run '^$' -bench MigrateToPostgres -benchtime 3x
func BenchmarkMigrateToPostgres(b *testing.B) {
	ctx := context.Background()
	file := filepath.Join(b.TempDir(), "s.db")
	s, err := Open(ctx, file, Options{})
	if err != nil {
		b.Fatal(err)
	}
	code, err := s.CodeFor(ctx, "ana", Staff, nil)
	if err != nil {
		b.Fatal(err)
	}
	p, _, err := s.Enroll(ctx, code, "tablet")
	if err != nil {
		b.Fatal(err)
	}
	const records = 10000
	for i := 0; i < records; i += 500 {
		var recs []*record.Record
		for j := i; j < i+500; j++ {
			if j%2 == 0 {
				recs = append(recs, book(p.Replica, fmt.Sprintf("book %d", j)))
			} else {
				recs = append(recs, session(p.Replica, 1+j%28))
			}
		}
		if _, err := s.Push(ctx, p, recs); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	var targets []string
	for range b.N {
		targets = append(targets, pgtest.URL(b))
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := MigrateToPostgres(ctx, file, targets[i], nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/migration")
}
