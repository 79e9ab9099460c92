package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// testPhoto is a w×h JPEG that differs with seed, and its digest.
func testPhoto(t testing.TB, w, h int, seed uint8) ([]byte, string) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x*7) ^ seed, uint8(y * 3), seed, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), sha(b.Bytes())
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// hugePNG is a PNG whose header claims w×h pixels, with no pixels after.
func hugePNG(w, h uint32) []byte { return headerPNG(w, h, 8, 0) }

// headerPNG is hugePNG of RGB samples of depth bits, interlaced or not.
func headerPNG(w, h uint32, depth, interlace byte) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, depth, 2, 0, 0, interlace))
	chunk("IEND", nil)
	return b.Bytes()
}

// laneWorld is a store with a volunteer of 南香村 (v), one of 东旺村 (w)
// and a staff member.
type laneWorld struct {
	s        *Store
	file     string
	v, w, st Principal
}

func newLaneWorld(t *testing.T, quota int64) *laneWorld {
	t.Helper()
	file := testDSN(t)
	s, err := Open(context.Background(), file, Options{DeviceAttachmentQuota: quota})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &laneWorld{s: s, file: file, v: enrollAs(t, s, "王芳", Volunteer, "南香村"),
		w: enrollAs(t, s, "李明", Volunteer, "东旺村"), st: enrollAs(t, s, "张伟", Staff)}
}

// name pushes a book of village, by p, whose cover names digest; it
// returns the record as the server has it.
func (lw *laneWorld) name(t *testing.T, p Principal, village, digest string) *record.Record {
	t.Helper()
	r := bookWith(p.Replica, village, "")
	r.Fields["cover"] = record.Field{Value: schema.TextValue(digest), Dot: r.Fields["title"].Dot}
	push(t, lw.s, p, r)
	return r
}

