package replica

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotInitialised is returned by Open for a file that Init never set up.
var ErrNotInitialised = errors.New("device database is not initialised " +
	"(run: villagesync device --db FILE init --server URL)")

// Options tune a Replica; the zero value is fine.
type Options struct {
	// HTTPClient carries sync requests; tests put faulty transports here.
	HTTPClient connect.HTTPClient
	// PageLimit is how many records to ask for per pulled page.
	PageLimit uint32
	// PushBatch is how many changes to push per request.
	PushBatch int
	// Clock is the device's hybrid logical clock (tests fake the wall time).
	Clock *hlc.Clock
	// Retries is how many times a request that failed in transport is
	// sent again at once (a retried sync never duplicates anything): 0
	// means the default of 2, a negative number none.
	Retries int
	// Progress, if not nil, is told after each committed round of a Sync
	// what the sync has done so far, for a progress bar on a long one. It
	// runs on the syncing goroutine and must not call Sync.
	Progress func(Stats)
	// Transport, if not nil, carries Sync's round trips instead of Connect
	// RPC to the server (HTTPClient and Retries then do not apply to them):
	// tests of the device's side put a scripted server here.
	Transport Transport
}

// Replica is one device's database. It is safe for concurrent use: local
// writes may go on while a sync is in flight.
type Replica struct {
	db        *sqlite.DB
	id        uint32
	serverID  uint64
	serverURL string
	name      string
	clock     *hlc.Clock
	transport Transport
	token     string
	opt       Options
	syncMu    sync.Mutex
	gen       int64 // the re-pull generation, read at the start of each commit (under syncMu)

	// The box keys of hand-carried files (carry.go): the device's pair,
	// and the server's public key once known (nil before).
	keyMu     sync.Mutex
	box       wire.BoxKeys
	serverBox *[wire.BoxKeySize]byte

	// The attachment lane (lane.go) has its own lock: uploads run beside
	// syncs, never holding them up.
	laneMu     sync.Mutex
	laneOnce   sync.Once
	laneClient villagesyncv1connect.AttachmentServiceClient
}

