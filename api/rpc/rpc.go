package rpc

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/store"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// MaxChanges is the most changes one Sync request may push; a device with
// more pushes them over several requests.
const MaxChanges = 1000

// Service implements SyncService and ConflictService.
type Service struct {
	Store *store.Store
	Log   *slog.Logger
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// Sync pushes the request's changes, then pulls one page.
func (s *Service) Sync(ctx context.Context, req *v1.SyncRequest) (*v1.SyncResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetReplica() != p.Replica {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("replica: the token belongs to replica %d, not %d", p.Replica, req.GetReplica()))
	}
	if n := len(req.GetChanges()); n > MaxChanges {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("changes: %d in one request, the limit is %d; push them over several requests", n, MaxChanges))
	}
	if sid := req.GetServerId(); sid != 0 && sid != s.Store.ServerID() {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("server_id: this device synced with server %016x, but this is server %016x; point it back at its server or initialise a new device file", sid, s.Store.ServerID()))
	}
	// A server restored from a backup may lack writes it acknowledged: the
	// device must push all its own writes again and pull from the start.
	// Nothing else happens in this request, so nothing is built on a
	// cursor from the lost future.
	if inc := req.GetIncarnation(); inc != 0 && inc != s.Store.Incarnation() {
		return &v1.SyncResponse{ServerId: s.Store.ServerID(), Incarnation: s.Store.Incarnation(), Restored: true, ServerHlc: s.Store.Clock().Now()}, nil
	}
	// A device that was away while the server forgot deletes it has not
	// seen re-pulls everything and drops what the server no longer sends.
	horizon, err := s.Store.Horizon(ctx)
	if err != nil {
		return nil, s.toConnect(err)
	}
	if c := req.GetCursor(); c != 0 && c < horizon && !req.GetFullPull() {
		return &v1.SyncResponse{ServerId: s.Store.ServerID(), Incarnation: s.Store.Incarnation(), Repull: true, GcHorizon: horizon, ServerHlc: s.Store.Clock().Now()}, nil
	}
	// A device whose villages changed gets its new scope and pulls from
	// the start; it drops records of villages it no longer serves.
	scopeHash := ScopeHash(p)
	cursor, rescoped := req.GetCursor(), req.GetScopeHash() != scopeHash
	if rescoped {
		cursor = 0
	}
	if err := s.Store.CheckCursor(cursor); err != nil {
		return nil, s.toConnect(err)
	}
	changes := make([]*record.Record, len(req.GetChanges()))
	results := make([]store.PushResult, len(changes))
	for i, m := range req.GetChanges() {
		r, err := wire.FromRecord(m)
		if err != nil {
			p := &record.Problem{}
			errors.As(err, &p)
			results[i] = store.PushResult{Outcome: record.Rejected, Problem: p}
			continue
		}
		changes[i] = r
	}
	if len(changes) > 0 {
		pushed, err := s.Store.Push(ctx, p, changes)
		if err != nil {
			return nil, s.toConnect(err)
		}
		for i, r := range pushed {
			if changes[i] != nil {
				results[i] = r
			}
		}
	}
	// After a change of villages (not on a device's first sync) the device
	// may have dropped records it wrote itself: send those too, on every
	// page of the re-pull.
	fullPull := (rescoped && req.GetScopeHash() != 0) || req.GetFullPull()
	page, err := s.Store.Pull(ctx, p, cursor, int(req.GetPageLimit()), fullPull)
	if err != nil {
		return nil, s.toConnect(err)
	}
	// The horizon may pass only what the device has stored: the cursor it
	// sent. page.Next is merely offered; the response can still be lost.
	s.Store.Seen(req.GetReplica(), cursor)

	resp := &v1.SyncResponse{ServerId: s.Store.ServerID(), NextCursor: page.Next, HasMore: page.HasMore, ServerHlc: s.Store.Clock().Now(), Incarnation: s.Store.Incarnation()}
	if rescoped {
		resp.Rescoped, resp.Scope, resp.AllVillages, resp.ScopeHash = true, p.Villages, p.AllVillages(), scopeHash
	}
	resp.GcHorizon = horizon
	for _, e := range page.Evicted {
		resp.Evicted = append(resp.Evicted, &v1.RecordRef{Table: e.Table, Id: e.ID})
	}
	// A state handed back in a result need not come again in the page.
	given := map[[2]string]vv.VV{}
	for i, r := range results {
		pr := &v1.PushResult{Index: uint32(i), Outcome: wire.Outcome(r.Outcome), Conflicts: uint32(r.Conflicts), Seq: r.Seq}
		if r.Problem != nil {
			pr.Code, pr.Message = string(r.Problem.Code), r.Problem.Error()
		}
		if r.Current != nil {
			pr.Current = wire.Record(r.Current)
			given[[2]string{r.Current.Table, r.Current.ID}] = r.Current.Version
		}
		resp.Results = append(resp.Results, pr)
	}
	for _, rec := range page.Records {
		if v, ok := given[[2]string{rec.Table, rec.ID}]; ok && v.Compare(rec.Version) == vv.Equal {
			continue
		}
		resp.Changes = append(resp.Changes, wire.Record(rec))
	}
	return resp, nil
}

