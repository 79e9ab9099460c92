package deploy

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, ENV, ...
	args string
	line int
}

// stage is a FROM and the instructions up to the next.
type stage struct {
	image, name string
	ins         []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func (s stage) one(t *testing.T, cmd string) instruction {
	t.Helper()
	all := s.all(cmd)
	if len(all) == 0 {
		t.Fatalf("the runtime stage has no %s", cmd)
	}
	return all[len(all)-1] // the last one wins
}

func parseContainerfile(t *testing.T, file string) []stage {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stages []stage
	var cont strings.Builder
	contLine := 0
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") || line == "" && cont.Len() == 0 {
			continue
		}
		if cont.Len() == 0 {
			contLine = n
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cont.WriteString(l + " ")
			continue
		}
		cont.WriteString(line)
		full := cont.String()
		cont.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: contLine}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before any FROM", file, n, in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(stages) < 2 {
		t.Fatalf("%s: %d stages, want a build stage and a runtime stage", file, len(stages))
	}
	return stages
}

// execForm reads an instruction's JSON (exec) form; the shell form runs
// the server under /bin/sh -c, which does not pass SIGTERM on to it.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("line %d: %s %s is not the exec form [\"...\"]: a shell would receive the stop signal, not the server", in.line, in.cmd, in.args)
	}
	return argv
}

// envOf is a stage's ENV settings in order (both ENV K=V ... and ENV K V).
func envOf(t *testing.T, s stage) []string {
	t.Helper()
	var env []string
	for _, in := range s.all("ENV") {
		ws := words(t, in.args)
		if len(ws) >= 2 && !strings.Contains(ws[0], "=") {
			env = envSet(env, ws[0], strings.Join(ws[1:], " "))
			continue
		}
		for _, kv := range ws {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("line %d: ENV %q is not VAR=value", in.line, kv)
			}
			env = envSet(env, k, v)
		}
	}
	return env
}

var goLine = regexp.MustCompile(`(?m)^go (\d+)\.(\d+)(?:\.(\d+))?$`)

// debianRelease is the Debian codename an image tag is built on.
func debianRelease(t *testing.T, image string) string {
	t.Helper()
	for _, r := range []string{"bookworm", "trixie", "forky"} {
		if strings.Contains(image, r) {
			return r
		}
	}
	for n, r := range map[string]string{"debian12": "bookworm", "debian13": "trixie"} {
		if strings.Contains(image, n) {
			return r
		}
	}
	t.Fatalf("image %q names no Debian release: name one (an unpinned golang tag follows Debian's newest and may link a glibc the runtime lacks)", image)
	return ""
}

