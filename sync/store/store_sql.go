package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/postgres"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

//go:embed migrations/*.sql migrations_postgres/*.sql
var migrations embed.FS

// Open opens or creates the server database: dsn is a SQLite file, or a
// PostgreSQL database's URL (postgres://...; see docs/postgres.md), whose
// tables are made at the first start.
func Open(ctx context.Context, dsn string, opt Options) (*Store, error) {
	s := &Store{log: opt.Logger, clock: opt.Clock,
		quota: opt.DeviceAttachmentQuota, checks: make(chan struct{}, 2),
		checking: map[uint32]chan struct{}{}, gate: newPageGate(0)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if postgres.IsURL(dsn) {
		db, err := postgres.Open(ctx, dsn, max(opt.Conns, 2))
		if err != nil {
			return nil, err
		}
		pool := sqlDB{db: db, sqlDialect: sqlDialect{pg: true}}
		s.sqlBackend = sqlBackend{w: pool, r: pool}
		if err := s.init(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("server database %s: %w", postgres.Redact(dsn), err)
		}
		return s, nil
	}
	d, err := sqlite.Open(ctx, dsn, 4, sqlite.ServerFile)
	if err != nil {
		return nil, err
	}
	s.sqlBackend = sqlBackend{w: sqlDB{db: d.W}, r: sqlDB{db: d.R}, file: d}
	if d.Tightened != 0 {
		s.log.Warn("the server database was readable by others; it is now its owner's only",
			"file", dsn, "was", d.Tightened.String())
	}
	if err := s.init(ctx); err != nil {
		d.Close()
		return nil, sqlite.OpenError("server database "+dsn, err)
	}
	if opt.MaxPages > 0 {
		// The writer is one long-lived connection, so this sticks.
		if _, err := d.W.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", opt.MaxPages)); err != nil {
			d.Close()
			return nil, fmt.Errorf("open server database %s: %w", dsn, err)
		}
	}
	return s, nil
}

