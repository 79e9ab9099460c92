package replica_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"strings"
	"testing"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func camera(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{byte(x), byte(y), byte(x + y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAttach(t *testing.T) {
	e := newLaneEnv(t)
	r := e.device("staff", store.Staff, nil, replica.Options{})
	ctx := context.Background()
	big := camera(t, 1800, 900)
	small := noise(t, 20<<10, 1)
	for _, tc := range []struct {
		name     string
		data     []byte
		downsize bool
		wantErr  error
		wantType string
		wantW    int
		same     bool
	}{
		{"camera photo downsized", big, true, nil, "image/jpeg", schema.PhotoMaxSide, false},
		{"camera photo as taken", big, false, nil, "image/jpeg", 1800, true},
		{"small png kept", small, true, nil, "image/png", 0, true},
		{"text refused", []byte("meeting notes, not a photo"), true, replica.ErrNotImage, "", 0, false},
		{"text refused as original too", []byte("meeting notes, not a photo"), false, replica.ErrNotImage, "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := r.Attach(ctx, tc.data, tc.downsize)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if !schema.ValidDigest(d) {
				t.Fatalf("digest %q", d)
			}
			b, err := r.Attachment(ctx, d, false)
			if err != nil {
				t.Fatal(err)
			}
			if b.MediaType != tc.wantType || (tc.wantW > 0 && b.Width != tc.wantW) {
				t.Errorf("got %s %d×%d, want %s width %d", b.MediaType, b.Width, b.Height, tc.wantType, tc.wantW)
			}
			if bytes.Equal(b.Data, tc.data) != tc.same {
				t.Errorf("kept as given: %v, want %v", !tc.same, tc.same)
			}
			if again, err := r.Attach(ctx, tc.data, tc.downsize); err != nil || again != d {
				t.Errorf("attached again: %s, %v; want the same digest %s", again, err, d)
			}
		})
	}
}

// A photo goes after its record is acknowledged, once; a cut link or a
// lost answer resumes from what the server holds, never sending twice
// what it has.
func TestUploadLane(t *testing.T) {
	for _, lane := range lanes {
		for _, tc := range []struct {
			name  string
			every int64 // every nth Upload call fails; 0: none
		}{
			{"clean link", 0},
			{"every third call fails", 3},
			{"every other call fails", 2},
		} {
			t.Run(lane.name+"/"+tc.name, func(t *testing.T) { testUploadLane(t, lane.env(t), tc.name, tc.every) })
		}
	}
}

func testUploadLane(t *testing.T, e *laneEnv, name string, every int64) {
	tc := struct {
		name  string
		every int64
	}{name, every}
	{
		{
			opt := replica.Options{}
			if tc.every > 0 {
				opt.HTTPClient = &flaky{method: "Upload", every: tc.every}
			}
			r := e.device("staff", store.Staff, nil, opt)
			ctx := context.Background()
			data := noise(t, 300<<10, 2)
			d, err := r.Attach(ctx, data, false)
			if err != nil {
				t.Fatal(err)
			}
			put(t, r, "tutoring_sessions", "", "sheet_photos", d)
			st, err := r.UploadAttachments(ctx)
			if err != nil || st.Waiting != 1 || len(st.Uploaded) != 0 || st.RoundTrips != 0 {
				t.Fatalf("before the record synced: %+v, %v; want it waiting, nothing sent", st, err)
			}
			syncOK(t, r)
			st, err = r.UploadAttachments(ctx)
			if err != nil || !has(st.Uploaded, d) {
				t.Fatalf("after the record synced: %+v, %v; want it uploaded", st, err)
			}
			if e.lane != nil {
				if got := e.lane.appended.Load(); got != int64(len(data)) {
					t.Errorf("the server appended %d bytes for a %d-byte photo", got, len(data))
				}
			}
			if tc.every > 0 && st.Resumed == 0 {
				t.Errorf("no resume over a failing link: %+v", st)
			}
			t.Logf("%s: sent %d bytes for %d (%.1f%% again), resumed %d, calls %d",
				tc.name, st.Sent, len(data), 100*float64(st.Sent-int64(len(data)))/float64(len(data)), st.Resumed, st.RoundTrips)
			if e.lane != nil && !bytes.Equal(e.lane.stored[d], data) {
				t.Fatal("the server's copy differs")
			}
			st, err = r.UploadAttachments(ctx)
			if err != nil || len(st.Uploaded)+st.Held+st.RoundTrips != 0 {
				t.Fatalf("again: %+v, %v; want nothing to do", st, err)
			}
		}
	}
}

// A photo the server refuses is reported, and the others go on.
func TestUploadRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  *connect.Error
		code string
	}{
		{"quota", connect.NewError(connect.CodeResourceExhausted, errors.New("size: over the device's quota")),
			"resource_exhausted"},
		{"not an image", connect.NewError(connect.CodeInvalidArgument, errors.New("data: not an image")),
			"invalid_argument"},
		{"record not the device's", connect.NewError(connect.CodeFailedPrecondition,
			errors.New("digest: sync the record first")), "failed_precondition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newLaneEnv(t)
			r := e.device("staff", store.Staff, nil, replica.Options{})
			ctx := context.Background()
			var ds []string
			for i := range 3 {
				d, err := r.Attach(ctx, noise(t, 40<<10, byte(10+i)), false)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, d)
			}
			put(t, r, "tutoring_sessions", "", "sheet_photos", ds[0]+","+ds[1]+","+ds[2])
			syncOK(t, r)
			e.lane.refuse[ds[1]] = tc.err
			st, err := r.UploadAttachments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Refused) != 1 || st.Refused[0].Digest != ds[1] || st.Refused[0].Code != tc.code {
				t.Fatalf("refused %+v, want %s for %s", st.Refused, tc.code, ds[1])
			}
			if !has(st.Uploaded, ds[0]) || !has(st.Uploaded, ds[2]) {
				t.Fatalf("uploaded %v, want the other two", st.Uploaded)
			}
			list, err := r.Attachments(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range list {
				if (a.Digest == ds[1]) == (a.Refused == "" || a.Uploaded) {
					t.Errorf("%+v: want only %s refused and not uploaded", a, ds[1])
				}
			}
			// Refused is not forgotten: the next call tries again.
			delete(e.lane.refuse, ds[1])
			if st, err := r.UploadAttachments(ctx); err != nil || !has(st.Uploaded, ds[1]) {
				t.Fatalf("after the refusal ended: %+v, %v", st, err)
			}
		})
	}
}

