package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
)

// repoRoot is the module's root, two levels above cmd/villagesync.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information to find the repository")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..")
}

func TestMain(m *testing.M) { os.Exit(serveproc.Main(m)) }

// start runs argv with exactly env (no inherited variables, as systemd and
// a container runtime give none of the test's), in dir, and waits until it
// logs the address it serves on.
func start(t *testing.T, argv, env []string, dir string) *serveproc.Proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = env, dir
	return serveproc.Start(t, cmd)
}

// checkHealth asks the gRPC health service over Connect's JSON, as a
// monitor with curl would.
func checkHealth(t *testing.T, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	resp, err := http.Post("http://"+net.JoinHostPort(host, port)+"/grpc.health.v1.Health/Check",
		"application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatalf("health: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %s, %v", resp.Status, err)
	}
	if !strings.HasSuffix(body.Status, "SERVING") {
		t.Fatalf("health: %q, want SERVING", body.Status)
	}
}

// runCmd runs a short command with env and returns its stdout and error.
func runCmd(t *testing.T, env []string, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%q: %w: %s", argv, err, strings.TrimSpace(errb.String()))
	}
	return out.String(), err
}

// withPort0 is addr with its port replaced by 0, its host kept.
func withPort0(t *testing.T, addr string) string {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("listen address %q: %v", addr, err)
	}
	return net.JoinHostPort(host, "0")
}

// envSet sets name in a VAR=value list.
func envSet(env []string, name, value string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return append(out, name+"="+value)
}

func envGet(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}
