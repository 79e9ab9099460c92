package rpc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// photo is a w×h JPEG that differs with seed, and its digest.
func photo(t testing.TB, w, h int, seed uint8) ([]byte, string) {
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
	return b.Bytes(), digestOf(b.Bytes())
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// withCover is a book of village whose cover names digest.
func withCover(r uint32, village, digest string) *v1.Record {
	m := book(r, village)
	d := m.Fields[0].Dot
	m.Fields = append(m.Fields, &v1.Field{Name: "cover", Value: text(digest), Dot: d})
	return m
}

type laneEnv struct {
	*accessEnv
}

// lane is an attachment client of a new device of user, asking for lang.
func (e *laneEnv) lane(t *testing.T, user string, role store.Role, lang string,
	villages ...string) (villagesyncv1connect.AttachmentServiceClient, villagesyncv1connect.SyncServiceClient, uint32) {
	t.Helper()
	_, reg := e.device(t, user, role, villages...)
	return villagesyncv1connect.NewAttachmentServiceClient(as(reg.Token, lang), e.url),
		villagesyncv1connect.NewSyncServiceClient(as(reg.Token, lang), e.url), reg.Replica
}

// upload sends b in chunks from offset from up to to (0: the end) and
// returns the last answer.
func upload(ctx context.Context, c villagesyncv1connect.AttachmentServiceClient, digest string, b []byte,
	from, to int) (*v1.UploadResponse, error) {
	if to == 0 {
		to = len(b)
	}
	var last *v1.UploadResponse
	for off := from; off < to; off += schema.AttachmentChunk {
		end := min(off+schema.AttachmentChunk, len(b))
		resp, err := c.Upload(ctx, &v1.UploadRequest{Digest: digest, Size: uint64(len(b)), Offset: uint64(off),
			Data: b[off:end]})
		if err != nil {
			return nil, err
		}
		last = resp
	}
	return last, nil
}

// A photo a record names goes up in chunks, is whole only after the last,
// and comes back whole, in ranges and as a thumbnail, to those whose
// villages' records name it; to others it does not exist.
func TestAttachmentLaneEndToEnd(t *testing.T) {
	e := &laneEnv{startAccess(t, rpc.Limits{})}
	ctx := context.Background()
	vol, volSync, volR := e.lane(t, "王芳", store.Volunteer, "", "南香村")
	other, _, _ := e.lane(t, "李明", store.Volunteer, "zh-CN", "东旺村")
	staffLane, _, _ := e.lane(t, "张伟", store.Staff, "")
	b, digest := photo(t, 900, 600, 1)
	if len(b) < 3*schema.AttachmentChunk {
		t.Fatalf("the photo is %d bytes; the test needs several chunks", len(b))
	}

	// Before the record: refused, naming the digest.
	_, err := vol.Upload(ctx, &v1.UploadRequest{Digest: digest, Size: uint64(len(b)), Data: b[:schema.AttachmentChunk]})
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || errorField(err) != "digest" {
		t.Fatalf("upload before the record = %v (field %q), want FailedPrecondition on digest", err, errorField(err))
	}
	if resp, err := volSync.Sync(ctx, &v1.SyncRequest{Replica: volR,
		Changes: []*v1.Record{withCover(volR, "南香村", digest)}}); err != nil || resp.Results[0].GetMessage() != "" {
		t.Fatalf("sync = %v, %v", resp, err)
	}

	// Part of it: held, not visible.
	if _, err := upload(ctx, vol, digest, b, 0, 2*schema.AttachmentChunk); err != nil {
		t.Fatal(err)
	}
	h, err := vol.Holds(ctx, &v1.HoldsRequest{Digests: []string{digest}})
	if err != nil || h.Held[0].GetStored() || h.Held[0].GetReceived() != 2*schema.AttachmentChunk {
		t.Fatalf("holds after two chunks = %v, %v", h, err)
	}
	if _, err := staffLane.Fetch(ctx, &v1.FetchRequest{Digest: digest}); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("fetch of a half upload = %v, want NotFound", err)
	}
	last, err := upload(ctx, vol, digest, b, int(h.Held[0].GetReceived()), 0)
	if err != nil || !last.GetStored() || last.GetReceived() != uint64(len(b)) {
		t.Fatalf("last chunk = %v, %v", last, err)
	}

	got, err := staffLane.Fetch(ctx, &v1.FetchRequest{Digest: digest})
	if err != nil || !bytes.Equal(got.GetData(), b) || got.GetMediaType() != "image/jpeg" ||
		got.GetWidth() != 900 || got.GetHeight() != 600 || got.GetSize() != uint64(len(b)) {
		t.Fatalf("fetch = %d bytes %s %dx%d, %v", len(got.GetData()), got.GetMediaType(), got.GetWidth(), got.GetHeight(), err)
	}
	part, err := vol.Fetch(ctx, &v1.FetchRequest{Digest: digest, Offset: 100, Limit: 50})
	if err != nil || !bytes.Equal(part.GetData(), b[100:150]) {
		t.Fatalf("ranged fetch = %v", err)
	}
	th, err := vol.Fetch(ctx, &v1.FetchRequest{Digest: digest, Thumbnail: true})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(th.GetData()))
	if err != nil || cfg.Width != schema.ThumbMaxSide || cfg.Height != schema.ThumbMaxSide*600/900 {
		t.Fatalf("thumbnail %dx%d, %v", cfg.Width, cfg.Height, err)
	}

	_, err = other.Fetch(ctx, &v1.FetchRequest{Digest: digest})
	if connect.CodeOf(err) != connect.CodeNotFound || !hasHan(err.Error()) || errorField(err) != "digest" {
		t.Fatalf("fetch from another village = %v (field %q), want NotFound in Chinese", err, errorField(err))
	}
	_, unknown := photo(t, 10, 10, 2)
	_, err2 := other.Fetch(ctx, &v1.FetchRequest{Digest: unknown})
	if connect.CodeOf(err2) != connect.CodeNotFound ||
		strings.ReplaceAll(err2.Error(), unknown, digest) != err.Error() {
		t.Fatalf("unknown digest = %v; out of scope = %v: they must not differ", err2, err)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
}

