package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
)

// demo --serve must leave a console a person can sign in to with what it
// printed: the URL serves the console, each printed code enrolls once,
// the coordinator's report is the season's, and Ctrl-C ends it cleanly.
func TestDemoServePrintsWorkingSignIns(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"demo", "--serve", "--listen", "127.0.0.1:0", "--dir", t.TempDir()}, pw)
		pw.CloseWithError(err)
		done <- err
	}()
	var console string
	codes := map[string]string{} // user -> code
	link := regexp.MustCompile(`^\s+(\S+)\s+(\S+)\s+(http://\S+?)(/#/signin|/app/#/enroll)\?code=(\S+)\s+\(`)
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, "The web console, with this season: "); i >= 0 {
			console = strings.TrimSuffix(line[i+len("The web console, with this season: "):], "/")
		}
		if m := link.FindStringSubmatch(line); m != nil {
			want := "/#/signin"
			if m[1] == "volunteer" {
				want = "/app/#/enroll" // her link opens the app
			}
			if m[3] != console || m[2] != m[5] || m[4] != want {
				t.Errorf("sign-in line %q: link does not match the console %s, %s or the code", line, console, want)
			}
			codes[m[1]] = m[2]
		}
		if strings.Contains(line, "Ctrl-C stops") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if console == "" || len(codes) != 4 {
		t.Fatalf("demo --serve printed console %q and codes %v; want a URL and 4 codes", console, codes)
	}

	resp, err := http.Get(console + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Errorf("GET /: %s, %q, CSP %q; want the console's page under a strict CSP", resp.Status,
			resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}

	access := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, console)
	en, err := access.Enroll(ctx, &v1.EnrollRequest{Code: codes["coordinator"], DeviceName: "test-browser"})
	if err != nil {
		t.Fatalf("enroll with the coordinator's printed code: %v", err)
	}
	if en.GetRole() != "coordinator" {
		t.Errorf("the coordinator's code enrolled a %s", en.GetRole())
	}
	if _, err := access.Enroll(ctx, &v1.EnrollRequest{Code: codes["coordinator"],
		DeviceName: "again"}); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Errorf("a printed code used twice: %v, want unauthenticated", err)
	}
	reports := villagesyncv1connect.NewReportServiceClient(bearer.Client(http.DefaultClient, en.GetToken()), console)
	rep, err := reports.GetReport(ctx, &v1.GetReportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if tu := rep.GetTotal().GetTutoring(); tu.GetSessions() != 65 || tu.GetStudentAttendances() != 1950 {
		t.Errorf("the served season: %d sessions, %d attendances; want 65 and 1950", tu.GetSessions(),
			tu.GetStudentAttendances())
	}
	for _, who := range []string{"staff", "volunteer", "admin"} {
		if codes[who] == "" {
			t.Errorf("no code printed for %s (%v)", who, codes)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo --serve after Ctrl-C: %v", err)
	}
}