// TestContainerfileBuildStage: the build stage's Go is the go.mod's (same
// minor, no older patch; else the build would fetch a toolchain or fail),
// and it builds on the Debian release the runtime runs (cgo links glibc).
func TestContainerfileBuildStage(t *testing.T) {
	root := repoRoot(t)
	stages := parseContainerfile(t, filepath.Join(root, "docs", "deploy", "Containerfile"))
	build, run := stages[0], stages[len(stages)-1]
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := goLine.FindStringSubmatch(string(mod))
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	repo, tag, _ := strings.Cut(build.image, ":")
	if repo != "golang" && repo != "docker.io/library/golang" {
		t.Fatalf("build stage FROM %s: want the golang image", build.image)
	}
	tm := regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?(-.*)?$`).FindStringSubmatch(tag)
	if tm == nil {
		t.Fatalf("build stage FROM %s: the tag names no Go version", build.image)
	}
	if tm[1] != m[1] || tm[2] != m[2] {
		t.Errorf("build stage Go %s.%s, go.mod says go %s.%s", tm[1], tm[2], m[1], m[2])
	}
	if tm[3] != "" && m[3] != "" {
		if a, b := atoi(t, tm[3]), atoi(t, m[3]); a < b {
			t.Errorf("build stage Go %s.%s.%d is older than go.mod's %s.%s.%d", tm[1], tm[2], a, m[1], m[2], b)
		}
	}
	if b, r := debianRelease(t, build.image), debianRelease(t, run.image); b != r {
		t.Errorf("built on Debian %s, run on %s: the cgo binary needs the glibc it was linked against", b, r)
	}
	cgoOff := false
	for _, in := range build.all("RUN") {
		cgoOff = cgoOff || strings.Contains(in.args, "CGO_ENABLED=0")
	}
	for _, kv := range envOf(t, build) {
		cgoOff = cgoOff || kv == "CGO_ENABLED=0"
	}
	if cgoOff {
		t.Error("the build stage turns cgo off: mattn/go-sqlite3 needs it")
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestContainerfileRuntime: the runtime stage runs as a user it created,
// not root; keeps the database on a volume; listens on every interface of
// the port it exposes; and its ENTRYPOINT/CMD, run with its ENV (the
// volume in a temporary directory, a free port), serve, pass the
// HEALTHCHECK's command, and exit 0 on STOPSIGNAL.
func TestContainerfileRuntime(t *testing.T) {
	root := repoRoot(t)
	stages := parseContainerfile(t, filepath.Join(root, "docs", "deploy", "Containerfile"))
	run := stages[len(stages)-1]

	user, _, _ := strings.Cut(run.one(t, "USER").args, ":")
	if user == "root" || user == "0" {
		t.Fatalf("USER %s: the server must not run as root", user)
	}
	if _, err := strconv.Atoi(user); err != nil {
		made := false
		for _, in := range run.all("RUN") {
			made = made || regexp.MustCompile(`\b(useradd|adduser)\b.*\b`+regexp.QuoteMeta(user)+`\b`).MatchString(in.args)
		}
		if !made {
			t.Errorf("USER %s: no RUN useradd in the runtime stage creates it (the base image has no such user)", user)
		}
	}

	env := envOf(t, run)
	db, ok := envGet(env, "VILLAGESYNC_DB")
	if !ok {
		t.Fatal("no ENV VILLAGESYNC_DB: serve would write ./villagesync.db in whatever the working directory is")
	}
	var volumes []string
	for _, in := range run.all("VOLUME") {
		if strings.HasPrefix(in.args, "[") {
			volumes = append(volumes, execForm(t, in)...)
		} else {
			volumes = append(volumes, strings.Fields(in.args)...)
		}
	}
	volume := ""
	for _, v := range volumes {
		if path.Dir(db) == path.Clean(v) {
			volume = path.Clean(v)
		}
	}
	if volume == "" {
		t.Fatalf("VILLAGESYNC_DB=%s is not on a VOLUME (%q): the data would go with the container", db, volumes)
	}

	listen, ok := envGet(env, "VILLAGESYNC_LISTEN")
	if !ok {
		t.Fatal("no ENV VILLAGESYNC_LISTEN: serve's default is loopback, which nothing outside the container reaches")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		t.Fatalf("VILLAGESYNC_LISTEN=%s: %v", listen, err)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		t.Errorf("VILLAGESYNC_LISTEN=%s: inside a container the server must listen on every interface (0.0.0.0)", listen)
	}
	exposed := false
	for _, in := range run.all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			exposed = exposed || strings.TrimSuffix(p, "/tcp") == port
		}
	}
	if !exposed {
		t.Errorf("VILLAGESYNC_LISTEN's port %s is not EXPOSEd", port)
	}

	stopSig := signalNamed(t, run.one(t, "STOPSIGNAL").args)
	if stopSig != syscall.SIGTERM && stopSig != syscall.SIGINT {
		t.Errorf("STOPSIGNAL %s: the server finishes in-flight syncs only on SIGTERM or SIGINT", run.one(t, "STOPSIGNAL").args)
	}

	// The image's command: ENTRYPOINT then CMD, the binary where COPY put it.
	argv := append(execForm(t, run.one(t, "ENTRYPOINT")), execForm(t, run.one(t, "CMD"))...)
	bin := serveproc.Build(t)
	installed := ""
	for _, in := range run.all("COPY") {
		if f := strings.Fields(in.args); len(f) == 3 && strings.HasPrefix(f[0], "--from=") {
			installed = f[2]
		}
	}
	if installed == "" || path.Base(installed) != "villagesync" {
		t.Fatalf("no COPY --from=build puts villagesync on the image (found %q)", installed)
	}
	inPath := func(a []string) []string {
		a = append([]string(nil), a...)
		if a[0] == installed || a[0] == path.Base(installed) && path.Dir(installed) == "/usr/local/bin" {
			a[0] = bin
		} else {
			t.Fatalf("%q: runs %s, not the installed %s", a, a[0], installed)
		}
		return a
	}
	if len(argv) < 2 || argv[1] != "serve" {
		t.Fatalf("ENTRYPOINT+CMD %q does not run `villagesync serve`", argv)
	}

	tmp := t.TempDir()
	env = envSet(env, "VILLAGESYNC_DB", filepath.Join(tmp, strings.TrimPrefix(db, volume+"/")))
	env = envSet(env, "VILLAGESYNC_LISTEN", withPort0(t, listen))
	env = envSet(env, "PATH", "/usr/local/bin:/usr/bin:/bin")
	s := start(t, inPath(argv), env, tmp)
	_, servedPort, _ := net.SplitHostPort(s.Addr)
	env = envSet(env, "VILLAGESYNC_LISTEN", net.JoinHostPort(host, servedPort))
	checkHealth(t, s.Addr)

	hc := run.one(t, "HEALTHCHECK").args
	_, probe, ok := strings.Cut(hc, "CMD ")
	if !ok {
		t.Fatalf("HEALTHCHECK %s: no CMD", hc)
	}
	probeArgv := inPath(execForm(t, instruction{cmd: "HEALTHCHECK CMD", args: strings.TrimSpace(probe), line: 0}))
	if out, err := runCmd(t, env, probeArgv...); err != nil {
		t.Fatalf("HEALTHCHECK's command against a serving server: %v (%s)", err, out)
	}
	s.Stop(t, stopSig, 25*time.Second+5*time.Second) // docker stop --time 30, as the file says
	if _, err := runCmd(t, env, probeArgv...); err == nil {
		t.Error("HEALTHCHECK's command passed against a stopped server")
	}
}

// TestDockerignoreKeepsTheBuild: every file `go build ./cmd/villagesync`
// reads (sources, cgo files, embedded files such as the console's dist/,
// go.mod, go.sum) is in the build context .dockerignore leaves.
func TestDockerignoreKeepsTheBuild(t *testing.T) {
	root, err := filepath.Abs(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	patterns := readDockerignore(t, filepath.Join(root, ".dockerignore"))
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,CgoFiles,CFiles,HFiles,SFiles,EmbedFiles", "./cmd/villagesync")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			Dir                                                   string
			Module                                                *struct{ Main bool }
			GoFiles, CgoFiles, CFiles, HFiles, SFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // the standard library, the module cache
		}
		rel, err := filepath.Rel(root, p.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.CFiles, p.HFiles, p.SFiles, p.EmbedFiles} {
			for _, f := range list {
				needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
			}
		}
	}
	if len(needed) < 50 {
		t.Fatalf("go list found %d files the build needs: too few to believe", len(needed))
	}
	for _, f := range needed {
		if p := ignoredBy(patterns, f); p != "" {
			t.Errorf(".dockerignore pattern %q drops %s, which the build needs", p, f)
		}
	}
	t.Logf("%d files the build needs are all in the context", len(needed))
}

// readDockerignore reads the patterns, comments and blank lines dropped,
// leading slashes and ./ cleaned as Docker does.
func readDockerignore(t *testing.T, file string) []string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (docs/deploy/Containerfile builds from the repository root)", err)
	}
	var out []string
	for _, l := range strings.Split(string(src), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		neg := strings.HasPrefix(l, "!")
		l = strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(l, "!")), "/")
		if neg {
			l = "!" + l
		}
		out = append(out, l)
	}
	return out
}

// ignoredBy is the pattern that leaves file (slash-separated, relative)
// out of the context, or "": the last matching pattern decides, `!`
// brings back, ** spans directories, and a pattern matching a directory
// drops all under it (Docker's patternmatcher).
func ignoredBy(patterns []string, file string) string {
	decided := ""
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		re := globRegexp(strings.TrimPrefix(p, "!"))
		if re.MatchString(file) {
			if neg {
				decided = ""
			} else {
				decided = p
			}
		}
	}
	return decided
}

func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '*' && i+1 < len(p) && p[i+1] == '*':
			i++
			if i+1 < len(p) && p[i+1] == '/' {
				i++
				b.WriteString("(?:.*/)?")
			} else {
				b.WriteString(".*")
			}
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("(?:/.*)?$")
	return regexp.MustCompile(b.String())
}
