package wire

import (
	"errors"
	"fmt"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// Request converts a sync request to the wire (the device's side).
func Request(r *protocol.Request) *v1.SyncRequest {
	m := &v1.SyncRequest{Replica: r.Replica, ServerId: r.ServerID, Cursor: r.Cursor, PageLimit: uint32(r.PageLimit),
		ScopeHash: r.ScopeHash, FullPull: r.FullPull, Incarnation: r.Incarnation,
		SchemaVersion: uint32(r.SchemaVersion)}
	m.Changes = make([]*v1.Record, 0, len(r.Changes))
	for _, c := range r.Changes {
		m.Changes = append(m.Changes, Record(c.Record))
	}
	return m
}

// FromRequest reads a sync request off the wire (the server's side). A
// change that cannot be read carries its problem instead of a record, so
// it is rejected on its own and the others go on.
func FromRequest(m *v1.SyncRequest) *protocol.Request {
	r := &protocol.Request{Replica: m.GetReplica(), ServerID: m.GetServerId(), Incarnation: m.GetIncarnation(),
		Cursor: m.GetCursor(), ScopeHash: m.GetScopeHash(), FullPull: m.GetFullPull(), PageLimit: int(m.GetPageLimit()),
		SchemaVersion: int(m.GetSchemaVersion())}
	r.Changes = make([]protocol.Change, len(m.GetChanges()))
	for i, c := range m.GetChanges() {
		rec, err := FromRecord(c)
		if err != nil {
			p := &record.Problem{}
			if !errors.As(err, &p) {
				p = &record.Problem{Code: record.CodeInvalidArgument, Field: "changes", Msg: err.Error()}
			}
			r.Changes[i].Problem = p
			continue
		}
		r.Changes[i].Record = rec
	}
	return r
}

// Response converts a sync response to the wire (the server's side).
func Response(r *protocol.Response) *v1.SyncResponse {
	m := &v1.SyncResponse{ServerId: r.ServerID, Incarnation: r.Incarnation, ServerHlc: r.ServerHLC,
		Restored: r.Restored, Repull: r.Repull, GcHorizon: r.Horizon, NextCursor: r.NextCursor, HasMore: r.HasMore,
		Rescoped: r.Rescoped, Scope: r.Scope, AllVillages: r.AllVillages, ScopeHash: r.ScopeHash,
		SchemaVersion: uint32(r.SchemaVersion), OldestAppSchema: uint32(r.OldestApp)}
	for i, res := range r.Results {
		pr := &v1.PushResult{Index: uint32(i), Outcome: Outcome(res.Outcome), Conflicts: uint32(res.Conflicts), Seq: res.Seq}
		if res.Problem != nil {
			pr.Code, pr.Message, pr.Field = string(res.Problem.Code), res.Problem.Error(), res.Problem.Field
		}
		if res.Current != nil {
			pr.Current = Record(res.Current)
		}
		m.Results = append(m.Results, pr)
	}
	for _, rec := range r.Records {
		m.Changes = append(m.Changes, Record(rec))
	}
	for _, e := range r.Evicted {
		m.Evicted = append(m.Evicted, &v1.RecordRef{Table: e.Table, Id: e.ID})
	}
	return m
}

// FromResponse reads a sync response off the wire (the device's side). A
// record that cannot be read fails the whole response: the device must
// not move its cursor past a state it could not store.
func FromResponse(m *v1.SyncResponse) (*protocol.Response, error) {
	r := &protocol.Response{ServerID: m.GetServerId(), Incarnation: m.GetIncarnation(), ServerHLC: m.GetServerHlc(),
		Restored: m.GetRestored(), Repull: m.GetRepull(), Horizon: m.GetGcHorizon(), NextCursor: m.GetNextCursor(),
		HasMore: m.GetHasMore(), Rescoped: m.GetRescoped(), Scope: m.GetScope(), AllVillages: m.GetAllVillages(),
		ScopeHash: m.GetScopeHash(), SchemaVersion: int(m.GetSchemaVersion()), OldestApp: int(m.GetOldestAppSchema())}
	r.Results = make([]protocol.Result, len(m.GetResults()))
	for i, pr := range m.GetResults() {
		res := protocol.Result{Outcome: FromOutcome(pr.GetOutcome()), Conflicts: int(pr.GetConflicts()), Seq: pr.GetSeq()}
		if pr.GetOutcome() != v1.Outcome_OUTCOME_UNSPECIFIED && res.Outcome == 0 {
			return nil, fmt.Errorf("results[%d]: unknown outcome %v", i, pr.GetOutcome())
		}
		if pr.GetCode() != "" || pr.GetMessage() != "" {
			res.Problem = &record.Problem{Code: record.Code(pr.GetCode()), Msg: pr.GetMessage()}
		}
		if pr.GetCurrent() != nil {
			cur, err := FromRecord(pr.GetCurrent())
			if err != nil {
				return nil, fmt.Errorf("results[%d]: the server's state of %s %s: %w",
					i, pr.GetCurrent().GetTable(), pr.GetCurrent().GetId(), err)
			}
			res.Current = cur
		}
		r.Results[i] = res
	}
	r.Records = make([]*record.Record, 0, len(m.GetChanges()))
	for _, c := range m.GetChanges() {
		rec, err := FromRecord(c)
		if err != nil {
			return nil, fmt.Errorf("pulled record: %w", err)
		}
		r.Records = append(r.Records, rec)
	}
	for _, e := range m.GetEvicted() {
		r.Evicted = append(r.Evicted, protocol.RecordRef{Table: e.GetTable(), ID: e.GetId()})
	}
	return r, nil
}
