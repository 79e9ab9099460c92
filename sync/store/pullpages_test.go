package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/record"
)

// A page ends at the limit-th position of the merged feed, whichever
// tables hold the records: every record comes once, in feed order, each
// page but the last full, and the last page's cursor is the head.
func TestPullPagesAcrossTables(t *testing.T) {
	for _, tc := range []struct {
		name          string
		sessions, bks int
		limit         int
	}{
		{"one table", 25, 0, 10},
		{"two tables interleaved", 13, 13, 10},
		{"limit dividing the feed", 10, 10, 5},
		{"one page", 3, 4, 10},
		{"limit one", 3, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := openTest(t)
			code, _ := s.CodeFor(ctx, "u", Staff, nil)
			pusher, _, _ := s.Enroll(ctx, code, "pusher")
			code2, _ := s.CodeFor(ctx, "u", Staff, nil)
			puller, _, _ := s.Enroll(ctx, code2, "puller")
			var changes []*record.Record
			for i := range max(tc.sessions, tc.bks) {
				if i < tc.sessions {
					changes = append(changes, session(pusher.Replica, 1+i%28))
				}
				if i < tc.bks {
					changes = append(changes, book(pusher.Replica, fmt.Sprint("title ", i)))
				}
			}
			if _, err := s.Push(ctx, pusher, changes); err != nil {
				t.Fatal(err)
			}
			head, err := s.readHead(ctx)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]bool{}
			cursor, pages := uint64(0), 0
			for {
				page, err := s.Pull(ctx, puller, cursor, tc.limit, false)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				if page.HasMore && len(page.Records) != tc.limit {
					t.Errorf("page %d: %d records with more to come, want %d", pages, len(page.Records), tc.limit)
				}
				last := cursor
				for _, r := range page.Records {
					if r.Seq <= last {
						t.Errorf("page %d: %s at %d after %d: out of feed order", pages, r.ID, r.Seq, last)
					}
					last = r.Seq
					if seen[r.ID] {
						t.Errorf("page %d: %s again", pages, r.ID)
					}
					seen[r.ID] = true
				}
				if page.Next < last {
					t.Errorf("page %d: next cursor %d before its last record %d", pages, page.Next, last)
				}
				cursor = page.Next
				if !page.HasMore {
					break
				}
			}
			if len(seen) != len(changes) {
				t.Errorf("pulled %d records, pushed %d", len(seen), len(changes))
			}
			if cursor != head {
				t.Errorf("last cursor %d, head %d", cursor, head)
			}
		})
	}
}