// Init creates a device database at file, enrolls it with the server at
// serverURL using a one-time enrollment code from staff, under the device
// name, and returns it open. The file must not exist.
func Init(ctx context.Context, file, serverURL, code, name string, opt Options) (*Replica, error) {
	if _, err := os.Stat(file); err == nil {
		return nil, fmt.Errorf("init %s: the file exists already; a device database is initialised once", file)
	}
	if name == "" {
		name, _ = os.Hostname()
	}
	hc := opt.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	// The key pair for hand-carried files is made before enrolling, so
	// the server learns its public half with the device (carry.go).
	keys, err := wire.NewBoxKeys()
	if err != nil {
		return nil, fmt.Errorf("init: %w", err)
	}
	resp, err := villagesyncv1connect.NewAccessServiceClient(hc, serverURL).
		Enroll(ctx, &v1.EnrollRequest{Code: code, DeviceName: name, BoxPublicKey: keys.Public[:]})
	if err != nil {
		return nil, fmt.Errorf("init: enroll with %s: %w", serverURL, explain(ctx, err))
	}
	serverKey, err := wire.BoxKey(resp.GetServerBoxPublicKey())
	if err != nil {
		return nil, fmt.Errorf("init: the server's answer: %w", err)
	}
	// Created owner-only by Open: the file holds the device's token and
	// children's records (the -wal and -shm SQLite creates take its mode).
	d, err := sqlite.Open(ctx, file, 2, sqlite.DeviceFile)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, d); err != nil {
		d.Close()
		return nil, err
	}
	// The token is the device's credential; it stays in this file only
	// (the server keeps its hash).
	_, err = d.W.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES
		('replica', ?), ('server_id', ?), ('server_url', ?), ('name', ?), ('cursor', 0), ('hlc', 0),
		('token', ?), ('scope_hash', '0'), ('scope', '*')`,
		int64(resp.GetReplica()), strconv.FormatUint(resp.GetServerId(), 10), serverURL, name, resp.GetToken())
	if err == nil {
		err = storeBoxKeys(ctx, d.W, keys)
	}
	if err == nil && serverKey != nil {
		err = storeServerBoxKey(ctx, d.W, serverKey[:])
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("init %s: %w", file, err)
	}
	d.Close()
	return Open(ctx, file, opt)
}

// migrate brings the file to this version's schema, in one transaction.
func migrate(ctx context.Context, d *sqlite.DB) error {
	return sqlite.Migrate(ctx, d.W, migrations, "migrations", sqlite.DeviceFile,
		func(ctx context.Context, tx *sql.Tx) error {
			if err := schema.Migrate(ctx, tx, schema.Device); err != nil {
				return err
			}
			for _, r := range record.Seeds() {
				t, err := schema.Lookup(r.Table)
				if err != nil {
					return fmt.Errorf("seed %s %s: %w", r.Table, r.ID, err)
				}
				if _, err := tx.ExecContext(ctx, sqlite.InsertIfAbsent(t, "_own", "_acked"),
					sqlite.Args(t, r, 0, 0)...); err != nil {
					return fmt.Errorf("seed %s %s: %w", r.Table, r.ID, err)
				}
			}
			return nil
		})
}

// Open opens a device database that Init created.
func Open(ctx context.Context, file string, opt Options) (*Replica, error) {
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("open %s: %w", file, ErrNotInitialised)
	}
	d, err := sqlite.Open(ctx, file, 2, sqlite.DeviceFile)
	if err != nil {
		return nil, err
	}
	r := &Replica{db: d, opt: opt}
	if err := r.load(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	return r, nil
}

func (r *Replica) load(ctx context.Context) error {
	if err := migrate(ctx, r.db); err != nil {
		return err
	}
	var replica int64
	var sid string
	var last int64
	err := r.db.R.QueryRowContext(ctx, `SELECT
		(SELECT value FROM meta WHERE key = 'replica'), (SELECT value FROM meta WHERE key = 'server_id'),
		(SELECT value FROM meta WHERE key = 'server_url'), (SELECT value FROM meta WHERE key = 'name'),
		(SELECT value FROM meta WHERE key = 'hlc'), (SELECT value FROM meta WHERE key = 'token')`).
		Scan(&replica, &sid, &r.serverURL, &r.name, &last, &r.token)
	if err != nil {
		return ErrNotInitialised
	}
	r.id = uint32(replica)
	if r.serverID, err = strconv.ParseUint(sid, 10, 64); err != nil {
		return fmt.Errorf("corrupt server_id %q in meta", sid)
	}
	r.clock = r.opt.Clock
	if r.clock == nil {
		r.clock = hlc.New(uint64(last))
	} else {
		r.clock.Observe(uint64(last))
	}
	// A file made before hand-carried sync gets its key pair here; the
	// next sync sends the public half.
	if err := r.ensureBoxKeys(ctx); err != nil {
		return err
	}
	r.transport = r.opt.Transport
	if r.transport == nil {
		ct := newConnectTransport(r.HTTPClient(), r.serverURL, r.opt.Retries)
		ct.keys = r
		r.transport = ct
	}
	return nil
}

// HTTPClient is an HTTP client that authenticates as this device, for the
// other services (staff review, reports, admin) a device's user may call.
func (r *Replica) HTTPClient() connect.HTTPClient {
	hc := r.opt.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 2 * time.Minute}
	}
	return bearer.Client(hc, r.token)
}

// Close closes the database.
func (r *Replica) Close() error {
	_, err := r.db.W.Exec(`UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(r.clock.Last()))
	if cerr := r.db.Close(); err == nil {
		err = cerr
	}
	return err
}

// ID is the device's replica number; Name its name; ServerURL where it syncs.
func (r *Replica) ID() uint32        { return r.id }
func (r *Replica) Name() string      { return r.name }
func (r *Replica) ServerURL() string { return r.serverURL }

// Put writes fields of a record in table: a new record when id is empty
// (its UUIDv7 is returned), else the record id, changing only the fields
// given (a deleted record comes back). The write is committed when Put
// returns.
func (r *Replica) Put(ctx context.Context, table, id string, values map[string]schema.Value) (string, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return "", err
	}
	if len(values) == 0 {
		return "", errors.New("put: give at least one field=value")
	}
	// The server's rules, checked here first so a volunteer hears about a
	// mistake while still in front of the class, not after the next sync.
	villages, err := sqlite.Villages(ctx, r.db.R)
	if err != nil {
		return "", err
	}
	values, err = checkValues(t, values, schema.Env{Now: time.Now(), Villages: villages})
	if err != nil {
		return "", err
	}
	if id, err = newOrCheckID(id); err != nil {
		return "", err
	}
	err = r.write(ctx, t, id, func(rec *record.Record, k uint64, ts uint64) error {
		for name, v := range values {
			rec.Fields[name] = record.Field{Value: v, Dot: dot(r.id, k, ts)}
		}
		return nil
	})
	return id, err
}

