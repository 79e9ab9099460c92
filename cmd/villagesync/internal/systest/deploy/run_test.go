package deploy

import (
	"bufio"
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
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
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

// binary builds the villagesync command once per test binary.
func binary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "villagesync-deploy-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "villagesync")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", binPath,
			"github.com/futian-xiaomo/villagesync/cmd/villagesync").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// server is a villagesync process started from a deployment file's command
// line.
type server struct {
	cmd  *exec.Cmd
	addr string // as it logged when serving
	done chan struct{}
	err  error // cmd.Wait's, once done is closed
	mu   sync.Mutex
	log  []string
}

func (s *server) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log[max(0, len(s.log)-30):], "\n")
}

// start runs argv with exactly env (no inherited variables, as systemd and
// a container runtime give none of the test's), in dir, and waits until it
// logs the address it serves on.
func start(t *testing.T, argv, env []string, dir string) *server {
	t.Helper()
	s := &server{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{})}
	s.cmd.Env, s.cmd.Dir = env, dir
	stderr, err := s.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %q: %v", argv, err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.log = append(s.log, line)
			s.mu.Unlock()
			if strings.Contains(line, "msg=serving") {
				for f := range strings.FieldsSeq(line) {
					if a, ok := strings.CutPrefix(f, "addr="); ok {
						select {
						case ready <- a:
						default:
						}
					}
				}
			}
		}
		s.err = s.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			s.cmd.Process.Kill()
			<-s.done
		}
	})
	select {
	case s.addr = <-ready:
	case <-s.done:
		t.Fatalf("%q exited before serving: %v\n%s", argv, s.err, s.tail())
	case <-time.After(30 * time.Second):
		t.Fatalf("%q did not serve within 30 s\n%s", argv, s.tail())
	}
	return s
}

// stop sends sig and waits up to limit for the exit, which must be clean:
// under Restart=on-failure a non-zero exit would restart a server asked to
// stop.
func (s *server) stop(t *testing.T, sig os.Signal, limit time.Duration) {
	t.Helper()
	began := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-s.done:
	case <-time.After(limit):
		t.Fatalf("still running %v after %v (the supervisor would SIGKILL it)\n%s", limit, sig, s.tail())
	}
	if s.err != nil {
		t.Fatalf("exit after %v: %v, want 0\n%s", sig, s.err, s.tail())
	}
	t.Logf("%v: clean exit after %v", sig, time.Since(began).Round(time.Millisecond))
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
