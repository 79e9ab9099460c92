package mixedfleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/faultnet"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A device is one replica of the fleet, Go or browser, as the test drives
// it: the volunteer's writes, a sync, and what it holds.
type device interface {
	// logSession saves the log-session form; the id of the new record.
	logSession(village, date, class string, children int64) (string, error)
	// notes is the live record's notes ("" when it has none); held false
	// when the device does not hold it live.
	notes(id string) (value string, held bool, err error)
	editNotes(id, value string) error
	remove(id string) error
	// sync is one sync; its error is the faults' at work while they are on.
	sync() error
	// pending counts records whose writes the server has not acknowledged.
	pending() (int, error)
	// records is everything the device holds of a table, deleted included.
	records(table string) ([]*record.Record, error)
	// restart ends the app and starts it again on the same file, as a
	// killed app or a reloaded tab does.
	restart() error
	close() error
}

const sessions = "tutoring_sessions"

// goDevice is clients/go/replica behind a faultnet.Client.
type goDevice struct {
	ctx  context.Context
	file string
	opts replica.Options
	r    *replica.Replica
	link *faultnet.Client
}

func newGoDevice(ctx context.Context, dir, url, code, name string, rng *rand.Rand) (*goDevice, error) {
	d := &goDevice{ctx: ctx, file: filepath.Join(dir, name+".db"), link: &faultnet.Client{Rand: rng}}
	// Small pages and batches: more round trips, more places to lose one.
	d.opts = replica.Options{HTTPClient: d.link, PageLimit: uint32(1 + rng.IntN(3)), PushBatch: 1 + rng.IntN(4)}
	var err error
	if d.r, err = replica.Init(ctx, d.file, url, code, name, d.opts); err != nil {
		return nil, fmt.Errorf("enroll go replica %s: %w", name, err)
	}
	return d, nil
}

func (d *goDevice) logSession(village, date, class string, children int64) (string, error) {
	vals, err := schema.Fields("village", village, "session_date", date, "class_group", class, "children_present", children)
	if err != nil {
		return "", err
	}
	return d.r.Put(d.ctx, sessions, "", vals)
}

func (d *goDevice) notes(id string) (string, bool, error) {
	rec, err := d.r.Get(d.ctx, sessions, id)
	if err != nil || rec == nil || rec.Deleted() {
		return "", false, err
	}
	return rec.Fields["notes"].Value.Text, true, nil
}

func (d *goDevice) editNotes(id, value string) error {
	_, err := d.r.Put(d.ctx, sessions, id, map[string]schema.Value{"notes": schema.TextValue(value)})
	return err
}

func (d *goDevice) remove(id string) error { return d.r.Delete(d.ctx, sessions, id) }

func (d *goDevice) sync() error {
	_, err := d.r.Sync(d.ctx)
	return err
}

func (d *goDevice) pending() (int, error) {
	s, err := d.r.Status(d.ctx)
	n := 0
	for _, p := range s.Pending {
		n += p
	}
	return n, err
}

func (d *goDevice) records(table string) ([]*record.Record, error) { return d.r.List(d.ctx, table) }

func (d *goDevice) restart() error {
	if err := d.r.Close(); err != nil {
		return err
	}
	var err error
	d.r, err = replica.Open(d.ctx, d.file, d.opts)
	return err
}

func (d *goDevice) close() error { return d.r.Close() }

// browserDevice is the volunteer app's database worker in a browser
// context of its own, driven through the harness page.
type browserDevice struct {
	name   string
	url    string
	ctx    context.Context
	cancel context.CancelFunc
}

// response is protocol.ts's Response, the parts the test reads.
type response struct {
	OK       bool             `json:"ok"`
	Error    string           `json:"error"`
	Code     string           `json:"code"`
	Busy     bool             `json:"busy"`
	RecordID string           `json:"recordId"`
	Rows     []map[string]any `json:"rows"`
	Problems []struct {
		Field, Message string
	} `json:"problems"`
	State *struct {
		Pending   int    `json:"pending"`
		LastError string `json:"lastError"`
	} `json:"state"`
}

// callTimeout bounds one call of the worker: a sync over a link that
// loses its answers waits for the browser's own timeouts.
const callTimeout = 2 * time.Minute

func newBrowserDevice(browser context.Context, base, code, name string) (*browserDevice, error) {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	d := &browserDevice{name: name, url: base + appharness.Path, ctx: ctx, cancel: cancel}
	// The first call binds the tab's life to its context: the device's,
	// not a step's deadline.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("browser %s: open a browser context: %w", name, err)
	}
	if err := d.load(); err != nil {
		cancel()
		return nil, err
	}
	if _, err := d.call(map[string]any{"op": "enroll", "code": code, "deviceName": name, "lang": "en"}); err != nil {
		cancel()
		return nil, err
	}
	return d, nil
}

