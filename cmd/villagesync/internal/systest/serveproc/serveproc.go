package serveproc

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/require"
)

// The command, built at most once per test binary: every test of a
// package shares it, and Main removes it, because a t.Cleanup would
// remove it under the next test.
var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
	binSkip string
)

// Main runs the tests and removes the built command; TestMain returns
// os.Exit(serveproc.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	return code
}

// Build returns the path of the villagesync command, built on first use.
func Build(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			binSkip = "the go command is not on PATH (install Go, https://go.dev/dl/): " + err.Error()
			return
		}
		if binDir, err = os.MkdirTemp("", "villagesync-systest-"); err != nil {
			binErr = fmt.Errorf("a folder for the build: %w", err)
			return
		}
		binPath = filepath.Join(binDir, "villagesync")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, "build", "-o", binPath,
			"github.com/futian-xiaomo/villagesync/cmd/villagesync").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binSkip != "" {
		require.SkipOrFail(t, "%s", binSkip)
	}
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// Proc is a started villagesync process that has logged the address it
// serves on.
type Proc struct {
	Cmd  *exec.Cmd
	Addr string // host:port, as logged
	URL  string // "http://" + Addr

	done chan struct{}
	err  error // Cmd.Wait's, once done is closed
	log  Log
}

// Start runs cmd (its Stdout, Env and Dir as the caller set them; Stderr
// is read here) and returns once it logs that it serves, failing t if it
// exits first or takes more than 30 s. It is killed when the test ends,
// and its log's tail is logged if the test failed.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p, err := Launch(cmd, 30*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("%s (%s) log (tail):\n%s", filepath.Base(cmd.Path), p.Addr, p.Tail())
		}
	})
	return p
}

// Launch is Start without a test: it returns an error, with the log's
// tail, if cmd exits before serving or does not serve within wait, and
// then leaves no process behind. line, if not nil, sees every line of
// the process's stderr.
func Launch(cmd *exec.Cmd, wait time.Duration, line func(string)) (*Proc, error) {
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr of %q: %w", cmd.Args, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %q: %w", cmd.Args, err)
	}
	ready := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			l := sc.Text()
			p.log.Add(l)
			if line != nil {
				line(l)
			}
			if strings.Contains(l, "msg=serving") {
				for f := range strings.FieldsSeq(l) {
					if a, ok := strings.CutPrefix(f, "addr="); ok {
						select {
						case ready <- a:
						default:
						}
					}
				}
			}
		}
		// Wait only once the pipe is drained (os/exec's rule).
		p.err = cmd.Wait()
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case p.Addr = <-ready:
		p.URL = "http://" + p.Addr
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%q exited before serving: %v\n%s", cmd.Args, p.err, p.Tail())
	case <-timer.C:
		p.Kill()
		return nil, fmt.Errorf("%q did not serve within %v\n%s", cmd.Args, wait, p.Tail())
	}
}

// Tail is the end of the process's log, for failure messages.
func (p *Proc) Tail() string { return p.log.Tail(30) }

// Log keeps the end of a process's stderr, for failure messages; its
// methods may be called concurrently. The zero Log is empty.
type Log struct {
	mu    sync.Mutex
	lines []string
}

// Add keeps line, dropping old lines past a few hundred.
func (l *Log) Add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if len(l.lines) > 400 {
		l.lines = slices.Clone(l.lines[len(l.lines)-200:])
	}
}

// Tail is the last n lines kept.
func (l *Log) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines[max(0, len(l.lines)-n):], "\n")
}

// FreeAddr is a loopback address with a port nobody listens on now, for a
// process that must listen on an address known in advance (a server
// restarted on the same port, a proxy's configuration): another process
// taking the port in between fails the test, not silently.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Done is closed once the process has exited and its log is read.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit error, once Done is closed.
func (p *Proc) Err() error { return p.err }

// Stop sends sig and waits up to limit for the exit, which must be clean:
// under a supervisor's Restart=on-failure a non-zero exit would restart a
// server asked to stop.
func (p *Proc) Stop(t testing.TB, sig os.Signal, limit time.Duration) {
	t.Helper()
	began := time.Now()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-p.done:
	case <-time.After(limit):
		t.Fatalf("still running %v after %v (the supervisor would SIGKILL it)\n%s", limit, sig, p.Tail())
	}
	if p.err != nil {
		t.Fatalf("exit after %v: %v, want 0\n%s", sig, p.err, p.Tail())
	}
	t.Logf("%v: clean exit after %v", sig, time.Since(began).Round(time.Millisecond))
}

// Kill kills the process, if it still runs, and waits until it is gone.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	p.Cmd.Process.Kill() // an error means it has just exited, which is what we wait for
	<-p.done
}
