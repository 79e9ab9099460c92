package deploy

import (
	"bufio"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/require"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/serveproc"
)

// maxExposure is systemd-analyze security's score (tenths, 0-100) the unit
// must stay at or below: 1.2 when written; a loosened sandbox fails.
const maxExposure = 15

// unit is a systemd unit file: section → key → values in file order.
type unit map[string]map[string][]string

func (u unit) last(t *testing.T, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) == 0 {
		t.Fatalf("the unit has no %s= in [%s]", key, section)
	}
	return vs[len(vs)-1]
}

// parseUnit reads systemd's unit syntax: sections, KEY=value lines,
// comments (# and ;) and lines continued by a trailing backslash.
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section, cont := unit{}, "", ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont == "" && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cont += l + " "
			continue
		}
		line, cont = cont+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not KEY=value in a section: %q", path, n, line)
		}
		u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// words splits a systemd command line or Environment= value: spaces
// separate words, double or single quotes group them. Specifiers (%) and
// $VAR expansion are refused, so the test never runs something other than
// what systemd would.
func words(t *testing.T, s string) []string {
	t.Helper()
	if strings.ContainsAny(s, "%$") {
		t.Fatalf("%q: specifiers and variable expansion are not modelled by this test; teach words() first", s)
	}
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("%q: unbalanced quote", s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// systemdDuration reads a time span as systemd does for TimeoutStopSec=:
// a bare number is seconds; "1min 30s" sums its parts.
func systemdDuration(t *testing.T, s string) time.Duration {
	t.Helper()
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second))
	}
	var total time.Duration
	for _, part := range strings.Fields(s) {
		part = strings.NewReplacer("min", "m", "sec", "s", "msec", "ms").Replace(part)
		d, err := time.ParseDuration(part)
		if err != nil {
			t.Fatalf("time span %q: %v", s, err)
		}
		total += d
	}
	return total
}

// signalNamed maps the names KillSignal= takes to signals.
func signalNamed(t *testing.T, name string) syscall.Signal {
	t.Helper()
	sig, ok := map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT,
		"SIGQUIT": syscall.SIGQUIT, "SIGHUP": syscall.SIGHUP, "SIGKILL": syscall.SIGKILL}[name]
	if !ok {
		t.Fatalf("signal %q: not one this test knows", name)
	}
	return sig
}

func unitPath(t *testing.T) string {
	return filepath.Join(repoRoot(t), "docs", "deploy", "villagesync.service")
}

// TestUnitPassesSystemdAnalyze verifies the unit as systemd would load it
// and keeps its sandbox's exposure score at most maxExposure. The binary
// stands where ExecStart names it, or verify refuses a missing command.
func TestUnitPassesSystemdAnalyze(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		require.SkipOrFail(t, "systemd-analyze is not installed (apt-get install systemd): %v", err)
	}
	u := parseUnit(t, unitPath(t))
	argv := words(t, strings.TrimLeft(u.last(t, "Service", "ExecStart"), "-@:+!"))
	src, err := os.ReadFile(unitPath(t))
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), "villagesync.service")
	text := strings.ReplaceAll(string(src), "ExecStart="+argv[0], "ExecStart="+serveproc.Build(t))
	if err := os.WriteFile(copyPath, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", copyPath).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		// Warnings (an unknown key, a bad value ignored) exit 0: they count.
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold="+strconv.Itoa(maxExposure), copyPath).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	score := lines[len(lines)-1]
	if err != nil {
		t.Fatalf("systemd-analyze security --offline: %v (exposure above %d tenths?)\n%s", err, maxExposure, out)
	}
	t.Logf("systemd-analyze security --offline: %s", score)
}

