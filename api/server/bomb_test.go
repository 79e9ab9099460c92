package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
)

// bomb is a gzip body just under server.MaxRequestBytes that inflates to
// 8 GiB of zeros.
var bomb = sync.OnceValue(func() []byte { return zeros(64, 128) })

// smallBomb inflates to 256 MiB, enough to pass the limit: the test's, as
// compressing is slow under the race detector.
var smallBomb = sync.OnceValue(func() []byte { return zeros(8, 32) })

// zeros is a gzip stream of members gzip members of mib MiB of zeros
// each: compressing one and repeating it is much faster than compressing
// it all, and inflates the same.
func zeros(mib, members int) []byte {
	var member bytes.Buffer
	w, _ := gzip.NewWriterLevel(&member, gzip.BestCompression)
	zeros := make([]byte, 1<<20)
	for range mib {
		w.Write(zeros)
	}
	w.Close()
	return bytes.Repeat(member.Bytes(), members)
}

// h2c speaks HTTP/2 without TLS, as gRPC clients do to a cleartext server.
var h2c = func() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}()

// postBomb sends the bomb as a Sync with a bad token, over the Connect
// protocol or gRPC, and returns the code and message it is refused with.
func postBomb(tb testing.TB, base string, body []byte, grpc bool) (code, msg string) {
	return postBombTo(tb, base+villagesyncv1connect.SyncServiceSyncProcedure, body, grpc)
}

// postBombTo posts body to the procedure at url.
func postBombTo(tb testing.TB, url string, body []byte, grpc bool) (code, msg string) {
	tb.Helper()
	hc := http.DefaultClient
	if grpc {
		prefix := []byte{1, 0, 0, 0, 0} // compressed, then the length
		binary.BigEndian.PutUint32(prefix[1:], uint32(len(body)))
		body, hc = append(prefix, body...), h2c
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer not-a-token")
	if grpc {
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Grpc-Encoding", "gzip")
		req.Header.Set("Te", "trailers")
	} else {
		req.Header.Set("Content-Type", "application/proto")
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if grpc {
		msg, _ := neturl.PathUnescape(resp.Trailer.Get("Grpc-Message"))
		return map[string]string{"8": "resource_exhausted"}[resp.Trailer.Get("Grpc-Status")], msg
	}
	var e struct{ Code, Message string }
	if err := json.Unmarshal(answer, &e); err != nil {
		tb.Fatalf("bomb answered %s %s", resp.Status, answer)
	}
	return e.Code, e.Message
}

// A gzip bomb is refused as soon as it inflates past the request limit,
// not after inflating all of it: what it costs is bounded by the limit,
// not by what the attacker packed.
func TestGzipBombStopsAtTheLimit(t *testing.T) {
	s := replicatest.Start(t, nil)
	for _, grpc := range []bool{false, true} {
		code, msg := postBomb(t, s.URL, smallBomb(), grpc)
		// Inflated in full, it is refused with its size ("message size
		// 268435456 is larger than ...").
		if code != connect.CodeResourceExhausted.String() || !strings.Contains(msg, "stopped inflating") ||
			strings.Contains(msg, "268435456") {
			t.Errorf("gRPC %v: the bomb was refused with %s %q; want resource_exhausted, stopped at the limit, "+
				"not inflated to 256 MiB", grpc, code, msg)
		}
	}
}

// The services that take no token are bounded too: health checks and
// reflection, which a load balancer or any stranger may call.
func TestGzipBombStopsAtTheLimitWithoutAToken(t *testing.T) {
	s := replicatest.Start(t, nil)
	for _, proc := range []string{"/grpc.health.v1.Health/Check",
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"} {
		code, msg := postBombTo(t, s.URL+proc, smallBomb(), true)
		if code != connect.CodeResourceExhausted.String() || !strings.Contains(msg, "stopped inflating") {
			t.Errorf("%s: the bomb was refused with %q %q; want resource_exhausted, stopped at the limit", proc, code, msg)
		}
	}
}

// BenchmarkGzipBomb is the cost of one refused bomb: an 8 MiB request
// that inflates to 8 GiB, with a bad token.
func BenchmarkGzipBomb(b *testing.B) {
	if len(bomb()) > server.MaxRequestBytes {
		b.Fatalf("the bomb is %d bytes, over the limit it must pass", len(bomb()))
	}
	s := replicatest.Start(b, nil)
	b.SetBytes(int64(len(bomb())))
	for b.Loop() {
		if code, msg := postBomb(b, s.URL, bomb(), false); code != connect.CodeResourceExhausted.String() {
			b.Fatalf("the bomb was answered %s %q", code, msg)
		}
	}
}
