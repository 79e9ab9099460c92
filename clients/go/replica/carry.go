package replica

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// Hand-carried sync (sync/DESIGN.md, "Hand-carried sync"): a device with
// no signal writes its pending changes to a push file that any online
// device carries to the server, and imports a pull file staff wrote for
// it. The files are sealed with NaCl box between the device's key pair
// and the server's (api/wire/carry.go).
//
// The key pair lives in meta: box_public and box_private (base64). The
// private key never leaves the file: no request, file or printout
// carries it. The server's public key is server_box_public, learned at
// enrollment or, for files enrolled before, at the next sync.

// ensureBoxKeys makes the device's key pair if the file has none (a file
// made before hand-carried sync) and loads the keys into r.
func (r *Replica) ensureBoxKeys(ctx context.Context) error {
	pub, err := r.metaBytes(ctx, "box_public")
	if err != nil {
		return err
	}
	priv, err := r.metaBytes(ctx, "box_private")
	if err != nil {
		return err
	}
	if len(pub) != wire.BoxKeySize || len(priv) != wire.BoxKeySize {
		keys, err := wire.NewBoxKeys()
		if err != nil {
			return err
		}
		if err := storeBoxKeys(ctx, r.db.W, keys); err != nil {
			return err
		}
		pub, priv = keys.Public[:], keys.Private[:]
	}
	r.box = wire.BoxKeys{Public: new([wire.BoxKeySize]byte), Private: new([wire.BoxKeySize]byte)}
	copy(r.box.Public[:], pub)
	copy(r.box.Private[:], priv)
	server, err := r.metaBytes(ctx, "server_box_public")
	if err != nil {
		return err
	}
	if r.serverBox, err = wire.BoxKey(server); err != nil {
		return fmt.Errorf("the server's box key in meta: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func storeBoxKeys(ctx context.Context, db execer, keys wire.BoxKeys) error {
	_, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('box_public', ?), ('box_private', ?)`,
		base64.StdEncoding.EncodeToString(keys.Public[:]), base64.StdEncoding.EncodeToString(keys.Private[:]))
	if err != nil {
		return fmt.Errorf("keep the device's box keys: %w", err)
	}
	return nil
}

func storeServerBoxKey(ctx context.Context, db execer, key []byte) error {
	_, err := db.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('server_box_public', ?)`,
		base64.StdEncoding.EncodeToString(key))
	if err != nil {
		return fmt.Errorf("keep the server's box key: %w", err)
	}
	return nil
}

func (r *Replica) metaBytes(ctx context.Context, key string) ([]byte, error) {
	var v sql.NullString
	err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if !v.Valid || v.String == "" {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(v.String)
	if err != nil {
		return nil, fmt.Errorf("corrupt %s in meta: %w", key, err)
	}
	return b, nil
}

// boxKeyToSend is the device's public key while the server's is not
// known (the server answers a sync that carries it with its own), nil
// after: an idle sync stays as small as it was.
func (r *Replica) boxKeyToSend() []byte {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if r.serverBox != nil || r.box.Public == nil {
		return nil
	}
	return r.box.Public[:]
}

// learnServerBoxKey keeps the server's public key from a sync's answer.
// A key other than the one known is not taken: a server keeps its key
// for good, and a different one would be another server's, or an
// attacker's in the middle.
func (r *Replica) learnServerBoxKey(ctx context.Context, b []byte) error {
	k, err := wire.BoxKey(b)
	if err != nil || k == nil {
		return err
	}
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	if r.serverBox != nil {
		return nil
	}
	if err := storeServerBoxKey(ctx, r.db.W, k[:]); err != nil {
		return err
	}
	r.serverBox = k
	return nil
}

func (r *Replica) serverBoxKey() *[wire.BoxKeySize]byte {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	return r.serverBox
}

// BoxPublicKey is the device's public box key (for tests and the
// server's bookkeeping); the private half never leaves the file.
func (r *Replica) BoxPublicKey() []byte {
	r.keyMu.Lock()
	defer r.keyMu.Unlock()
	return append([]byte(nil), r.box.Public[:]...)
}

// errNoServerKey says how to get the server's key: one direct sync (or
// an enrollment by this version) brings it.
var errNoServerKey = schema.Messagef("this device does not know the server's key yet: " +
	"sync directly once (the sync fetches it), then make carried files")

// CarryOutStats says what a push file holds.
type CarryOutStats struct {
	// Changes in the file; Held ones kept for the server's update (as a
	// Sync holds them back); More pending changes that did not fit (a
	// file holds one request, protocol.MaxChanges changes at most).
	Changes, Held, More int
	ServerSchema        int
	Bytes               int
}

func (s CarryOutStats) String() string {
	out := fmt.Sprintf("%d changes (%d bytes); they stay pending until the server confirms them "+
		"(a direct sync or a file from staff)", s.Changes, s.Bytes)
	if s.More > 0 {
		out += fmt.Sprintf("; %d more did not fit: once this file is carried and confirmed, make another", s.More)
	}
	if s.Held > 0 {
		out += "; " + WaitingNote(s.Held, s.ServerSchema)
	}
	return out
}

// CarryOut writes the device's pending changes to a push file for the
// server, sealed for it: exactly what the next Sync would push first (the
// same selection and order, changes held back for the server's update
// left out). Nothing is marked pushed: the changes stay pending until the
// server confirms them, by a direct sync (the receipts answer ALREADY_HAD)
// or by the acks of a pull file, so a lost file loses nothing.
func (r *Replica) CarryOut(ctx context.Context) ([]byte, CarryOutStats, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	var st CarryOutStats
	serverKey := r.serverBoxKey()
	if serverKey == nil {
		return nil, st, errNoServerKey
	}
	batch := r.opt.PushBatch
	if batch <= 0 {
		batch = defaultPushBatch
	}
	push, held, err := r.pending(ctx, batch)
	if err != nil {
		return nil, st, fmt.Errorf("carry out: %w", err)
	}
	st.Changes, st.Held = len(push), held
	if st.ServerSchema, err = r.serverSchema(ctx); err != nil {
		return nil, st, err
	}
	if len(push) == batch {
		all, _, err := r.pending(ctx, int(^uint(0)>>1))
		if err != nil {
			return nil, st, fmt.Errorf("carry out: %w", err)
		}
		st.More = len(all) - len(push)
	}
	req, err := r.request(ctx, push)
	if err != nil {
		return nil, st, fmt.Errorf("carry out: %w", err)
	}
	p := &v1.CarriedPush{ServerId: r.serverID, Replica: r.id, MadeAtMs: time.Now().UnixMilli(),
		Request: wire.Request(req)}
	file, err := wire.SealPush(p, r.box, serverKey)
	if err != nil {
		return nil, st, fmt.Errorf("carry out: %w", err)
	}
	st.Bytes = len(file)
	return file, st, nil
}

// CarryInStats says what a pull file changed on the device.
type CarryInStats struct {
	// Pages applied; Skipped pages were at or before the device's cursor
	// (it had them already).
	Pages, Skipped int
	// Pulled records stored; Acked own records now confirmed.
	Pulled, Acked int
	// The device's cursor before and after.
	From, To uint64
}

func (s CarryInStats) String() string {
	if s.Pages == 0 && s.Acked == 0 {
		return fmt.Sprintf("nothing new: the device already had what the file holds (cursor %d)", s.From)
	}
	return fmt.Sprintf("pulled %d records in %d pages (%d already had), confirmed %d own changes; cursor %d -> %d",
		s.Pulled, s.Pages, s.Skipped, s.Acked, s.From, s.To)
}

// CarryIn imports a pull file staff wrote for this device (CarryFor), as
// if the device had pulled its pages: the same commit as Sync's, the
// cursor only moving forward, and its acks marking the device's own
// changes the server has as pushed. A file for another device or server,
// of another incarnation of the server, or starting after the device's
// cursor is refused whole, nothing applied; one the device already has
// (imported before, or older than a direct sync) changes nothing.
func (r *Replica) CarryIn(ctx context.Context, file []byte) (CarryInStats, error) {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	st, err := r.carryIn(ctx, file)
	if serr := r.scrub(context.WithoutCancel(ctx)); serr != nil && err == nil {
		err = fmt.Errorf("carry in: the records were imported, but %w", serr)
	}
	return st, err
}

func (r *Replica) carryIn(ctx context.Context, file []byte) (CarryInStats, error) {
	var st CarryInStats
	f, err := wire.ReadCarried(file)
	if err != nil {
		return st, err
	}
	if f.Kind != v1.CarriedKind_CARRIED_KIND_PULL {
		return st, schema.Messagef("this is a device's push file, for the server: carry it with villagesync carry FILE")
	}
	if f.ServerId != r.serverID {
		return st, schema.Messagef("the file is from another server (%d; this device syncs with %d): "+
			"ask staff of this device's server for a new file", f.ServerId, r.serverID)
	}
	if f.Replica != r.id {
		return st, schema.Messagef("the file is for device %d, not this one (%d): import it on that device",
			f.Replica, r.id)
	}
	serverKey := r.serverBoxKey()
	if serverKey == nil {
		return st, errNoServerKey
	}
	p, err := wire.OpenPull(f, r.box, serverKey)
	if err != nil {
		return st, err
	}
	incarnation, err := r.metaUint(ctx, "incarnation")
	if err != nil {
		return st, err
	}
	// A device that never synced takes the file's incarnation, as its
	// first sync would take the server's.
	if incarnation != 0 && p.Incarnation != incarnation {
		return st, schema.Messagef("the server was restored from a backup between this device's last sync and " +
			"the file: sync directly (the device then sends its changes again) or ask for a new file")
	}
	// The file's pages are the device's villages as the server knew them
	// when staff made it; since then her villages may have changed (the
	// device learnt it at a sync: the hash differs). Its pages would then
	// miss records of a new village or bring a dropped one's back, and
	// only a direct sync re-pulls the new scope. A device that never
	// synced knows no scope (0) and takes the file's pages as its first
	// pull; its first direct sync then answers its scope and re-pulls it
	// whole (rescoped), as for any first sync.
	scope, err := r.scopeHash(ctx)
	if err != nil {
		return st, err
	}
	if scope != 0 && p.ScopeHash != scope {
		return st, schema.Messagef("this device's villages changed after the file was made: " +
			"sync directly (the sync brings the new villages' records) or ask staff for a new file")
	}
	// Part-way through pulling its villages again (after a long absence
	// or a change of villages), the device must see every record of its
	// scope before it sweeps those it did not; a file's pages are the
	// feed after a cursor, not that whole pull.
	sweep, err := r.metaUint(ctx, "sweep")
	if err != nil {
		return st, err
	}
	if sweep != 0 || r.inFullPull(ctx, r.db.R) {
		return st, schema.Messagef("this device is part-way through pulling its villages again: " +
			"sync directly to finish that, then files from staff apply again")
	}
	if st.From, err = r.cursor(ctx); err != nil {
		return st, err
	}
	st.To = st.From
	if p.FromCursor > st.From {
		return st, schema.Messagef("the file starts after this device's place in the server's updates "+
			"(%d; the device is at %d), so updates between would be missing: sync directly or ask for a new file",
			p.FromCursor, st.From)
	}
	// Every page is read before any is applied: a damaged one refuses
	// the whole file.
	pages := make([]pulledPage, 0, len(p.Pages))
	for i, m := range p.Pages {
		resp, err := wire.FromResponse(m)
		if err != nil {
			return st, fmt.Errorf("carry in: page %d: %w", i+1, err)
		}
		if resp.Restored || resp.Repull || len(resp.Results) > 0 || resp.ServerID != r.serverID ||
			resp.Incarnation != p.Incarnation {
			return st, wire.ErrCarriedDamaged
		}
		for _, rec := range resp.Records {
			if _, err := schema.Lookup(rec.Table); err != nil {
				return st, schema.Messagef("the file holds a record of a table this app does not know (%s): update the app",
					rec.Table)
			}
		}
		pages = append(pages, pulledPage{resp.NextCursor, resp})
	}
	// Acks and pages in one transaction, so a failure part-way (a full
	// disk, a crash) leaves the device as it was, and the file can be
	// imported again. Acks first, as a sync's outcomes come before its
	// page: a confirmed record then takes the server's newer state from
	// the pages.
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return st, fmt.Errorf("carry in: begin: %w", err)
	}
	defer tx.Rollback()
	ctx = context.WithoutCancel(ctx) // see commit: BeginTx watches ctx
	if st.Acked, err = applyAcks(ctx, tx, p.Acks); err != nil {
		return st, err
	}
	var cs Stats
	to := st.From
	for _, pg := range pages {
		if pg.next <= to {
			st.Skipped++
			continue
		}
		// A page that straddles the cursor: its records at or before it
		// the device has (or has newer), so only the later ones apply.
		resp := pg.resp
		kept := resp.Records[:0:0]
		for _, rec := range resp.Records {
			if rec.Seq > to {
				kept = append(kept, rec)
			}
		}
		resp.Records = kept
		if err := r.commitIn(ctx, tx, nil, resp, &cs); err != nil {
			return st, fmt.Errorf("carry in: %w", err)
		}
		st.Pages++
		to = resp.NextCursor
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("carry in: commit: %w", err)
	}
	st.To = to
	st.Pulled = cs.Pulled
	return st, nil
}

type pulledPage struct {
	next uint64
	resp *protocol.Response
}

// applyAcks marks the device's own changes the server has as pushed, up
// to each ack's counter (never past the record's own counter: an ack of
// a counter the device does not know says nothing of its writes). Writes
// made since stay pending; the next push carries just them.
func applyAcks(ctx context.Context, tx *sql.Tx, acks []*v1.CarriedAck) (int, error) {
	n := 0
	for _, a := range acks {
		t, err := schema.Lookup(a.GetTable())
		if err != nil {
			continue // a table this version does not know holds no writes of it
		}
		if err := record.CheckID(a.GetId()); err != nil {
			return 0, wire.ErrCarriedDamaged
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET _acked = min(?, _own) WHERE id = ? AND _acked < min(?, _own)`,
			t.Name), int64(a.GetCounter()), a.GetId(), int64(a.GetCounter()))
		if err != nil {
			return 0, fmt.Errorf("carry in: confirm %s %s: %w", t.Name, a.GetId(), err)
		}
		if k, _ := res.RowsAffected(); k > 0 {
			n++
		}
	}
	return n, nil
}