// send uploads b as p from offset from to the end.
func (lw *laneWorld) send(p Principal, digest string, b []byte, from int) (UploadResult, error) {
	var res UploadResult
	for off := from; off < len(b); off += schema.AttachmentChunk {
		var err error
		res, err = lw.s.AppendChunk(context.Background(), p, Chunk{Digest: digest, Size: uint64(len(b)),
			Offset: uint64(off), Data: b[off:min(off+schema.AttachmentChunk, len(b))]})
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// lane is what the lane's tables hold, for "nothing was written".
func (lw *laneWorld) lane(t *testing.T) string {
	t.Helper()
	var out string
	for _, q := range []string{
		`SELECT count(*) || ':' || COALESCE(sum(received), 0) || ':' || COALESCE(sum(touched_ms), 0) FROM attachment_uploads`,
		`SELECT count(*) || ':' || COALESCE(sum(length(data)), 0) FROM attachment_chunks`,
		`SELECT count(*) FROM attachments`,
	} {
		var s string
		if err := lw.s.Reader().QueryRow(q).Scan(&s); err != nil {
			t.Fatal(err)
		}
		out += s + " "
	}
	return out
}

func problemOf(err error) (record.Code, string) {
	var p *record.Problem
	if !errors.As(err, &p) {
		return "", ""
	}
	return p.Code, p.Field
}

// Every refusal of the upload rules, with its code and the field it
// names; none writes anything but the discarded upload's removal.
func TestUploadRefusals(t *testing.T) {
	ctx := context.Background()
	jpg, jd := testPhoto(t, 900, 600, 1)
	if len(jpg) < 3*schema.AttachmentChunk {
		t.Fatalf("the photo is %d bytes; the cases need three chunks", len(jpg))
	}
	big := bytes.Repeat([]byte{0xFF, 0xD8, 0xFF, 0xE0}, schema.AttachmentChunk)
	huge := hugePNG(10000, 10000)
	costly := headerPNG(6000, 4000, 16, 1) // within the pixels, not the decoding budget
	broken := append([]byte{0xFF, 0xD8, 0xFF, 0xE0}, bytes.Repeat([]byte("x"), 100)...)
	text := bytes.Repeat([]byte("not a photo "), 10)
	cases := []struct {
		name   string
		quota  int64
		prep   func(t *testing.T, lw *laneWorld) // records and uploads before
		chunks []Chunk                           // the last is the one refused
		code   record.Code
		field  string
	}{
		{name: "bad digest", chunks: []Chunk{{Digest: "ABC", Size: 10, Data: jpg[:10]}},
			code: record.CodeInvalidArgument, field: "digest"},
		{name: "no size", chunks: []Chunk{{Digest: jd, Size: 0}}, code: record.CodeInvalidArgument, field: "size"},
		{name: "over size", chunks: []Chunk{{Digest: jd, Size: schema.MaxAttachmentBytes + 1, Data: big[:schema.AttachmentChunk]}},
			code: record.CodeInvalidArgument, field: "size"},
		{name: "chunk too big", chunks: []Chunk{{Digest: jd, Size: uint64(len(big)), Data: big[:schema.AttachmentChunk+1]}},
			code: record.CodeInvalidArgument, field: "data"},
		{name: "past the size", chunks: []Chunk{{Digest: jd, Size: 10, Data: jpg[:11]}},
			code: record.CodeInvalidArgument, field: "data"},
		{name: "short chunk not last", chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg)), Data: jpg[:100]}},
			code: record.CodeInvalidArgument, field: "data"},
		{name: "empty chunk", chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg))}},
			code: record.CodeInvalidArgument, field: "data"},
		{name: "not referenced", chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg)), Data: jpg[:schema.AttachmentChunk]}},
			code: record.CodeFailedPrecondition, field: "digest"},
		{name: "another village's record",
			prep:   func(t *testing.T, lw *laneWorld) { lw.name(t, lw.w, "东旺村", jd) },
			chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg)), Data: jpg[:schema.AttachmentChunk]}},
			code:   record.CodeFailedPrecondition, field: "digest"},
		{name: "not an image", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", sha(text)) },
			chunks: []Chunk{{Digest: sha(text), Size: uint64(len(text)), Data: text}},
			code:   record.CodeInvalidArgument, field: "data"},
		{name: "out of order", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", jd) },
			chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg)), Offset: schema.AttachmentChunk,
				Data: jpg[schema.AttachmentChunk : 2*schema.AttachmentChunk]}},
			code: record.CodeFailedPrecondition, field: "offset"},
		{name: "gap after a chunk", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", jd) },
			chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg)), Data: jpg[:schema.AttachmentChunk]},
				{Digest: jd, Size: uint64(len(jpg)), Offset: 2 * schema.AttachmentChunk,
					Data: jpg[2*schema.AttachmentChunk : 3*schema.AttachmentChunk]}},
			code: record.CodeFailedPrecondition, field: "offset"},
		{name: "over quota", quota: int64(len(jpg)) - 1,
			prep:   func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", jd) },
			chunks: []Chunk{{Digest: jd, Size: uint64(len(jpg)), Data: jpg[:schema.AttachmentChunk]}},
			code:   record.CodeResourceExhausted, field: "size"},
		{name: "digest mismatch", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", sha(text)) },
			chunks: []Chunk{{Digest: sha(text), Size: uint64(len(jpg)), Data: jpg}},
			code:   record.CodeInvalidArgument, field: "digest"},
		{name: "too many pixels", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", sha(huge)) },
			chunks: []Chunk{{Digest: sha(huge), Size: uint64(len(huge)), Data: huge}},
			code:   record.CodeInvalidArgument, field: "data"},
		{name: "too costly to decode", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", sha(costly)) },
			chunks: []Chunk{{Digest: sha(costly), Size: uint64(len(costly)), Data: costly}},
			code:   record.CodeInvalidArgument, field: "data"},
		{name: "does not decode", prep: func(t *testing.T, lw *laneWorld) { lw.name(t, lw.v, "南香村", sha(broken)) },
			chunks: []Chunk{{Digest: sha(broken), Size: uint64(len(broken)), Data: broken}},
			code:   record.CodeInvalidArgument, field: "data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lw := newLaneWorld(t, tc.quota)
			if tc.prep != nil {
				tc.prep(t, lw)
			}
			for _, c := range tc.chunks[:len(tc.chunks)-1] {
				if _, err := lw.s.AppendChunk(ctx, lw.v, c); err != nil {
					t.Fatal(err)
				}
			}
			before := lw.lane(t)
			c := tc.chunks[len(tc.chunks)-1]
			whole := c.Offset == 0 && uint64(len(c.Data)) == c.Size && tc.field != "data" && tc.field != "size" ||
				tc.name == "too many pixels" || tc.name == "does not decode" || tc.name == "too costly to decode"
			var err error
			if whole {
				_, err = lw.send(lw.v, c.Digest, c.Data, 0) // in chunks, as a device sends it
			} else {
				_, err = lw.s.AppendChunk(ctx, lw.v, c)
			}
			code, field := problemOf(err)
			if code != tc.code || field != tc.field {
				t.Fatalf("got %v (%s on %q), want %s on %q", err, code, field, tc.code, tc.field)
			}
			after := lw.lane(t)
			switch {
			case whole && after != "0:0:0 0:0 0 ":
				t.Errorf("after the refusal the lane holds %s; the upload should be discarded", after)
			case !whole && after != before:
				t.Errorf("the refusal wrote: %s, was %s", after, before)
			}
		})
	}
}

// A chunk the server has (an answer lost on the way back) is answered
// with what it holds, and nothing is written; the upload then goes on.
func TestRetryOfAHeldChunkWritesNothing(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 400, 300, 3)
	lw.name(t, lw.v, "南香村", d)
	first := Chunk{Digest: d, Size: uint64(len(jpg)), Data: jpg[:schema.AttachmentChunk]}
	if _, err := lw.s.AppendChunk(ctx, lw.v, first); err != nil {
		t.Fatal(err)
	}
	// The upload's time a minute back, as the other tests move time (the
	// store reads the wall clock): a write would set touched_ms to now,
	// whatever the clock's granularity.
	lw.ageUnreferenced(t, time.Minute)
	before := lw.lane(t)
	res, err := lw.s.AppendChunk(ctx, lw.v, first)
	if err != nil || res.Received != schema.AttachmentChunk || res.Stored {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	if after := lw.lane(t); after != before {
		t.Fatalf("a retried chunk wrote: %s, was %s", after, before)
	}
	if res, err := lw.send(lw.v, d, jpg, schema.AttachmentChunk); err != nil || !res.Stored {
		t.Fatalf("the rest = %+v, %v", res, err)
	}
	// Retries after the end: stored at once, by anyone.
	for _, p := range []Principal{lw.v, lw.st} {
		if res, err := lw.s.AppendChunk(ctx, p, first); err != nil || !res.Stored || res.Received != uint64(len(jpg)) {
			t.Fatalf("after stored = %+v, %v", res, err)
		}
	}
	// Not to a volunteer of another village: Fetch says NotFound to it,
	// so Holds must not say the photo is there.
	h, err := lw.s.Holds(ctx, lw.w, []string{d})
	if err != nil || h[0].Stored || h[0].Received != 0 {
		t.Fatalf("holds by another village = %+v, %v", h, err)
	}
}