// A photo named again after the server collected it (no record named it
// for the keep-deletes window) goes to the server again; one still held
// is only confirmed, not sent.
func TestAttachAgainAfterCollect(t *testing.T) {
	e := newLaneEnv(t)
	r := e.device("staff", store.Staff, nil, replica.Options{})
	ctx := context.Background()
	data := noise(t, 40<<10, 30)
	d, err := r.Attach(ctx, data, false)
	if err != nil {
		t.Fatal(err)
	}
	id := put(t, r, "tutoring_sessions", "", "sheet_photos", d)
	syncOK(t, r)
	if st, err := r.UploadAttachments(ctx); err != nil || !has(st.Uploaded, d) {
		t.Fatalf("first upload: %+v, %v", st, err)
	}
	put(t, r, "tutoring_sessions", id, "sheet_photos", "")
	syncOK(t, r)

	// Named again while the server still has it: confirmed, not sent.
	if again, err := r.Attach(ctx, data, false); err != nil || again != d {
		t.Fatalf("attached again: %s, %v", again, err)
	}
	put(t, r, "tutoring_sessions", id, "sheet_photos", d)
	syncOK(t, r)
	if st, err := r.UploadAttachments(ctx); err != nil || st.Held != 1 || st.Sent != 0 {
		t.Fatalf("named again, still held: %+v, %v; want it confirmed by Holds, nothing sent", st, err)
	}

	// Collected by the server's gc, then named again.
	put(t, r, "tutoring_sessions", id, "sheet_photos", "")
	syncOK(t, r)
	e.lane.mu.Lock()
	delete(e.lane.stored, d)
	e.lane.mu.Unlock()
	if _, err := r.Attach(ctx, data, false); err != nil {
		t.Fatal(err)
	}
	put(t, r, "tutoring_sessions", id, "sheet_photos", d)
	syncOK(t, r)
	if st, err := r.UploadAttachments(ctx); err != nil || !has(st.Uploaded, d) {
		t.Fatalf("named again after the server collected it: %+v, %v; want it uploaded again", st, err)
	}
}

// A server from before the photo lane takes the records; the photos wait
// for its update, which is not an error.
func TestUploadServerWithoutLane(t *testing.T) {
	e := withoutLane(t)
	r := e.device("staff", store.Staff, nil, replica.Options{})
	ctx := context.Background()
	var ds []string
	for i := range 2 {
		d, err := r.Attach(ctx, noise(t, 20<<10, byte(40+i)), false)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	put(t, r, "tutoring_sessions", "", "sheet_photos", ds[0]+","+ds[1])
	syncOK(t, r)
	st, err := r.UploadAttachments(ctx)
	if err != nil || st.ServerWaiting != 2 || len(st.Uploaded)+len(st.Refused) != 0 || st.RoundTrips != 1 {
		t.Fatalf("%+v, %v; want both photos waiting for the server's update after one call", st, err)
	}
	if !strings.Contains(st.String(), "2 photos wait for the server's update") {
		t.Errorf("stats say %q", st)
	}
	list, err := r.Attachments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Uploaded || a.Refused != "" {
			t.Errorf("%+v: want it neither uploaded nor refused, to go after the update", a)
		}
	}
}

