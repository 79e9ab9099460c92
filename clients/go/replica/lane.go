package replica

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// lane is the device's AttachmentService client. Requests are not
// compressed: photos are compressed already, and gzip would only cost the
// phone's time.
func (r *Replica) lane() villagesyncv1connect.AttachmentServiceClient {
	r.laneOnce.Do(func() {
		r.laneClient = villagesyncv1connect.NewAttachmentServiceClient(r.HTTPClient(), r.serverURL, wire.GzipClient())
	})
	return r.laneClient
}

// UploadStats is what one UploadAttachments did.
type UploadStats struct {
	// Uploaded are the digests the server stored in this call; Held the
	// ones it had already (from this device's earlier call, or anyone's).
	Uploaded []string
	Held     int
	// Refused are the attachments the server would not take, each with
	// why (not an image, over the device's quota...); the others went on.
	Refused []Refusal
	// Waiting counts photos whose records the server has not acknowledged
	// yet: they go after the next record sync.
	Waiting int
	// ServerWaiting counts photos that wait for the server's update: a
	// server from before the photo lane (no AttachmentService) has the
	// records but cannot take photos yet. It is not an error: the records
	// synced, and the photos go once the server is updated.
	ServerWaiting int
	// Sent counts the photo bytes sent in Upload calls, those sent again
	// after a cut link included; Resumed how many times a cut link made
	// the lane ask the server what it holds and go on from there.
	Sent    int64
	Resumed int
	// RoundTrips counts the lane's calls, failed ones included; RateWaits
	// those the server refused for calling too fast.
	RoundTrips, RateWaits int
}

