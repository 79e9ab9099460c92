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
