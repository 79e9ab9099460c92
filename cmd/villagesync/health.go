package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// health asks a server's gRPC health service (over Connect's JSON, as curl
// would) whether it serves. It exists for a container's HEALTHCHECK: the
// runtime image carries no curl, and a probe that knows the address the
// server was told to listen on needs no flags there.
func health(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	server := fs.String("server", env("VILLAGESYNC_SERVER", ""),
		"server URL (default: http:// and VILLAGESYNC_LISTEN, an unspecified host read as loopback)")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url := *server
	if url == "" {
		host, port, err := net.SplitHostPort(env("VILLAGESYNC_LISTEN", "127.0.0.1:8080"))
		if err != nil {
			return fmt.Errorf("health: VILLAGESYNC_LISTEN: %w; give --server URL", err)
		}
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		url = "http://" + net.JoinHostPort(host, port)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/grpc.health.v1.Health/Check", bytes.NewReader([]byte("{}")))
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("health: reading the answer of %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s: %.200s", url, resp.Status, body)
	}
	var check struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(body, &check); err != nil {
		return fmt.Errorf("health: %s answered no health status: %w", url, err)
	}
	// grpchealth's JSON names the enum value in full; gRPC's own name is
	// the short one.
	if check.Status != "SERVING_STATUS_SERVING" && check.Status != "SERVING" {
		return errors.New("health: " + url + " is " + check.Status)
	}
	fmt.Fprintln(out, "SERVING")
	return nil
}