// Two devices uploading the same photo at once: it is stored once, both
// are told it is stored, and neither upload is left behind.
func TestTwoDevicesUploadTheSamePhoto(t *testing.T) {
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 800, 600, 4)
	lw.name(t, lw.v, "南香村", d)
	v2 := enrollAs(t, lw.s, "王芳二", Volunteer, "南香村")
	var wg sync.WaitGroup
	results := make([]UploadResult, 2)
	errs := make([]error, 2)
	for i, p := range []Principal{lw.v, v2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = lw.send(p, d, jpg, 0)
		}()
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || !results[i].Stored {
			t.Errorf("device %d: %+v, %v", i, results[i], errs[i])
		}
	}
	if got := lw.lane(t); got != "0:0:0 0:0 1 " {
		t.Errorf("the lane holds %s, want one attachment and no uploads", got)
	}
	a, err := lw.s.FetchAttachment(context.Background(), lw.st, d, false, 0, 0)
	if err != nil || !bytes.Equal(a.Data, jpg) {
		t.Fatalf("fetch = %d bytes, %v", len(a.Data), err)
	}
}

// The quota counts what a device stored and what it has in flight.
func TestQuotaCountsStoredAndInFlight(t *testing.T) {
	ctx := context.Background()
	a, da := testPhoto(t, 600, 400, 5)
	b, db := testPhoto(t, 600, 400, 6)
	c, dc := testPhoto(t, 600, 400, 7)
	lw := newLaneWorld(t, int64(len(a)+len(b)+len(c))-1)
	for _, d := range []string{da, db, dc} {
		lw.name(t, lw.v, "南香村", d)
	}
	if res, err := lw.send(lw.v, da, a, 0); err != nil || !res.Stored {
		t.Fatal(res, err)
	}
	if _, err := lw.s.AppendChunk(ctx, lw.v, Chunk{Digest: db, Size: uint64(len(b)), Data: b[:schema.AttachmentChunk]}); err != nil {
		t.Fatal(err)
	}
	_, err := lw.s.AppendChunk(ctx, lw.v, Chunk{Digest: dc, Size: uint64(len(c)), Data: c[:schema.AttachmentChunk]})
	if code, field := problemOf(err); code != record.CodeResourceExhausted || field != "size" {
		t.Fatalf("third photo = %v, want resource_exhausted on size", err)
	}
	// Another device has its own quota.
	v2 := enrollAs(t, lw.s, "王芳二", Volunteer, "南香村")
	if res, err := lw.send(v2, dc, c, 0); err != nil || !res.Stored {
		t.Fatalf("another device = %+v, %v", res, err)
	}
}

// Fetch: NotFound for an unknown digest and for one no record of the
// caller's villages names, alike; staff see every village's; a range and
// the thumbnail.
func TestFetchScope(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 640, 480, 8)
	lw.name(t, lw.v, "南香村", d)
	if _, err := lw.send(lw.v, d, jpg, 0); err != nil {
		t.Fatal(err)
	}
	_, unknown := testPhoto(t, 8, 8, 9)
	for _, tc := range []struct {
		name   string
		p      Principal
		digest string
		code   record.Code
	}{
		{"own village", lw.v, d, ""},
		{"staff", lw.st, d, ""},
		{"other village", lw.w, d, record.CodeNotFound},
		{"unknown", lw.v, unknown, record.CodeNotFound},
		{"bad digest", lw.v, "xyz", record.CodeInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := lw.s.FetchAttachment(ctx, tc.p, tc.digest, false, 10, 20)
			if code, _ := problemOf(err); code != tc.code {
				t.Fatalf("fetch = %v, want %q", err, tc.code)
			}
			if tc.code == "" && (!bytes.Equal(a.Data, jpg[10:30]) || a.Size != uint64(len(jpg)) ||
				a.Width != 640 || a.Height != 480 || a.MediaType != "image/jpeg") {
				t.Fatalf("fetch = %+v", a)
			}
		})
	}
	th, err := lw.s.FetchAttachment(ctx, lw.v, d, true, 0, 0)
	if err != nil || th.MediaType != "image/jpeg" || th.Size != uint64(len(th.Data)) {
		t.Fatalf("thumbnail = %v", err)
	}
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(th.Data)); err != nil || cfg.Width != schema.ThumbMaxSide ||
		cfg.Height != 240 {
		t.Fatalf("thumbnail is %+v, %v", cfg, err)
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.v, d, false, uint64(len(jpg))+1, 0); err == nil {
		t.Fatal("a fetch past the end was answered")
	}
}

// ageUnreferenced moves every unreferenced attachment's time back by d,
// and every upload's in progress.
func (lw *laneWorld) ageUnreferenced(t *testing.T, d time.Duration) {
	t.Helper()
	if _, err := lw.s.w.Exec(`UPDATE attachments SET unreferenced_ms = unreferenced_ms - ?
		WHERE unreferenced_ms IS NOT NULL`, d.Milliseconds()); err != nil {
		t.Fatal(err)
	}
	if _, err := lw.s.w.Exec(`UPDATE attachment_uploads SET touched_ms = touched_ms - ?`, d.Milliseconds()); err != nil {
		t.Fatal(err)
	}
}