// checkValues checks values against t's rules and env and returns them
// with village names made canonical (people write 旺鱼村, wangyu or
// Wangyu; records hold 旺渔村).
func checkValues(t *schema.Table, values map[string]schema.Value, env schema.Env) (map[string]schema.Value, error) {
	values = maps.Clone(values)
	for name, v := range values {
		c := t.Column(name)
		if c == nil {
			return nil, fmt.Errorf("%s.%s: unknown field (known: %v)", t.Name, name, t.ColumnNames())
		}
		if c.Format == schema.Village && v.Type == schema.Text {
			if canon, ok := env.Villages.Canonical(v.Text); ok {
				v = schema.TextValue(canon)
				values[name] = v
			}
		}
		if err := c.CheckIn(v, env); err != nil {
			return nil, fmt.Errorf("%s.%w", t.Name, err)
		}
	}
	return values, nil
}

// newOrCheckID returns id, or a new UUIDv7 when id is empty.
func newOrCheckID(id string) (string, error) {
	if id == "" {
		u, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("new id: %w", err)
		}
		return u.String(), nil
	}
	return id, record.CheckID(id)
}

// Delete deletes a record. Fields edited concurrently elsewhere keep it
// alive (the server logs that); an edit here after the delete restores it.
func (r *Replica) Delete(ctx context.Context, table, id string) error {
	t, err := schema.Lookup(table)
	if err != nil {
		return err
	}
	if err := record.CheckID(id); err != nil {
		return err
	}
	return r.write(ctx, t, id, func(rec *record.Record, k uint64, ts uint64) error {
		if len(rec.Fields) == 0 && rec.Tombstone == nil {
			return fmt.Errorf("delete %s %s: no such record", table, id)
		}
		if rec.Deleted() {
			return fmt.Errorf("delete %s %s: already deleted", table, id)
		}
		rec.Tombstone = &record.Tombstone{Dot: dot(r.id, k, ts), Context: rec.Version.Clone()}
		return nil
	})
}

// write runs one local edit in a transaction: it bumps the device's entry
// of the record's version and lets edit stamp what it writes with (k, ts).
func (r *Replica) write(ctx context.Context, t *schema.Table, id string,
	edit func(rec *record.Record, k, ts uint64) error) error {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write %s %s: %w", t.Name, id, err)
	}
	defer tx.Rollback()
	if err := r.writeIn(ctx, tx, t, id, edit); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write %s %s: %w", t.Name, id, err)
	}
	return nil
}

// writeIn is write inside tx.
func (r *Replica) writeIn(ctx context.Context, tx *sql.Tx, t *schema.Table, id string,
	edit func(rec *record.Record, k, ts uint64) error) error {
	rec, acked, err := getRow(ctx, tx, t, id)
	if err != nil {
		return err
	}
	if rec == nil {
		rec = &record.Record{Table: t.Name, ID: id, Fields: map[string]record.Field{}}
	}
	rec.Version = rec.Version.Clone()
	k := rec.Version.Bump(r.id)
	if err := edit(rec, k, r.clock.Now()); err != nil {
		return err
	}
	// The fields this write stamped with its own dot are what it writes.
	if err := record.CheckRequired(rec, func(name string) bool {
		f, ok := rec.Fields[name]
		return ok && f.Dot.Replica == r.id && f.Dot.Counter == k
	}); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, sqlite.Upsert(t, "_own", "_acked"),
		sqlite.Args(t, rec, int64(k), int64(acked))...); err != nil {
		return fmt.Errorf("write %s %s: %w", t.Name, id, err)
	}
	return nil
}

// Get returns a record's replicated state, or nil if the device has none.
func (r *Replica) Get(ctx context.Context, table, id string) (*record.Record, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, err
	}
	rec, _, err := getRow(ctx, r.db.R, t, id)
	return rec, err
}

// List returns every record of table the device holds, deleted ones
// included (they are part of the replicated state), in id order.
func (r *Replica) List(ctx context.Context, table string) ([]*record.Record, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, err
	}
	rs, err := r.db.R.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s ORDER BY id`, sqlite.Columns(t), t.Name))
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	defer rs.Close()
	var out []*record.Record
	for rs.Next() {
		rec, err := sqlite.Scan(t, rs)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", table, err)
		}
		out = append(out, rec)
	}
	return out, rs.Err()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// getRow loads a record and its acknowledged own counter; nil if absent.
func getRow(ctx context.Context, q querier, t *schema.Table, id string) (*record.Record, uint64, error) {
	var acked, own int64
	rec, err := sqlite.Scan(t, q.QueryRowContext(ctx,
		fmt.Sprintf(`SELECT %s, _own, _acked FROM %s WHERE id = ?`, sqlite.Columns(t), t.Name), id), &own, &acked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s %s: %w", t.Name, id, err)
	}
	return rec, uint64(acked), nil
}
