package replica

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
)

// connectTransport carries round trips over Connect RPC to the server's
// SyncService: the transport every device uses outside tests.
type connectTransport struct {
	client  villagesyncv1connect.SyncServiceClient
	retries int // as Options.Retries
	// keys, if not nil, exchanges box keys for hand-carried files: the
	// device's public key rides on syncs until the server's is known.
	keys keyExchange
}

// keyExchange is the replica's side of the box key exchange at sync
// (carry.go): not in the engine's types, since only the wire has keys.
type keyExchange interface {
	boxKeyToSend() []byte
	learnServerBoxKey(ctx context.Context, key []byte) error
}

func newConnectTransport(hc connect.HTTPClient, serverURL string, retries int) *connectTransport {
	return &connectTransport{
		client: villagesyncv1connect.NewSyncServiceClient(hc, serverURL,
			// Gzip requests only when they are big enough for it to pay:
			// an idle sync stays a few dozen bytes.
			wire.GzipClient(), connect.WithSendGzip(), connect.WithCompressMinBytes(512)),
		retries: retries,
	}
}

// Sync sends req, again after a transport failure (a pooled connection the
// server closed, a blip on the link) or a refusal for calling too fast:
// the request is idempotent, so a retry at worst replays a push the server
// already has. Transport errors come back in words a volunteer can act on.
func (c *connectTransport) Sync(ctx context.Context, req *protocol.Request) (*protocol.Response, int, error) {
	out := wire.Request(req)
	if c.keys != nil {
		out.BoxPublicKey = c.keys.boxKeyToSend()
	}
	m, sent, err := c.send(ctx, out)
	if err != nil {
		return nil, sent, explain(ctx, err)
	}
	if c.keys != nil && len(m.GetServerBoxPublicKey()) > 0 {
		if err := c.keys.learnServerBoxKey(ctx, m.GetServerBoxPublicKey()); err != nil {
			return nil, sent, err
		}
	}
	resp, err := wire.FromResponse(m)
	if err != nil {
		return nil, sent, fmt.Errorf("read the server's answer: %w", err)
	}
	return resp, sent, nil
}

// send sends one request until it is answered or not worth sending again,
// and says how many times it was sent.
func (c *connectTransport) send(ctx context.Context, req *v1.SyncRequest) (*v1.SyncResponse, int, error) {
	retries := c.retries
	if retries == 0 {
		retries = 2
	}
	var waited time.Duration
	sent := 0
	for attempt := 0; ; {
		resp, err := c.client.Sync(ctx, req)
		sent++
		if d, ok := retryAfter(err); ok && waited+d <= maxRateWait {
			// Refused for calling too fast: nothing happened, so wait as
			// told and send the same request again.
			waited += d
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, sent, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if err == nil || attempt >= retries || ctx.Err() != nil || !transportFailure(err) {
			return resp, sent, err
		}
		attempt++
	}
}

// maxRateWait bounds how long one request waits out the server's rate
// limit before the sync gives up (and is tried again later): a Sync holds
// the device's sync lock meanwhile.
const maxRateWait = 2 * time.Minute

// retryAfter reports how long the server asked to wait before retrying
// err, a refusal for calling too fast.
func retryAfter(err error) (time.Duration, bool) {
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeResourceExhausted {
		return 0, false
	}
	ms, perr := strconv.ParseInt(ce.Meta().Get("Retry-After-Ms"), 10, 64)
	if perr != nil || ms <= 0 {
		return 0, false
	}
	return time.Duration(min(ms, time.Minute.Milliseconds())) * time.Millisecond, true
}

// transportFailure reports whether err came from the link, not the server.
func transportFailure(err error) bool {
	var netErr net.Error
	code := connect.CodeOf(err)
	return code == connect.CodeUnavailable || code == connect.CodeCanceled ||
		(code == connect.CodeUnknown && errors.As(err, &netErr))
}

// explain turns transport errors into words a volunteer can act on.
func explain(ctx context.Context, err error) error {
	var netErr net.Error
	switch code := connect.CodeOf(err); {
	case code == connect.CodeDeadlineExceeded:
		return fmt.Errorf("the server did not answer in time; your changes are kept on this device, try again later: %w", err)
	case code == connect.CodeUnavailable, ctx.Err() == nil && (code == connect.CodeCanceled || errors.As(err, &netErr)):
		return fmt.Errorf("cannot reach the server (no signal, or the server is down); "+
			"your changes are kept on this device, try again later: %w", err)
	}
	return err
}
