package replica

import (
	"crypto/sha256"
	"encoding/hex"
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

// ForTestAttachRaw keeps data as a photo written here without Attach's
// checks, as a damaged file or an older app's might hold it, for tests of
// the server's refusals.
func ForTestAttachRaw(r *Replica, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	d := hex.EncodeToString(sum[:])
	_, err := r.db.W.Exec(`INSERT INTO _attachments (digest, media_type, size, bytes, here) VALUES (?, 'image/png', ?, ?, 1)`,
		d, len(data), data)
	return d, err
}