func (lw *laneWorld) stored(t *testing.T, d string) bool {
	t.Helper()
	var n int
	if err := lw.s.Reader().QueryRow(`SELECT count(*) FROM attachments WHERE digest = ?`, d).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// The collection: an attachment no live record names goes a window after
// the last stopped naming it; one a record names again, or an open
// conflict's losing value names, stays; abandoned uploads go too.
func TestCollectAttachments(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	const window = 30 * 24 * time.Hour
	a, da := testPhoto(t, 200, 100, 10)
	b, db := testPhoto(t, 200, 100, 11)
	c, dc := testPhoto(t, 200, 100, 12)
	p, dp := testPhoto(t, 600, 400, 13)
	ra := lw.name(t, lw.v, "南香村", da)
	rb := lw.name(t, lw.v, "南香村", db)
	rc := lw.name(t, lw.v, "南香村", dc)
	lw.name(t, lw.v, "南香村", dp)
	for _, x := range []struct {
		d string
		b []byte
	}{{da, a}, {db, b}, {dc, c}} {
		if res, err := lw.send(lw.v, x.d, x.b, 0); err != nil || !res.Stored {
			t.Fatal(res, err)
		}
	}
	// An upload begun and abandoned.
	if _, err := lw.s.AppendChunk(ctx, lw.v, Chunk{Digest: dp, Size: uint64(len(p)), Data: p[:schema.AttachmentChunk]}); err != nil {
		t.Fatal(err)
	}
	// a: its record's cover is cleared. b: its record is deleted. c: two
	// devices edit the cover at once; the loser's value (c) is logged.
	push(t, lw.s, lw.v, edit(ra, lw.v.Replica, "cover", schema.TextValue("")))
	del := rb.Clone()
	k := del.Version.Bump(lw.v.Replica)
	del.Fields = map[string]record.Field{}
	del.Tombstone = &record.Tombstone{Dot: vv.Dot{Replica: lw.v.Replica, Counter: k, HLC: lw.s.Clock().Now()},
		Context: del.Version.Clone()}
	push(t, lw.s, lw.v, del)
	v2 := enrollAs(t, lw.s, "王芳二", Volunteer, "南香村")
	_, dn := testPhoto(t, 20, 20, 14)
	mine := edit(rc, lw.v.Replica, "cover", schema.TextValue(dn))
	mine.Fields["cover"] = record.Field{Value: mine.Fields["cover"].Value, Dot: vv.Dot{Replica: lw.v.Replica,
		Counter: mine.Fields["cover"].Dot.Counter, HLC: lw.s.Clock().Now() + 1000}}
	theirs := rc.Clone()
	theirs.Version = vv.VV{lw.v.Replica: rc.Version[lw.v.Replica] - 1}
	k2 := theirs.Version.Bump(v2.Replica)
	theirs.Fields = map[string]record.Field{"cover": {Value: schema.TextValue(dc),
		Dot: vv.Dot{Replica: v2.Replica, Counter: k2, HLC: 1}}}
	push(t, lw.s, lw.v, mine)
	if _, err := lw.s.Push(ctx, v2, []*record.Record{theirs}); err != nil {
		t.Fatal(err)
	}

	var refs, open int
	if err := lw.s.Reader().QueryRow(`SELECT (SELECT count(*) FROM attachment_refs WHERE digest = ?1),
		(SELECT count(*) FROM conflicts WHERE loser_value = ?1 AND resolution IS NULL)`, dc).Scan(&refs, &open); err != nil ||
		refs != 0 || open != 1 {
		t.Fatalf("c: %d references, %d open conflicts naming it (%v), want 0 and 1", refs, open, err)
	}
	if n, u, err := lw.s.CollectAttachments(ctx, window); err != nil || n != 0 || u != 0 {
		t.Fatalf("within the window: collected %d attachments, %d uploads, %v", n, u, err)
	}
	lw.ageUnreferenced(t, window+time.Hour)
	n, u, err := lw.s.CollectAttachments(ctx, window)
	if err != nil || u != 1 {
		t.Fatalf("after the window: collected %d attachments, %d uploads, %v", n, u, err)
	}
	for _, x := range []struct {
		name string
		d    string
		kept bool
	}{{"cleared", da, false}, {"deleted record", db, false}, {"open conflict's loser", dc, true}} {
		if got := lw.stored(t, x.d); got != x.kept {
			t.Errorf("%s: kept = %v, want %v", x.name, got, x.kept)
		}
	}
	if got := lw.lane(t); got[:10] != "0:0:0 0:0 " {
		t.Errorf("the abandoned upload is left: %s", got)
	}
	// Staff take the loser: a server write, which names c again.
	var id uint64
	if err := lw.s.Reader().QueryRow(`SELECT id FROM conflicts WHERE loser_value = ?`, dc).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := lw.s.ResolveConflict(ctx, id, "take_loser", "张伟"); err != nil {
		t.Fatal(err)
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.v, dc, true, 0, 0); err != nil {
		t.Fatalf("after take_loser the record names c again, but: %v", err)
	}
	if err := lw.s.Reader().QueryRow(`SELECT count(*) FROM attachment_refs WHERE digest = ?`, dn).Scan(&refs); err != nil ||
		refs != 0 {
		t.Fatalf("the winner's photo is still named %d times (%v)", refs, err)
	}
}

// A record that names a photo again before the window ends keeps it.
func TestNamedAgainIsKept(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	a, da := testPhoto(t, 200, 100, 15)
	r := lw.name(t, lw.v, "南香村", da)
	if _, err := lw.send(lw.v, da, a, 0); err != nil {
		t.Fatal(err)
	}
	push(t, lw.s, lw.v, edit(r, lw.v.Replica, "cover", schema.TextValue("")))
	lw.ageUnreferenced(t, time.Hour)
	lw.name(t, lw.w, "东旺村", da)
	lw.ageUnreferenced(t, 100*24*time.Hour)
	if n, _, err := lw.s.CollectAttachments(ctx, time.Hour); err != nil || n != 0 || !lw.stored(t, da) {
		t.Fatalf("named again: collected %d, %v", n, err)
	}
	// And the other village's volunteer may now fetch it, ours not.
	if _, err := lw.s.FetchAttachment(ctx, lw.w, da, true, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.v, da, true, 0, 0); err == nil {
		t.Fatal("a record that no longer names it still lets its village fetch it")
	}
}

// A backup (VACUUM INTO) holds the attachments: restored, they fetch.
func TestBackupHoldsAttachments(t *testing.T) {
	sqliteOnly(t, "Backup copies a SQLite file (PostgreSQL: pg_dump, docs/postgres.md)")
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 500, 400, 16)
	lw.name(t, lw.v, "南香村", d)
	if _, err := lw.send(lw.v, d, jpg, 0); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	if err := Backup(ctx, lw.file, out); err != nil {
		t.Fatal(err)
	}
	r, err := Open(ctx, out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, thumb := range []bool{false, true} {
		a, err := r.FetchAttachment(ctx, lw.st, d, thumb, 0, 0)
		if err != nil || len(a.Data) == 0 || !thumb && !bytes.Equal(a.Data, jpg) {
			t.Fatalf("restored fetch (thumbnail %v) = %d bytes, %v", thumb, len(a.Data), err)
		}
	}
}

// An upload whose check was cut short (the server stopped after the last
// chunk was written): Holds points the device at its last chunk, and
// sending it again checks and stores the photo.
func TestWholeUploadNotCheckedIsCheckedOnRetry(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 900, 600, 17)
	lw.name(t, lw.v, "南香村", d)
	var last uint64
	for off := 0; off < len(jpg); off += schema.AttachmentChunk {
		c := Chunk{Digest: d, Size: uint64(len(jpg)), Offset: uint64(off), Data: jpg[off:min(off+schema.AttachmentChunk, len(jpg))]}
		if _, _, err := lw.s.appendChunk(ctx, lw.v, c); err != nil { // written, never checked
			t.Fatal(err)
		}
		last = uint64(off)
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.st, d, false, 0, 0); err == nil {
		t.Fatal("an unchecked upload is visible")
	}
	h, err := lw.s.Holds(ctx, lw.v, []string{d})
	if err != nil || h[0].Stored || h[0].Received != last {
		t.Fatalf("holds = %+v, %v; want the last chunk's start %d", h, err, last)
	}
	res, err := lw.send(lw.v, d, jpg, int(h[0].Received))
	if err != nil || !res.Stored {
		t.Fatalf("the last chunk again = %+v, %v", res, err)
	}
	if got := lw.lane(t); got != "0:0:0 0:0 1 " {
		t.Errorf("the lane holds %s", got)
	}
}