// load opens the harness page, so a new worker, and its database.
func (d *browserDevice) load() error {
	step, stop := context.WithTimeout(d.ctx, time.Minute)
	defer stop()
	err := chromedp.Do(step, chromedp.Navigate(d.url))
	if err == nil {
		_, err = chromedp.Run(step, chromedp.Poll[chromedp.Void](`document.body.dataset.ready === "1"`,
			chromedp.WithPollingInterval(20*time.Millisecond)))
	}
	if err != nil {
		return fmt.Errorf("browser %s: open the harness: %w", d.name, err)
	}
	// The previous page's worker may still hold the file's handles for a
	// moment (protocol.ts: busy): poll until it lets go.
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := d.call(map[string]any{"op": "open"})
		if err == nil || r == nil || !r.Busy || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond) // the poll's interval
	}
}

func (d *browserDevice) restart() error { return d.load() }

// reloadDuringSync starts a sync and, not waiting for its answer, reloads
// the page. Where the sync is when the worker ends is the machine's
// timing: that is the fault.
func (d *browserDevice) reloadDuringSync() error {
	ctx, cancel := context.WithTimeout(d.ctx, callTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`vs.call({op: "sync", lang: "en"}), true`)); err != nil {
		return fmt.Errorf("browser %s: start a sync: %w", d.name, err)
	}
	return d.load()
}

// call sends one request to the worker; a refusal (ok false) is an error
// carrying the worker's words.
func (d *browserDevice) call(req map[string]any) (*response, error) {
	if _, ok := req["lang"]; !ok && req["op"] != "open" && req["op"] != "query" && req["op"] != "exec" {
		req["lang"] = "en"
	}
	js, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(d.ctx, callTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`vs.call(`+string(js)+`)`, chromedp.EvalAwaitPromise))
	if err != nil {
		return nil, fmt.Errorf("browser %s: %s: %w", d.name, req["op"], err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("browser %s: %s: decode %s: %w", d.name, req["op"], raw, err)
	}
	if !r.OK {
		return &r, fmt.Errorf("browser %s: %s %s: %s (code %q, problems %v)", d.name, req["op"], js, r.Error, r.Code, r.Problems)
	}
	return &r, nil
}

func (d *browserDevice) logSession(village, date, class string, children int64) (string, error) {
	r, err := d.call(map[string]any{"op": "save", "form": "log-session", "fields": map[string]string{
		"village": village, "session_date": date, "class_group": class, "children_present": strconv.FormatInt(children, 10)}})
	if err != nil {
		return "", err
	}
	if r.RecordID == "" {
		return "", fmt.Errorf("browser %s: save answered no recordId", d.name)
	}
	return r.RecordID, nil
}

func (d *browserDevice) notes(id string) (string, bool, error) {
	r, err := d.call(map[string]any{"op": "query",
		"sql": `SELECT coalesce(notes, '') AS notes FROM tutoring_sessions WHERE id = ? AND _deleted = 0`, "bind": []any{id}})
	if err != nil || len(r.Rows) == 0 {
		return "", false, err
	}
	s, _ := r.Rows[0]["notes"].(string)
	return s, true, nil
}

func (d *browserDevice) editNotes(id, value string) error {
	_, err := d.call(map[string]any{"op": "edit", "table": sessions, "recordId": id, "fields": map[string]string{"notes": value}})
	return err
}

func (d *browserDevice) remove(id string) error {
	_, err := d.call(map[string]any{"op": "delete", "table": sessions, "recordId": id})
	return err
}

// sync fails as the status line would say: the worker answers a sync
// that stopped with ok and the reason in its state.
func (d *browserDevice) sync() error {
	r, err := d.call(map[string]any{"op": "sync"})
	switch {
	case err != nil:
		return err
	case r.State == nil:
		return fmt.Errorf("browser %s: sync answered no state", d.name)
	case r.State.LastError != "":
		return fmt.Errorf("browser %s: sync: %s", d.name, r.State.LastError)
	}
	return nil
}

func (d *browserDevice) pending() (int, error) {
	r, err := d.call(map[string]any{"op": "state"})
	if err != nil {
		return 0, err
	}
	if r.State == nil {
		return 0, fmt.Errorf("browser %s: state answered no state", d.name)
	}
	return r.State.Pending, nil
}