// TestUnitStartsAndStops runs the unit's ExecStart with the environment
// systemd would give it (Environment=, then the shipped EnvironmentFile
// example, whose settings win) and its state directory in a temporary one;
// the server must serve, keep its database in the state directory, answer
// `villagesync health`, and on KillSignal= exit 0 well within
// TimeoutStopSec=, which must exceed --shutdown-grace.
func TestUnitStartsAndStops(t *testing.T) {
	u := parseUnit(t, unitPath(t))
	svc := u["Service"]
	argv := words(t, strings.TrimLeft(u.last(t, "Service", "ExecStart"), "-@:+!"))

	// The state directory systemd makes, and every path under it, move to
	// a temporary one.
	stateRel := u.last(t, "Service", "StateDirectory")
	state, tmp := filepath.Join("/var/lib", stateRel), t.TempDir()
	relocate := func(s string) string {
		if s == state || strings.HasPrefix(s, state+"/") {
			return tmp + strings.TrimPrefix(s, state)
		}
		return s
	}
	argv[0] = serveproc.Build(t)
	for i := range argv[1:] {
		argv[i+1] = relocate(argv[i+1])
	}
	// systemd passes none of its own environment but PATH and a few more.
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	for _, e := range svc["Environment"] {
		for _, kv := range words(t, e) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("Environment=%s: %q is not VAR=value", e, kv)
			}
			env = envSet(env, k, relocate(v))
		}
	}
	for _, f := range svc["EnvironmentFile"] {
		if f != "-/etc/villagesync/env" {
			t.Fatalf("EnvironmentFile=%s: the test maps only -/etc/villagesync/env (optional) to docs/deploy/villagesync.env", f)
		}
		for _, kv := range readEnvFile(t, filepath.Join(repoRoot(t), "docs", "deploy", "villagesync.env")) {
			k, v, _ := strings.Cut(kv, "=")
			env = envSet(env, k, relocate(v))
		}
	}
	listen, ok := envGet(env, "VILLAGESYNC_LISTEN")
	if !ok {
		t.Fatal("the unit sets no VILLAGESYNC_LISTEN: serve would take its built-in default, which the unit should state")
	}
	env = envSet(env, "VILLAGESYNC_LISTEN", withPort0(t, listen)) // its host, a free port
	dir := relocate(u.last(t, "Service", "WorkingDirectory"))

	// The supervisor's SIGKILL must come after the server's own grace.
	grace := 20 * time.Second // serve's default
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.DurationVar(&grace, "shutdown-grace", grace, "")
	fs.String("db", "", "")
	fs.String("listen", "", "")
	if len(argv) < 2 || argv[1] != "serve" {
		t.Fatalf("ExecStart %q does not run `villagesync serve`", argv)
	}
	if err := fs.Parse(argv[2:]); err != nil {
		t.Fatalf("ExecStart's flags (the test knows --shutdown-grace, --db, --listen): %v", err)
	}
	stopLimit := systemdDuration(t, u.last(t, "Service", "TimeoutStopSec"))
	if stopLimit < grace+5*time.Second {
		t.Fatalf("TimeoutStopSec=%v leaves less than 5 s beyond --shutdown-grace %v: systemd would SIGKILL syncs the server is letting finish", stopLimit, grace)
	}

	s := start(t, argv, env, dir)
	checkHealth(t, s.Addr)
	if out, err := runCmd(t, envSet(env, "VILLAGESYNC_LISTEN", s.Addr), serveproc.Build(t), "health"); err != nil || strings.TrimSpace(out) != "SERVING" {
		t.Fatalf("villagesync health: %q, %v", out, err)
	}
	db, _ := envGet(env, "VILLAGESYNC_DB")
	if !strings.HasPrefix(db, tmp+"/") {
		t.Errorf("VILLAGESYNC_DB=%s is outside StateDirectory=%s: ProtectSystem=strict makes it read-only", db, stateRel)
	} else if _, err := os.Stat(db); err != nil {
		t.Errorf("the server's database is not where the unit says: %v", err)
	}
	s.Stop(t, signalNamed(t, u.last(t, "Service", "KillSignal")), stopLimit)
	if _, err := runCmd(t, envSet(env, "VILLAGESYNC_LISTEN", s.Addr), serveproc.Build(t), "health"); err == nil {
		t.Error("villagesync health succeeded against a stopped server")
	}
}

// readEnvFile reads systemd's EnvironmentFile= syntax: VAR=value lines,
// comments (# and ;), optional quotes around the value.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for n, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s:%d: not VAR=value: %q", path, n+1, line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env = append(env, strings.TrimSpace(k)+"="+v)
	}
	return env
}