// A database from before the lane whose records name photos gets their
// references when it is opened with the lane's migration.
func TestMigrationMakesReferencesOfExistingRecords(t *testing.T) {
	sqliteOnly(t, "an older SQLite file migrated")
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	_, d1 := testPhoto(t, 10, 10, 20)
	_, d2 := testPhoto(t, 10, 10, 21)
	r := bookWith(lw.v.Replica, "南香村", "")
	r.Fields["cover"] = record.Field{Value: schema.TextValue(d1), Dot: r.Fields["title"].Dot}
	push(t, lw.s, lw.v, r)
	session := bookWith(lw.st.Replica, "东旺村", "")
	session.Fields["cover"] = record.Field{Value: schema.TextValue(d2), Dot: session.Fields["title"].Dot}
	push(t, lw.s, lw.st, session)
	if _, err := lw.s.w.Exec(`DROP TABLE attachments; DROP TABLE attachment_uploads; DROP TABLE attachment_chunks;
		DROP TABLE attachment_refs; DROP TABLE box_keys; ALTER TABLE replicas DROP COLUMN box_public_key;
		ALTER TABLE conflicts DROP COLUMN winner_carried_by; ALTER TABLE conflicts DROP COLUMN loser_carried_by;
		PRAGMA user_version = 8`); err != nil {
		t.Fatal(err)
	}
	lw.s.Close()
	s, err := Open(ctx, lw.file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lw.s = s
	for _, tc := range []struct {
		p      Principal
		digest string
		want   bool
	}{{lw.v, d1, true}, {lw.v, d2, false}, {lw.w, d2, true}, {lw.st, d1, true}} {
		ok, err := referenced(ctx, s.r, tc.digest, tc.p.AllVillages(), tc.p.Villages)
		if err != nil || ok != tc.want {
			t.Errorf("%s names %s…: %v (%v), want %v", tc.p.User, tc.digest[:8], ok, err, tc.want)
		}
	}
}

// A bogus digest comes back in the refusal cut short, however long it is:
// a megabyte sent as a digest must not be echoed whole (nor logged).
func TestBogusDigestIsNotEchoedWhole(t *testing.T) {
	lw := newLaneWorld(t, 0)
	for _, d := range []string{string(make([]byte, 1<<20)), strings.Repeat("长", 1<<18), strings.Repeat("a", 65), strings.Repeat("\x00", 30)} {
		_, err := lw.s.Holds(context.Background(), lw.v, []string{d})
		if code, field := problemOf(err); code != record.CodeInvalidArgument || field != "digests" {
			t.Fatalf("holds of %d bytes = %v", len(d), err)
		}
		if msg := err.Error(); len(msg) >= 300 || !utf8.ValidString(msg) ||
			len(d) > 100 && !strings.Contains(msg, fmt.Sprintf("(%d bytes)", len(d))) {
			t.Errorf("a %d-byte digest is refused with a %d-byte message: %.300s", len(d), len(msg), msg)
		}
		_, err = lw.s.AppendChunk(context.Background(), lw.v, Chunk{Digest: d, Size: 1, Data: []byte{1}})
		if err == nil || len(err.Error()) >= 300 {
			t.Errorf("upload of a %d-byte digest: %.300v", len(d), err)
		}
	}
}

// A stored photo is stored only to those whose villages' records name it,
// as Fetch decides: to anyone else Holds says what their own upload holds,
// and Upload refuses as for any photo they do not name.
func TestStoredPhotoIsNotRevealedToOtherVillages(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 300, 200, 41)
	lw.name(t, lw.v, "南香村", d)
	if res, err := lw.send(lw.v, d, jpg, 0); err != nil || !res.Stored {
		t.Fatal(res, err)
	}
	for _, p := range []Principal{lw.v, lw.st} {
		if h, err := lw.s.Holds(ctx, p, []string{d}); err != nil || !h[0].Stored {
			t.Errorf("holds by %s = %+v, %v", p.Role, h, err)
		}
	}
	h, err := lw.s.Holds(ctx, lw.w, []string{d})
	if err != nil || h[0].Stored {
		t.Errorf("holds by 东旺村's volunteer = %+v, %v", h, err)
	}
	res, err := lw.s.AppendChunk(ctx, lw.w, Chunk{Digest: d, Size: uint64(len(jpg)), Data: jpg[:min(len(jpg), schema.AttachmentChunk)]})
	if code, field := problemOf(err); code != record.CodeFailedPrecondition || field != "digest" || res.Stored {
		t.Errorf("upload by 东旺村's volunteer = %+v, %v", res, err)
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.w, d, true, 0, 0); err == nil {
		t.Errorf("fetch by 东旺村's volunteer found it")
	}
}