// records decodes the device's rows (ddl.ts: the columns, and the sync
// columns as JSON text) into the records they hold, to compare with the
// server's.
func (d *browserDevice) records(table string) ([]*record.Record, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, err
	}
	r, err := d.call(map[string]any{"op": "query", "sql": "SELECT * FROM " + table + " ORDER BY id"})
	if err != nil {
		return nil, err
	}
	var out []*record.Record
	for _, row := range r.Rows {
		rec, err := decodeRow(t, row)
		if err != nil {
			return nil, fmt.Errorf("browser %s: %s row %v: %w", d.name, table, row["id"], err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func (d *browserDevice) close() error {
	d.cancel()
	return nil
}

func decodeRow(t *schema.Table, row map[string]any) (*record.Record, error) {
	id, _ := row["id"].(string)
	rec := &record.Record{Table: t.Name, ID: id, Fields: map[string]record.Field{}}
	text := func(col string) (string, error) {
		s, ok := row[col].(string)
		if !ok {
			return "", fmt.Errorf("%s is %T, want JSON text", col, row[col])
		}
		return s, nil
	}
	s, err := text("_vv")
	if err != nil {
		return nil, err
	}
	if rec.Version, err = decodeVV(s); err != nil {
		return nil, fmt.Errorf("_vv: %w", err)
	}
	if s, err = text("_dots"); err != nil {
		return nil, err
	}
	var dots map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &dots); err != nil {
		return nil, fmt.Errorf("_dots: %w", err)
	}
	for col, raw := range dots {
		c := t.Column(col)
		if c == nil {
			return nil, fmt.Errorf("_dots names %s, not a column", col)
		}
		dot, err := decodeDot(raw)
		if err != nil {
			return nil, fmt.Errorf("_dots %s: %w", col, err)
		}
		src := row[col]
		if f, ok := src.(float64); ok && c.Type != schema.Real {
			src = int64(f) // JSON's numbers; INTEGER and BOOLEAN columns hold integers
		}
		v, err := schema.FromSQL(c.Type, src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", col, err)
		}
		rec.Fields[col] = record.Field{Value: v, Dot: dot}
	}
	if row["_tomb"] != nil {
		if s, err = text("_tomb"); err != nil {
			return nil, err
		}
		var tomb struct {
			Dot     json.RawMessage `json:"dot"`
			Context json.RawMessage `json:"context"`
		}
		if err := json.Unmarshal([]byte(s), &tomb); err != nil {
			return nil, fmt.Errorf("_tomb: %w", err)
		}
		rec.Tombstone = &record.Tombstone{}
		if rec.Tombstone.Dot, err = decodeDot(tomb.Dot); err != nil {
			return nil, fmt.Errorf("_tomb: %w", err)
		}
		if rec.Tombstone.Context, err = decodeVV(string(tomb.Context)); err != nil {
			return nil, fmt.Errorf("_tomb: %w", err)
		}
	}
	if del, _ := row["_deleted"].(float64); (del != 0) != rec.Deleted() {
		return nil, fmt.Errorf("_deleted is %v but the record's state says deleted %v", del, rec.Deleted())
	}
	return rec, nil
}

// decodeVV reads replica.ts's vvJSON: [[replica, "counter"], ...].
func decodeVV(s string) (vv.VV, error) {
	var pairs [][2]json.RawMessage
	if err := json.Unmarshal([]byte(s), &pairs); err != nil {
		return nil, err
	}
	v := vv.VV{}
	for _, p := range pairs {
		var r uint32
		var c string
		if err := json.Unmarshal(p[0], &r); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(p[1], &c); err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return nil, err
		}
		v[r] = n
	}
	return v, nil
}

// decodeDot reads replica.ts's dotJSON: [replica, "counter", "hlc"].
func decodeDot(raw json.RawMessage) (vv.Dot, error) {
	var d vv.Dot
	var parts []json.RawMessage
	if err := json.Unmarshal(raw, &parts); err != nil {
		return d, err
	}
	if len(parts) != 3 {
		return d, errors.New("a dot has three parts")
	}
	var c, h string
	if err := errors.Join(json.Unmarshal(parts[0], &d.Replica), json.Unmarshal(parts[1], &c), json.Unmarshal(parts[2], &h)); err != nil {
		return d, err
	}
	var err1, err2 error
	d.Counter, err1 = strconv.ParseUint(c, 10, 64)
	d.HLC, err2 = strconv.ParseUint(h, 10, 64)
	return d, errors.Join(err1, err2)
}