// Each refusal of the lane reaches the device as its Connect code, the
// field it names as the error detail, and in Chinese for a Chinese app.
func TestAttachmentRefusalCodes(t *testing.T) {
	e := &laneEnv{startAccess(t, rpc.Limits{})}
	ctx := context.Background()
	vol, volSync, volR := e.lane(t, "王芳", store.Volunteer, "zh-CN", "南香村")
	coord, _, _ := e.lane(t, "赵强", store.Coordinator, "zh-CN")
	b, digest := photo(t, 900, 600, 3)
	text := []byte(strings.Repeat("not a photo ", 10))
	textDigest := digestOf(text)
	if resp, err := volSync.Sync(ctx, &v1.SyncRequest{Replica: volR, Changes: []*v1.Record{
		withCover(volR, "南香村", digest), withCover(volR, "南香村", textDigest)}}); err != nil ||
		resp.Results[0].GetMessage()+resp.Results[1].GetMessage() != "" {
		t.Fatalf("sync = %v, %v", resp, err)
	}
	_, unnamed := photo(t, 20, 20, 4)
	chunk := func(d string, size, off int, data []byte) func() error {
		return func() error {
			_, err := vol.Upload(ctx, &v1.UploadRequest{Digest: d, Size: uint64(size), Offset: uint64(off), Data: data})
			return err
		}
	}
	for _, tc := range []struct {
		name  string
		call  func() error
		code  connect.Code
		field string
	}{
		{"bad digest", chunk("XYZ", 10, 0, b[:10]), connect.CodeInvalidArgument, "digest"},
		{"over size", chunk(digest, schema.MaxAttachmentBytes+1, 0, b[:schema.AttachmentChunk]),
			connect.CodeInvalidArgument, "size"},
		{"chunk too big", chunk(digest, len(b), 0, b[:schema.AttachmentChunk+1]), connect.CodeInvalidArgument, "data"},
		{"not an image", chunk(textDigest, len(text), 0, text), connect.CodeInvalidArgument, "data"},
		{"not named", chunk(unnamed, len(b), 0, b[:schema.AttachmentChunk]), connect.CodeFailedPrecondition, "digest"},
		{"out of order", chunk(digest, len(b), schema.AttachmentChunk, b[schema.AttachmentChunk:2*schema.AttachmentChunk]),
			connect.CodeFailedPrecondition, "offset"},
		{"fetch unknown", func() error {
			_, err := vol.Fetch(ctx, &v1.FetchRequest{Digest: unnamed})
			return err
		}, connect.CodeNotFound, "digest"},
		{"holds too many", func() error {
			_, err := vol.Holds(ctx, &v1.HoldsRequest{Digests: make([]string, store.MaxHolds+1)})
			return err
		}, connect.CodeInvalidArgument, "digests"},
		{"coordinator uploads", func() error {
			_, err := coord.Upload(ctx, &v1.UploadRequest{Digest: digest, Size: uint64(len(b)), Data: b[:schema.AttachmentChunk]})
			return err
		}, connect.CodePermissionDenied, "role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if connect.CodeOf(err) != tc.code || errorField(err) != tc.field || !hasHan(err.Error()) {
				t.Fatalf("got %v (code %v, field %q), want %v on %q in Chinese", err, connect.CodeOf(err),
					errorField(err), tc.code, tc.field)
			}
		})
	}
	// The digest is checked whole: a mismatch discards the upload.
	wrong := append([]byte{}, b...)
	wrong[len(wrong)-3] ^= 1
	_, err := upload(ctx, vol, digest, wrong, 0, 0)
	if connect.CodeOf(err) != connect.CodeInvalidArgument || errorField(err) != "digest" || !hasHan(err.Error()) {
		t.Fatalf("mismatch = %v (field %q)", err, errorField(err))
	}
	h, err := vol.Holds(ctx, &v1.HoldsRequest{Digests: []string{digest}})
	if err != nil || h.Held[0].GetReceived() != 0 || h.Held[0].GetStored() {
		t.Fatalf("after a mismatch the server holds %v, %v; want nothing", h, err)
	}
}

