package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

//go:embed migrations/*.sql
var migrations embed.FS

// sqliteBackend is the server database on SQLite: one writer connection
// (W) and a pool of readers (R), and the statements prepared on the writer.
type sqliteBackend struct {
	db    *sqlite.DB
	stmts map[string]map[string]*sql.Stmt // table -> purpose -> statement on the writer
}

// Open opens or creates the server database at file.
func Open(ctx context.Context, file string, opt Options) (*Store, error) {
	d, err := sqlite.Open(ctx, file, 4, sqlite.ServerFile)
	if err != nil {
		return nil, err
	}
	s := &Store{sqliteBackend: sqliteBackend{db: d}, log: opt.Logger, clock: opt.Clock,
		quota: opt.DeviceAttachmentQuota, checks: make(chan struct{}, 2),
		checking: map[uint32]chan struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if d.Tightened != 0 {
		s.log.Warn("the server database was readable by others; it is now its owner's only",
			"file", file, "was", d.Tightened.String())
	}
	if err := s.init(ctx); err != nil {
		d.Close()
		return nil, sqlite.OpenError("server database "+file, err)
	}
	if opt.MaxPages > 0 {
		// The writer is one long-lived connection, so this sticks.
		if _, err := d.W.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", opt.MaxPages)); err != nil {
			d.Close()
			return nil, fmt.Errorf("open server database %s: %w", file, err)
		}
	}
	return s, nil
}

func (s *Store) init(ctx context.Context) error {
	// A file from before the attachment lane (migration 0009) may hold
	// records whose Attachments columns name photos: their references are
	// made in the migration's transaction.
	var was int
	if err := s.db.W.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&was); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	// Everything a new or older file lacks comes in one transaction: a
	// failure part-way leaves the file as it was.
	err := sqlite.Migrate(ctx, s.db.W, migrations, "migrations", sqlite.ServerFile,
		func(ctx context.Context, tx *sql.Tx) error {
			if err := schema.Migrate(ctx, tx, schema.Server); err != nil {
				return err
			}
			if was > 0 && was < attachmentsMigration {
				if err := backfillAttachmentRefs(ctx, tx); err != nil {
					return err
				}
			}
			// A database made before backups existed gets its incarnation here too.
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO meta (key, value)
				VALUES ('server_id', ?), ('seq', 0), ('hlc', 0), ('incarnation', ?)`,
				int64(randomID()), int64(randomID())); err != nil {
				return fmt.Errorf("init meta: %w", err)
			}
			for _, r := range record.Seeds() {
				t, err := schema.Lookup(r.Table)
				if err != nil {
					return fmt.Errorf("seed %s %s: %w", r.Table, r.ID, err)
				}
				if _, err := tx.ExecContext(ctx, sqlite.InsertIfAbsent(t, "_seq", "_origin"),
					sqlite.Args(t, r, 0, ServerReplica)...); err != nil {
					return fmt.Errorf("seed %s %s: %w", r.Table, r.ID, err)
				}
			}
			return nil
		})
	if err != nil {
		return err
	}
	if s.boxPublic, s.boxPrivate, err = s.ensureBoxKeys(ctx); err != nil {
		return err
	}
	if err := s.db.W.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM collected)`).Scan(&s.anyCollected); err != nil {
		return fmt.Errorf("read collected: %w", err)
	}
	if err := s.loadMayHaveOpen(ctx); err != nil {
		return err
	}
	var sid, seq, last int64
	var inc int64
	err = s.db.W.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key='server_id'),
		(SELECT value FROM meta WHERE key='seq'), (SELECT value FROM meta WHERE key='hlc'),
		(SELECT value FROM meta WHERE key='incarnation')`).Scan(&sid, &seq, &last, &inc)
	if err != nil {
		return fmt.Errorf("read meta: %w", err)
	}
	s.serverID, s.seq, s.incarnation = uint64(sid), uint64(seq), uint64(inc)
	if s.clock == nil {
		s.clock = hlc.New(uint64(last))
	} else {
		s.clock.Observe(uint64(last))
	}
	s.stmts = map[string]map[string]*sql.Stmt{}
	for _, t := range schema.Tables() {
		m := map[string]*sql.Stmt{}
		for purpose, q := range map[string]string{
			"get":    fmt.Sprintf("SELECT %s, _seq FROM %s WHERE id = ?", sqlite.Columns(t), t.Name),
			"upsert": sqlite.Upsert(t, "_seq", "_origin"),
		} {
			st, err := s.db.W.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare %s %s: %w", purpose, t.Name, err)
			}
			m[purpose] = st
		}
		s.stmts[t.Name] = m
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.stmts {
		for _, st := range m {
			st.Close()
		}
	}
	if err := s.saveOnClose(context.Background()); err != nil {
		s.log.Warn("saving state on close", "err", err)
	}
	return s.db.Close()
}

func (s *Store) saveOnClose(ctx context.Context) error {
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'hlc'`, int64(s.clock.Last())); err != nil {
		return err
	}
	if err := s.saveSeen(ctx, &sqliteTxn{s: s, tx: tx}); err != nil {
		return err
	}
	return tx.Commit()
}

// Reader is the read-only pool, for reports and other read-side queries.
func (s *Store) Reader() *sql.DB { return s.db.R }

// Ping checks that the database answers (for health checks).
func (s *Store) Ping(ctx context.Context) error { return s.db.R.PingContext(ctx) }

// insertReplica adds a replica called name that belongs to no user and
// returns its number.
func (b *sqliteBackend) insertReplica(ctx context.Context, name string, created time.Time) (int64, error) {
	res, err := b.db.W.ExecContext(ctx, `INSERT INTO replicas (name, created_ms) VALUES (?, ?)`,
		name, created.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// attachmentsMigration is the schema version (the number of migrations)
// that brought the attachment lane's tables.
const attachmentsMigration = 9

// backfillAttachmentRefs makes the references of the live records that
// name attachments (see noteAttachments), splitting each column's
// comma-separated digests in SQL.
func backfillAttachmentRefs(ctx context.Context, tx *sql.Tx) error {
	for _, t := range schema.Tables() {
		// As noteAttachments: NULL only for a table scoped to none (a
		// scoped record without a village keeps "", which nobody serves),
		// and only valid digests (64 lowercase hex, as schema.ValidDigest).
		village := "NULL"
		if t.Scope != "" {
			village = "COALESCE(" + t.Scope + ", '')"
		}
		for _, c := range t.AttachmentColumns() {
			q := fmt.Sprintf(`WITH RECURSIVE split (id, village, d, rest) AS (
				  SELECT id, %[3]s, '', %[2]s || ',' FROM %[1]s WHERE _deleted = 0 AND %[2]s IS NOT NULL AND %[2]s != ''
				  UNION ALL
				  SELECT id, village, substr(rest, 1, instr(rest, ',') - 1), substr(rest, instr(rest, ',') + 1)
				  FROM split WHERE rest != '')
				INSERT OR IGNORE INTO attachment_refs (digest, tbl, record_id, village)
				  SELECT d, '%[1]s', id, village FROM split WHERE length(d) = %[4]d AND d NOT GLOB '*[^0-9a-f]*'`,
				t.Name, c.Name, village, schema.DigestLen)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("attachment references of %s.%s: %w", t.Name, c.Name, err)
			}
		}
	}
	return nil
}
