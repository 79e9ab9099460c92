package replica_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// olderEnroll is an HTTP client that enrolls as a device of a version
// before hand-carried sync: its Enroll carries no box key, and it does
// not hear the server's.
type olderEnroll struct{}

func (olderEnroll) Do(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/Enroll") {
		return http.DefaultClient.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	m := &v1.EnrollRequest{}
	if err := proto.Unmarshal(body, m); err != nil {
		return nil, err
	}
	m.BoxPublicKey = nil
	if body, err = proto.Marshal(m); err != nil {
		return nil, err
	}
	req = req.Clone(req.Context())
	req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r := &v1.EnrollResponse{}
	if err := proto.Unmarshal(out, r); err != nil {
		return nil, err
	}
	r.ServerBoxPublicKey = nil
	if out, err = proto.Marshal(r); err != nil {
		return nil, err
	}
	resp.Body, resp.ContentLength = io.NopCloser(bytes.NewReader(out)), int64(len(out))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// A device enrolled before hand-carried sync gets its keys at its next
// sync: until then it cannot make a file (and says how to get there);
// after one direct sync its file is carried and applied.
func TestKeysOfADeviceEnrolledBefore(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	staffDev := e.device("staff", replica.Options{})
	code := e.s.Code(t, "王芳", store.Volunteer, "南香村")
	phone, err := replica.Init(ctx, filepath.Join(e.s.Dir, "phone.db"), e.s.URL, code, "phone",
		replica.Options{HTTPClient: olderEnroll{}})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	put(t, phone, "tutoring_sessions", "", "village", "南香村", "session_date", "2024-06-03", "children_present", 9)
	if _, _, err := phone.CarryOut(ctx); err == nil || !strings.Contains(err.Error(), "sync directly once") {
		t.Fatalf("carry-out before the keys are exchanged: %v", err)
	}
	if st := syncOK(t, phone); st.Applied != 1 {
		t.Fatalf("sync: %v", st)
	}
	put(t, phone, "tutoring_sessions", "", "village", "南香村", "session_date", "2024-06-04", "children_present", 8)
	file, st, err := phone.CarryOut(ctx)
	if err != nil || st.Changes != 1 {
		t.Fatalf("carry-out after a sync: %v %v", st, err)
	}
	resp, err := villagesyncv1connect.NewCarryServiceClient(staffDev.HTTPClient(), e.s.URL).
		Carry(ctx, &v1.CarryRequest{File: file})
	if err != nil {
		t.Fatalf("carry: %v", err)
	}
	if len(resp.Results) != 1 || resp.Results[0].Outcome != v1.Outcome_OUTCOME_APPLIED {
		t.Errorf("carry: %v", resp.Results)
	}
	syncOK(t, staffDev)
	syncOK(t, phone)
	assertConverged(t, e, phone)
}
