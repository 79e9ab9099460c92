package main

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/schema"
)

// The photo commands as the README shows them: put names photo files, sync
// uploads them after the records, another device fetches one by digest.
func TestCLIPhotos(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	img := image.NewRGBA(image.Rect(0, 0, 2000, 1000))
	for y := 0; y < 1000; y++ {
		for x := 0; x < 2000; x++ {
			img.Set(x, y, color.RGBA{byte(x), byte(y), 90, 255})
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, img, nil); err != nil {
		t.Fatal(err)
	}
	sheet := filepath.Join(dir, "sheet.jpg")
	if err := os.WriteFile(sheet, jb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(dir, "notes.txt")
	os.WriteFile(notes, []byte("not a photo"), 0o600)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out)
		return strings.TrimSpace(out.String()), err
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := cli(args...)
		if err != nil {
			t.Fatalf("villagesync %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	must("device", "--db", a, "init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a")
	must("device", "--db", b, "init", "--server", srv.URL, "--code", srv.code(t, "b"), "--name", "b")
	if _, err := cli("device", "--db", a, "put", "tutoring_sessions", "village=南香村", "session_date=2024-06-03",
		"children_present=30", "sheet_photos=@"+notes); err == nil || !strings.Contains(err.Error(), "not a photo") {
		t.Fatalf("a text file as a photo: %v", err)
	}
	id := must("device", "--db", a, "put", "tutoring_sessions", "village=南香村", "session_date=2024-06-03",
		"children_present=30", "sheet_photos=@"+sheet)
	rec := must("device", "--db", a, "get", "tutoring_sessions", id)
	i := strings.Index(rec, `"sheet_photos":"`)
	if i < 0 {
		t.Fatalf("no digest in %s", rec)
	}
	digest := rec[i+len(`"sheet_photos":"`):][:schema.DigestLen]
	out := must("device", "--db", a, "sync")
	if !strings.Contains(out, "applied 1") || !strings.Contains(out, "uploaded photo "+digest) {
		t.Fatalf("sync:\n%s", out)
	}
	if out := must("device", "--db", a, "photos"); !strings.Contains(out, `"uploaded":true`) {
		t.Errorf("photos: %s", out)
	}
	must("device", "--db", b, "sync")
	for _, tc := range []struct {
		args []string
		side int
	}{
		{nil, schema.PhotoMaxSide},
		{[]string{"--thumbnail"}, schema.ThumbMaxSide},
	} {
		file := filepath.Join(dir, "got.jpg")
		must(append([]string{"device", "--db", b, "photo", digest, "--out", file}, tc.args...)...)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || max(cfg.Width, cfg.Height) != tc.side {
			t.Errorf("photo %v: %d×%d, %v; want %d on the longest side", tc.args, cfg.Width, cfg.Height, err, tc.side)
		}
	}
}

// `device sync` with a server from before the photo lane (no
// AttachmentService): the records sync, the photo waits for the server's
// update, and the command succeeds.
func TestCLIPhotosServerWithoutLane(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	target, _ := url.Parse(srv.URL)
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	mux.Handle("/"+villagesyncv1connect.AttachmentServiceName+"/", http.NotFoundHandler())
	old := httptest.NewServer(mux)
	t.Cleanup(old.Close)
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, image.NewGray(image.Rect(0, 0, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	sheet := filepath.Join(dir, "sheet.jpg")
	if err := os.WriteFile(sheet, jb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(dir, "a.db")
	for _, args := range [][]string{
		{"init", "--server", old.URL, "--code", srv.code(t, "a"), "--name", "a"},
		{"put", "tutoring_sessions", "village=南香村", "session_date=2024-06-03", "children_present=30",
			"sheet_photos=@" + sheet},
	} {
		if err := run(ctx, append([]string{"device", "--db", a}, args...), &bytes.Buffer{}); err != nil {
			t.Fatalf("device %s: %v", strings.Join(args, " "), err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"device", "--db", a, "sync"}, &out); err != nil {
		t.Fatalf("sync with a server without photos: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "applied 1") ||
		!strings.Contains(out.String(), "1 photo waits for the server's update") {
		t.Fatalf("sync:\n%s", out.String())
	}
}

// A put the device refuses takes back the photos it attached: no record
// names them, and they would stay in the file for good. One another
// record names stays.
func TestCLIPutRefusedDropsPhoto(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	photo := func(name string, side int) string {
		var jb bytes.Buffer
		if err := jpeg.Encode(&jb, image.NewGray(image.Rect(0, 0, side, side)), nil); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, name)
		if err := os.WriteFile(file, jb.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	kept, dropped := photo("kept.jpg", 40), photo("dropped.jpg", 50)
	a := filepath.Join(dir, "a.db")
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"device", "--db", a}, args...), &out)
		return out.String(), err
	}
	if _, err := cli("init", "--server", srv.URL, "--code", srv.code(t, "a"), "--name", "a"); err != nil {
		t.Fatal(err)
	}
	session := []string{"put", "tutoring_sessions", "village=南香村", "session_date=2024-06-03", "children_present=30"}
	if _, err := cli(append(session, "sheet_photos=@"+kept)...); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"refused by Put", []string{"put", "tutoring_sessions", "village=南香村", "session_date=2024-06-03",
			"children_present=30", "no_such_field=1", "sheet_photos=@" + kept + ",@" + dropped}},
		{"refused by Put after parsing", []string{"put", "tutoring_sessions", "--id", "not-a-uuid",
			"sheet_photos=@" + kept + ",@" + dropped}},
		{"a later file missing", []string{"put", "tutoring_sessions", "village=南香村",
			"sheet_photos=@" + dropped + ",@" + filepath.Join(dir, "missing.jpg")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := cli(tc.args...); err == nil {
				t.Fatalf("put was not refused: %s", out)
			}
			out, err := cli("photos")
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n != 1 {
				t.Fatalf("%d photos on the device after a refused put, want the one a record names:\n%s", n, out)
			}
		})
	}
}
