// Package nodejs runs TypeScript of clients/web under Node for the tests
// that hold it to the Go code: bundled by the console's own pinned esbuild,
// fed a JSON input, read back as JSON.
package nodejs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/require"
)

// Web is clients/web in this checkout.
func Web(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("nodejs: no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..", "..", "clients", "web")
}

// Run bundles entry (an ES module; it imports sources by absolute path)
// with esbuild, writes input as JSON beside it and runs it under Node 20+
// as `node bundle INPUT.json extra...`, decoding what it prints into out.
// The extra arguments are files of clients/web/node_modules the entry
// loads at run time. Without Node, esbuild or an extra file the test
// skips, saying what to install (require.SkipOrFail).
func Run(t testing.TB, entry string, input, out any, extra ...string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		require.SkipOrFail(t, "no node: install Node.js 20+ (apt-get install nodejs npm)")
	}
	version, err := exec.Command(node, "--version").Output()
	var major int
	if _, scanErr := fmt.Sscanf(string(version), "v%d.", &major); err != nil || scanErr != nil || major < 20 {
		require.SkipOrFail(t, "node --version says %q: install Node.js 20+ (apt-get install nodejs npm)", version)
	}
	esbuild := filepath.Join(Web(t), "node_modules", ".bin", "esbuild")
	for _, f := range append([]string{esbuild}, extra...) {
		if _, err := os.Stat(f); err != nil {
			require.SkipOrFail(t, "no %s: run npm ci --prefix clients/web", f)
		}
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "entry.mjs")
	if err := os.WriteFile(src, []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "out.mjs")
	if b, err := exec.Command(esbuild, src, "--bundle", "--platform=node", "--format=esm", "--log-level=warning",
		"--outfile="+bundle).CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, b)
	}
	data, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "input.json")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, append([]string{bundle, file}, extra...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", bundle, err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("node's output: %v\n%s", err, b)
	}
}
