package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Service implements SyncService and ConflictService.
type Service struct {
	Store *store.Store
	Log   *slog.Logger
	// Observer, when set, is told what each Sync and Carry pushed and
	// pulled (the server's metrics).
	Observer SyncObserver
}

func (s *Service) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// oldestApp is the oldest device schema version Sync serves:
// schema.OldestApp, a variable so a test can raise it.
var oldestApp = schema.OldestApp

// Sync pushes the request's changes, then pulls one page. Every answer
// states the server's schema version and the oldest app version it
// serves; an app older than that is refused before anything is read, so
// nothing it sends is applied with rules it does not know.
func (s *Service) Sync(ctx context.Context, req *v1.SyncRequest) (*v1.SyncResponse, error) {
	if v := max(int(req.GetSchemaVersion()), 1); v < oldestApp {
		return nil, refuse(connect.CodeFailedPrecondition, "schema_version",
			"this app has schema version %d and this server serves %d and newer; update the app (nothing was changed)",
			v, oldestApp)
	}
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	// A device enrolled before hand-carried sync sends its box key with
	// its syncs until it has the server's. Another key than the one kept
	// is not taken and does not fail the sync: the changes it brings are
	// the device's (its token says so), and failing would lock out a
	// device restored from an older copy of its file. Its answer holds no
	// server key, so the device keeps asking; staff reset the key
	// (AccessService.ResetBoxKey) once they know which device is real.
	key, err := wire.BoxKey(req.GetBoxPublicKey())
	if err != nil {
		return nil, refuseMessage(connect.CodeInvalidArgument, "box_public_key", err)
	}
	if key != nil {
		if req.GetReplica() != p.Replica {
			return nil, refuse(connect.CodePermissionDenied, "replica", "the token belongs to replica %d, not %d",
				p.Replica, req.GetReplica())
		}
		switch err := s.Store.SetDeviceBoxKey(ctx, p.Replica, key[:]); {
		case errors.Is(err, store.ErrBoxKeyMismatch):
			s.log().Warn("a device sent another box key than the one kept: possibly a copied token or an old "+
				"copy of its file; the kept key stands (villagesync admin reset-key REPLICA replaces it)",
				"replica", p.Replica, "device", p.Device, "user", p.User)
			key = nil
		case err != nil:
			return nil, s.toConnect(err)
		}
	}
	preq := wire.FromRequest(req)
	resp, err := s.Store.Sync(ctx, p, preq)
	if err != nil {
		return nil, s.toConnect(err)
	}
	s.observe(preq.Changes, resp.Results, len(resp.Records))
	resp.SchemaVersion, resp.OldestApp = schema.Version, oldestApp
	m := wire.Response(resp)
	if key != nil {
		m.ServerBoxPublicKey, _ = s.Store.BoxKeys()
	}
	// A refused change is shown to the volunteer who made it, in her
	// language: said here, where the request's language is known.
	if l := requestLang(ctx); l != schema.EN {
		for i, res := range resp.Results {
			if res.Problem != nil {
				m.Results[i].Message = res.Problem.In(l)
			}
		}
	}
	return m, nil
}

// ListConflicts lists the conflict log: the open entries (the review
// queue), the resolved ones (its history) or all, with the records they
// are about as they stand when asked. Volunteers may not call it (see
// allowed): an entry's values and records can be of any village.
func (s *Service) ListConflicts(ctx context.Context, req *v1.ListConflictsRequest) (*v1.ListConflictsResponse, error) {
	if req.GetLimit() > 1000 {
		return nil, refuse(connect.CodeInvalidArgument, "limit", "%d is more than 1000", req.GetLimit())
	}
	cs, err := s.Store.ListConflicts(ctx, store.ConflictFilter{AfterID: req.GetAfterId(), Limit: int(req.GetLimit()),
		Table: req.GetTable(), OpenOnly: req.GetOpenOnly(), ResolvedOnly: req.GetResolvedOnly(),
		WithRecords: req.GetWithRecords()})
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
func (s *Service) ResolveConflict(ctx context.Context,
	req *v1.ResolveConflictRequest) (*v1.ResolveConflictResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetId() == 0 {
		return nil, refuse(connect.CodeInvalidArgument, "id", "missing")
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
		OtherId:      c.OtherID, MemberIds: c.Members, Resolution: c.Resolution, ResolvedBy: c.ResolvedBy,
		WinnerUser: c.WinnerUser, LoserUser: c.LoserUser,
	}
	if !c.ResolvedAt.IsZero() {
		m.ResolvedAtMs = c.ResolvedAt.UnixMilli()
	}
	// A write carried in a file is its device's; the log says who carried
	// it beside the device's name.
	if c.WinnerCarriedBy != "" {
		m.WinnerDevice += " (carried by " + c.WinnerCarriedBy + ")"
	}
	if c.LoserCarriedBy != "" {
		m.LoserDevice += " (carried by " + c.LoserCarriedBy + ")"
	}
	for _, r := range c.Records {
		cr := &v1.ConflictRecord{Id: r.ID, Device: r.Device, User: r.User}
		if !r.WrittenAt.IsZero() {
			cr.WrittenAtMs = r.WrittenAt.UnixMilli()
		}
		if r.Record == nil {
			cr.Deleted = true // collected: the server keeps only that it was deleted
		} else {
			cr.Fields, cr.Deleted = wire.Record(r.Record).GetFields(), r.Record.Deleted()
		}
		m.Records = append(m.Records, cr)
	}
	return m
}

// toConnect maps engine errors to Connect codes; unexpected errors are
// logged in full and reach the client as a plain "internal error".
func (s *Service) toConnect(err error) error {
	var p *record.Problem
	var cursorErr *store.CursorAheadError
	// The store's refusals are problems naming the field (an unknown
	// user, conflict or replica, a spent enrollment code among them),
	// whose code names the Connect code.
	switch {
	case errors.As(err, &p):
		code := connect.CodeInvalidArgument
		if c, ok := parseCode(p.Code); ok {
			code = c
		}
		return connect.NewError(code, p)
	case errors.As(err, &cursorErr):
		return connect.NewError(connect.CodeFailedPrecondition, err)
	case errors.Is(err, store.ErrStorageUnavailable):
		s.log().Error("cannot write the database", "err", err)
		return refuse(connect.CodeUnavailable, "", "the server cannot write its database "+
			"(disk full, read-only or failing); nothing was changed, your changes are kept on your device: sync again later")
	case errors.Is(err, context.Canceled):
		return connect.NewError(connect.CodeCanceled, err)
	case errors.Is(err, context.DeadlineExceeded):
		return connect.NewError(connect.CodeDeadlineExceeded, err)
	}
	return s.internal(err)
}

// internal logs an unexpected error in full; the caller learns only that
// there was one.
func (s *Service) internal(err error) error {
	s.log().Error("request failed", "err", err)
	return refuse(connect.CodeInternal, "", "internal error; the server log has the details")
}

func parseCode(c record.Code) (connect.Code, bool) {
	var code connect.Code
	if err := code.UnmarshalText([]byte(c)); err != nil {
		return 0, false
	}
	return code, true
}
