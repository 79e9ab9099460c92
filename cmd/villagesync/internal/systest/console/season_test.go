package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/demo"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// The demo season's users.
const (
	nanxiangVolunteer = "nanxiang-volunteer"
	townStaff         = "xiaomo-town-staff"
	coordinator       = "futian-coordinator"
)

// A season is the demo season on a running server with the console at "/".
type season struct {
	t   testing.TB
	URL string
	*demo.Season
}

// startSeason runs the demo season and serves it with the console, on
// 127.0.0.1 at a free port, until the test ends. Every test starts its
// server here, and nowhere else.
func startSeason(t testing.TB) *season {
	t.Helper()
	chromium.Browser(t)
	s, err := demo.Start(context.Background(), io.Discard, demo.Options{Dir: t.TempDir(), UI: web.Handler()})
	if s != nil {
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("close the demo season: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("demo season: %v", err)
	}
	return &season{t: t, URL: s.URL, Season: s}
}

// code is a one-time sign-in code for user.
func (s *season) code(user string) string {
	s.t.Helper()
	code, _, err := s.Code(context.Background(), user)
	if err != nil {
		s.t.Fatalf("code for %s: %v", user, err)
	}
	return code
}

// addUser adds a user straight to the store (the demo season has no
// admin), e.g. an admin for the people page.
func (s *season) addUser(name string, role store.Role, villages ...string) {
	s.t.Helper()
	if err := s.Store.CreateUser(context.Background(), name, role, villages); err != nil {
		s.t.Fatalf("add %s: %v", name, err)
	}
}

// An api is the Connect API as one enrolled user calls it from Go, in a
// language (Accept-Language).
type api struct {
	t      testing.TB
	url    string
	http   connect.HTTPClient
	report villagesyncv1connect.ReportServiceClient
	access villagesyncv1connect.AccessServiceClient
	review villagesyncv1connect.ConflictServiceClient
}

// api enrolls a Go client for user (a device of its own, not a browser).
func (s *season) api(user string) *api {
	s.t.Helper()
	enroll := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, s.URL)
	resp, err := enroll.Enroll(context.Background(), &v1.EnrollRequest{Code: s.code(user), DeviceName: "go-" + user})
	if err != nil {
		s.t.Fatalf("enroll a Go client for %s: %v", user, err)
	}
	return newAPI(s.t, s.URL, bearer.Client(nil, resp.GetToken()))
}

func newAPI(t testing.TB, url string, hc connect.HTTPClient) *api {
	return &api{t: t, url: url, http: hc,
		report: villagesyncv1connect.NewReportServiceClient(hc, url),
		access: villagesyncv1connect.NewAccessServiceClient(hc, url),
		review: villagesyncv1connect.NewConflictServiceClient(hc, url)}
}

// lang is the API asked in a language, as the console asks it.
func (a *api) lang(lang string) *api {
	return newAPI(a.t, a.url, langClient{next: a.http, lang: lang})
}

type langClient struct {
	next connect.HTTPClient
	lang string
}

func (c langClient) Do(req *http.Request) (*http.Response, error) {
	req.Header.Set("Accept-Language", c.lang)
	return c.next.Do(req)
}

func callCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// getReport is GetReport over every month and village, as the overview
// asks for it.
func (a *api) getReport() *v1.GetReportResponse {
	a.t.Helper()
	resp, err := a.report.GetReport(callCtx(a.t), &v1.GetReportRequest{})
	if err != nil {
		a.t.Fatalf("GetReport: %v", err)
	}
	return resp
}

// conflicts lists the conflict log (every page of it).
func (a *api) conflicts(req *v1.ListConflictsRequest) []*v1.Conflict {
	a.t.Helper()
	var out []*v1.Conflict
	for {
		resp, err := a.review.ListConflicts(callCtx(a.t), req)
		if err != nil {
			a.t.Fatalf("ListConflicts: %v", err)
		}
		out = append(out, resp.GetConflicts()...)
		if len(resp.GetConflicts()) == 0 {
			return out
		}
		req.AfterId = resp.GetConflicts()[len(resp.GetConflicts())-1].GetId()
	}
}

func (a *api) users() []*v1.User {
	a.t.Helper()
	resp, err := a.access.ListUsers(callCtx(a.t), &v1.ListUsersRequest{})
	if err != nil {
		a.t.Fatalf("ListUsers: %v", err)
	}
	return resp.GetUsers()
}

func (a *api) devices() []*v1.Device {
	a.t.Helper()
	resp, err := a.access.ListDevices(callCtx(a.t), &v1.ListDevicesRequest{})
	if err != nil {
		a.t.Fatalf("ListDevices: %v", err)
	}
	return resp.GetDevices()
}

func (a *api) villages() []*v1.Village {
	a.t.Helper()
	resp, err := a.access.ListVillages(callCtx(a.t), &v1.ListVillagesRequest{})
	if err != nil {
		a.t.Fatalf("ListVillages: %v", err)
	}
	return resp.GetVillages()
}

// refusal is a refused call's message and the field its ErrorDetail names.
type refusal struct {
	Code    connect.Code
	Message string
	Field   string
}

func refusalOf(err error) (refusal, error) {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return refusal{}, fmt.Errorf("not a Connect error: %v", err)
	}
	r := refusal{Code: ce.Code(), Message: ce.Message()}
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			continue
		}
		if ed, ok := v.(*v1.ErrorDetail); ok {
			r.Field = ed.GetField()
		}
	}
	return r, nil
}
