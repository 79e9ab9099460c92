package replica

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// The device protocol's shared scenarios (clients/protocol-scenarios, its
// README says the format) are written once as data so that every device
// implementation plays the same files: this one plays them against the Go
// replica with a scripted Transport, asserting each request the device
// sends and the state it keeps.
const scenarioDir = "../../protocol-scenarios"

type scenario struct {
	Name   string         `json:"name"`
	Why    string         `json:"why"`
	WallMs int64          `json:"wall_ms"`
	Before scenarioState  `json:"before"`
	Steps  []scenarioStep `json:"steps"`
	After  scenarioState  `json:"after"`
	file   string
}

type scenarioState struct {
	Meta       map[string]string `json:"meta"`
	Rows       []scenarioRow     `json:"rows"`
	Rejected   []scenarioReject  `json:"rejected"`
	OwnDeletes []scenarioTrace   `json:"own_deletes"`
}

type scenarioRow struct {
	Record json.RawMessage `json:"record"` // a villagesync.v1.Record; its seq is the row's _seq
	Own    *uint64         `json:"own"`    // default: the record's version[me]
	Acked  uint64          `json:"acked"`
	Gen    int64           `json:"gen"`
}

type scenarioReject struct {
	Table   string `json:"table"`
	ID      string `json:"id"`
	Counter uint64 `json:"counter"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type scenarioTrace struct {
	Table     string          `json:"table"`
	ID        string          `json:"id"`
	Version   json.RawMessage `json:"version"`   // a villagesync.v1.VersionVector
	Tombstone json.RawMessage `json:"tombstone"` // a villagesync.v1.Tombstone
}

type scenarioStep struct {
	Put    *scenarioWrite `json:"put"`
	Delete *scenarioWrite `json:"delete"`
	Sync   *scenarioSync  `json:"sync"`
	After  *scenarioState `json:"after"`
}

type scenarioWrite struct {
	Table  string                     `json:"table"`
	ID     string                     `json:"id"`
	Fields map[string]json.RawMessage `json:"fields"` // villagesync.v1.Value each
	Error  string                     `json:"error"`
}

type scenarioSync struct {
	Rounds []scenarioRound `json:"rounds"`
	Error  string          `json:"error"` // a substring of the error Sync must return; "" for success
}

type scenarioRound struct {
	Request  json.RawMessage `json:"request"`  // the villagesync.v1.SyncRequest the device must send
	Response json.RawMessage `json:"response"` // the villagesync.v1.SyncResponse the server answers
	Fail     string          `json:"fail"`     // instead of a response: the link fails with this error
	// Local writes made while this request is in flight (after the device
	// sent it, before the answer commits).
	InFlight []scenarioStep `json:"in_flight"`
}

func TestProtocolScenarios(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(scenarioDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no scenarios in %s", scenarioDir)
	}
	// The README's table is what a second implementation reads first.
	readme, err := os.ReadFile(filepath.Join(scenarioDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if !bytes.Contains(readme, []byte("`"+filepath.Base(file)+"`")) {
			t.Errorf("%s is not in %s/README.md's table of scenarios", filepath.Base(file), scenarioDir)
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			sc, err := loadScenario(file)
			if err != nil {
				t.Fatal(err)
			}
			playScenario(t, sc)
		})
	}
}

func loadScenario(file string) (*scenario, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields() // a misspelt key must not pass as "nothing asserted"
	sc := &scenario{file: filepath.Base(file)}
	if err := dec.Decode(sc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if sc.Name == "" || sc.Why == "" || strings.Contains(sc.Why, "\n") {
		return nil, fmt.Errorf("%s: a scenario needs a name and a one-line why", file)
	}
	return sc, nil
}

// scriptedRounds is the server of one sync step: it checks each request
// against the scenario's and answers with the scenario's response.
type scriptedRounds struct {
	t      *testing.T
	write  func(where string, st scenarioStep)
	where  string
	rounds []scenarioRound
	n      int
}

func (s *scriptedRounds) Sync(_ context.Context, req *protocol.Request) (*protocol.Response, int, error) {
	if s.n >= len(s.rounds) {
		s.t.Errorf("%s: the device sent request %d, the scenario scripts %d:\n%s",
			s.where, s.n+1, len(s.rounds), pretty(wire.Request(req)))
		return nil, 1, errors.New("scenario: no more rounds scripted")
	}
	round := s.rounds[s.n]
	where := fmt.Sprintf("%s round %d", s.where, s.n+1)
	s.n++
	want := &v1.SyncRequest{}
	if err := protojson.Unmarshal(round.Request, want); err != nil {
		s.t.Fatalf("%s: request: %v", where, err)
	}
	got := wire.Request(req)
	normRequest(got)
	normRequest(want)
	if !proto.Equal(got, want) {
		s.t.Errorf("%s: the device sent\n%s\nwant\n%s", where, pretty(got), pretty(want))
	}
	for i, st := range round.InFlight {
		s.write(fmt.Sprintf("%s in_flight %d", where, i+1), st)
	}
	if round.Fail != "" {
		return nil, 1, errors.New(round.Fail)
	}
	m := &v1.SyncResponse{}
	if err := protojson.Unmarshal(round.Response, m); err != nil {
		s.t.Fatalf("%s: response: %v", where, err)
	}
	resp, err := wire.FromResponse(m)
	if err != nil {
		return nil, 1, fmt.Errorf("read the server's answer: %w", err)
	}
	return resp, 1, nil
}

// normRequest orders what the protocol leaves unordered (a record's
// fields), so a second client may send them in any order.
func normRequest(m *v1.SyncRequest) {
	for _, c := range m.Changes {
		normRecord(c)
	}
	if len(m.Changes) == 0 {
		m.Changes = nil
	}
}

func normRecord(m *v1.Record) {
	if m == nil {
		return
	}
	sort.Slice(m.Fields, func(i, j int) bool { return m.Fields[i].Name < m.Fields[j].Name })
	if len(m.Fields) == 0 {
		m.Fields = nil
	}
}

func pretty(m proto.Message) string {
	return protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Format(m)
}

func playScenario(t *testing.T, sc *scenario) {
	ctx := context.Background()
	wall := time.UnixMilli(sc.WallMs)
	if sc.WallMs == 0 {
		t.Fatalf("%s: wall_ms (the device's wall clock) is required: dots carry it", sc.file)
	}
	srv := &scriptedRounds{t: t}
	d := scenarioDevice(t, sc, &hlc.Clock{Wall: func() time.Time { return wall }}, srv)
	write := func(where string, st scenarioStep) {
		switch {
		case st.Put != nil:
			values := map[string]schema.Value{}
			for name, raw := range st.Put.Fields {
				m := &v1.Value{}
				if err := protojson.Unmarshal(raw, m); err != nil {
					t.Fatalf("%s: put %s: %v", where, name, err)
				}
				values[name] = wire.FromValue(m)
			}
			_, err := d.Put(ctx, st.Put.Table, st.Put.ID, values)
			wantErr(t, where+" (put)", err, st.Put.Error)
		case st.Delete != nil:
			err := d.Delete(ctx, st.Delete.Table, st.Delete.ID)
			wantErr(t, where+" (delete)", err, st.Delete.Error)
		default:
			t.Fatalf("%s: an in-flight step is a put or a delete", where)
		}
	}
	for i, st := range sc.Steps {
		where := fmt.Sprintf("%s step %d", sc.file, i+1)
		switch {
		case st.Put != nil || st.Delete != nil:
			write(where, st)
		case st.Sync != nil:
			*srv = scriptedRounds{t: t, write: write, where: where + " (sync)", rounds: st.Sync.Rounds}
			_, err := d.Sync(ctx)
			wantErr(t, where+" (sync)", err, st.Sync.Error)
			if srv.n != len(srv.rounds) {
				t.Errorf("%s (sync): the device sent %d requests, the scenario scripts %d", where, srv.n, len(srv.rounds))
			}
		case st.After == nil:
			t.Fatalf("%s: a step is a put, a delete, a sync or an after", where)
		}
		if st.After != nil {
			checkState(t, where, d, *st.After)
		}
	}
	checkState(t, sc.file+" after", d, sc.After)
}

func wantErr(t *testing.T, where string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", where, err)
	case want != "" && err == nil:
		t.Errorf("%s: succeeded, want an error containing %q", where, want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("%s: %v, want an error containing %q", where, err, want)
	}
}

// metaDefaults are the checklist's meta keys a state is compared on, with
// the value an absent key means (a device may write a key only when it
// first needs it).
var metaDefaults = map[string]string{
	"replica": "", "server_id": "0", "incarnation": "0", "cursor": "0", "scope": "*", "scope_hash": "0",
	"full_pull": "0", "gen": "0", "sweep": "0", "pull_horizon": "0", "hlc": "0",
	"scrub": "0", "rejected_removed": "0", "server_schema": "1",
}

// statedOnly are the meta keys compared only when a state gives them:
// identity, the clock, the scrub flag and count of refused changes
// dropped with a village, and the server's schema version, which few
// scenarios are about.
var statedOnly = map[string]bool{"replica": true, "server_id": true, "hlc": true, "scrub": true,
	"rejected_removed": true, "server_schema": true}

// scenarioDevice makes a device database in the state before, without
// enrolling anywhere: its server is tr.
func scenarioDevice(t *testing.T, sc *scenario, clock *hlc.Clock, tr Transport) *Replica {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "d.db")
	d, err := sqlite.Open(ctx, file, 2, sqlite.DeviceFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, d); err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{"server_url": "http://scripted.invalid", "name": "d", "token": "t", "hlc": "0",
		"cursor": "0", "scope": "*", "scope_hash": "0", "server_id": "0"}
	for k, v := range sc.Before.Meta {
		if _, ok := metaDefaults[k]; !ok {
			t.Fatalf("%s before: meta key %q is not one of the checklist's", sc.file, k)
		}
		meta[k] = v
	}
	me, err := strconv.ParseUint(meta["replica"], 10, 32)
	if err != nil {
		t.Fatalf("%s before: meta.replica: %v", sc.file, err)
	}
	for k, v := range meta {
		if _, err := d.W.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)`, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for i, row := range sc.Before.Rows {
		rec, err := rowRecord(row.Record)
		if err != nil {
			t.Fatalf("%s before: rows[%d]: %v", sc.file, i, err)
		}
		tbl, err := schema.Lookup(rec.Table)
		if err != nil {
			t.Fatalf("%s before: rows[%d]: %v", sc.file, i, err)
		}
		own := rec.Version[uint32(me)]
		if row.Own != nil {
			own = *row.Own
		}
		if _, err := d.W.ExecContext(ctx, sqlite.Upsert(tbl, "_own", "_acked", "_gen", "_seq"),
			sqlite.Args(tbl, rec, int64(own), int64(row.Acked), row.Gen, int64(rec.Seq))...); err != nil {
			t.Fatalf("%s before: rows[%d]: %v", sc.file, i, err)
		}
	}
	for i, rj := range sc.Before.Rejected {
		if _, err := d.W.ExecContext(ctx, `INSERT INTO rejected (tbl, record_id, counter, code, message, change, rejected_ms)
			VALUES (?, ?, ?, ?, ?, '{}', 0)`, rj.Table, rj.ID, int64(rj.Counter), rj.Code, rj.Message); err != nil {
			t.Fatalf("%s before: rejected[%d]: %v", sc.file, i, err)
		}
	}
	for i, tr := range sc.Before.OwnDeletes {
		version, tomb, err := traceOf(tr)
		if err != nil {
			t.Fatalf("%s before: own_deletes[%d]: %v", sc.file, i, err)
		}
		if _, err := d.W.ExecContext(ctx, `INSERT INTO own_deletes (tbl, record_id, vv, tomb) VALUES (?, ?, ?, ?)`,
			tr.Table, tr.ID, version.Encode(nil), record.EncodeTombstone(tomb)); err != nil {
			t.Fatalf("%s before: own_deletes[%d]: %v", sc.file, i, err)
		}
	}
	d.Close()
	r, err := Open(ctx, file, Options{Transport: tr, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func rowRecord(raw json.RawMessage) (*record.Record, error) {
	m := &v1.Record{}
	if err := protojson.Unmarshal(raw, m); err != nil {
		return nil, err
	}
	return wire.FromRecord(m)
}

func traceOf(tr scenarioTrace) (vv.VV, *record.Tombstone, error) {
	mv := &v1.VersionVector{}
	if err := protojson.Unmarshal(tr.Version, mv); err != nil {
		return nil, nil, fmt.Errorf("version: %w", err)
	}
	version, err := wire.FromVV(mv, "version")
	if err != nil {
		return nil, nil, err
	}
	mt := &v1.Tombstone{}
	if err := protojson.Unmarshal(tr.Tombstone, mt); err != nil {
		return nil, nil, fmt.Errorf("tombstone: %w", err)
	}
	// A record holding only the tombstone, so the wire's reading applies.
	rec, err := wire.FromRecord(&v1.Record{Table: tr.Table, Id: tr.ID, Tombstone: mt})
	if err != nil {
		return nil, nil, err
	}
	return version, rec.Tombstone, nil
}

// A row as compared: the record on the wire (seq = _seq) and its bookkeeping.
type rowView struct {
	Key        string
	Record     *v1.Record
	Own, Acked uint64
	Gen        int64
}

func (v rowView) String() string {
	return fmt.Sprintf("%s own=%d acked=%d gen=%d\n%s", v.Key, v.Own, v.Acked, v.Gen, pretty(v.Record))
}

func sameRows(a, b []rowView) bool {
	return slices.EqualFunc(a, b, func(x, y rowView) bool {
		return x.Key == y.Key && x.Own == y.Own && x.Acked == y.Acked && x.Gen == y.Gen && proto.Equal(x.Record, y.Record)
	})
}

// checkState compares the device with a state: the checklist's meta keys
// (an absent key means its default), every row of the program tables,
// the rejected list and the own-delete traces.
func checkState(t *testing.T, where string, d *Replica, want scenarioState) {
	t.Helper()
	ctx := context.Background()
	for k, def := range metaDefaults {
		w, ok := want.Meta[k]
		if !ok {
			if statedOnly[k] {
				continue
			}
			w = def
		}
		var got string
		err := d.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, k).Scan(&got)
		if err != nil {
			got = def
		}
		if k == "scope" {
			got, w = scopeSet(got), scopeSet(w)
		}
		if got != w {
			t.Errorf("%s: meta %s = %q, want %q", where, k, got, w)
		}
	}
	for k := range want.Meta {
		if _, ok := metaDefaults[k]; !ok {
			t.Errorf("%s: meta key %q is not one of the checklist's", where, k)
		}
	}

	var wantRows []rowView
	for i, row := range want.Rows {
		rec, err := rowRecord(row.Record)
		if err != nil {
			t.Fatalf("%s: rows[%d]: %v", where, i, err)
		}
		own := rec.Version[d.id]
		if row.Own != nil {
			own = *row.Own
		}
		wantRows = append(wantRows, viewOf(rec, own, row.Acked, row.Gen))
	}
	var gotRows []rowView
	for _, tbl := range schema.Tables() {
		if !tbl.Program {
			continue
		}
		rs, err := d.db.R.QueryContext(ctx, fmt.Sprintf(`SELECT %s, _own, _acked, _gen, _seq FROM %s ORDER BY id`,
			sqlite.Columns(tbl), tbl.Name))
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var own, acked, gen, seq int64
			rec, err := sqlite.Scan(tbl, rs, &own, &acked, &gen, &seq)
			if err != nil {
				t.Fatal(err)
			}
			rec.Seq = uint64(seq)
			gotRows = append(gotRows, viewOf(rec, uint64(own), uint64(acked), gen))
		}
		rs.Close()
	}
	sortRows := func(rows []rowView) {
		slices.SortFunc(rows, func(a, b rowView) int { return strings.Compare(a.Key, b.Key) })
	}
	sortRows(wantRows)
	sortRows(gotRows)
	if !sameRows(gotRows, wantRows) {
		t.Errorf("%s: rows are\n%s\nwant\n%s", where, joinRows(gotRows), joinRows(wantRows))
	}

	var gotRej []scenarioReject
	rs, err := d.db.R.QueryContext(ctx, `SELECT tbl, record_id, counter, code, message FROM rejected ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var r scenarioReject
		if err := rs.Scan(&r.Table, &r.ID, &r.Counter, &r.Code, &r.Message); err != nil {
			t.Fatal(err)
		}
		gotRej = append(gotRej, r)
	}
	rs.Close()
	if !reflect.DeepEqual(gotRej, want.Rejected) {
		t.Errorf("%s: rejected are %+v, want %+v", where, gotRej, want.Rejected)
	}

	var gotTr, wantTr []string
	rs, err = d.db.R.QueryContext(ctx, `SELECT tbl, record_id, vv, tomb FROM own_deletes ORDER BY tbl, record_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var table, id string
		var vvb, tomb []byte
		if err := rs.Scan(&table, &id, &vvb, &tomb); err != nil {
			t.Fatal(err)
		}
		version, err := vv.Decode(vvb)
		if err != nil {
			t.Fatal(err)
		}
		ts, err := record.DecodeTombstone(tomb)
		if err != nil {
			t.Fatal(err)
		}
		gotTr = append(gotTr, traceView(table, id, version, ts))
	}
	rs.Close()
	for i, tr := range want.OwnDeletes {
		version, tomb, err := traceOf(tr)
		if err != nil {
			t.Fatalf("%s: own_deletes[%d]: %v", where, i, err)
		}
		wantTr = append(wantTr, traceView(tr.Table, tr.ID, version, tomb))
	}
	slices.Sort(wantTr)
	if !reflect.DeepEqual(gotTr, wantTr) {
		t.Errorf("%s: own_deletes are %v, want %v", where, gotTr, wantTr)
	}
}

// scopeSet is a stored scope ("*" or a JSON list of villages) in one
// spelling, so that a client may write the list in its own JSON style.
func scopeSet(s string) string {
	var villages []string
	if s == "*" || json.Unmarshal([]byte(s), &villages) != nil {
		return s
	}
	slices.Sort(villages)
	return strings.Join(villages, ",")
}

func viewOf(rec *record.Record, own, acked uint64, gen int64) rowView {
	m := wire.Record(rec)
	normRecord(m)
	return rowView{Key: rec.Table + "/" + rec.ID, Record: m, Own: own, Acked: acked, Gen: gen}
}

func traceView(table, id string, version vv.VV, ts *record.Tombstone) string {
	m := &v1.Record{Table: table, Id: id, Version: wire.VV(version)}
	if ts != nil {
		m.Tombstone = &v1.Tombstone{Dot: wire.Dot(ts.Dot), Context: wire.VV(ts.Context)}
	}
	// Compared within one run, where protojson's output is stable.
	return protojson.MarshalOptions{UseProtoNames: true}.Format(m)
}

func joinRows(rows []rowView) string {
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.String())
		b.WriteString("\n")
	}
	if len(rows) == 0 {
		return "(none)\n"
	}
	return b.String()
}
