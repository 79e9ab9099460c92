package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
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
func Backup(ctx context.Context, file, out string) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("backup: %s exists; choose a new file", out)
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
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
	if _, err := dst.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('incarnation', ?)`,
		int64(randomID())); err != nil {
		return fmt.Errorf("backup: mark %s: %w", out, err)
	}
	var check string
	if err := dst.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		return fmt.Errorf("backup: %s fails its integrity check: %q %v", out, check, err)
	}
	return nil
}
