package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// Backup writes a consistent copy of the server database at file to out
// while the server keeps serving: VACUUM INTO reads one snapshot (WAL lets
// the writer go on) and writes a compact, self-contained database.
//
// The copy gets a new incarnation. A server restored from it answers
// devices that synced with the live database after the backup was taken
// with "restored": they push all their own writes again and pull their
// scope from the start, so nothing acknowledged after the backup is lost
// as long as the device that wrote it syncs again.
//
// The copy is a server database (it carries the server's application_id)
// readable by its owner only, like the database it copies.
func Backup(ctx context.Context, file, out string) error {
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := sqlite.CheckKind(ctx, file, sqlite.ServerFile); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	// Made here, empty and owner-only, so VACUUM INTO (which fills an empty
	// file) does not create it with the umask's mode; O_EXCL refuses an
	// existing file even if one appears after a check.
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("backup: %s exists; choose a new file", out)
	}
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(out) // an empty or partial copy is no backup
		}
	}()
	src, err := sql.Open("sqlite3", "file:"+file+"?mode=ro&_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	if _, err := src.ExecContext(ctx, `VACUUM INTO ?`, out); err != nil {
		return fmt.Errorf("backup %s: %w", file, err)
	}
	dst, err := sql.Open("sqlite3", "file:"+out+"?_busy_timeout=10000")
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer dst.Close()
	// The id too: a database made before files carried their kind was
	// copied without one.
	if _, err := dst.ExecContext(ctx, fmt.Sprintf(`PRAGMA application_id = %d;
		INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)`, sqlite.ServerFileID),
		int64(randomID())); err != nil {
		return fmt.Errorf("backup: mark %s: %w", out, err)
	}
	var check string
	if err := dst.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		return fmt.Errorf("backup: %s fails its integrity check: %q %v", out, check, err)
	}
	done = true
	return nil
}