// Refusal is an attachment the server refused, and why.
type Refusal struct {
	Digest string `json:"digest"`
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

func (s UploadStats) String() string {
	out := fmt.Sprintf("photos: uploaded %d, held already %d, refused %d, waiting for their records %d, "+
		"bytes sent %d, resumed %d", len(s.Uploaded), s.Held, len(s.Refused), s.Waiting, s.Sent, s.Resumed)
	if s.ServerWaiting > 0 {
		out += "; " + ServerWaitingNote(s.ServerWaiting)
	}
	return out
}

// ServerWaitingNote says that n photos wait for a server from before the
// photo lane to be updated: what a person is told (UploadStats, the CLI).
func ServerWaitingNote(n int) string {
	if n == 1 {
		return "1 photo waits for the server's update (this server does not take photos yet)"
	}
	return fmt.Sprintf("%d photos wait for the server's update (this server does not take photos yet)", n)
}

// errNoLane is a server without AttachmentService: one from before the
// photo lane answers Unimplemented (an unknown path).
var errNoLane = errors.New("the server does not take photos yet")

// noLane says whether err is the answer of a server without the lane.
func noLane(err error) bool { return connect.CodeOf(err) == connect.CodeUnimplemented }

const (
	holdsBatch = 100 // HoldsRequest.digests at most
	// laneAttempts bounds the failed calls in a row (no byte gained
	// between them) before UploadAttachments gives up until its next
	// call; the wait doubles from laneBackoff up to laneMaxBackoff.
	laneAttempts   = 8
	laneBackoff    = 50 * time.Millisecond
	laneMaxBackoff = 5 * time.Second
)

// UploadAttachments uploads every photo written on this device that a
// record the server has acknowledged names and the server does not hold
// yet: it asks the server what it holds of them all in one call, then
// sends each in chunks of schema.AttachmentChunk from there. After a cut
// link it asks again and goes on from what the server has (a chunk is
// never sent twice once the server has it), up to a bound of attempts
// with a growing wait. A photo the server refuses is reported in
// UploadStats.Refused and the others go on. It runs beside Sync, never
// holding it up: records are never made to wait for photos.
func (r *Replica) UploadAttachments(ctx context.Context) (UploadStats, error) {
	r.laneMu.Lock()
	defer r.laneMu.Unlock()
	var st UploadStats
	var pace time.Duration
	todo, err := r.uploadable(ctx, &st)
	if err != nil || len(todo) == 0 {
		return st, err
	}
	for start := 0; start < len(todo); start += holdsBatch {
		batch := todo[start:min(start+holdsBatch, len(todo))]
		held, err := r.holds(ctx, &st, batch)
		if errors.Is(err, errNoLane) {
			st.ServerWaiting = len(todo) - start
			return st, nil
		}
		if err != nil {
			return st, err
		}
		for i, d := range batch {
			h := held[i]
			if h.GetStored() {
				st.Held++
				if err := r.markUploaded(ctx, d); err != nil {
					return st, err
				}
				continue
			}
			err := r.upload(ctx, &st, &pace, d, int64(h.GetReceived()))
			if errors.Is(err, errNoLane) {
				// Rolled back to a release before the lane since Holds.
				st.ServerWaiting = len(todo) - start - i
				return st, nil
			}
			if err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// uploadable lists the digests to upload: written here, not uploaded,
// named by a record whose write naming it the server has acknowledged.
func (r *Replica) uploadable(ctx context.Context, st *UploadStats) ([]string, error) {
	rows, err := r.db.R.QueryContext(ctx, `SELECT digest FROM _attachments WHERE here = 1 AND uploaded = 0 ORDER BY rowid`)
	if err != nil {
		return nil, fmt.Errorf("upload photos: %w", err)
	}
	var mine []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return nil, fmt.Errorf("upload photos: %w", err)
		}
		mine = append(mine, d)
	}
	rows.Close()
	var out []string
	for _, d := range mine {
		acked, pending, err := r.namedAcked(ctx, d)
		if err != nil {
			return nil, err
		}
		switch {
		case acked:
			out = append(out, d)
		case pending:
			st.Waiting++
		}
	}
	return out, nil
}

// namedAcked says whether a live record names digest in a field whose
// write the server has acknowledged (acked), or only in writes still
// pending (pending): the server takes an upload only for a digest a
// record it has names.
func (r *Replica) namedAcked(ctx context.Context, digest string) (acked, pending bool, err error) {
	for _, t := range schema.Tables() {
		for _, c := range t.AttachmentColumns() {
			rows, err := r.db.R.QueryContext(ctx, fmt.Sprintf(`SELECT %s, _own, _acked FROM %s
				WHERE _deleted = 0 AND instr(%s, ?) > 0`, sqlite.Columns(t), t.Name, c.Name), digest)
			if err != nil {
				return false, false, fmt.Errorf("upload photos: %w", err)
			}
			for rows.Next() {
				var own, ack int64
				rec, err := sqlite.Scan(t, rows, &own, &ack)
				if err != nil {
					rows.Close()
					return false, false, fmt.Errorf("upload photos: %w", err)
				}
				f, ok := rec.Fields[c.Name]
				if !ok {
					continue
				}
				names := false
				for _, d := range schema.SplitAttachments(f.Value.Text) {
					names = names || d == digest
				}
				if !names {
					continue
				}
				if f.Dot.Replica != r.id || f.Dot.Counter <= uint64(ack) {
					rows.Close()
					return true, false, nil
				}
				pending = true
			}
			rows.Close()
		}
	}
	return false, pending, nil
}

// holds asks the server what it has of digests, again after a cut link.
func (r *Replica) holds(ctx context.Context, st *UploadStats, digests []string) ([]*v1.Held, error) {
	var last error
	wait := laneBackoff
	for attempt := 0; attempt < laneAttempts; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, wait); err != nil {
				return nil, err
			}
			wait = min(2*wait, laneMaxBackoff)
		}
		resp, err := r.lane().Holds(ctx, &v1.HoldsRequest{Digests: digests})
		st.RoundTrips++
		if err == nil {
			held := resp.GetHeld()
			if len(held) != len(digests) {
				return nil, fmt.Errorf("upload photos: the server answered %d holds for %d photos", len(held), len(digests))
			}
			for i, h := range held {
				if h.GetDigest() != digests[i] {
					return nil, fmt.Errorf("upload photos: the server answered holds out of order (%s for %s)",
						h.GetDigest(), digests[i])
				}
			}
			return held, nil
		}
		if d, ok := retryAfter(err); ok {
			wait = d
			continue
		}
		if noLane(err) {
			return nil, fmt.Errorf("upload photos: %w (%w)", errNoLane, err)
		}
		if !laneTransient(ctx, err) {
			return nil, fmt.Errorf("upload photos: ask the server what it holds: %w", err)
		}
		last = err
	}
	return nil, fmt.Errorf("upload photos: ask the server what it holds: %w", explain(ctx, last))
}