// A retry of the last chunk that passed appendChunk before the first
// completion committed finds the photo stored: it is told so, not to send
// it again from 0.
func TestRetryRacingCompletionIsToldStored(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 300, 200, 42)
	lw.name(t, lw.v, "南香村", d)
	for off := 0; off < len(jpg); off += schema.AttachmentChunk {
		c := Chunk{Digest: d, Size: uint64(len(jpg)), Offset: uint64(off), Data: jpg[off:min(off+schema.AttachmentChunk, len(jpg))]}
		if _, _, err := lw.s.appendChunk(ctx, lw.v, c); err != nil {
			t.Fatal(err)
		}
	}
	// Both the last chunk and its retry passed appendChunk as complete;
	// the first completion commits, then the retry's.
	for i := range 2 {
		if res, err := lw.s.completeUpload(ctx, lw.v, d, uint64(len(jpg))); err != nil || !res.Stored ||
			res.Received != uint64(len(jpg)) {
			t.Fatalf("completion %d = %+v, %v", i+1, res, err)
		}
	}
	if got := lw.lane(t); got != "0:0:0 0:0 1 " {
		t.Errorf("lane after both = %s", got)
	}
}

// When one device stores a photo, every other device's unfinished upload
// of it goes in the same transaction: its chunks, and its weight on that
// device's quota.
func TestStoringDropsOtherDevicesUploads(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 900, 600, 43)
	lw.name(t, lw.v, "南香村", d)
	v2 := enrollAs(t, lw.s, "王芳二", Volunteer, "南香村")
	if _, err := lw.s.AppendChunk(ctx, v2, Chunk{Digest: d, Size: uint64(len(jpg)), Data: jpg[:schema.AttachmentChunk]}); err != nil {
		t.Fatal(err)
	}
	if res, err := lw.send(lw.v, d, jpg, 0); err != nil || !res.Stored {
		t.Fatal(res, err)
	}
	if got := lw.lane(t); got != "0:0:0 0:0 1 " {
		t.Errorf("lane after the store = %s; v2's upload is left", got)
	}
	tx, err := lw.s.beginTxn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	used, err := tx.deviceAttachmentBytes(ctx, v2.Replica, "")
	tx.rollback()
	if err != nil || used != 0 {
		t.Errorf("v2 is charged %d bytes (%v) for a photo another device stored", used, err)
	}
	if h, err := lw.s.Holds(ctx, v2, []string{d}); err != nil || !h[0].Stored {
		t.Errorf("v2 holds = %+v, %v", h, err)
	}
}

// conflictOver makes an open conflict on the cover of a book of 南香村:
// lw.v's edit naming winner wins over v2's naming loser, which no live
// record names.
func (lw *laneWorld) conflictOver(t *testing.T, v2 Principal, before, winner, loser string) {
	t.Helper()
	rc := lw.name(t, lw.v, "南香村", before)
	mine := edit(rc, lw.v.Replica, "cover", schema.TextValue(winner))
	mine.Fields["cover"] = record.Field{Value: mine.Fields["cover"].Value, Dot: vv.Dot{Replica: lw.v.Replica,
		Counter: mine.Fields["cover"].Dot.Counter, HLC: lw.s.Clock().Now() + 1000}}
	theirs := rc.Clone()
	theirs.Version = vv.VV{lw.v.Replica: rc.Version[lw.v.Replica] - 1}
	k2 := theirs.Version.Bump(v2.Replica)
	theirs.Fields = map[string]record.Field{"cover": {Value: schema.TextValue(loser),
		Dot: vv.Dot{Replica: v2.Replica, Counter: k2, HLC: 1}}}
	push(t, lw.s, lw.v, mine)
	if _, err := lw.s.Push(context.Background(), v2, []*record.Record{theirs}); err != nil {
		t.Fatal(err)
	}
	var open int
	if err := lw.s.Reader().QueryRow(`SELECT count(*) FROM conflicts WHERE `+lw.s.r.contains("loser_value", "?")+`
		AND `+lw.s.r.contains("winner_value", "?")+` AND resolution IS NULL`, loser, winner).Scan(&open); err != nil || open != 1 {
		t.Fatalf("open conflicts naming both photos: %d, %v", open, err)
	}
}

