package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// The floor of the many-devices scenario: what the devices alone need to
// apply what they pull, with no server and no network, at the same
// concurrency in the same process. Each device's file as it was before
// its sync is copied; after the real sync, fresh replicas of those copies
// sync at once against a replay transport that answers at once from
// memory: their pushes applied, then the village's records (as a device
// of that village holds them after the sync, less the device's own) in
// full pages. It is the replica's whole sync path (requests, acks, pages,
// cursor) without Connect, HTTP or a server.

// copyDevice copies a closed device file (and its log, if any) to dir.
func copyDevice(file, dir string) (string, error) {
	to := filepath.Join(dir, filepath.Base(file))
	for _, suffix := range []string{"", "-wal"} {
		if err := copyFile(file+suffix, to+suffix); err != nil {
			if suffix != "" && os.IsNotExist(err) {
				continue
			}
			return "", fmt.Errorf("copy device file for the floor: %w", err)
		}
	}
	return to, nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// replay is a scripted server for one floor device: results for its
// pushes, then its pages, each answer already built.
type replay struct {
	village   string
	scopeHash uint64
	pages     [][]*record.Record
	next      int // the page the next answer carries
	seq       uint64
}

func (p *replay) Sync(_ context.Context, req *protocol.Request) (*protocol.Response, int, error) {
	resp := &protocol.Response{ServerID: req.ServerID, Incarnation: req.Incarnation,
		ServerHLC: hlc.FromTime(time.Now()), SchemaVersion: req.SchemaVersion}
	if resp.Incarnation == 0 {
		resp.Incarnation = 1
	}
	if req.ScopeHash != p.scopeHash {
		resp.Rescoped, resp.Scope, resp.ScopeHash = true, []string{p.village}, p.scopeHash
	}
	for range req.Changes {
		p.seq++
		resp.Results = append(resp.Results, protocol.Result{Outcome: record.Applied, Seq: p.seq})
	}
	if p.next < len(p.pages) {
		resp.Records = p.pages[p.next]
		p.next++
	}
	resp.NextCursor = uint64(p.next)
	resp.HasMore = p.next < len(p.pages)
	return resp, 1, nil
}

// floorDevice is one device of the floor: its copied file, village and
// own record ids (left out of its pages, as the server's feed does).
type floorDevice struct {
	file, village string
	own           []string
}

// floor syncs the floor devices at once and returns each one's seconds
// and the records they pulled in all. held maps a village to the records
// a device of it holds after the real sync.
func floor(ctx context.Context, devs []floorDevice, held map[string][]*record.Record, pageLimit int) ([]float64, int, error) {
	reps := make([]*replica.Replica, len(devs))
	defer func() {
		for _, r := range reps {
			if r != nil {
				r.Close()
			}
		}
	}()
	hashes := map[string]uint64{}
	for i, d := range devs {
		if _, ok := hashes[d.village]; !ok {
			hashes[d.village] = uint64(len(hashes)+1)<<1 | 1
		}
		own := map[string]bool{}
		for _, id := range d.own {
			own[id] = true
		}
		var recs []*record.Record
		for _, rec := range held[d.village] {
			if !own[rec.ID] {
				recs = append(recs, rec)
			}
		}
		t := &replay{village: d.village, scopeHash: hashes[d.village], pages: slices.Collect(slices.Chunk(recs, pageLimit))}
		var err error
		if reps[i], err = replica.Open(ctx, d.file, replica.Options{Transport: t}); err != nil {
			return nil, 0, fmt.Errorf("floor: %w", err)
		}
	}
	secs := make([]float64, len(devs))
	pulled := make([]int, len(devs))
	errs := make([]error, len(devs))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, r := range reps {
		wg.Go(func() {
			<-gate
			t0 := time.Now()
			st, err := r.Sync(ctx)
			secs[i], pulled[i], errs[i] = time.Since(t0).Seconds(), st.Pulled, err
		})
	}
	close(gate)
	wg.Wait()
	total := 0
	for i := range devs {
		if errs[i] != nil {
			return nil, 0, fmt.Errorf("floor: device %d: %w", i, errs[i])
		}
		total += pulled[i]
	}
	return secs, total, nil
}
