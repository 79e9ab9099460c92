package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// `villagesync backup` holds the photos: its file, copied over the
// database as its message says, serves them again.
func TestBackupHoldsPhotos(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "s.db")
	st, err := store.Open(ctx, db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, err := st.CodeFor(ctx, "王芳", store.Volunteer, []string{"南香村"})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := st.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b.Bytes())
	digest := hex.EncodeToString(sum[:])
	d := vv.Dot{Replica: p.Replica, Counter: 1, HLC: st.Clock().Now()}
	r := &record.Record{Table: "books", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{p.Replica: 1},
		Fields: map[string]record.Field{}}
	for k, v := range map[string]string{"village": "南香村", "library": "children", "title": "小王子", "cover": digest} {
		r.Fields[k] = record.Field{Value: schema.TextValue(v), Dot: d}
	}
	if res, err := st.Push(ctx, p, []*record.Record{r}); err != nil || res[0].Outcome != record.Applied {
		t.Fatal(res, err)
	}
	if res, err := st.AppendChunk(ctx, p, store.Chunk{Digest: digest, Size: uint64(b.Len()), Data: b.Bytes()}); err != nil ||
		!res.Stored {
		t.Fatal(res, err)
	}
	st.Close()

	out := filepath.Join(dir, "backup.db")
	if err := run(ctx, []string{"backup", "--db", db, "--out", out}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	restored := filepath.Join(t.TempDir(), "s.db")
	copyFile(t, out, restored)
	st, err = store.Open(ctx, restored, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := st.FetchAttachment(ctx, p, digest, false, 0, 0)
	if err != nil || !bytes.Equal(a.Data, b.Bytes()) || a.Width != 64 || a.Height != 48 {
		t.Fatalf("the restored server's photo: %d bytes %dx%d, %v", len(a.Data), a.Width, a.Height, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