// The losing photo of an open conflict, never uploaded before it lost,
// may still be uploaded by a device of the record's village and fetched
// by staff and that village's devices, who may choose it; not by others.
func TestConflictLoserPhotoReachesStaff(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	_, before := testPhoto(t, 20, 20, 45)
	_, winner := testPhoto(t, 20, 20, 46)
	loser, dl := testPhoto(t, 60, 40, 44)
	v2 := enrollAs(t, lw.s, "王芳二", Volunteer, "南香村")
	lw.conflictOver(t, v2, before, winner, dl)
	if _, err := lw.send(lw.w, dl, loser, 0); err == nil {
		t.Errorf("东旺村's volunteer uploaded the loser of 南香村's conflict")
	}
	if res, err := lw.send(v2, dl, loser, 0); err != nil || !res.Stored {
		t.Fatalf("v2's upload of its losing photo = %+v, %v", res, err)
	}
	for _, p := range []Principal{lw.st, lw.v, v2} {
		if a, err := lw.s.FetchAttachment(ctx, p, dl, false, 0, 0); err != nil || !bytes.Equal(a.Data, loser) {
			t.Errorf("fetch by %s (%v) = %v", p.Role, p.Villages, err)
		}
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.w, dl, true, 0, 0); err == nil {
		t.Errorf("东旺村's volunteer fetched the loser of 南香村's conflict")
	}
	if h, err := lw.s.Holds(ctx, lw.w, []string{dl}); err != nil || h[0].Stored {
		t.Errorf("holds by 东旺村's volunteer = %+v, %v", h, err)
	}
}

// A check that passed is stored even if the device stops waiting (its
// request's context is cancelled) between the check and the store.
func TestPassedCheckSurvivesADisconnect(t *testing.T) {
	lw := newLaneWorld(t, 0)
	jpg, d := testPhoto(t, 300, 200, 47)
	lw.name(t, lw.v, "南香村", d)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lw.s.afterCheck = cancel
	var res UploadResult
	var err error
	for off := 0; off < len(jpg) && err == nil; off += schema.AttachmentChunk {
		res, err = lw.s.AppendChunk(ctx, lw.v, Chunk{Digest: d, Size: uint64(len(jpg)), Offset: uint64(off),
			Data: jpg[off:min(off+schema.AttachmentChunk, len(jpg))]})
	}
	if err != nil || !res.Stored {
		t.Fatalf("upload cut after its check = %+v, %v", res, err)
	}
	if !lw.stored(t, d) {
		t.Errorf("the checked photo was not stored")
	}
}

