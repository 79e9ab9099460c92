package volunteer

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
)

// photoFile writes a JPEG of w×h (a sign-in sheet: ruled lines on
// paper) for the file picker.
func photoFile(t *testing.T, name string, w, h int) string {
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
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pick gives the photo field of col these files, as the camera or the
// gallery would.
func (p *phone) pick(col string, files ...string) {
	p.T.Helper()
	p.Do("pick a photo for "+col, chromedp.SetUploadFiles(chromedp.CSS(fmt.Sprintf("[data-test=photo-input][data-column=%s]", col)), files))
}

// holds asks the server, as a staff device, what it holds of digest.
func (v *staffView) holds(t *testing.T, digest string) *v1.Held {
	t.Helper()
	c := villagesyncv1connect.NewAttachmentServiceClient(v.r.HTTPClient(), v.s.URL)
	res, err := c.Holds(context.Background(), &v1.HoldsRequest{Digests: []string{digest}})
	if err != nil {
		t.Fatalf("Holds: %v", err)
	}
	if len(res.Held) != 1 {
		t.Fatalf("Holds answered %d, want 1", len(res.Held))
	}
	return res.Held[0]
}

// A sign-in sheet photographed with no signal: the form downsizes it in
// the worker and names it in the class; the sync sends the record first
// (the server has the class and not the photo while uploads are cut),
// then the upload lane sends the photo, and the status bar counts it
// until then. The records list shows its thumbnail; a file that is not
// a photo is refused with a clear message, and the form keeps the rest.
func TestRealPhotoOfflineRecordFirstThenPhoto(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.WaitFor("the service worker in charge", `!!navigator.serviceWorker.controller`)
	p.setOffline(true)
	s.drop.Store(true)

	p.route("#/log-session", "log-session")
	// A 12 MP phone photo, downsized in the worker to PhotoMaxSide.
	big := photoFile(t, "sheet.jpg", 4000, 3000)
	start := time.Now()
	p.pick("sheet_photos", big)
	p.WaitFor("the sheet's thumbnail in the form", `document.querySelector("[data-test=photos][data-column=sheet_photos] [data-test=photo][data-state=shown]") !== null`)
	t.Logf("a 12 MP photo picked to its thumbnail in the form (downsize, SHA-256, store in the worker): %v", time.Since(start).Round(time.Millisecond))
	digest := p.Str("the digest in the field", `document.querySelector("form[data-form=log-session] [name=sheet_photos]").value`)
	if !schema.ValidDigest(digest) {
		t.Fatalf("the field names %q, want one digest", digest)
	}
	var side int
	p.WaitFor("the thumbnail decoded", `(() => { const i = document.querySelector("[data-test=photos] [data-test=photo]"); return i.complete && i.naturalWidth > 0; })()`)
	p.Eval("the stored photo's size", `(() => { const i = document.querySelector("[data-test=photos] [data-test=photo]"); return Math.max(i.naturalWidth, i.naturalHeight); })()`, &side)
	if side != schema.PhotoMaxSide {
		t.Errorf("the stored photo's longest side is %d, want %d", side, schema.PhotoMaxSide)
	}

	// Not a photo: refused beside the field, the photo already there kept.
	notes := filepath.Join(t.TempDir(), "notes.jpg")
	if err := os.WriteFile(notes, []byte("this is a text file, not a photo"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.pick("sheet_photos", notes)
	p.WaitFor("the refusal", `document.querySelector("[data-error-for=sheet_photos]").textContent !== ""`)
	if msg := p.text("[data-error-for=sheet_photos]"); !strings.Contains(msg, "不是照片") || !strings.Contains(msg, "notes.jpg") {
		t.Errorf("a text file is refused with %q, want it named and said not to be a photo", msg)
	}
	if got := p.Str("the field", `document.querySelector("form[data-form=log-session] [name=sheet_photos]").value`); got != digest {
		t.Errorf("after the refusal the field names %q, want %q", got, digest)
	}
	if *screenshotDir != "" {
		p.Eval("to the photos", `(document.querySelector("[data-field-row=sheet_photos]").scrollIntoView({block: "center"}), true)`, nil)
		p.screenshot("log-session-photo")
	}

	p.set("log-session", "children_present", "14")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	p.WaitFor("the form emptied of the photo", `document.querySelector("form[data-form=log-session] [name=sheet_photos]").value === "" && document.querySelectorAll("[data-test=photos] [data-test=photo]").length === 0`)
	p.WaitFor("one photo waiting", `document.body.dataset.photosPending === "1" && !document.querySelector("[data-test=photos-pending]").hidden`)

	// Back online with the uploads cut: the record goes, the photo waits.
	s.dropUploads.Store(true)
	s.drop.Store(false)
	p.setOffline(false)
	p.syncUntil("the class synced", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	v := s.staffView(t)
	var found bool
	for _, f := range v.classes(t) {
		if f["sheet_photos"] == digest && fmt.Sprint(f["children_present"]) == "14" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the server lacks the class naming the sheet %s", digest)
	}
	if h := v.holds(t, digest); h.Stored {
		t.Fatal("the server holds the photo while uploads are cut")
	}
	if p.Str("photos waiting", `document.body.dataset.photosPending`) != "1" {
		t.Error("the status bar stopped counting the photo before it was uploaded")
	}
	if *screenshotDir != "" {
		p.route("#/", "home")
		p.screenshot("home-photo-waiting")
	}

	// The lane runs after the next record sync and sends it.
	s.dropUploads.Store(false)
	p.syncUntil("the photo uploaded", `document.body.dataset.photosPending === "0"`)
	if h := v.holds(t, digest); !h.Stored {
		t.Fatalf("after the upload the server holds %+v, want it stored", h)
	}

	p.route("#/records?table=tutoring_sessions", "records")
	p.WaitFor("the thumbnail in the list", fmt.Sprintf(`document.querySelector("[data-test=record] [data-test=photo][data-digest='%s'][data-state=shown][data-uploaded='1']") !== null`, digest))
	if *screenshotDir != "" {
		p.screenshot("records-photo")
	}
	p.click(fmt.Sprintf("[data-test=record] [data-test=photo-open][data-digest='%s']", digest))
	p.WaitFor("the original opened", `document.querySelector("[data-test=photo-full][data-state=shown]") !== null`)
	p.click("[data-test=photo-close]")
}

// A cleanup's before and after photos: each its own field (schema's
// names), both saved in the record; the edit screen shows them, and a
// photo removed there leaves the record.
func TestRealCleanupPhotosBeforeAfterEdit(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.route("#/report-cleanup", "report-cleanup")
	if l := p.text("[data-field-row=photos_before] label"); !strings.Contains(l, "整治前照片") {
		t.Errorf("the before field is labelled %q, want schema's 整治前照片", l)
	}
	before1, before2 := photoFile(t, "b1.jpg", 800, 600), photoFile(t, "b2.jpg", 640, 480)
	p.pick("photos_before", before1, before2)
	p.WaitFor("two before", `document.querySelectorAll("[data-test=photos][data-column=photos_before] [data-test=photo][data-state=shown]").length === 2`)
	p.pick("photos_after", photoFile(t, "a.jpg", 1000, 700))
	p.WaitFor("one after", `document.querySelectorAll("[data-test=photos][data-column=photos_after] [data-test=photo][data-state=shown]").length === 1`)
	p.set("report-cleanup", "kind", "street_sweeping")
	p.set("report-cleanup", "place", "村口")
	p.click("form[data-form=report-cleanup] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)

	p.route("#/records?table=cleanup_tasks", "records")
	p.WaitFor("the thumbnails in the list", `document.querySelectorAll("[data-test=record] [data-test=photo]").length === 2`)
	p.click("[data-test=record] [data-test=edit]")
	p.waitPage("edit")
	p.WaitFor("the photos in the edit form", `document.querySelectorAll("[data-test=photos][data-column=photos_before] [data-test=photo]").length === 2 &&
  document.querySelectorAll("[data-test=photos][data-column=photos_after] [data-test=photo]").length === 1`)
	if *screenshotDir != "" {
		p.Eval("to the photos", `(document.querySelector("[data-field-row=photos_before]").scrollIntoView({block: "start"}), true)`, nil)
		p.screenshot("edit-cleanup-photos")
	}
	p.click("[data-test=photos][data-column=photos_before] [data-test=photo-remove]")
	left := p.Str("the before photos left", `document.querySelector("form [name=photos_before]").value`)
	if !schema.ValidDigest(left) {
		t.Fatalf("after removing one the field names %q, want one digest", left)
	}
	p.click("form [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	p.syncUntil("synced", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	p.WaitFor("the photos uploaded", `document.body.dataset.photosPending === "0"`)
	v := s.staffView(t)
	replicatest.SyncOK(t, v.r)
	replicaRecs, err := v.r.List(context.Background(), "cleanup_tasks")
	if err != nil {
		t.Fatal(err)
	}
	if len(replicaRecs) != 1 {
		t.Fatalf("the server has %d cleanups, want 1", len(replicaRecs))
	}
	if got := replica.JSON(replicaRecs[0]).Fields["photos_before"]; got != left {
		t.Errorf("the server's cleanup names %v before, want %s", got, left)
	}
	for _, d := range []string{left, fmt.Sprint(replica.JSON(replicaRecs[0]).Fields["photos_after"])} {
		if h := v.holds(t, d); !h.Stored {
			t.Errorf("the server does not hold %s", d)
		}
	}
}
