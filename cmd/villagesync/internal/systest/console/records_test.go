package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

// digestOf is the attachment name of data.
func digestOf(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// From a village's card on the overview, the records page lists its
// classes with the sign-in sheet's thumbnail beside the children present
// (a sheet named but not uploaded says so; a class without one says none
// was taken), and its cleanup tasks with the before and after photos side
// by side; a click opens the original. On a laptop and on a phone.
func TestRecordsShowTheSheetAndTheBeforeAfter(t *testing.T) {
	s := startSeason(t)
	ctx := context.Background()
	r, err := replica.Init(ctx, filepath.Join(t.TempDir(), "staff.db"), s.URL, s.code(townStaff), "staff-phone", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	sheet, before, after := sheetJPEG(t, 1200, 900), sheetJPEG(t, 800, 600), sheetJPEG(t, 640, 800)
	put := func(table string, fields map[string]schema.Value) string {
		t.Helper()
		id, err := r.Put(ctx, table, "", fields)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	text := schema.TextValue
	// A month of older classes, so that the list pages.
	for i := range 30 {
		put("tutoring_sessions", map[string]schema.Value{"village": text("南香村"),
			"session_date": text(fmt.Sprintf("2024-11-%02d", i+1)), "class_group": text("一年级"),
			"children_present": schema.IntValue(int64(10 + i%7))})
	}
	// Logged in this order, so listed newest first: the class whose
	// sheet is not uploaded yet above the one whose sheet is.
	withSheet := put("tutoring_sessions", map[string]schema.Value{"village": text("南香村"), "session_date": text("2024-12-02"),
		"class_group": text("三年级"), "children_present": schema.IntValue(23), "volunteers": text("王芳"),
		"sheet_photos": text(digestOf(sheet))})
	pending := put("tutoring_sessions", map[string]schema.Value{"village": text("南香村"), "session_date": text("2024-12-03"),
		"class_group": text("四年级"), "children_present": schema.IntValue(19), "sheet_photos": text(digestOf(sheetJPEG(t, 300, 200)))})
	task := put("cleanup_tasks", map[string]schema.Value{"village": text("南香村"), "kind": text("construction_waste"),
		"place": text("村口"), "status": text("done"), "photos_before": text(digestOf(before)), "photos_after": text(digestOf(after))})
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]byte{sheet, before, after} {
		upload(t, r, digestOf(p), p)
	}

	for _, vp := range []viewport{laptop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			d := newDevice(t, s.URL, vp)
			d.signIn(s.code(coordinator))
			card := `[data-test=village-total][data-village="南香村"]`
			d.Eval("to the village's card", fmt.Sprintf(`(document.querySelector(%q).scrollIntoView({block: "start"}), true)`, card), nil)
			shot(t, d, "records-link-overview-"+vp.name+".png")
			d.click(`[data-test=village-total][data-village="南香村"] [data-test=records-link-tutoring_sessions]`)
			d.waitPage("records")
			row := func(id string) string { return fmt.Sprintf(`[data-test=record][data-record=%q]`, id) }
			thumb := row(withSheet) + fmt.Sprintf(` [data-test=attendance] [data-test=photo][data-digest=%q]`, digestOf(sheet))
			d.WaitFor("the sheet beside the attendance", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "shown"`, thumb))
			if got, _ := d.text(row(withSheet) + ` [data-test=children]`); got != "23" {
				t.Errorf("the attendance beside the sheet: %q, want 23", got)
			}
			d.WaitFor("the sheet not uploaded yet",
				fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "missing"`, row(pending)+` [data-test=photo]`))
			if got, _ := d.text(row(pending) + ` [data-test=photo-note]`); got == "" {
				t.Errorf("the class whose sheet is not uploaded does not say so")
			}
			if d.count(`[data-test=record] [data-test=attendance] [data-test=no-photo]`) == 0 {
				t.Errorf("the demo's classes without a sheet do not say none was taken")
			}
			rows, more := d.count(`[data-test=record]`), d.count(`[data-test=records-more]:not([hidden])`) == 1
			if rows > 50 || more != (rows == 50) {
				t.Errorf("first page: %d rows, more offered %v", rows, more)
			}
			if got, _ := d.text(`[data-test=records-freshness]`); got == "" {
				t.Errorf("the page does not say how fresh it is")
			}
			shot(t, d, "records-sessions-"+vp.name+".png")
			if vp == laptop {
				if !more {
					t.Errorf("the demo's 南香村 has %d classes with ours: too few to page", rows)
				} else {
					d.click(`[data-test=records-more]`)
					d.WaitFor("the second page", `document.querySelectorAll("[data-test=record]").length > 50`)
				}
				d.click(thumb)
				d.WaitFor("the original", `document.querySelector("[data-test=photo-full]")?.dataset.state === "shown"`)
				var w int
				d.Eval("the original's size", `document.querySelector("[data-test=photo-full]").naturalWidth`, &w)
				if w != 1200 {
					t.Errorf("the opened sheet is %d px wide, want 1200", w)
				}
				d.click("[data-test=photo-close]")
			}

			d.click(`[data-test=records-tab-cleanup_tasks]`)
			d.waitPage("records")
			for _, side := range []struct {
				name string
				data []byte
			}{{"before", before}, {"after", after}} {
				sel := row(task) + fmt.Sprintf(` [data-test=%s] [data-test=photo][data-digest=%q]`, side.name, digestOf(side.data))
				d.WaitFor("the "+side.name+" photo", fmt.Sprintf(`document.querySelector(%q)?.dataset.state === "shown"`, sel))
			}
			if d.count(`[data-test=records-more]:not([hidden])`) != 0 {
				t.Errorf("more offered under the one task")
			}
			var sideBySide bool
			d.Eval("before beside after", fmt.Sprintf(`(() => {
				const b = document.querySelector(%[1]q).getBoundingClientRect();
				const a = document.querySelector(%[2]q).getBoundingClientRect();
				return Math.abs(b.top - a.top) < 2 && a.left >= b.right;
			})()`, row(task)+` [data-test=before]`, row(task)+` [data-test=after]`), &sideBySide)
			if !sideBySide {
				t.Errorf("the before and after photos are not side by side")
			}
			var overflow bool
			d.Eval("no sideways scroll", `document.documentElement.scrollWidth > document.documentElement.clientWidth`, &overflow)
			if overflow {
				t.Errorf("the page scrolls sideways at %d px", vp.width)
			}
			shot(t, d, "records-cleanup-"+vp.name+".png")
		})
	}
}

// shot writes a screenshot of the viewport when -screenshots is given.
func shot(t *testing.T, d *device, name string) {
	t.Helper()
	if *screenshotDir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(*screenshotDir, name), d.screenshot(), 0o644); err != nil {
		t.Fatal(err)
	}
}
