package appworker

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// photoJS makes a w×h JPEG in the page (a gradient under noise, so that
// it does not compress to nothing) and leaves its bytes in window.photo.
func photoJS(w, h int) string {
	return fmt.Sprintf(`(async () => {
  const c = new OffscreenCanvas(%d, %d);
  const g = c.getContext("2d");
  const img = g.createImageData(%d, %d);
  let seed = 7;
  for (let i = 0; i < img.data.length; i += 4) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    const n = seed & 63;
    img.data[i] = (i / 4 %% %d) * 200 / %d + n; img.data[i + 1] = 120 + n; img.data[i + 2] = 90 + n; img.data[i + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  window.photo = await (await c.convertToBlob({type: "image/jpeg", quality: 0.92})).arrayBuffer();
  return window.photo.byteLength;
})()`, w, h, w, h, w, w)
}

// The upload lane against a link that cuts one Upload mid-photo: it asks
// Holds again and goes on from what the server holds (it never starts
// the photo again), while a photo the server refuses keeps its reason
// and does not stop the other. The record syncs first and never waits.
func TestPhotoLaneResumesAndRefusesOne(t *testing.T) {
	e := start(t)
	var uploads, cut, sent, holds atomic.Int64
	e.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "AttachmentService/Holds") {
			holds.Add(1)
		}
		if strings.HasSuffix(r.URL.Path, "AttachmentService/Upload") {
			n := uploads.Add(1)
			body, _ := io.ReadAll(r.Body)
			sent.Add(int64(len(body)))
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			// The fourth chunk's call is cut, unanswered.
			if n == 4 {
				cut.Add(1)
				panic(http.ErrAbortHandler)
			}
		}
		e.handler.ServeHTTP(w, r)
	}))
	p := e.phone(t)
	p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`, js(e.code(t, "xiaoli", store.Volunteer, "南香村"))))

	// A 12 MP photo, downsized in the worker: the figure the report gives.
	var size int
	p.eval(photoJS(4000, 3000), &size)
	var took float64
	p.eval(`(async () => { const t0 = performance.now(); const r = await vs.call({op: "attach", bytes: window.photo, lang: "zh"}); window.digest = r.digest; return performance.now() - t0; })()`, &took)
	t.Logf("attach a 12 MP JPEG (%d KB): %.0f ms in the worker (decode, downsize to %d px, JPEG, SHA-256, store)", size/1024, took, schema.PhotoMaxSide)
	good := p.str(`Promise.resolve(window.digest)`)
	var row struct {
		Size     int    `json:"size"`
		N        int    `json:"n"`
		Origin   string `json:"origin"`
		Uploaded int    `json:"uploaded"`
	}
	p.eval(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT size, length(bytes) AS n, origin, uploaded FROM _attachments WHERE digest = ?", bind: [%s]}).then((r) => r.rows[0])`, js(good)), &row)
	if row.Origin != "written" || row.Uploaded != 0 || row.N != row.Size || row.Size < 4*schema.AttachmentChunk {
		t.Fatalf("the stored photo is %+v, want one written here, waiting, of several chunks", row)
	}
	// Not an image: refused by the worker before anything is stored.
	if r := p.try(`{op: "attach", bytes: new TextEncoder().encode("not a photo").buffer, lang: "en"}`); r.OK || !strings.Contains(r.Error, "not a photo") {
		t.Errorf("a text file is answered %+v, want refused as not a photo", r)
	}

	// A photo the server will refuse (its bytes are no image), as a
	// corrupted file row would be.
	junk := []byte("GIF89a but not really an image at all")
	sum := sha256.Sum256(junk)
	bad := hex.EncodeToString(sum[:])
	p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT INTO _attachments (digest, media_type, size, bytes, uploaded, origin, added_ms) VALUES (?, 'image/jpeg', ?, ?, 0, 'written', 0)", bind: [%s, %d, new TextEncoder().encode(%s)]}`,
		js(bad), len(junk), js(string(junk))))
	p.call(fmt.Sprintf(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "12", sheet_photos: %s}}`, js(bad+","+good)))
	if s := p.call(`{op: "state", lang: "zh"}`).State; s.PhotosPending != 2 {
		t.Fatalf("before the sync %d photos wait, want 2", s.PhotosPending)
	}
	if s := p.call(`{op: "sync", lang: "zh"}`).State; s.Pending != 0 || s.Error != "" {
		t.Fatalf("the record sync: %+v, want it done at once, photos or not", s)
	}
	// The lane's run that sync started, awaited in the worker.
	p.call(`{op: "uploads", lang: "zh"}`)
	after := *p.call(`{op: "state", lang: "zh"}`).State
	if after.PhotosPending != 0 || after.PhotosRefused != 1 {
		t.Fatalf("after the lane: %d waiting, %d refused; want 0 and 1", after.PhotosPending, after.PhotosRefused)
	}
	if cut.Load() != 1 {
		t.Fatalf("%d uploads were cut, want 1", cut.Load())
	}
	// Resumed, not started again: what went over the wire is the photo
	// once, the cut chunk again, and the refused photo's one chunk.
	if max := int64(row.Size + 2*schema.AttachmentChunk + 4096); sent.Load() > max {
		t.Errorf("%d bytes of uploads for a %d-byte photo: it started again (want at most %d)", sent.Load(), row.Size, max)
	}
	var h struct {
		Uploaded int    `json:"uploaded"`
		Refused  string `json:"refused"`
	}
	p.eval(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT uploaded, refused FROM _attachments WHERE digest = ?", bind: [%s]}).then((r) => r.rows[0])`, js(good)), &h)
	if h.Uploaded != 1 || h.Refused != "" {
		t.Errorf("the good photo is %+v, want uploaded", h)
	}
	p.eval(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT uploaded, refused FROM _attachments WHERE digest = ?", bind: [%s]}).then((r) => r.rows[0])`, js(bad)), &h)
	if h.Uploaded != 0 || h.Refused == "" {
		t.Errorf("the refused photo is %+v, want its reason kept", h)
	}
	t.Logf("the refused photo's reason: %s", h.Refused)

	// A refusal is tried again once its backoff has passed (a quota may
	// have room by then): here its time is moved back past it.
	before := uploads.Load()
	p.call(fmt.Sprintf(`{op: "exec", sql: "UPDATE _attachments SET refused_ms = 1 WHERE digest = ?", bind: [%s]}`, js(bad)))
	p.call(`{op: "sync", lang: "zh"}`)
	p.call(`{op: "uploads", lang: "zh"}`)
	if uploads.Load() == before {
		t.Errorf("the refused photo was not tried again after its backoff")
	}
	// ...and not at every sync meanwhile.
	before = uploads.Load()
	p.call(`{op: "sync", lang: "zh"}`)
	p.call(`{op: "uploads", lang: "zh"}`)
	if n := uploads.Load() - before; n != 0 {
		t.Errorf("%d uploads of the refused photo right after its refusal, want none until its backoff", n)
	}

	// A server restored from a backup may lack the photos sent after it:
	// the restore makes every own photo wait again, and the lane's Holds
	// marks again what the server still has.
	holdsBefore := holds.Load()
	p.call(`{op: "exec", sql: "UPDATE meta SET value = '777' WHERE key = 'incarnation'"}`)
	if s := p.call(`{op: "sync", lang: "zh"}`).State; s.Error != "" {
		t.Fatalf("the sync with the restored server: %+v", s)
	}
	p.call(`{op: "uploads", lang: "zh"}`)
	if holds.Load() == holdsBefore {
		t.Errorf("after a restore the lane did not ask the server which photos it holds")
	}
	p.eval(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT uploaded, refused FROM _attachments WHERE digest = ?", bind: [%s]}).then((r) => r.rows[0])`, js(good)), &h)
	if h.Uploaded != 1 {
		t.Errorf("after the restore the good photo is %+v, want marked uploaded again by Holds", h)
	}

	// Another device's view: the thumbnail is fetched once and kept.
	q := e.phone(t)
	q.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机2", lang: "zh"}`, js(e.code(t, "xiaowang", store.Volunteer, "南香村"))))
	q.call(`{op: "sync", lang: "zh"}`)
	var thumb struct {
		Media   string `json:"mediaType"`
		Missing string `json:"missing"`
		N       int    `json:"n"`
	}
	q.eval(fmt.Sprintf(`vs.call({op: "photo", digest: %s, thumbnail: true, lang: "zh"}).then((r) => ({mediaType: r.photo.mediaType, missing: r.photo.missing, n: r.photo.bytes ? r.photo.bytes.length : 0}))`, js(good)), &thumb)
	if thumb.Media != "image/jpeg" || thumb.N == 0 || thumb.N >= row.Size {
		t.Errorf("the other phone's thumbnail: %+v, want a JPEG smaller than the photo", thumb)
	}
	var cached int
	q.eval(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT count(*) AS n FROM _attachments WHERE digest = ? AND origin = 'fetched' AND thumb IS NOT NULL AND bytes IS NULL", bind: [%s]}).then((r) => r.rows[0].n)`, js(good)), &cached)
	if cached != 1 {
		t.Error("the fetched thumbnail is not kept in the file (alone, without the original)")
	}
}

// The prune of her own photos: one no record names goes a day after it
// was first found unnamed (not a day after it was taken), and one the
// server does not have stays while a record names it, even a deleted one
// (a refused delete brings the record back naming it).
func TestPhotoPruneKeepsUnsentAndCountsFromUnnamed(t *testing.T) {
	e := start(t)
	p := e.phone(t)
	p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`, js(e.code(t, "xiaoli", store.Volunteer, "南香村"))))
	// Two photos of her own taken long ago (added_ms 0), never uploaded.
	digestOf := func(b string) string { s := sha256.Sum256([]byte(b)); return hex.EncodeToString(s[:]) }
	loose, deletedOnly := digestOf("a loose photo"), digestOf("a photo of a deleted record")
	for _, d := range []string{loose, deletedOnly} {
		p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT INTO _attachments (digest, media_type, size, bytes, uploaded, origin, added_ms) VALUES (?, 'image/jpeg', 3, x'010203', 0, 'written', 0)", bind: [%s]}`, js(d)))
	}
	id := p.call(fmt.Sprintf(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "3", sheet_photos: %s}}`, js(deletedOnly))).RecordID
	p.call(fmt.Sprintf(`{op: "delete", table: "tutoring_sessions", recordId: %s, lang: "zh"}`, js(id)))
	p.call(`{op: "sync", lang: "zh"}`)
	p.call(`{op: "uploads", lang: "zh"}`)
	type row struct {
		Digest  string `json:"digest"`
		Unnamed *int64 `json:"unnamed_ms"`
	}
	rows := func() map[string]row {
		var rs []row
		p.eval(`vs.call({op: "query", sql: "SELECT digest, unnamed_ms FROM _attachments"}).then((r) => r.rows)`, &rs)
		m := map[string]row{}
		for _, r := range rs {
			m[r.Digest] = r
		}
		return m
	}
	got := rows()
	if r, ok := got[loose]; !ok || r.Unnamed == nil {
		t.Errorf("the loose photo taken a day ago: %+v (there: %v), want kept, its unnamed time set", r, ok)
	}
	if r, ok := got[deletedOnly]; !ok || r.Unnamed != nil {
		t.Errorf("the unsent photo of a deleted record: %+v (there: %v), want kept as named", r, ok)
	}
	// A day after it was found unnamed, it goes.
	p.call(fmt.Sprintf(`{op: "exec", sql: "UPDATE _attachments SET unnamed_ms = 1 WHERE digest = ?", bind: [%s]}`, js(loose)))
	p.call(`{op: "sync", lang: "zh"}`)
	p.call(`{op: "uploads", lang: "zh"}`)
	got = rows()
	if _, ok := got[loose]; ok {
		t.Error("the photo unnamed for a day is still in the file")
	}
	if _, ok := got[deletedOnly]; !ok {
		t.Error("the unsent photo of a deleted record was pruned")
	}
}
