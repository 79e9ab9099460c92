package replica

import (
	"database/sql"
	"fmt"
)

// ForTestSetField overwrites one column of a record in a device file
// without going through Put (and its checks), for tests of server-side
// rejection.
func ForTestSetField(file, table, id, field string, value any) error {
	d, err := sql.Open("sqlite3", file)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := d.Exec(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE id = ?`, table, field), value, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("no %s record %s", table, id)
	}
	return nil
}

// ForTestCapPages caps r's file at pages pages (PRAGMA max_page_count on
// its one writer connection), as a full disk would.
func ForTestCapPages(r *Replica, pages int) error {
	_, err := r.db.W.Exec(fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
	return err
}

// ForTestPageCount is the number of pages r's file uses now.
func ForTestPageCount(r *Replica) (int, error) {
	var n int
	err := r.db.W.QueryRow(`PRAGMA page_count`).Scan(&n)
	return n, err
}