// ListConflicts lists the conflict log.
func (s *Service) ListConflicts(ctx context.Context, req *v1.ListConflictsRequest) (*v1.ListConflictsResponse, error) {
	if req.GetLimit() > 1000 {
		return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("limit: %d is more than 1000", req.GetLimit()))
	}
	cs, err := s.Store.ListConflicts(ctx, store.ConflictFilter{AfterID: req.GetAfterId(), Limit: int(req.GetLimit()), Table: req.GetTable(), OpenOnly: req.GetOpenOnly()})
	if err != nil {
		return nil, s.toConnect(err)
	}
	resp := &v1.ListConflictsResponse{}
	for _, c := range cs {
		resp.Conflicts = append(resp.Conflicts, conflictToWire(c))
	}
	return resp, nil
}

// ResolveConflict closes a conflict log entry, in the caller's name.
func (s *Service) ResolveConflict(ctx context.Context, req *v1.ResolveConflictRequest) (*v1.ResolveConflictResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetId() == 0 {
		return nil, connect.NewError(connect.CodeInvalidArgument, errors.New("id: missing"))
	}
	by := p.User
	if req.GetBy() != "" && req.GetBy() != p.User {
		by = fmt.Sprintf("%s (for %s)", p.User, req.GetBy())
	}
	c, err := s.Store.ResolveConflict(ctx, req.GetId(), req.GetResolution(), by)
	if err != nil {
		return nil, s.toConnect(err)
	}
	return &v1.ResolveConflictResponse{Conflict: conflictToWire(c)}, nil
}

func conflictToWire(c store.LoggedConflict) *v1.Conflict {
	m := &v1.Conflict{
		Id: c.LogID, Table: c.Table, RecordId: c.ID, Field: c.Field, Kind: c.Kind,
		WinnerValue: wire.Value(c.Winner.Value), WinnerDot: wire.Dot(c.Winner.Dot), WinnerDevice: c.WinnerDevice,
		LoserValue: wire.Value(c.Loser.Value), LoserDot: wire.Dot(c.Loser.Dot), LoserDevice: c.LoserDevice,
		ServerVersion: wire.VV(c.ServerVersion), IncomingVersion: wire.VV(c.IncomingVersion),
		DetectedAtMs: c.DetectedAt.UnixMilli(),
		OtherId:      c.OtherID, Resolution: c.Resolution, ResolvedBy: c.ResolvedBy,
	}
	if !c.ResolvedAt.IsZero() {
		m.ResolvedAtMs = c.ResolvedAt.UnixMilli()
	}
	return m
}

// toConnect maps engine errors to Connect codes; unexpected errors are
// logged in full and reach the client as a plain "internal error".
func (s *Service) toConnect(err error) error {
	var p *record.Problem
	var cursorErr *store.CursorAheadError
	switch {
	case errors.As(err, &p):
		code := connect.CodeInvalidArgument
		if p.Code == "already_exists" {
			code = connect.CodeAlreadyExists
		} else if c, ok := parseCode(p.Code); ok {
			code = c
		}
		return connect.NewError(code, p)
	case errors.Is(err, store.ErrNoSuchConflict):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("id: %v", err))
	case errors.Is(err, store.ErrAlreadyResolved), errors.Is(err, store.ErrNotDuplicate):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, store.ErrUnauthenticated):
		return connect.NewError(connect.CodeUnauthenticated, fmt.Errorf("code: %v", err))
	case errors.Is(err, store.ErrNoSuchUser):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("user: %v", err))
	case errors.Is(err, store.ErrUnknownReplica):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("replica: %v; this server never registered it (villagesync device init registers a device)", err))
	case errors.As(err, &cursorErr):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case sqlite.IsFull(err), sqlite.IsReadOnly(err), sqlite.IsIOError(err):
		s.log().Error("cannot write the database", "err", err)
		return connect.NewError(connect.CodeUnavailable, errors.New("the server cannot write its database (disk full, read-only or failing); nothing was changed, your changes are kept on your device: sync again later"))
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	s.log().Error("request failed", "err", err)
	return connect.NewError(connect.CodeInternal, errors.New("internal error; the server log has the details"))
}

func parseCode(c record.Code) (connect.Code, bool) {
	var code connect.Code
	if err := code.UnmarshalText([]byte(c)); err != nil {
		return 0, false
	}
	return code, true
}

// ScopeHash identifies the villages p syncs; all-village roles share one.
func ScopeHash(p store.Principal) uint64 {
	h := fnv.New64a()
	if p.AllVillages() {
		h.Write([]byte("*"))
	} else {
		for _, v := range p.Villages {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
	}
	return h.Sum64() | 1 // never 0: 0 means "no scope yet"
}