// The quota reaches the device as ResourceExhausted.
func TestAttachmentQuotaCode(t *testing.T) {
	file := t.TempDir() + "/s.db"
	st, err := store.Open(context.Background(), file, store.Options{DeviceAttachmentQuota: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.DiscardHandler)
	go func() { done <- server.Serve(ctx, ln, server.Handler(st, log, rpc.Limits{}), log, 0) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	e := &laneEnv{&accessEnv{testServer: &testServer{st: st, url: "http://" + ln.Addr().String()}, file: file}}
	vol, volSync, volR := e.lane(t, "王芳", store.Volunteer, "", "南香村")
	b, digest := photo(t, 900, 600, 5)
	if _, err := volSync.Sync(ctx, &v1.SyncRequest{Replica: volR, Changes: []*v1.Record{withCover(volR, "南香村", digest)}}); err != nil {
		t.Fatal(err)
	}
	_, err = upload(ctx, vol, digest, b, 0, 0)
	if connect.CodeOf(err) != connect.CodeResourceExhausted || errorField(err) != "size" {
		t.Fatalf("over quota = %v (field %q)", err, errorField(err))
	}
}

// The lane has its own bucket per device: a device that used up its
// lane's calls still syncs, and one whose syncs ran out still uploads.
func TestLaneHasItsOwnRateBucket(t *testing.T) {
	lim := rpc.Limits{RequestsPerSecond: 0.001, Burst: 3}
	e := &laneEnv{startAccess(t, lim)}
	_, laneBurst := rpc.LaneLimits(lim)
	if laneBurst < schema.MaxAttachmentBytes/schema.AttachmentChunk {
		t.Fatalf("the lane's burst %d does not hold the largest photo's chunks", laneBurst)
	}
	ctx := context.Background()
	vol, volSync, volR := e.lane(t, "王芳", store.Volunteer, "", "南香村")
	holds := func() error {
		_, err := vol.Holds(ctx, &v1.HoldsRequest{})
		return err
	}
	syncs := func() error {
		_, err := volSync.Sync(ctx, &v1.SyncRequest{Replica: volR})
		return err
	}
	for i := 0; i < laneBurst; i++ {
		if err := holds(); err != nil {
			t.Fatalf("holds %d: %v", i, err)
		}
	}
	if err := holds(); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("Holds %d = %v, want ResourceExhausted", laneBurst+1, err)
	}
	for i := 0; i < 3; i++ {
		if err := syncs(); err != nil {
			t.Fatalf("sync %d after the lane's calls ran out: %v", i, err)
		}
	}
	if err := syncs(); connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("the fourth Sync = %v, want ResourceExhausted", err)
	}
}
