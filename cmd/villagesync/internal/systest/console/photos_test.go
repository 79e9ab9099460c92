package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// sheetJPEG is a photographed sign-in sheet: ruled lines on paper.
func sheetJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{245, 240, 225, 255}
			if y%(h/12+1) < 3 || x%(w/4+1) < 3 {
				c = color.RGBA{40, 60, 120, 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// upload sends data through the attachment lane as the device r, chunk
// by chunk, until the server stores it.
func upload(t *testing.T, r *replica.Replica, digest string, data []byte) {
	t.Helper()
	c := villagesyncv1connect.NewAttachmentServiceClient(r.HTTPClient(), r.ServerURL())
	for off := 0; ; {
		end := min(len(data), off+schema.AttachmentChunk)
		res, err := c.Upload(context.Background(), &v1.UploadRequest{Digest: digest, Size: uint64(len(data)), Offset: uint64(off), Data: data[off:end]})
		if err != nil {
			t.Fatalf("upload at %d: %v", off, err)
		}
		if res.GetStored() {
			return
		}
		off = int(res.GetReceived())
	}
}

// The review card of a class logged twice shows the sign-in sheet's
// thumbnail beside the attendance figure, fetched with the console's
// token; a click opens the original.
func TestReviewShowsTheSheetBesideTheAttendance(t *testing.T) {
	s := startSeason(t)
	open := s.api(townStaff).conflicts(&v1.ListConflictsRequest{OpenOnly: true, WithRecords: true})
	var dup *v1.Conflict
	for _, c := range open {
		if c.GetKind() == store.KindDuplicateSession && len(c.GetRecords()) > 0 {
			dup = c
		}
	}
	if dup == nil {
		t.Fatalf("the season has no open duplicate_session entry with its records")
	}
	rec := dup.GetRecords()[0].GetId()

	// The town staff's phone photographs the sheet and names it in the
	// class; the record goes first, then the photo.
	r, err := replica.Init(context.Background(), filepath.Join(t.TempDir(), "staff.db"), s.URL, s.code(townStaff), "staff-phone", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	photo := sheetJPEG(t, 1200, 900)
	sum := sha256.Sum256(photo)
	digest := hex.EncodeToString(sum[:])
	if _, err := r.Put(context.Background(), "tutoring_sessions", rec, map[string]schema.Value{"sheet_photos": schema.TextValue(digest)}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	upload(t, r, digest, photo)

	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(townStaff))
	d.click("[data-test=nav-review]")
	d.waitPage("review")
	card := fmt.Sprintf(`[data-test=conflict][data-id="%d"] [data-test=record][data-record=%q]`, dup.GetId(), rec)
	thumb := card + fmt.Sprintf(` [data-field-name=children_present] [data-test=photo][data-digest=%q]`, digest)
	d.WaitFor("the sheet beside the attendance", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "shown"`, thumb))
	var w int
	d.Eval("the thumbnail's size", fmt.Sprintf(`document.querySelector(%q).naturalWidth`, thumb), &w)
	if w != schema.ThumbMaxSide {
		t.Errorf("the thumbnail is %d px wide, want the server's %d", w, schema.ThumbMaxSide)
	}
	d.Eval("to the card", fmt.Sprintf(`(document.querySelector(%q).scrollIntoView({block: "center"}), true)`, card), nil)
	if *screenshotDir != "" {
		if err := os.WriteFile(filepath.Join(*screenshotDir, "review-sheet-photo-laptop.png"), d.screenshot(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d.click(card + ` [data-test=photo-open]`)
	d.WaitFor("the original", `document.querySelector("[data-test=photo-full]")?.dataset.state === "shown"`)
	d.Eval("the original's size", `document.querySelector("[data-test=photo-full]").naturalWidth`, &w)
	if w != 1200 {
		t.Errorf("the opened photo is %d px wide, want the original's 1200", w)
	}
	d.click("[data-test=photo-close]")
}
