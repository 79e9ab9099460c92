package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// Kind is a kind of villagesync file. Each kind carries its own PRAGMA
// application_id (the four bytes at offset 68 of the file's header), set
// when the file is created, and Open reads it before it writes anything:
// a phone's file given to the server (or the reverse) is refused and left
// as it was, instead of getting the other kind's migrations and being
// broken for both.
type Kind struct {
	// Name says what the file is, in errors: "villagesync device file".
	Name string
	// ID is the file's PRAGMA application_id; 0 for a file of no kind
	// (benchmarks' scratch files), which Open neither checks nor stamps.
	ID uint32
	// Legacy is a table only files of this kind have: a file made before
	// application_id was set has id 0 and is recognised by it, so files
	// in the field keep opening (and get their id stamped).
	Legacy string
	// Needs is what the opener wants instead, for the error refusing a
	// file of another kind.
	Needs string
	// SecureDelete overwrites deleted content with zeros (PRAGMA
	// secure_delete), for files that must not keep what they delete.
	SecureDelete bool
}

// The application ids, "VSGS" and "VSGD" in ASCII. They are part of the
// file format: never change them.
const (
	ServerFileID uint32 = 0x56534753
	DeviceFileID uint32 = 0x56534744
)

var (
	// ServerFile is the server's database (and its backups).
	ServerFile = Kind{Name: "villagesync server database", ID: ServerFileID, Legacy: "receipts",
		Needs: "the server needs its own database file (a new file, or one a villagesync server made)"}
	// DeviceFile is a device's replica. Its deletes are secure: a device
	// must hold only its villages, in the bytes of its file too.
	DeviceFile = Kind{Name: "villagesync device file", ID: DeviceFileID, Legacy: "rejected",
		Needs: "a device needs its own file, made by `villagesync device --db FILE init`", SecureDelete: true}
)

var kinds = []Kind{ServerFile, DeviceFile}

// WrongKindError refuses a file that is not of the kind its opener needs.
// The file was not written.
type WrongKindError struct {
	File string
	Want Kind
	What string // what the file is instead
}

func (e *WrongKindError) Error() string {
	return fmt.Sprintf("open %s: the file is %s; %s. The file was left as it was", e.File, e.What, e.Want.Needs)
}

const headerSize = 100

// CheckKind refuses file unless it is of kind want, a file made before
// application_id existed that has want's tables, or a new database (absent,
// empty, or without tables). It only reads: it never creates file, nor its
// -wal or -shm.
func CheckKind(ctx context.Context, file string, want Kind) error {
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return fmt.Errorf("open %s: it is a folder; give a file", file)
	}
	var h [headerSize]byte
	n, err := io.ReadFull(f, h[:])
	switch {
	case n == 0:
		return nil // a new file
	case err != nil || string(h[:16]) != "SQLite format 3\x00":
		return &WrongKindError{File: file, Want: want, What: "corrupt or not a villagesync database (it is not SQLite)"}
	}
	id := binary.BigEndian.Uint32(h[68:72])
	if id == want.ID {
		return nil
	}
	for _, k := range kinds {
		if id == k.ID {
			return &WrongKindError{File: file, Want: want, What: "a " + k.Name}
		}
	}
	if id != 0 {
		return &WrongKindError{File: file, Want: want,
			What: fmt.Sprintf("the SQLite database of another program (application_id %#08x)", id)}
	}
	// No id: a file from before application_id existed, a new database, or
	// another program's. Its tables tell.
	tables, err := tableNames(ctx, file)
	if err != nil {
		return OpenError(file, err)
	}
	if len(tables) == 0 {
		return nil
	}
	for _, k := range kinds {
		if !slices.Contains(tables, k.Legacy) {
			continue
		}
		if k.ID == want.ID {
			return nil
		}
		return &WrongKindError{File: file, Want: want, What: "a " + k.Name + " (made before files carried their kind)"}
	}
	if len(tables) > 5 {
		tables = append(tables[:5], "…")
	}
	return &WrongKindError{File: file, Want: want,
		What: "the SQLite database of another program (tables " + strings.Join(tables, ", ") + ")"}
}

// tableNames lists the tables of file without writing anything. An
// immutable read touches nothing, but does not see a write-ahead log: a
// file with a non-empty -wal (in use, or left by a crash) is read in
// read-only mode instead, which may create its -shm (an index of the
// log, no content).
func tableNames(ctx context.Context, file string) ([]string, error) {
	params := []string{"mode=ro", "immutable=1"}
	if fi, err := os.Stat(file + "-wal"); err == nil && fi.Size() > 0 {
		params = []string{"mode=ro", "_busy_timeout=10000"}
	}
	db, err := sql.Open(driverName, dsn(file, params...))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rs, err := db.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var names []string
	for rs.Next() {
		var n string
		if err := rs.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rs.Err()
}

// ownerOnly creates file, when absent, for its owner only (0600), and
// takes group and other access away from an existing one and from its -wal
// and -shm (SQLite gives those the database's mode when it creates them):
// a villagesync file holds children's records and credentials. The
// owner's own bits stay (a file made read-only stays read-only). It
// returns the mode an existing file had when it was tightened, else 0.
func ownerOnly(file string) (os.FileMode, error) {
	f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return 0, f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return 0, fmt.Errorf("create %s: %w", file, err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", file, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, nil
	}
	// The -wal and -shm may be open to others when the file is not (made
	// while it was, or copied in): each is tightened on its own.
	var was os.FileMode
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		fi, err := os.Stat(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("open %s: %w", f, err)
		}
		if fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(f, fi.Mode().Perm()&^0o077); err != nil {
			return 0, fmt.Errorf("make %s readable by its owner only: %w", f, err)
		}
		was = max(was, fi.Mode().Perm())
	}
	return was, nil
}
