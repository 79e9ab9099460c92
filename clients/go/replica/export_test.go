package replica

import (
	"fmt"
)

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
