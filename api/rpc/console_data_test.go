package rpc_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/xuri/excelize/v2"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// session logs a 7pm class in village on date through dev.
func session(t *testing.T, dev *replica.Replica, village, date, class string, children int) string {
	t.Helper()
	return replicatest.Put(t, dev, "tutoring_sessions", "", "village", village, "session_date", date,
		"class_group", class, "children_present", children, "volunteers", "王芳")
}

// xlsxCells reads back every cell of every sheet of a workbook.
func xlsxCells(t *testing.T, b []byte) [][]string {
	t.Helper()
	x, err := excelize.OpenReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var out [][]string
	for _, sheet := range x.GetSheetList() {
		rows, err := x.GetRows(sheet)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, [][]string{{"sheet " + sheet}}...)
		out = append(out, rows...)
	}
	return out
}

// ExportReport's file is the one `villagesync report --format csv|xlsx`
// writes of the same report (reportfmt.Render of what GetReport returns),
// its figures are GetReport's, and the workbook reads back.
func TestExportReportIsTheCommandLinesFile(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	dev := e.replicaOf(t, "陈伟", store.Staff)
	session(t, dev, "南香村", "2024-03-05", "三年级", 21)
	session(t, dev, "南香村", "2024-04-02", "三年级", 19)
	session(t, dev, "东旺村", "2024-03-06", "四年级", 30)
	replicatest.SyncOK(t, dev)
	reports := villagesyncv1connect.NewReportServiceClient(dev.HTTPClient(), e.url)
	q := &v1.GetReportRequest{FromMonth: "2024-03", ToMonth: "2024-04"}
	for _, tc := range []struct {
		format, lang, wantLang, ext, typ string
	}{
		{"xlsx", "", "zh", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"xlsx", "en", "en", "xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{"csv", "zh", "zh", "csv", "text/csv; charset=utf-8"},
		{"csv", "en", "en", "csv", "text/csv; charset=utf-8"},
	} {
		t.Run(tc.format+" "+tc.wantLang, func(t *testing.T) {
			resp, err := reports.ExportReport(ctx, &v1.ExportReportRequest{Report: q, Format: tc.format, Lang: tc.lang})
			if err != nil {
				t.Fatal(err)
			}
			if want := "villagesync-report-2024-03-2024-04." + tc.ext; resp.Filename != want {
				t.Errorf("filename %q, want %q", resp.Filename, want)
			}
			if resp.ContentType != tc.typ {
				t.Errorf("content type %q, want %q", resp.ContentType, tc.typ)
			}
			// What the command line does with a GetReport response.
			var cli bytes.Buffer
			if err := reportfmt.Render(&cli, wire.FromReport(resp.Report), reportfmt.Format(tc.format),
				reportfmt.Lang(tc.wantLang)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(cli.Bytes(), resp.Content) {
				t.Errorf("the file (%d bytes) is not what the command line writes of its report (%d bytes)",
					len(resp.Content), cli.Len())
			}
			// The same figures as GetReport (its freshness aside: a moment later).
			get, err := reports.GetReport(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			a, b := proto.Clone(get).(*v1.GetReportResponse), proto.Clone(resp.Report).(*v1.GetReportResponse)
			a.Freshness, b.Freshness = nil, nil
			if !proto.Equal(a, b) {
				t.Errorf("ExportReport's figures differ from GetReport's:\n%v\n%v", a, b)
			}
			var text string
			if tc.format == "xlsx" {
				cells := xlsxCells(t, resp.Content)
				for _, row := range cells {
					text += strings.Join(row, "\t") + "\n"
				}
			} else {
				if !bytes.HasPrefix(resp.Content, []byte(reportfmt.BOM)) {
					t.Error("the CSV has no byte order mark")
				}
				text = string(resp.Content)
			}
			for _, want := range []string{"南香村", "东旺村", "2024-03", "2024-04", "40", "70"} {
				if !strings.Contains(text, want) {
					t.Errorf("the file lacks %q:\n%s", want, text)
				}
			}
			header := map[string]string{"zh": "学生出勤人次", "en": "student attendances"}[tc.wantLang]
			if !strings.Contains(text, header) {
				t.Errorf("the %s file lacks the header %q:\n%s", tc.wantLang, header, text)
			}
		})
	}
}

// A volunteer lists her villages; the other roles every village, those
// an admin adds included.
func TestListVillages(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	_, adminReg := e.device(t, "root", store.Admin)
	_, volReg := e.device(t, "王芳", store.Volunteer, "旺渔村")
	_, coordReg := e.device(t, "coordinator", store.Coordinator)
	admin := villagesyncv1connect.NewAccessServiceClient(bearer.Client(nil, adminReg.Token), e.url)
	if _, err := admin.AddVillage(ctx, &v1.AddVillageRequest{Name: "新村", Pinyin: "Xincun", Aliases: []string{"新邨"}}); err != nil {
		t.Fatal(err)
	}
	names := func(token string) []string {
		t.Helper()
		resp, err := villagesyncv1connect.NewAccessServiceClient(bearer.Client(nil, token), e.url).
			ListVillages(ctx, &v1.ListVillagesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range resp.Villages {
			if v.Id == "" || v.Pinyin == "" {
				t.Errorf("village %v lacks its id or pinyin", v)
			}
			out = append(out, v.Name+" "+v.Pinyin+" "+strings.Join(v.Aliases, ","))
		}
		return out
	}
	if got, want := names(volReg.Token), []string{"旺渔村 Wangyu 旺鱼村"}; !slices.Equal(got, want) {
		t.Errorf("the volunteer's villages: %q, want %q", got, want)
	}
	all := []string{"东旺村 Dongwang ", "南香村 Nanxiang ", "新村 Xincun 新邨", "旺渔村 Wangyu 旺鱼村"}
	for _, token := range []string{coordReg.Token, adminReg.Token} {
		if got := names(token); !slices.Equal(got, all) {
			t.Errorf("every village: %q, want %q", got, all)
		}
	}
}

// devices lists the devices a token may see, by replica.
func devices(t *testing.T, url string, hc connect.HTTPClient) map[uint32]*v1.Device {
	t.Helper()
	resp, err := villagesyncv1connect.NewAccessServiceClient(hc, url).ListDevices(context.Background(),
		&v1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]*v1.Device{}
	for _, d := range resp.Devices {
		out[d.Replica] = d
	}
	return out
}

// A device that has not pulled N changes of its villages is N behind;
// changes in other villages and its own writes do not count; once it
// has synced (and the server has its new cursor: the next sync sends it)
// it is 0 behind. The report's freshness says the same. A volunteer lists
// only her own devices; coordinators list them all.
func TestDeviceLag(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	writer := e.replicaOf(t, "陈伟", store.Staff)
	phone := e.replicaOf(t, "王芳", store.Volunteer, "南香村")
	reader := e.replicaOf(t, "coordinator", store.Coordinator)
	browser := e.token(t, "王芳")
	session(t, writer, "南香村", "2024-03-05", "三年级", 21)
	replicatest.SyncOK(t, writer)
	for _, d := range []*replica.Replica{phone, reader, phone, reader, writer} {
		replicatest.SyncOK(t, d) // twice each: the second sends the cursor the first pulled to
	}
	lag := func() map[uint32]*v1.Device { return devices(t, e.url, reader.HTTPClient()) }
	for id, d := range lag() {
		if d.Behind != 0 && d.Name != "王芳-browser" {
			t.Fatalf("device %d (%s) is %d behind after syncing", id, d.Name, d.Behind)
		}
	}
	const n, other = 3, 2
	for i := range n {
		session(t, writer, "南香村", fmt.Sprintf("2024-04-%02d", i+1), "三年级", 20)
	}
	for i := range other {
		session(t, writer, "东旺村", fmt.Sprintf("2024-04-%02d", i+1), "四年级", 25)
	}
	replicatest.SyncOK(t, writer)
	replicatest.SyncOK(t, writer) // so the server has its cursor after its own push
	ds := lag()
	p, r, w := ds[phone.ID()], ds[reader.ID()], ds[writer.ID()]
	if p.Behind != n || r.Behind != n+other || w.Behind != 0 {
		t.Errorf("behind: volunteer %d (want %d), coordinator %d (want %d), the writer %d (want 0)",
			p.Behind, n, r.Behind, n+other, w.Behind)
	}
	if p.FeedSeq == 0 || p.PulledSeq == 0 || p.PulledSeq >= p.FeedSeq || w.PulledSeq != w.FeedSeq {
		t.Errorf("positions: volunteer pulled %d of %d; writer pulled %d of %d", p.PulledSeq, p.FeedSeq,
			w.PulledSeq, w.FeedSeq)
	}
	if p.Role != "volunteer" || r.Role != "coordinator" || w.Role != "staff" || p.User != "王芳" {
		t.Errorf("roles and users: %v %v %v", p, r, w)
	}
	// The report's freshness counts the same way.
	rep, err := villagesyncv1connect.NewReportServiceClient(reader.HTTPClient(), e.url).
		GetReport(ctx, &v1.GetReportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range rep.Freshness.Devices {
		l := ds[d.Replica]
		if d.Behind != l.Behind || d.PulledSeq != l.PulledSeq || d.User != l.User || d.RevokedAtMs != l.RevokedAtMs {
			t.Errorf("report freshness of %d: %v, ListDevices: %v", d.Replica, d, l)
		}
	}
	if len(rep.Freshness.Devices) != len(ds) {
		t.Errorf("the report lists %d devices, ListDevices %d", len(rep.Freshness.Devices), len(ds))
	}
	replicatest.SyncOK(t, phone)
	if b := lag()[phone.ID()].Behind; b != n {
		t.Errorf("after a sync whose cursor the server has not seen yet: %d behind, want %d (as before)", b, n)
	}
	replicatest.SyncOK(t, phone)
	if b := lag()[phone.ID()].Behind; b != 0 {
		t.Errorf("after syncing: %d behind, want 0", b)
	}
	// A revoked device pulls nothing.
	staffAcc := villagesyncv1connect.NewAccessServiceClient(writer.HTTPClient(), e.url)
	if _, err := staffAcc.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: reader.ID()}); err != nil {
		t.Fatal(err)
	}
	if d := devices(t, e.url, writer.HTTPClient())[reader.ID()]; d.RevokedAtMs == 0 || d.Behind != 0 {
		t.Errorf("a revoked device: %v", d)
	}

	// Who sees which devices.
	mine := devices(t, e.url, bearer.Client(nil, browser))
	if len(mine) != 2 || mine[phone.ID()] == nil {
		t.Errorf("the volunteer lists %v, want her phone and her browser", mine)
	}
	for _, d := range mine {
		if d.User != "王芳" {
			t.Errorf("the volunteer sees %s's device %d", d.User, d.Replica)
		}
	}
	coord := e.replicaOf(t, "coordinator2", store.Coordinator)
	if all := devices(t, e.url, coord.HTTPClient()); len(all) != len(ds)+1 {
		t.Errorf("a coordinator lists %d devices, want %d", len(all), len(ds)+1)
	}
	if _, err := villagesyncv1connect.NewAccessServiceClient(coord.HTTPClient(), e.url).
		RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: phone.ID()}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("a coordinator revokes a device: %v, want permission_denied", err)
	}
}

// The review queue's data: who wrote each side, the records as they
// stand, the history apart from the queue.
func TestConflictReviewData(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	a := e.replicaOf(t, "陈伟", store.Staff)
	b := e.replicaOf(t, "李雷", store.Staff)
	id := session(t, a, "南香村", "2024-03-05", "三年级", 21)
	replicatest.SyncOK(t, a)
	replicatest.SyncOK(t, b)
	replicatest.Put(t, a, "tutoring_sessions", id, "notes", "复习小数")
	replicatest.Put(t, b, "tutoring_sessions", id, "notes", "分数练习")
	replicatest.SyncOK(t, a)
	replicatest.SyncOK(t, b)
	// And a flag: the class logged again.
	dup := session(t, b, "东旺村", "2024-03-06", "四年级", 30)
	dup2 := session(t, a, "东旺村", "2024-03-06", "四年级", 30)
	replicatest.SyncOK(t, b)
	replicatest.SyncOK(t, a)

	conflicts := villagesyncv1connect.NewConflictServiceClient(a.HTTPClient(), e.url)
	list := func(req *v1.ListConflictsRequest) []*v1.Conflict {
		t.Helper()
		resp, err := conflicts.ListConflicts(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Conflicts
	}
	open := list(&v1.ListConflictsRequest{OpenOnly: true, WithRecords: true})
	if len(open) != 2 {
		t.Fatalf("want a field conflict and a flag open: %v", open)
	}
	field, flag := open[0], open[1]
	if field.Kind != "field" || flag.Kind != "duplicate_session" {
		t.Fatalf("kinds %s, %s", field.Kind, flag.Kind)
	}
	if users := []string{field.WinnerUser, field.LoserUser}; !slices.Contains(users, "陈伟") || !slices.Contains(users, "李雷") {
		t.Errorf("the field conflict's users: %q", users)
	}
	if len(field.Records) != 1 || field.Records[0].Id != id || field.Records[0].Deleted {
		t.Fatalf("the field conflict's records: %v", field.Records)
	}
	rec := field.Records[0]
	notes := ""
	for _, f := range rec.Fields {
		if f.Name == "notes" {
			notes = f.Value.GetText()
			if f.Dot == nil || f.Dot.Replica == 0 {
				t.Errorf("notes without its dot: %v", f)
			}
		}
	}
	if notes != field.WinnerValue.GetText() {
		t.Errorf("the record holds notes %q, the winner is %q", notes, field.WinnerValue.GetText())
	}
	if rec.User != field.WinnerUser || rec.Device != field.WinnerDevice || rec.WrittenAtMs == 0 {
		t.Errorf("the latest write: %s %s %d; the winner: %s %s", rec.Device, rec.User, rec.WrittenAtMs,
			field.WinnerDevice, field.WinnerUser)
	}
	if len(flag.Records) != 2 || flag.Records[0].Id != flag.RecordId || flag.Records[1].Id != flag.OtherId {
		t.Errorf("the flag's records: %v (record %s, other %s)", flag.Records, flag.RecordId, flag.OtherId)
	}
	for _, r := range flag.Records {
		if r.Id != dup && r.Id != dup2 {
			t.Errorf("the flag holds %s, not one of the two copies", r.Id)
		}
	}
	if len(list(&v1.ListConflictsRequest{OpenOnly: true})[0].Records) != 0 {
		t.Error("records without with_records")
	}
	if h := list(&v1.ListConflictsRequest{ResolvedOnly: true}); len(h) != 0 {
		t.Errorf("history before anything is resolved: %v", h)
	}
	if _, err := conflicts.ResolveConflict(ctx, &v1.ResolveConflictRequest{Id: flag.Id, Resolution: "merge"}); err != nil {
		t.Fatal(err)
	}
	if q := list(&v1.ListConflictsRequest{OpenOnly: true}); len(q) != 1 || q[0].Id != field.Id {
		t.Errorf("the queue after the merge: %v", q)
	}
	h := list(&v1.ListConflictsRequest{ResolvedOnly: true, WithRecords: true})
	if len(h) != 1 || h[0].Id != flag.Id || h[0].Resolution != "merge" {
		t.Fatalf("the history after the merge: %v", h)
	}
	deleted := 0
	for _, r := range h[0].Records {
		if r.Deleted {
			deleted++
			// A merge is the server's write (resolved_by names staff).
			if r.Device != "server" || r.User != "" || r.WrittenAtMs == 0 {
				t.Errorf("the merged copy's latest write: %s %q at %d, want the server's", r.Device, r.User, r.WrittenAtMs)
			}
		}
	}
	if deleted != 1 {
		t.Errorf("after the merge %d of the flag's records are deleted, want 1: %v", deleted, h[0].Records)
	}
}

// Each (village, month) row shows the open flags on the records it
// counts; the totals sum them, each entry once; resolving the duplicate
// session as merge clears it and the figures stay exact.
func TestOpenFlagsOnReportRows(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	staff := e.replicaOf(t, "陈伟", store.Staff)
	phone := e.replicaOf(t, "王芳", store.Volunteer, "南香村")
	// As in the demo: a volunteer logs the class, staff log it again from
	// the paper sheet.
	session(t, phone, "南香村", "2024-03-05", "三年级", 21)
	session(t, phone, "南香村", "2024-03-12", "三年级", 22)
	session(t, phone, "南香村", "2024-04-02", "三年级", 23)
	replicatest.SyncOK(t, phone)
	session(t, staff, "南香村", "2024-03-05", "三年级", 21)
	// A copy lent twice in 东旺村.
	book := replicatest.Put(t, staff, "books", "", "village", "东旺村")
	for _, card := range []string{"C-1", "C-2"} {
		replicatest.Put(t, staff, "loans", "", "village", "东旺村", "book_id", book, "borrower_card", card,
			"lent_on", "2024-04-10")
	}
	replicatest.SyncOK(t, staff)
	reports := villagesyncv1connect.NewReportServiceClient(staff.HTTPClient(), e.url)
	q := &v1.GetReportRequest{FromMonth: "2024-03", ToMonth: "2024-04"}
	get := func() *v1.GetReportResponse {
		t.Helper()
		r, err := reports.GetReport(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	flagsOf := func(r *v1.ReportRow) map[string]int64 {
		out := map[string]int64{}
		for _, f := range r.OpenFlags {
			out[f.Kind] = f.Count
		}
		return out
	}
	rowOf := func(rep *v1.GetReportResponse, village, month string) *v1.ReportRow {
		for _, r := range append(append(slices.Clone(rep.Rows), rep.VillageTotals...), rep.Total) {
			if r.Village == village && r.Month == month {
				return r
			}
		}
		t.Fatalf("no row %s %s", village, month)
		return nil
	}
	rep := get()
	want := map[[2]string]map[string]int64{
		{"南香村", "2024-03"}: {"duplicate_session": 1},
		{"南香村", "2024-04"}: {},
		{"东旺村", "2024-04"}: {"double_loan": 1},
		{"南香村", ""}:        {"duplicate_session": 1},
		{"东旺村", ""}:        {"double_loan": 1},
		{"旺渔村", ""}:        {},
		{"", ""}:           {"duplicate_session": 1, "double_loan": 1},
	}
	for k, w := range want {
		if got := flagsOf(rowOf(rep, k[0], k[1])); !mapsEqual(got, w) {
			t.Errorf("%s %s: open flags %v, want %v", k[0], k[1], got, w)
		}
	}
	if s := rowOf(rep, "南香村", "2024-03").Tutoring; s.Sessions != 2 || s.StudentAttendances != 43 {
		t.Errorf("南香村 March counts the duplicate: %v", s)
	}
	flags, err := e.st.ListConflicts(ctx, store.ConflictFilter{OpenOnly: true, Table: "tutoring_sessions"})
	if err != nil || len(flags) != 1 {
		t.Fatalf("the duplicate's flag: %v %v", flags, err)
	}
	if _, err := villagesyncv1connect.NewConflictServiceClient(staff.HTTPClient(), e.url).
		ResolveConflict(ctx, &v1.ResolveConflictRequest{Id: flags[0].LogID, Resolution: "merge"}); err != nil {
		t.Fatal(err)
	}
	after := get()
	if got := flagsOf(rowOf(after, "南香村", "2024-03")); len(got) != 0 {
		t.Errorf("after the merge 南香村 March shows %v", got)
	}
	if got := flagsOf(after.Total); !mapsEqual(got, map[string]int64{"double_loan": 1}) {
		t.Errorf("after the merge the total shows %v", got)
	}
	for _, k := range [][2]string{{"南香村", "2024-03"}, {"南香村", ""}, {"", ""}} {
		b, a := rowOf(rep, k[0], k[1]).Tutoring, rowOf(after, k[0], k[1]).Tutoring
		if !proto.Equal(a, b) {
			t.Errorf("%s %s: figures %v before the merge, %v after", k[0], k[1], b, a)
		}
	}
	if n := rowOf(after, "", "").Tutoring.Sessions; n != 3 {
		t.Errorf("%d sessions in all, want 3", n)
	}
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// otherVillages are the names nothing a 南香村 volunteer receives may hold.
var otherVillages = []string{"东旺村", "旺渔村", "旺鱼村", "Dongwang", "Wangyu"}

func leaks(b []byte) []string {
	var out []string
	for _, v := range otherVillages {
		if bytes.Contains(b, []byte(v)) {
			out = append(out, v)
		}
	}
	return out
}

// unzipped is every file of a zip (an xlsx) inflated and concatenated.
func unzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(&out, r)
		r.Close()
	}
	return out.Bytes()
}

// A volunteer's device may read the report, its file and a record's
// history, and gets only her villages: no other village's name anywhere
// in the bytes of a response, her own devices only, her villages' totals.
func TestVolunteerSeesOnlyHerVillages(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	staff := e.replicaOf(t, "陈伟", store.Staff)
	mine := e.replicaOf(t, "王芳", store.Volunteer, "南香村")
	theirs := e.replicaOf(t, "Dongwang volunteer", store.Volunteer, "东旺村")
	own := session(t, mine, "南香村", "2024-03-05", "三年级", 21)
	session(t, theirs, "东旺村", "2024-03-06", "四年级", 30)
	session(t, staff, "旺渔村", "2024-03-07", "五年级", 12)
	// Two copies of a class in 东旺村 (an open flag there), and a field
	// conflict on a 旺渔村 record.
	session(t, staff, "东旺村", "2024-03-06", "四年级", 30)
	for _, d := range []*replica.Replica{mine, theirs, staff, mine, theirs, staff} {
		replicatest.SyncOK(t, d)
	}
	// The 东旺村 volunteer tries to move the 南香村 session to her village:
	// refused, and the refusal (naming 东旺村) is in that record's history.
	other, otherReg := e.device(t, "Dongwang volunteer", store.Volunteer, "东旺村")
	if resp, err := other.Sync(ctx, &v1.SyncRequest{Replica: otherReg.Replica,
		Changes: []*v1.Record{change(otherReg.Replica, "tutoring_sessions", own, "village", text("东旺村"))}}); err != nil ||
		resp.Results[0].Outcome != v1.Outcome_OUTCOME_REJECTED {
		t.Fatalf("the move: %v %v", resp, err)
	}
	browser := e.token(t, "王芳")
	hc := bearer.Client(nil, browser)
	check := func(what string, m proto.Message) {
		t.Helper()
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if l := leaks(b); len(l) > 0 {
			t.Errorf("%s holds %v: %v", what, l, m)
		}
	}
	reports := villagesyncv1connect.NewReportServiceClient(hc, e.url)
	rep, err := reports.GetReport(ctx, &v1.GetReportRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check("GetReport", rep)
	if len(rep.VillageTotals) != 1 || rep.VillageTotals[0].Village != "南香村" ||
		rep.Total.Tutoring.Sessions != 1 || rep.Total.Tutoring.StudentAttendances != 21 {
		t.Errorf("the volunteer's report: totals %v, total %v", rep.VillageTotals, rep.Total.Tutoring)
	}
	for _, d := range rep.Freshness.Devices {
		if d.User != "王芳" {
			t.Errorf("the report lists %s's device %s", d.User, d.Name)
		}
	}
	if len(rep.Freshness.Devices) != 2 {
		t.Errorf("the report lists %d devices, want her phone and her browser", len(rep.Freshness.Devices))
	}
	if len(rep.Freshness.OpenConflicts) != 0 {
		t.Errorf("the report counts open conflicts of other villages: %v", rep.Freshness.OpenConflicts)
	}
	for _, format := range []string{"csv", "xlsx"} {
		for _, lang := range []string{"zh", "en"} {
			f, err := reports.ExportReport(ctx, &v1.ExportReportRequest{Format: format, Lang: lang})
			if err != nil {
				t.Fatal(err)
			}
			check("ExportReport "+format+" "+lang, f)
			content := f.Content
			if format == "xlsx" {
				content = unzipped(t, content)
			}
			if l := leaks(content); len(l) > 0 {
				t.Errorf("the %s %s file holds %v", format, lang, l)
			}
			if !bytes.Contains(content, []byte("南香村")) {
				t.Errorf("the %s %s file lacks her own village", format, lang)
			}
		}
	}
	for _, tc := range []struct {
		villages []string
		code     connect.Code
	}{{[]string{"东旺村"}, connect.CodePermissionDenied}, {[]string{"Wangyu"}, connect.CodePermissionDenied},
		{[]string{"南乡村"}, connect.CodeInvalidArgument}} {
		_, err := reports.GetReport(ctx, &v1.GetReportRequest{Villages: tc.villages})
		if connect.CodeOf(err) != tc.code || errorField(err) != "villages" {
			t.Errorf("report of %v: %v, want %v on villages", tc.villages, err, tc.code)
		}
		if err != nil {
			if l := leaks([]byte(err.Error())); len(l) > 0 && !slices.Contains(tc.villages, l[0]) {
				t.Errorf("the refusal names %v: %v", l, err)
			}
		}
	}
	if one, err := reports.GetReport(ctx, &v1.GetReportRequest{Villages: []string{"nanxiang"}}); err != nil ||
		len(one.VillageTotals) != 1 {
		t.Errorf("her own village by pinyin: %v %v", one, err)
	}

	access := villagesyncv1connect.NewAccessServiceClient(hc, e.url)
	hist, err := access.ListChanges(ctx, &v1.ListChangesRequest{Table: "tutoring_sessions", RecordId: own})
	if err != nil {
		t.Fatal(err)
	}
	check("ListChanges", hist)
	if len(hist.Changes) != 1 || hist.Changes[0].User != "王芳" || hist.Changes[0].Outcome != "applied" {
		t.Errorf("her record's history: %v, want her write alone", hist.Changes)
	}
	// Staff see the refusal whole.
	full, err := villagesyncv1connect.NewAccessServiceClient(staff.HTTPClient(), e.url).
		ListChanges(ctx, &v1.ListChangesRequest{Table: "tutoring_sessions", RecordId: own})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := proto.Marshal(full); !bytes.Contains(b, []byte("东旺村")) {
		t.Errorf("staff's history of the record lacks the refusal's words: %v", full.Changes)
	}
	// Another village's record, and a record that does not exist, get the
	// same refusal.
	var otherID string
	recs, err := staff.List(ctx, "tutoring_sessions")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Fields["village"].Value.Text == "旺渔村" {
			otherID = r.ID
		}
	}
	var refusals []string
	for _, id := range []string{otherID, "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f"} {
		_, err := access.ListChanges(ctx, &v1.ListChangesRequest{Table: "tutoring_sessions", RecordId: id})
		if connect.CodeOf(err) != connect.CodePermissionDenied || errorField(err) != "record_id" {
			t.Errorf("history of %s: %v, want permission_denied on record_id", id, err)
		}
		if err != nil {
			refusals = append(refusals, err.Error())
			if l := leaks([]byte(err.Error())); len(l) > 0 {
				t.Errorf("the refusal names %v", l)
			}
		}
	}
	if len(refusals) == 2 && refusals[0] != refusals[1] {
		t.Errorf("another village's record and no record are told apart:\n%s\n%s", refusals[0], refusals[1])
	}
	vs, err := access.ListVillages(ctx, &v1.ListVillagesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check("ListVillages", vs)
	ds, err := access.ListDevices(ctx, &v1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check("ListDevices", ds)
	who, err := access.Whoami(ctx, &v1.WhoamiRequest{})
	if err != nil {
		t.Fatal(err)
	}
	check("Whoami", who)
	// What she still may not call.
	if _, err := villagesyncv1connect.NewConflictServiceClient(hc, e.url).
		ListConflicts(ctx, &v1.ListConflictsRequest{}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("a volunteer lists conflicts: %v", err)
	}
}