// migrate brings the database to this program's schema, all or nothing:
// the bookkeeping tables (migrations/ or migrations_postgres/), the
// program tables of package schema, the meta rows and the seeds.
func (s *Store) migrate(ctx context.Context) error {
	more := func(ctx context.Context, raw *sql.Tx) error {
		tx := &sqlTx{raw, s.w.sqlDialect}
		dialect := schema.SQLite
		if s.shared() {
			dialect = schema.Postgres
		}
		if err := schema.MigrateDialect(ctx, tx, schema.Server, dialect); err != nil {
			return err
		}
		if !s.shared() {
			if err := s.backfill(ctx, tx); err != nil {
				return err
			}
		}
		// A database made before backups existed gets its incarnation here too.
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value)
			VALUES ('server_id', ?), ('seq', 0), ('hlc', 0), ('incarnation', ?) ON CONFLICT (key) DO NOTHING`,
			int64(randomID()), int64(randomID())); err != nil {
			return fmt.Errorf("init meta: %w", err)
		}
		for _, r := range record.Seeds() {
			t, err := schema.Lookup(r.Table)
			if err != nil {
				return fmt.Errorf("seed %s %s: %w", r.Table, r.ID, err)
			}
			if _, err := tx.ExecContext(ctx, insertIfAbsent(t), sqlite.Args(t, r, 0, ServerReplica)...); err != nil {
				return fmt.Errorf("seed %s %s: %w", r.Table, r.ID, err)
			}
		}
		return nil
	}
	if s.shared() {
		return postgres.Migrate(ctx, s.w.db, migrations, "migrations_postgres", feedLock, more)
	}
	// A file from before the attachment lane (migration 0009) may hold
	// records whose Attachments columns name photos: their references are
	// made in the migration's transaction.
	if err := s.w.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&s.migratedFrom); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	return sqlite.Migrate(ctx, s.w.db, migrations, "migrations", sqlite.ServerFile, more)
}

// backfill does what an older SQLite file's migration needs beyond SQL.
func (s *Store) backfill(ctx context.Context, tx *sqlTx) error {
	if s.migratedFrom > 0 && s.migratedFrom < attachmentsMigration {
		return backfillAttachmentRefs(ctx, tx)
	}
	return nil
}

func (s *Store) init(ctx context.Context) error {
	err := s.migrate(ctx)
	if err != nil {
		return err
	}
	if s.boxPublic, s.boxPrivate, err = s.ensureBoxKeys(ctx); err != nil {
		return err
	}
	if err := s.w.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM collected)`).Scan(&s.anyCollected); err != nil {
		return fmt.Errorf("read collected: %w", err)
	}
	if err := s.loadMayHaveOpen(ctx, s.w); err != nil {
		return err
	}
	var sid, seq, last int64
	var inc int64
	err = s.w.QueryRowContext(ctx, `SELECT (SELECT value FROM meta WHERE key='server_id'),
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
			"upsert": upsert(t),
		} {
			st, err := s.w.PrepareContext(ctx, q)
			if err != nil {
				return fmt.Errorf("prepare %s %s: %w", purpose, t.Name, err)
			}
			m[purpose] = st
		}
		s.stmts[t.Name] = m
	}
	return s.prepareFlagQueries(ctx)
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
	for _, st := range s.flagStmts {
		st.Close()
	}
	if err := s.saveOnClose(context.Background()); err != nil {
		s.log.Warn("saving state on close", "err", err)
	}
	if s.file != nil {
		return s.file.Close()
	}
	return s.w.db.Close()
}

// saveOnClose writes the clock and the noted sync times. Through
// beginTxn, so on PostgreSQL it takes the feed lock like every write:
// rows locked in another order could deadlock with another server's push.
func (s *Store) saveOnClose(ctx context.Context) error {
	t, err := s.beginTxn(ctx)
	if err != nil {
		return err
	}
	defer t.rollback()
	tx := t.(*sqlTxn).tx
	if _, err := tx.ExecContext(ctx, s.w.pick(`UPDATE meta SET value = max(value, ?) WHERE key = 'hlc'`,
		`UPDATE meta SET value = GREATEST(value, ?) WHERE key = 'hlc'`), int64(s.clock.Last())); err != nil {
		return err
	}
	if err := s.saveSeen(ctx, t); err != nil {
		return err
	}
	return t.commit()
}

// Ping checks that the database answers (for health checks).
func (s *Store) Ping(ctx context.Context) error { return s.r.PingContext(ctx) }

// insertReplica adds a replica called name that belongs to no user and
// returns its number.
func (b *sqlBackend) insertReplica(ctx context.Context, name string, created time.Time) (int64, error) {
	var id int64
	err := b.w.QueryRowContext(ctx, `INSERT INTO replicas (name, created_ms) VALUES (?, ?) RETURNING id`,
		name, created.UnixMilli()).Scan(&id)
	return id, err
}

// upsert writes a record's whole server row: every column, so that the
// update in place leaves nothing of the old row (as SQLite's INSERT OR
// REPLACE did), in the form both engines speak.
func upsert(t *schema.Table) string {
	var set []string
	for _, c := range sqlite.InsertColumns(t, "_seq", "_origin")[1:] {
		set = append(set, c+" = excluded."+c)
	}
	return sqlite.Insert(t, "_seq", "_origin") + " ON CONFLICT (id) DO UPDATE SET " + strings.Join(set, ", ")
}

// insertIfAbsent writes a record's row unless the id has one.
func insertIfAbsent(t *schema.Table) string {
	return sqlite.Insert(t, "_seq", "_origin") + " ON CONFLICT (id) DO NOTHING"
}

// attachmentsMigration is the schema version (the number of migrations)
// that brought the attachment lane's tables.
const attachmentsMigration = 9

// backfillAttachmentRefs makes the references of the live records that
// name attachments (see noteAttachments), splitting each column's
// comma-separated digests in SQL.
func backfillAttachmentRefs(ctx context.Context, tx *sqlTx) error {
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
				INSERT INTO attachment_refs (digest, tbl, record_id, village)
				  SELECT d, '%[1]s', id, village FROM split WHERE length(d) = %[4]d AND d NOT GLOB '*[^0-9a-f]*'
				ON CONFLICT DO NOTHING`,
				t.Name, c.Name, village, schema.DigestLen)
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("attachment references of %s.%s: %w", t.Name, c.Name, err)
			}
		}
	}
	return nil
}
