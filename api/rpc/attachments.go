package rpc

import (
	"context"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// AttachmentService is the attachment lane: what the server holds of a
// photo, chunked uploads, fetches. The store decides; this converts.
type AttachmentService struct {
	*Service
}

// Holds says what the server has of each digest for the calling device.
func (s *AttachmentService) Holds(ctx context.Context, req *v1.HoldsRequest) (*v1.HoldsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	held, err := s.Store.Holds(ctx, p, req.GetDigests())
	if err != nil {
		return nil, s.toConnect(err)
	}
	resp := &v1.HoldsResponse{Held: make([]*v1.Held, len(held))}
	for i, h := range held {
		resp.Held[i] = &v1.Held{Digest: h.Digest, Stored: h.Stored, Received: h.Received}
	}
	return resp, nil
}

// Upload adds one chunk to the calling device's upload.
func (s *AttachmentService) Upload(ctx context.Context, req *v1.UploadRequest) (*v1.UploadResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.Store.AppendChunk(ctx, p, store.Chunk{Digest: req.GetDigest(), Size: req.GetSize(),
		Offset: req.GetOffset(), Data: req.GetData()})
	if err != nil {
		return nil, s.toConnect(err)
	}
	return &v1.UploadResponse{Received: res.Received, Stored: res.Stored}, nil
}

// Fetch returns part of a stored attachment, or its thumbnail.
func (s *AttachmentService) Fetch(ctx context.Context, req *v1.FetchRequest) (*v1.FetchResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.Store.FetchAttachment(ctx, p, req.GetDigest(), req.GetThumbnail(), req.GetOffset(), req.GetLimit())
	if err != nil {
		return nil, s.toConnect(err)
	}
	return &v1.FetchResponse{MediaType: a.MediaType, Data: a.Data, Size: a.Size, Width: uint32(a.Width),
		Height: uint32(a.Height)}, nil
}
