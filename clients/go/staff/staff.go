package staff

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
)

// Side is one side of a conflict, for people: the value, the device that
// wrote it, and when (the write's hybrid logical clock time).
type Side struct {
	Value   any       `json:"value"`
	Device  string    `json:"device"`
	Replica uint32    `json:"replica"`
	Counter uint64    `json:"counter"`
	At      time.Time `json:"at"`
}

// Conflict is one entry of the conflict log, for people and JSON.
type Conflict struct {
	ID              uint64            `json:"id"`
	Table           string            `json:"table"`
	RecordID        string            `json:"record_id"`
	Field           string            `json:"field"`
	Kind            string            `json:"kind"`
	Winner          Side              `json:"winner"`
	Loser           Side              `json:"loser"`
	ServerVersion   map[string]uint64 `json:"server_version"`
	IncomingVersion map[string]uint64 `json:"incoming_version"`
	DetectedAt      time.Time         `json:"detected_at"`
	OtherID         string            `json:"other_id,omitempty"`
	Members         []string          `json:"members,omitempty"` // a flag's set, by id
	Resolution      string            `json:"resolution,omitempty"`
	ResolvedAt      *time.Time        `json:"resolved_at,omitempty"`
	ResolvedBy      string            `json:"resolved_by,omitempty"`
}

// Filter narrows Conflicts.
type Filter struct {
	Table    string
	OpenOnly bool
}

// Conflicts lists the conflict log of the server at url, calling each for
// every entry in order.
func Conflicts(ctx context.Context, hc connect.HTTPClient, url string, f Filter, each func(Conflict) error) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	client := villagesyncv1connect.NewConflictServiceClient(hc, url)
	var after uint64
	for {
		resp, err := client.ListConflicts(ctx, &v1.ListConflictsRequest{AfterId: after, Limit: 500,
			Table: f.Table, OpenOnly: f.OpenOnly})
		if err != nil {
			return fmt.Errorf("list conflicts on %s: %w", url, err)
		}
		for _, c := range resp.GetConflicts() {
			if err := each(fromWire(c)); err != nil {
				return err
			}
			after = c.GetId()
		}
		if len(resp.GetConflicts()) < 500 {
			return nil
		}
	}
}

func fromWire(c *v1.Conflict) Conflict {
	side := func(v *v1.Value, d *v1.Dot, device string) Side {
		return Side{Value: wire.FromValue(v).JSON(), Device: device, Replica: d.GetReplica(), Counter: d.GetCounter(),
			At: hlc.Time(d.GetHlc())}
	}
	out := Conflict{
		ID: c.GetId(), Table: c.GetTable(), RecordID: c.GetRecordId(), Field: c.GetField(), Kind: c.GetKind(),
		Winner:          side(c.GetWinnerValue(), c.GetWinnerDot(), c.GetWinnerDevice()),
		Loser:           side(c.GetLoserValue(), c.GetLoserDot(), c.GetLoserDevice()),
		ServerVersion:   versionJSON(c.GetServerVersion()),
		IncomingVersion: versionJSON(c.GetIncomingVersion()),
		DetectedAt:      time.UnixMilli(c.GetDetectedAtMs()).UTC(),
		OtherID:         c.GetOtherId(),
		Members:         c.GetMemberIds(),
		Resolution:      c.GetResolution(),
		ResolvedBy:      c.GetResolvedBy(),
	}
	if ms := c.GetResolvedAtMs(); ms != 0 {
		t := time.UnixMilli(ms).UTC()
		out.ResolvedAt = &t
	}
	return out
}

func versionJSON(m *v1.VersionVector) map[string]uint64 {
	out := map[string]uint64{}
	for i, r := range m.GetReplicas() {
		if i < len(m.GetCounters()) {
			out[strconv.FormatUint(uint64(r), 10)] = m.GetCounters()[i]
		}
	}
	return out
}

// Resolve closes conflict log entry id with resolution (keep, take_loser,
// distinct, merge or noted) on behalf of by.
func Resolve(ctx context.Context, hc connect.HTTPClient, url string, id uint64,
	resolution, by string) (Conflict, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	client := villagesyncv1connect.NewConflictServiceClient(hc, url)
	resp, err := client.ResolveConflict(ctx, &v1.ResolveConflictRequest{Id: id, Resolution: resolution, By: by})
	if err != nil {
		return Conflict{}, fmt.Errorf("resolve conflict %d on %s: %w", id, url, err)
	}
	return fromWire(resp.GetConflict()), nil
}
