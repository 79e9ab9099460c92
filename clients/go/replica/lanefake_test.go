package replica_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/media"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// fakeLane is an AttachmentService by the contract's upload rules
// (sync/DESIGN.md, Attachments), in memory, in front of a real server for
// everything else: the lane's device side is tested apart from the
// server's storage, with refusals and lost answers chosen by the test.
type fakeLane struct {
	villagesyncv1connect.UnimplementedAttachmentServiceHandler
	mu       sync.Mutex
	stored   map[string][]byte
	uploads  map[string][]byte
	refuse   map[string]*connect.Error
	appended atomic.Int64 // bytes appended to uploads: each at most once
	fetched  atomic.Int64 // Fetch calls
}

func (f *fakeLane) Holds(_ context.Context, req *v1.HoldsRequest) (*v1.HoldsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &v1.HoldsResponse{}
	for _, d := range req.GetDigests() {
		_, ok := f.stored[d]
		out.Held = append(out.Held, &v1.Held{Digest: d, Stored: ok, Received: uint64(len(f.uploads[d]))})
	}
	return out, nil
}

func (f *fakeLane) Upload(_ context.Context, req *v1.UploadRequest) (*v1.UploadResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, size, off := req.GetDigest(), req.GetSize(), req.GetOffset()
	if err := f.refuse[d]; err != nil {
		return nil, err
	}
	if _, ok := f.stored[d]; ok {
		return &v1.UploadResponse{Received: size, Stored: true}, nil
	}
	have := uint64(len(f.uploads[d]))
	switch {
	case off < have:
		return &v1.UploadResponse{Received: have}, nil
	case off > have:
		return nil, connect.NewError(connect.CodeFailedPrecondition,
			fmt.Errorf("offset: %d is past the %d bytes the server holds", off, have))
	case off == 0:
		// As the server: the first chunk's signature only.
		if media.Sniff(req.GetData()) == "" {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("data: %w", media.ErrNotImage))
		}
	}
	f.uploads[d] = append(f.uploads[d], req.GetData()...)
	f.appended.Add(int64(len(req.GetData())))
	if uint64(len(f.uploads[d])) < size {
		return &v1.UploadResponse{Received: uint64(len(f.uploads[d]))}, nil
	}
	data := f.uploads[d]
	delete(f.uploads, d)
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != d {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("digest: the bytes do not match"))
	}
	f.stored[d] = data
	return &v1.UploadResponse{Received: size, Stored: true}, nil
}

func (f *fakeLane) Fetch(_ context.Context, req *v1.FetchRequest) (*v1.FetchResponse, error) {
	f.fetched.Add(1)
	f.mu.Lock()
	data, ok := f.stored[req.GetDigest()]
	f.mu.Unlock()
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("digest: no such attachment"))
	}
	info, _ := media.Check(data)
	if req.GetThumbnail() {
		t, ti, err := media.Thumbnail(data, schema.ThumbMaxSide)
		if err != nil {
			return nil, connect.NewError(connect.CodeInternal, err)
		}
		// As the server: a JPEG, with the photo's own width and height.
		return &v1.FetchResponse{MediaType: "image/jpeg", Data: t, Size: uint64(len(t)),
			Width: uint32(ti.Width), Height: uint32(ti.Height)}, nil
	}
	off := min(int(req.GetOffset()), len(data))
	end := len(data)
	if l := int(req.GetLimit()); l > 0 {
		end = min(end, off+l)
	}
	return &v1.FetchResponse{MediaType: info.MediaType, Data: data[off:end], Size: uint64(len(data)),
		Width: uint32(info.Width), Height: uint32(info.Height)}, nil
}

// laneEnv is a real server with the fake lane in front of it.
type laneEnv struct {
	t    *testing.T
	s    *replicatest.Server
	lane *fakeLane // nil over the real server's lane
	url  string
}

// realLane is the server's own AttachmentService, no fake in front.
func realLane(t *testing.T) *laneEnv {
	s := replicatest.Start(t, nil)
	return &laneEnv{t: t, s: s, url: s.URL}
}

// lanes are the two servers the lane's tests run against.
var lanes = []struct {
	name string
	env  func(*testing.T) *laneEnv
}{{"fake", newLaneEnv}, {"server", realLane}}

func newLaneEnv(t *testing.T) *laneEnv {
	s := replicatest.Start(t, nil)
	f := &fakeLane{stored: map[string][]byte{}, uploads: map[string][]byte{}, refuse: map[string]*connect.Error{}}
	target, _ := url.Parse(s.URL)
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	path, h := villagesyncv1connect.NewAttachmentServiceHandler(f)
	mux.Handle(path, h)
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return &laneEnv{t: t, s: s, lane: f, url: front.URL}
}

// withoutLane is a real server behind a front that answers as a server
// from before the photo lane: AttachmentService is an unknown path (404,
// which Connect reads as Unimplemented).
func withoutLane(t *testing.T) *laneEnv {
	s := replicatest.Start(t, nil)
	target, _ := url.Parse(s.URL)
	mux := http.NewServeMux()
	mux.Handle("/", httputil.NewSingleHostReverseProxy(target))
	mux.Handle("/"+villagesyncv1connect.AttachmentServiceName+"/", http.NotFoundHandler())
	front := httptest.NewServer(mux)
	t.Cleanup(front.Close)
	return &laneEnv{t: t, s: s, url: front.URL}
}

// device enrolls a device of user through the front.
func (e *laneEnv) device(user string, role store.Role, villages []string, opt replica.Options) *replica.Replica {
	e.t.Helper()
	r, err := replica.Init(context.Background(), filepath.Join(e.s.Dir, user+".db"), e.url,
		e.s.Code(e.t, user, role, villages...), user, opt)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

// flaky fails every nth call of the lane's method, alternately before the
// server sees it and after it answered (the answer is lost).
type flaky struct {
	method string
	every  int64
	calls  atomic.Int64
	failed atomic.Int64
}

func (f *flaky) Do(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/"+f.method) {
		return http.DefaultClient.Do(req)
	}
	n := f.calls.Add(1)
	if n%f.every != 0 {
		return http.DefaultClient.Do(req)
	}
	if f.failed.Add(1)%2 == 1 {
		return nil, errors.New("flaky: request lost")
	}
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		return nil, errors.New("flaky: answer lost")
	}
	return nil, err
}

// noise is a PNG of about n bytes that does not compress: random pixels.
func noise(t testing.TB, n int, seed byte) []byte {
	t.Helper()
	side := 16
	for side*side*4 < n {
		side += 16
	}
	var b bytes.Buffer
	if err := pngNoise(&b, side, seed); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func has(list []string, d string) bool { return slices.Contains(list, d) }
