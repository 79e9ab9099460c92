package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// serverProc is `villagesync serve` running as its own process, reached
// through a proxy that counts the bytes crossing it.
type serverProc struct {
	cmd   *exec.Cmd
	proxy *proxy
	done  chan error
}

// URL is where devices reach the server: the counting proxy.
func (s *serverProc) URL() string { return "http://" + s.proxy.ln.Addr().String() }

func startServer(ctx context.Context, bin, db string) (*serverProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close() // the server takes the port; nothing else on loopback races for it here
	// No rate limit and no collection: the benchmark measures sync, and a
	// real backlog of 100,000 records would be paced by the limiter.
	cmd := exec.CommandContext(ctx, bin, "serve", "--db", db, "--listen", addr,
		"--keep-deletes", "0", "--device-rate", "0")
	cmd.Env = append(os.Environ(), "VILLAGESYNC_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &serverProc{cmd: cmd, done: make(chan error, 1)}
	ready := make(chan struct{})
	var log strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		announced := false
		for sc.Scan() {
			if !announced {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), "villagesync server") {
					announced = true
					close(ready)
				}
			}
		}
		io.Copy(io.Discard, stderr)
		s.done <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-s.done:
		return nil, fmt.Errorf("server exited at start: %v\n%s", err, log.String())
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("server did not start in 30 s\n%s", log.String())
	}
	if s.proxy, err = newProxy(addr); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// resetPeak starts a new peak-memory window (Linux clear_refs); it
// reports whether the kernel allowed it.
func (s *serverProc) resetPeak() bool {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0) == nil
}

// peakRSS is the server's peak resident memory in bytes (VmHWM).
func (s *serverProc) peakRSS() int64 {
	return vmHWM(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
}

// PeakRSSEnv names a file a villagesync process writes its peak resident
// memory to as it exits (see NotePeakRSS).
const PeakRSSEnv = "VILLAGESYNC_PEAK_RSS_FILE"

// NotePeakRSS writes this process's peak resident memory to the file
// PeakRSSEnv names, if it is set. The benchmark needs it from each device
// process: a child's rusage counts the memory of the parent it was forked
// from, the benchmark itself.
func NotePeakRSS() {
	if f := os.Getenv(PeakRSSEnv); f != "" {
		os.WriteFile(f, []byte(strconv.FormatInt(vmHWM("/proc/self/status"), 10)), 0o600)
	}
}

// CPUProfileEnv names a file a villagesync process writes its CPU
// profile to, from start to exit; "%p" in it becomes the process id, so
// the benchmark's own process (the devices) and each server it starts
// write their own:
//
//	VILLAGESYNC_CPU_PROFILE=/tmp/prof/%p.pprof villagesync bench ...
const CPUProfileEnv = "VILLAGESYNC_CPU_PROFILE"

// StartCPUProfile starts the profile CPUProfileEnv asks for, if any; the
// returned function ends it.
func StartCPUProfile() (stop func()) {
	name := os.Getenv(CPUProfileEnv)
	if name == "" {
		return func() {}
	}
	f, err := os.Create(strings.ReplaceAll(name, "%p", strconv.Itoa(os.Getpid())))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "villagesync: %s: %v\n", CPUProfileEnv, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

func (s *serverProc) stop() error {
	if s.proxy != nil {
		s.proxy.close()
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		return fmt.Errorf("server did not stop on SIGTERM")
	}
}

// proxy forwards loopback TCP to the server and counts the bytes each way,
// HTTP headers included: what a phone's radio would carry.
type proxy struct {
	ln       net.Listener
	target   string
	up, down atomic.Int64
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target}
	go p.accept()
	return p, nil
}

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	defer c.Close()
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer s.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(counter{s, &p.up}, c)
		s.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(counter{c, &p.down}, s)
	c.(*net.TCPConn).CloseWrite()
	<-done
}

// counter counts before it writes, so a count is complete by the time
// the other end has the bytes (connections stay open between syncs).
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(b []byte) (int, error) {
	c.n.Add(int64(len(b)))
	n, err := c.w.Write(b)
	c.n.Add(int64(n - len(b))) // what did not go through
	return n, err
}

// counted returns the bytes forwarded so far each way.
func (p *proxy) counted() (up, down int64) { return p.up.Load(), p.down.Load() }

func (p *proxy) close() { p.ln.Close() }

// roundRobin is an HTTP reverse proxy in front of several servers that
// sends each request to the next one in turn, as a load balancer without
// affinity would: one device's sync is served by all of them.
type roundRobin struct {
	ln   net.Listener
	srv  *http.Server
	next atomic.Uint64
}

func newRoundRobin(servers []*serverProc) (*roundRobin, error) {
	targets := make([]*url.URL, len(servers))
	for i, s := range servers {
		u, err := url.Parse(s.URL())
		if err != nil {
			return nil, err
		}
		targets[i] = u
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rr := &roundRobin{ln: ln}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256 // every device at once, without reconnecting for each request
	proxy := &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(targets[(rr.next.Add(1)-1)%uint64(len(targets))])
		},
	}
	rr.srv = &http.Server{Handler: proxy, ReadHeaderTimeout: 30 * time.Second}
	go rr.srv.Serve(ln)
	return rr, nil
}

// URL is where devices reach the servers.
func (rr *roundRobin) URL() string { return "http://" + rr.ln.Addr().String() }

func (rr *roundRobin) close() error { return rr.srv.Close() }
