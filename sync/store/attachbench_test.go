package store

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAttachmentStorage compares keeping a photo in the server's
// database (as the lane does) with a file beside it, for a downsized
// photo (300 KB) and a large one (3 MB): a write made durable (the
// database's commit, synchronous=FULL; the file's write, fsync, rename
// and directory fsync) and a read. Each iteration does both, so the
// ratio db/file is measured in one process under the same load
// (sync/DESIGN.md, Attachments, has the figures).
func BenchmarkAttachmentStorage(b *testing.B) {
	for _, size := range []int{300 << 10, 3 << 20} {
		for _, op := range []string{"write", "read"} {
			b.Run(fmt.Sprintf("%dKB/%s", size>>10, op), func(b *testing.B) {
				benchStorage(b, size, op == "read")
			})
		}
	}
}

func benchStorage(b *testing.B, size int, read bool) {
	ctx := context.Background()
	dir := b.TempDir()
	s, err := Open(ctx, filepath.Join(dir, "s.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	files := filepath.Join(dir, "attachments")
	if err := os.Mkdir(files, 0o700); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	writeDB := func(key string) {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tx.Exec(`INSERT INTO attachments (digest, size, media_type, width, height, uploader, stored_ms,
			thumb, data) VALUES (?, ?, 'image/jpeg', 1, 1, 2, 0, ?, ?)`, key, size, []byte{}, data); err != nil {
			b.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	writeFile := func(key string) {
		f, err := os.CreateTemp(files, "up-*")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(f.Name(), filepath.Join(files, key)); err != nil {
			b.Fatal(err)
		}
		d, err := os.Open(files)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(); err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
	readDB := func(key string) {
		var out []byte
		if err := s.r.QueryRow(`SELECT data FROM attachments WHERE digest = ?`, key).Scan(&out); err != nil ||
			len(out) != size {
			b.Fatal(len(out), err)
		}
	}
	readFile := func(key string) {
		out, err := os.ReadFile(filepath.Join(files, key))
		if err != nil || len(out) != size {
			b.Fatal(len(out), err)
		}
	}
	const kept = 8 // read keys: a few, so reads are of more than one row
	if read {
		for i := range kept {
			writeDB(fmt.Sprint(i))
			writeFile(fmt.Sprint(i))
		}
	}
	var inDB, inFile time.Duration
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprint(i)
		if read {
			key = fmt.Sprint(i % kept)
		}
		// Alternate which goes first, so neither always meets a warm cache.
		dbOp, fileOp := writeDB, writeFile
		if read {
			dbOp, fileOp = readDB, readFile
		}
		t0 := time.Now()
		if i%2 == 0 {
			dbOp(key)
			t1 := time.Now()
			fileOp(key)
			inDB, inFile = inDB+t1.Sub(t0), inFile+time.Since(t1)
		} else {
			fileOp(key)
			t1 := time.Now()
			dbOp(key)
			inFile, inDB = inFile+t1.Sub(t0), inDB+time.Since(t1)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(inDB.Nanoseconds())/n, "db-ns/op")
	b.ReportMetric(float64(inFile.Nanoseconds())/n, "file-ns/op")
	b.ReportMetric(float64(inDB)/float64(inFile), "db/file")
}
