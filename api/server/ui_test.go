package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// uiSeen is what a UI handler was asked.
type uiSeen struct {
	mu       sync.Mutex
	paths    []string
	bodyLens []int
	headers  []http.Header
}

func (u *uiSeen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.paths = append(u.paths, r.URL.Path)
	u.bodyLens = append(u.bodyLens, len(b))
	u.headers = append(u.headers, r.Header.Clone())
	u.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, "<!doctype html><title>console</title>")
}

func startWith(t *testing.T, opt server.Options) *server.Running {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.StartWith(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0, server.TLS{}, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(); st.Close() })
	return srv
}

// A UI mounted with Options.UI gets every path that is not the API's,
// as it came (no size bound, no header trimmed); the API's paths keep
// their wrappers and bounds. Without a UI those paths are 404.
func TestUIBesideTheAPI(t *testing.T) {
	ui := &uiSeen{}
	srv := startWith(t, server.Options{UI: ui})
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("X-Console", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, path := range []string{"/", "/assets/app-3f2a.js", "/assets/app-3f2a.css", "/favicon.ico"} {
		if resp := get(path); resp.StatusCode != http.StatusOK || resp.Header.Get("Date") == "" {
			t.Errorf("GET %s: %d, Date %q; want the UI's answer, untouched", path, resp.StatusCode, resp.Header.Get("Date"))
		}
	}
	// A body past the API's bound reaches the UI whole.
	big := bytes.Repeat([]byte("x"), server.MaxRequestBytes+1)
	resp, err := http.Post(srv.URL+"/upload", "application/octet-stream", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ui.mu.Lock()
	paths, lens, headers := ui.paths, ui.bodyLens, ui.headers
	ui.mu.Unlock()
	if want := []string{"/", "/assets/app-3f2a.js", "/assets/app-3f2a.css", "/favicon.ico", "/upload"}; strings.Join(paths, " ") !=
		strings.Join(want, " ") {
		t.Errorf("the UI got %q, want %q", paths, want)
	}
	if lens[len(lens)-1] != len(big) {
		t.Errorf("the UI read %d bytes of a %d-byte body", lens[len(lens)-1], len(big))
	}
	if headers[0].Get("X-Console") != "1" {
		t.Errorf("the UI's request lost a header: %v", headers[0])
	}

	// The API on the same port: Connect, health; no Date header; its
	// bound still holds; none of it reached the UI.
	access := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, srv.URL)
	_, err = access.Whoami(context.Background(), &v1.WhoamiRequest{})
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("Whoami without a token: %v, want unauthenticated", err)
	}
	if h, err := grpchealth.NewClient(http.DefaultClient, srv.URL).Check(context.Background(),
		&grpchealth.CheckRequest{}); err != nil || h.Status != grpchealth.StatusServing {
		t.Errorf("health: %v %v", h, err)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+villagesyncv1connect.AccessServiceWhoamiProcedure,
		strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	raw, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw.Body.Close()
	if raw.Header.Get("Date") != "" || raw.StatusCode != http.StatusUnauthorized {
		t.Errorf("an API answer: %d, Date %q; want 401 and no Date", raw.StatusCode, raw.Header.Get("Date"))
	}
	_, err = access.Enroll(context.Background(), &v1.EnrollRequest{Code: string(big), DeviceName: "x"})
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Errorf("an API request past %d bytes: %v, want resource_exhausted", server.MaxRequestBytes, err)
	}
	ui.mu.Lock()
	if len(ui.paths) != len(paths) {
		t.Errorf("API calls reached the UI: %q", ui.paths[len(paths):])
	}
	ui.mu.Unlock()

	// No UI: the API alone, 404 elsewhere (Start and Handler serve so).
	bare := startWith(t, server.Options{})
	resp, err = http.Get(bare.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / without a UI: %d, want 404", resp.StatusCode)
	}
}

// AttachmentService's requests are bounded to a chunk and headroom, not
// the 8 MiB of a Sync: a 1 MiB Upload is refused before it is read whole,
// while a chunk passes the bound (to be refused for its missing token).
func TestAttachmentRequestsAreBoundedToAChunk(t *testing.T) {
	srv := startWith(t, server.Options{})
	lane := villagesyncv1connect.NewAttachmentServiceClient(http.DefaultClient, srv.URL)
	for _, tc := range []struct {
		bytes int
		want  connect.Code
	}{{1 << 20, connect.CodeResourceExhausted}, {server.MaxAttachmentRequestBytes + 1, connect.CodeResourceExhausted},
		{schema.AttachmentChunk, connect.CodeUnauthenticated}} {
		_, err := lane.Upload(context.Background(), &v1.UploadRequest{Digest: strings.Repeat("a", 64),
			Size: uint64(tc.bytes), Data: bytes.Repeat([]byte{0xFF}, tc.bytes)})
		if connect.CodeOf(err) != tc.want {
			t.Errorf("an Upload of %d bytes: %v, want %s", tc.bytes, err, tc.want)
		}
	}
}