// The collection keeps a photo an open conflict's winning value names even
// when no live record names it any more (the winner arm of the rule; the
// loser's is in TestCollectAttachments): staff may yet keep the winner.
func TestCollectKeepsAnOpenConflictsWinner(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	_, before := testPhoto(t, 20, 20, 48)
	win, dw := testPhoto(t, 40, 30, 49)
	_, dl := testPhoto(t, 20, 20, 50)
	lw.conflictOver(t, lw.enrolled(t), before, dw, dl)
	if res, err := lw.send(lw.v, dw, win, 0); err != nil || !res.Stored {
		t.Fatal(res, err)
	}
	// No live record names the winner now, as after a later edit that
	// left the conflict open.
	if _, err := lw.s.w.Exec(`DELETE FROM attachment_refs WHERE digest = ?`, dw); err != nil {
		t.Fatal(err)
	}
	if _, err := lw.s.w.Exec(`UPDATE attachments SET unreferenced_ms = ? WHERE digest = ?`,
		time.Now().UnixMilli(), dw); err != nil {
		t.Fatal(err)
	}
	lw.ageUnreferenced(t, 48*time.Hour)
	if _, _, err := lw.s.CollectAttachments(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if !lw.stored(t, dw) {
		t.Errorf("the open conflict's winning photo was collected")
	}
	if _, err := lw.s.w.Exec(`UPDATE conflicts SET resolution = 'keep' WHERE `+lw.s.r.contains("winner_value", "?"), dw); err != nil {
		t.Fatal(err)
	}
	if _, _, err := lw.s.CollectAttachments(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if lw.stored(t, dw) {
		t.Errorf("the winning photo of a closed conflict, named by nothing, was kept")
	}
}

func (lw *laneWorld) enrolled(t *testing.T) Principal {
	return enrollAs(t, lw.s, "王芳二", Volunteer, "南香村")
}

// One device checks one photo at a time: its second waits for its first
// (and gives up with its request), while another device's goes ahead.
func TestOneCheckPerDevice(t *testing.T) {
	lw := newLaneWorld(t, 0)
	release, err := lw.s.checkSlot(context.Background(), lw.v.Replica)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := lw.s.checkSlot(ctx, lw.v.Replica); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second check of the same device = %v, want it to wait", err)
	}
	other, err := lw.s.checkSlot(context.Background(), lw.w.Replica)
	if err != nil {
		t.Fatalf("another device's check: %v", err)
	}
	other()
	release()
	again, err := lw.s.checkSlot(context.Background(), lw.v.Replica)
	if err != nil {
		t.Fatalf("after the first ended: %v", err)
	}
	again()
}

// A fetch returns at most MaxFetch bytes however much it asks (0: "all"),
// with the whole's size so the device asks for the rest; an offset past
// the end is refused.
func TestFetchIsClampedToMaxFetch(t *testing.T) {
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	img := image.NewGray(image.Rect(0, 0, 1200, 1000))
	for i := range img.Pix {
		img.Pix[i] = uint8(i*2654435761>>13) ^ uint8(i>>7)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	jpg, d := b.Bytes(), sha(b.Bytes())
	if len(jpg) <= MaxFetch || len(jpg) > schema.MaxAttachmentBytes {
		t.Fatalf("the photo is %d bytes; the case needs more than %d", len(jpg), MaxFetch)
	}
	lw.name(t, lw.v, "南香村", d)
	if res, err := lw.send(lw.v, d, jpg, 0); err != nil || !res.Stored {
		t.Fatal(res, err)
	}
	for _, limit := range []uint32{0, MaxFetch + 1, 1 << 31} {
		var got []byte
		for len(got) < len(jpg) {
			a, err := lw.s.FetchAttachment(ctx, lw.v, d, false, uint64(len(got)), limit)
			if err != nil || len(a.Data) > MaxFetch || a.Size != uint64(len(jpg)) || len(a.Data) == 0 {
				t.Fatalf("limit %d at %d: %d bytes of %d, %v", limit, len(got), len(a.Data), a.Size, err)
			}
			got = append(got, a.Data...)
		}
		if !bytes.Equal(got, jpg) {
			t.Errorf("limit %d: the parts are not the photo", limit)
		}
	}
	if a, err := lw.s.FetchAttachment(ctx, lw.v, d, false, uint64(len(jpg)), 0); err != nil || len(a.Data) != 0 {
		t.Errorf("fetch at the end = %d bytes, %v", len(a.Data), err)
	}
	if _, err := lw.s.FetchAttachment(ctx, lw.v, d, false, uint64(len(jpg))+1, 0); err == nil {
		t.Error("a fetch past the end was answered")
	}
}

// A record of a scoped table with no village names its photos for no
// village: its references keep "" (NULL is "scoped to none", which every
// village reads), both as records are written and in the migration's
// backfill, which also takes only valid digests.
func TestVillagelessRecordsPhotosAreNotEveryones(t *testing.T) {
	sqliteOnly(t, "an older SQLite file migrated")
	ctx := context.Background()
	lw := newLaneWorld(t, 0)
	books, err := schema.Lookup("books")
	if err != nil || books.Scope == "" {
		t.Fatalf("books: %v, scope %q", err, books.Scope)
	}
	_, d1 := testPhoto(t, 10, 10, 22)
	r := lw.name(t, lw.v, "南香村", d1)
	tx, err := lw.s.beginTxn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nowhere := r.Clone()
	nowhere.Fields[books.Scope] = record.Field{Value: schema.TextValue(""), Dot: r.Fields["title"].Dot}
	if err := noteAttachments(ctx, tx, books, nowhere, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, when string) {
		t.Helper()
		for _, tc := range []struct {
			p    Principal
			want bool
		}{{lw.v, false}, {lw.w, false}, {lw.st, true}} {
			if ok, err := referenced(ctx, s.r, d1, tc.p.AllVillages(), tc.p.Villages); err != nil || ok != tc.want {
				t.Errorf("%s: %s reads the villageless record's photo: %v (%v), want %v", when, tc.p.User, ok, err, tc.want)
			}
		}
	}
	check(lw.s, "written")

	upper := strings.ToUpper(d1)
	other := bookWith(lw.st.Replica, "东旺村", "")
	// Pushes refuse it; a database from before the column checks may hold one.
	other.Fields["cover"] = record.Field{Value: schema.TextValue(d1), Dot: other.Fields["title"].Dot}
	push(t, lw.s, lw.st, other)
	if _, err := lw.s.w.Exec(`UPDATE books SET `+books.Scope+` = '' WHERE id = ?`, r.ID); err != nil {
		t.Fatal(err)
	}
	if res, err := lw.s.w.Exec(`UPDATE books SET cover = ? WHERE id != ?`, upper, r.ID); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n == 0 {
		t.Fatal("no book names the upper-case digest")
	}
	if _, err := lw.s.w.Exec(`DROP TABLE attachments; DROP TABLE attachment_uploads; DROP TABLE attachment_chunks;
		DROP TABLE attachment_refs; DROP TABLE box_keys; ALTER TABLE replicas DROP COLUMN box_public_key;
		ALTER TABLE conflicts DROP COLUMN winner_carried_by; ALTER TABLE conflicts DROP COLUMN loser_carried_by;
		PRAGMA user_version = 8`); err != nil {
		t.Fatal(err)
	}
	lw.s.Close()
	s, err := Open(ctx, lw.file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "backfilled")
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM attachment_refs WHERE digest = ?`, upper).Scan(&n); err != nil || n != 0 {
		t.Errorf("the backfill made %d references (%v) of an upper-case digest", n, err)
	}
	if err := s.r.QueryRow(`SELECT count(*) FROM attachment_refs`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the backfill made %d references (%v), want the villageless book's", n, err)
	}
}