// Another device of the village fetches the photo lazily, resuming a cut
// download, keeps it, and drops it when the village is no longer its.
func TestFetchAndEvict(t *testing.T) {
	for _, lane := range lanes {
		t.Run(lane.name, func(t *testing.T) { testFetchAndEvict(t, lane.env(t)) })
	}
}

func testFetchAndEvict(t *testing.T, e *laneEnv) {
	ctx := context.Background()
	a := e.device("staff", store.Staff, nil, replica.Options{})
	fl := &flaky{method: "Fetch", every: 3}
	b := e.device("王芳", store.Volunteer, []string{"南香村"}, replica.Options{HTTPClient: fl})
	data := noise(t, 900<<10, 3)
	d, err := a.Attach(ctx, data, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Attachment(ctx, d, true); !errors.Is(err, replica.ErrNotNamed) {
		t.Fatalf("before b has the record: %v, want ErrNotNamed", err)
	}
	put(t, a, "tutoring_sessions", "", "sheet_photos", d) // 南香村
	syncOK(t, a)
	syncOK(t, b)
	if _, err := b.Attachment(ctx, d, false); err == nil || !strings.Contains(err.Error(), "does not have this photo yet") {
		t.Fatalf("before a uploaded it: %v", err)
	}
	if _, err := a.UploadAttachments(ctx); err != nil {
		t.Fatal(err)
	}
	th, err := b.Attachment(ctx, d, true)
	if err != nil {
		t.Fatal(err)
	}
	// Width and height are the photo's; the thumbnail's own are its bytes'.
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(th.Data)); err != nil || th.MediaType != "image/jpeg" ||
		max(cfg.Width, cfg.Height) > schema.ThumbMaxSide {
		t.Fatalf("thumbnail %s %d×%d, %v", th.MediaType, cfg.Width, cfg.Height, err)
	}
	// 900 KB in ranges of 256 KB, every third call lost: the first tries
	// are cut, each later one goes on from the ranges kept.
	var got replica.Blob
	for try := 0; try < 5; try++ {
		if got, err = b.Attachment(ctx, d, false); err == nil {
			break
		}
	}
	if err != nil || !bytes.Equal(got.Data, data) {
		t.Fatalf("fetched %d bytes, %v; want the photo", len(got.Data), err)
	}
	if fl.failed.Load() == 0 {
		t.Fatal("no fetch was cut")
	}
	calls := fl.calls.Load()
	if _, err := b.Attachment(ctx, d, false); err != nil || fl.calls.Load() != calls {
		t.Fatalf("second read: %v, fetches %d → %d; want it from the file", err, calls, fl.calls.Load())
	}
	if _, err := b.Attachment(ctx, d, true); err != nil || fl.calls.Load() != calls {
		t.Fatalf("thumbnail again: %v; want it from the file", err)
	}
	// b's volunteer moves to another village: the record leaves b, and the
	// photo with it.
	if err := e.s.Store.SetVillages(ctx, "王芳", []string{"东旺村"}); err != nil {
		t.Fatal(err)
	}
	syncOK(t, b)
	list, err := b.Attachments(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("after the move b holds %+v, %v; want no photos", list, err)
	}
	if _, err := b.Attachment(ctx, d, false); !errors.Is(err, replica.ErrNotNamed) {
		t.Fatalf("after the move: %v, want ErrNotNamed", err)
	}
	// a's own photo, uploaded, stays while its record does.
	if list, _ := a.Attachments(ctx); len(list) != 1 || !list[0].Uploaded {
		t.Fatalf("a holds %+v", list)
	}
}

// The server's own refusal (bytes that are not an image, which Attach
// never keeps but an older app's file might hold) is one photo's: the
// others upload.
func TestUploadRefusalServer(t *testing.T) {
	e := realLane(t)
	r := e.device("staff", store.Staff, nil, replica.Options{})
	ctx := context.Background()
	good1, err := r.Attach(ctx, noise(t, 40<<10, 21), false)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := replica.ForTestAttachRaw(r, []byte("not a photo at all, though the file says image/png"))
	if err != nil {
		t.Fatal(err)
	}
	good2, err := r.Attach(ctx, noise(t, 40<<10, 22), false)
	if err != nil {
		t.Fatal(err)
	}
	put(t, r, "tutoring_sessions", "", "sheet_photos", good1+","+bad+","+good2)
	syncOK(t, r)
	st, err := r.UploadAttachments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Refused) != 1 || st.Refused[0].Digest != bad || st.Refused[0].Code != "invalid_argument" {
		t.Fatalf("refused %+v, want invalid_argument for %s", st.Refused, bad)
	}
	if !has(st.Uploaded, good1) || !has(st.Uploaded, good2) {
		t.Fatalf("uploaded %v, want both photos", st.Uploaded)
	}
	t.Logf("the server's refusal: %s", st.Refused[0].Reason)
}