// upload sends one photo from offset, the bytes the server holds of it.
//
// The lane has a rate bucket of its own on the server, and a chunk it
// refuses for calling too fast has crossed the link all the same: a
// photo's hundred chunks sent as fast as the link takes them would send
// most of them twice once the bucket's burst is spent. So after the first
// refusal the lane waits *pace (learnt from the server's Retry-After-Ms,
// below) before each later chunk, and it waits out the server's limit for
// at most maxRateWait in all, as a Sync does.
func (r *Replica) upload(ctx context.Context, st *UploadStats, pace *time.Duration, digest string, offset int64) error {
	var data []byte
	if err := r.db.R.QueryRowContext(ctx, `SELECT bytes FROM _attachments WHERE digest = ?`, digest).
		Scan(&data); err != nil {
		return fmt.Errorf("upload photo %s: %w", digest, err)
	}
	size := int64(len(data))
	failures := 0
	wait := laneBackoff
	var lastOK time.Time // when the last call that got through was sent
	var rateWaited time.Duration
	for {
		if offset > size {
			return fmt.Errorf("upload photo %s: the server holds %d bytes of a %d-byte photo", digest, offset, size)
		}
		end := min(offset+schema.AttachmentChunk, size)
		if *pace > 0 {
			if err := sleep(ctx, *pace); err != nil {
				return err
			}
		}
		st.Sent += end - offset
		sentAt := time.Now()
		resp, err := r.lane().Upload(ctx, &v1.UploadRequest{
			Digest: digest, Size: uint64(size), Offset: uint64(offset), Data: data[offset:end]})
		st.RoundTrips++
		if err == nil {
			lastOK = sentAt
			if resp.GetStored() {
				st.Uploaded = append(st.Uploaded, digest)
				return r.markUploaded(ctx, digest)
			}
			got := int64(resp.GetReceived())
			if got <= offset {
				// Answered, yet nothing gained: a server that keeps doing
				// so is not going to take the photo.
				if failures++; failures > laneAttempts {
					return fmt.Errorf("upload photo %s: the server holds %d bytes after a chunk at %d, again and again",
						digest, got, offset)
				}
			} else {
				failures, wait = 0, laneBackoff
			}
			offset = got
			continue
		}
		if d, ok := retryAfter(err); ok {
			// The lane's own rate bucket: nothing happened, send it again
			// at the server's pace. The last call that got through took
			// the token; the next comes d after now: so one comes every
			// (now - then) + d, the pace from here on (a little more, as
			// the first refusal may have met a bucket not quite empty).
			// A refusal at that pace lengthens it by a quarter.
			st.RateWaits++
			est := d
			if !lastOK.IsZero() {
				est += time.Since(lastOK)
			}
			*pace = min(max(*pace+*pace/4, est+est/20), laneMaxBackoff)
			if rateWaited += *pace; rateWaited > maxRateWait {
				return fmt.Errorf("upload photo %s: the server kept asking to slow down: %w", digest, err)
			}
			continue
		}
		if noLane(err) {
			return fmt.Errorf("upload photo %s: %w (%w)", digest, errNoLane, err)
		}
		code := connect.CodeOf(err)
		transient := laneTransient(ctx, err)
		if !transient && code != connect.CodeFailedPrecondition {
			return r.refused(ctx, st, digest, err)
		}
		// A cut link (the chunk may or may not have arrived) or an offset
		// the server does not hold (a lost answer): ask what it holds.
		failures++
		if failures > laneAttempts {
			if !transient {
				return r.refused(ctx, st, digest, err)
			}
			return fmt.Errorf("upload photo %s at byte %d: %w", digest, offset, explain(ctx, err))
		}
		if transient {
			// At the server's pace too: Holds counts in the lane's bucket.
			if err := sleep(ctx, max(wait, *pace)); err != nil {
				return err
			}
			wait = min(2*wait, laneMaxBackoff)
		}
		held, herr := r.holds(ctx, st, []string{digest})
		if herr != nil {
			return herr
		}
		st.Resumed++
		if held[0].GetStored() {
			st.Uploaded = append(st.Uploaded, digest)
			return r.markUploaded(ctx, digest)
		}
		next := int64(held[0].GetReceived())
		if !transient && next == offset {
			// Not a lost answer: the server refuses the photo as it is
			// (its record is not one of this device's villages').
			return r.refused(ctx, st, digest, err)
		}
		offset = next
	}
}

// refused notes the server's refusal of a photo, for the device's status
// and the volunteer; the lane goes on with the others.
func (r *Replica) refused(ctx context.Context, st *UploadStats, digest string, err error) error {
	msg := err.Error()
	var ce *connect.Error
	if errors.As(err, &ce) {
		msg = ce.Message()
	}
	st.Refused = append(st.Refused, Refusal{Digest: digest, Code: connect.CodeOf(err).String(), Reason: msg})
	if _, err := r.db.W.ExecContext(ctx, `UPDATE _attachments SET refused = ? WHERE digest = ?`,
		connect.CodeOf(err).String()+": "+msg, digest); err != nil {
		return fmt.Errorf("upload photo %s: %w", digest, err)
	}
	return nil
}

func (r *Replica) markUploaded(ctx context.Context, digest string) error {
	if _, err := r.db.W.ExecContext(ctx, `UPDATE _attachments SET uploaded = 1, refused = '' WHERE digest = ?`,
		digest); err != nil {
		return fmt.Errorf("upload photo %s: %w", digest, err)
	}
	return nil
}

// laneTransient reports whether err is the link's, not the server's word.
func laneTransient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch connect.CodeOf(err) {
	case connect.CodeUnavailable, connect.CodeCanceled, connect.CodeDeadlineExceeded, connect.CodeAborted:
		return true
	case connect.CodeUnknown:
		// A connection reset or an answer cut short carries no code.
		return true
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
