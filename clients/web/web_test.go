package web

import (
	"bytes"
	"compress/gzip"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// served starts the handler on a real listener and returns its URL and a
// client that leaves Accept-Encoding to the test.
func served(t *testing.T) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewServer(Handler())
	t.Cleanup(srv.Close)
	return srv.URL, &http.Client{Transport: &http.Transport{DisableCompression: true}}
}

func get(t *testing.T, c *http.Client, method, url string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// assets lists the names in dist/assets.
func assets(t *testing.T) []string {
	t.Helper()
	es, err := fs.ReadDir(dist, "dist/assets")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func assetWith(t *testing.T, ext string) string {
	t.Helper()
	for _, n := range assets(t) {
		if strings.HasSuffix(n, ext) {
			return n
		}
	}
	t.Fatalf("dist/assets has no %s file: run make web", ext)
	return ""
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range securityHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline code", csp)
	}
}

func TestServesFilesWithHeaders(t *testing.T) {
	url, c := served(t)
	js, css := assetWith(t, ".js"), assetWith(t, ".css")
	tests := []struct {
		path, file, contentType, cacheControl string
	}{
		{"/", "dist/index.html", "text/html; charset=utf-8", "no-cache"},
		{"/assets/" + js, "dist/assets/" + js, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/assets/" + css, "dist/assets/" + css, "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			want, err := dist.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				resp, body := get(t, c, method, url+tt.path, nil)
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", method, resp.StatusCode)
				}
				checkSecurityHeaders(t, resp.Header)
				for k, v := range map[string]string{"Content-Type": tt.contentType, "Cache-Control": tt.cacheControl,
					"Vary": "Accept-Encoding", "Content-Length": strconv.Itoa(len(want))} {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s: %s = %q, want %q", method, k, got, v)
					}
				}
				if resp.Header.Get("ETag") == "" || resp.Header.Get("Content-Encoding") != "" {
					t.Errorf("%s: ETag %q, Content-Encoding %q", method, resp.Header.Get("ETag"), resp.Header.Get("Content-Encoding"))
				}
				wantBody := want
				if method == http.MethodHead {
					wantBody = nil
				}
				if !bytes.Equal(body, wantBody) {
					t.Errorf("%s: body of %d bytes, want %d", method, len(body), len(wantBody))
				}
			}
		})
	}
}

func TestRevalidation(t *testing.T) {
	url, c := served(t)
	js := "/assets/" + assetWith(t, ".js")
	for _, path := range []string{"/", js} {
		for _, enc := range []string{"", "gzip"} {
			t.Run(path+" "+enc, func(t *testing.T) {
				h := map[string]string{"Accept-Encoding": enc}
				first, _ := get(t, c, http.MethodGet, url+path, h)
				etag := first.Header.Get("ETag")
				if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
					t.Fatalf("ETag %q is not a quoted strong tag", etag)
				}
				h["If-None-Match"] = etag
				again, body := get(t, c, http.MethodGet, url+path, h)
				if again.StatusCode != http.StatusNotModified || len(body) != 0 {
					t.Fatalf("with If-None-Match %s: status %d, %d bytes; want 304 and none", etag, again.StatusCode, len(body))
				}
				if again.Header.Get("ETag") != etag || again.Header.Get("Cache-Control") == "" {
					t.Errorf("304 without its ETag or Cache-Control: %v", again.Header)
				}
				checkSecurityHeaders(t, again.Header)
				h["If-None-Match"] = `"stale"`
				if changed, _ := get(t, c, http.MethodGet, url+path, h); changed.StatusCode != http.StatusOK {
					t.Errorf("with a stale ETag: status %d, want 200", changed.StatusCode)
				}
			})
		}
	}
}

func TestGzip(t *testing.T) {
	url, c := served(t)
	tests := []struct {
		acceptEncoding string
		gzipped        bool
	}{
		{"", false},
		{"gzip", true},
		{"GZIP", true},
		{"gzip, deflate, br, zstd", true},
		{"br", false},
		{"identity", false},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip; q=0.5", true},
		{"*;q=0, gzip", true},
		{"gzip;q=0, *", false},
	}
	want, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.acceptEncoding, func(t *testing.T) {
			resp, body := get(t, c, http.MethodGet, url+"/", map[string]string{"Accept-Encoding": tt.acceptEncoding})
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.gzipped {
				t.Fatalf("Content-Encoding %q, want gzip %v", resp.Header.Get("Content-Encoding"), tt.gzipped)
			}
			if resp.Header.Get("Vary") != "Accept-Encoding" {
				t.Errorf("Vary = %q", resp.Header.Get("Vary"))
			}
			if resp.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Errorf("Content-Length %s for %d bytes", resp.Header.Get("Content-Length"), len(body))
			}
			if tt.gzipped {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, want) {
				t.Errorf("body differs from dist/index.html")
			}
		})
	}
}

func TestRefuses(t *testing.T) {
	url, c := served(t)
	js := "/assets/" + assetWith(t, ".js")
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/index.html", http.StatusNotFound},
		{http.MethodGet, "/dist/index.html", http.StatusNotFound},
		{http.MethodGet, "/assets/", http.StatusNotFound},
		{http.MethodGet, "/assets/app-0000.js", http.StatusNotFound},
		{http.MethodGet, "/favicon.ico", http.StatusNotFound},
		{http.MethodGet, "/overview", http.StatusNotFound},
		{http.MethodGet, "/assets/../index.html", http.StatusNotFound},
		{http.MethodPost, "/", http.StatusMethodNotAllowed},
		{http.MethodPut, js, http.StatusMethodNotAllowed},
		{http.MethodDelete, js, http.StatusMethodNotAllowed},
		{http.MethodOptions, "/", http.StatusMethodNotAllowed},
		{http.MethodPost, "/nothing", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, _ := get(t, c, tt.method, url+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			checkSecurityHeaders(t, resp.Header)
			if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

// references are the assets a file loads: index.html its script and
// stylesheet, a script the chunks it imports.
var references = regexp.MustCompile(`(?:src|href)="assets/([^"]+)"|["'/]((?:app|chunk)-[A-Za-z0-9]+\.(?:js|css))["']`)

func TestIndexReferencesExactlyTheAssets(t *testing.T) {
	have := assets(t)
	slices.Sort(have)
	// Everything reachable from index.html, and nothing else: a file left
	// from an older build, or one missing, means dist/ is stale.
	reached := map[string]bool{}
	queue := []string{"dist/index.html"}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		b, err := dist.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v (referenced, but not built: run make web)", f, err)
		}
		for _, m := range references.FindAllSubmatch(b, -1) {
			name := string(m[1]) + string(m[2])
			if !reached[name] {
				reached[name] = true
				queue = append(queue, "dist/assets/"+name)
			}
		}
	}
	var named []string
	for n := range reached {
		named = append(named, n)
	}
	slices.Sort(named)
	if !slices.Equal(named, have) {
		t.Fatalf("index.html loads %v; dist/assets holds %v (a stale or missing file: run make web)", named, have)
	}
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<link rel="stylesheet" href="assets/app-`, `<script type="module" src="assets/app-`} {
		if bytes.Count(index, []byte(want)) != 1 {
			t.Errorf("index.html has not exactly one %s...", want)
		}
	}
	url, c := served(t)
	for _, n := range named {
		if resp, _ := get(t, c, http.MethodGet, url+"/assets/"+n, nil); resp.StatusCode != http.StatusOK {
			t.Errorf("/assets/%s: status %d", n, resp.StatusCode)
		}
	}
}

// The CSP allows no inline code or style, so index.html must have none: a
// script with a body, an inline style element or attribute, an event
// handler attribute or a javascript: URL would be refused by the browser.
func TestIndexHasNothingInline(t *testing.T) {
	index, err := dist.ReadFile("dist/index.html")
	if err != nil {
		t.Fatal(err)
	}
	html := strings.ToLower(string(index))
	tests := []struct {
		what string
		re   *regexp.Regexp
	}{
		{"a script with a body", regexp.MustCompile(`<script[^>]*>\s*[^<\s]`)},
		{"a style element", regexp.MustCompile(`<style`)},
		{"a style attribute", regexp.MustCompile(`\sstyle\s*=`)},
		{"an event handler attribute", regexp.MustCompile(`\son[a-z]+\s*=`)},
		{"a javascript: URL", regexp.MustCompile(`javascript:`)},
		{"another host", regexp.MustCompile(`(?:src|href)="(?:https?:)?//`)},
	}
	for _, tt := range tests {
		if loc := tt.re.FindStringIndex(html); loc != nil {
			t.Errorf("index.html has %s: %q", tt.what, html[loc[0]:min(loc[1]+40, len(html))])
		}
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(html, -1) {
		if !strings.Contains(tag, ` src="assets/`) {
			t.Errorf("index.html has a script that loads nothing from assets/: %s", tag)
		}
	}
	if !strings.Contains(html, `<script type="module" src="assets/`) {
		t.Errorf("index.html loads no script from assets/")
	}
}

// The server embeds this package: it must not bring anything but the
// standard library with it.
func TestImportsStandardLibraryOnly(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range parsed.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if first, _, _ := strings.Cut(p, "/"); strings.Contains(first, ".") {
				t.Errorf("%s imports %s: package web may import the standard library only", f, p)
			}
		}
	}
}

// appFiles lists the names in dist/app, index.html and the service
// worker aside (the files the index reaches).
func appFiles(t *testing.T) []string {
	t.Helper()
	es, err := fs.ReadDir(dist, "dist/app")
	if err != nil {
		t.Fatalf("dist/app: %v (run make web)", err)
	}
	var names []string
	for _, e := range es {
		if e.Name() != "index.html" && e.Name() != serviceWorker {
			names = append(names, e.Name())
		}
	}
	return names
}

func appFileMatching(t *testing.T, re string) string {
	t.Helper()
	m := regexp.MustCompile(re)
	for _, n := range appFiles(t) {
		if m.MatchString(n) {
			return n
		}
	}
	t.Fatalf("dist/app has no file matching %s: run make web", re)
	return ""
}

func checkAppSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	for k, v := range appSecurityHeaders {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	// img-src blob: is how the app shows the photos its worker holds.
	for _, want := range []string{"default-src 'none'", "script-src 'self' 'wasm-unsafe-eval';", "worker-src 'self'",
		"style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "img-src 'self' data: blob:"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	// wasm-unsafe-eval allows compiling WebAssembly only; eval of
	// JavaScript and inline code stay refused.
	if strings.Contains(strings.ReplaceAll(csp, "'wasm-unsafe-eval'", ""), "unsafe-") {
		t.Errorf("CSP %q allows more than WebAssembly compilation", csp)
	}
}

func TestServesAppWithHeaders(t *testing.T) {
	url, c := served(t)
	immutable := "public, max-age=31536000, immutable"
	tests := []struct {
		path, file, contentType, cacheControl string
	}{
		{"/app/", "dist/app/index.html", "text/html; charset=utf-8", "no-cache"},
		{"app script", `^app-[A-Z0-9]+\.js$`, "text/javascript; charset=utf-8", immutable},
		{"stylesheet", `^app-[A-Z0-9]+\.css$`, "text/css; charset=utf-8", immutable},
		{"worker", `^db-worker-[A-Z0-9]+\.js$`, "text/javascript; charset=utf-8", immutable},
		{"wasm", `^sqlite3-[0-9a-f]{16}\.wasm$`, "application/wasm", immutable},
		// A fixed name: revalidated, so the browser sees a new build.
		{"/app/sw.js", "dist/app/sw.js", "text/javascript; charset=utf-8", "no-cache"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			path, file := tt.path, tt.file
			if !strings.HasPrefix(path, "/") {
				name := appFileMatching(t, tt.file)
				path, file = "/app/"+name, "dist/app/"+name
			}
			want, err := dist.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, enc := range []string{"", "gzip"} {
				resp, body := get(t, c, http.MethodGet, url+path, map[string]string{"Accept-Encoding": enc})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", path, resp.StatusCode)
				}
				checkAppSecurityHeaders(t, resp.Header)
				for k, v := range map[string]string{"Content-Type": tt.contentType, "Cache-Control": tt.cacheControl} {
					if got := resp.Header.Get(k); got != v {
						t.Errorf("%s %q: %s = %q, want %q", path, enc, k, got, v)
					}
				}
				// Only the app's index carries the mark its service worker
				// requires of a fresh index.
				if got, want := resp.Header.Get(AppIndexHeader), map[bool]string{true: "1"}[path == "/app/"]; got != want {
					t.Errorf("%s: %s = %q, want %q", path, AppIndexHeader, got, want)
				}
				if enc == "gzip" {
					zr, err := gzip.NewReader(bytes.NewReader(body))
					if err != nil {
						t.Fatal(err)
					}
					if body, err = io.ReadAll(zr); err != nil {
						t.Fatal(err)
					}
				}
				if !bytes.Equal(body, want) {
					t.Errorf("%s %q: body of %d bytes, want %d", path, enc, len(body), len(want))
				}
			}
		})
	}
	// The console keeps its stricter policy: it compiles no WebAssembly.
	resp, _ := get(t, c, http.MethodGet, url+"/", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "wasm") {
		t.Errorf("the console's CSP %q allows WebAssembly", csp)
	}
}

func TestAppRefuses(t *testing.T) {
	url, c := served(t)
	js := "/app/" + appFileMatching(t, `^app-.*\.js$`)
	tests := []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/app", http.StatusNotFound},
		{http.MethodGet, "/app/index.html", http.StatusNotFound},
		{http.MethodGet, "/app/sqlite3.wasm", http.StatusNotFound},
		{http.MethodGet, "/app/assets/", http.StatusNotFound},
		{http.MethodGet, "/app/../index.html", http.StatusNotFound},
		{http.MethodGet, "/assets/" + strings.TrimPrefix(js, "/app/"), http.StatusNotFound},
		{http.MethodPost, "/app/", http.StatusMethodNotAllowed},
		{http.MethodPut, js, http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			resp, _ := get(t, c, tt.method, url+tt.path, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
}

// The app's files reach one another by name: index.html its script and
// stylesheet, the script the worker, the worker the wasm. Every file of
// dist/app is reached, and each only once.
func TestAppIndexReferencesExactlyItsFiles(t *testing.T) {
	names := appFiles(t)
	name := regexp.MustCompile(`(?:app|db-worker)-[A-Z0-9]+\.(?:js|css)|sqlite3-[0-9a-f]{16}\.wasm|` +
		`manifest-[0-9a-f]{16}\.webmanifest|icon-\d+-[0-9a-f]{16}\.png`)
	reached := map[string]bool{}
	queue := []string{"index.html"}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		if strings.HasSuffix(f, ".wasm") || strings.HasSuffix(f, ".png") {
			continue
		}
		b, err := dist.ReadFile("dist/app/" + f)
		if err != nil {
			t.Fatalf("%s: %v (referenced, but not built: run make web)", f, err)
		}
		for _, m := range name.FindAll(b, -1) {
			if n := string(m); !reached[n] {
				reached[n] = true
				queue = append(queue, n)
			}
		}
	}
	var got []string
	for n := range reached {
		got = append(got, n)
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Fatalf("dist/app/index.html reaches %v; dist/app holds %v (a stale or missing file: run make web)", got, names)
	}
}

// The service worker precaches exactly the app: its index (as "./") and
// every file the index reaches; and its version changes with any of them.
func TestServiceWorkerPrecachesTheApp(t *testing.T) {
	b, err := dist.ReadFile("dist/app/" + serviceWorker)
	if err != nil {
		t.Fatalf("%v (run make web)", err)
	}
	list := regexp.MustCompile(`\[("[^"\]]*"(?:,"[^"\]]*")*)\]`).FindSubmatch(b)
	if list == nil {
		t.Fatalf("sw.js names no list of files:\n%.400s", b)
	}
	var got []string
	for _, q := range strings.Split(string(list[1]), ",") {
		got = append(got, strings.Trim(q, `"`))
	}
	want := append(appFiles(t), "./")
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("sw.js precaches %q, want %q", got, want)
	}
	if !regexp.MustCompile(`"villagesync-app-"`).Match(b) || !regexp.MustCompile(`"[0-9a-f]{16}"`).Match(b) {
		t.Errorf("sw.js names no cache version:\n%.400s", b)
	}
}

// The shell a phone downloads before the app can start, wasm included,
// as the handler sends it (gzip), stays within 1 MB.
func TestAppShellBudget(t *testing.T) {
	const budget = 1 << 20
	files, err := load()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for p, f := range files {
		if !strings.HasPrefix(p, "/app/") {
			continue
		}
		n := len(f.gzipped())
		t.Logf("%-45s %8d B, gzip %8d B", p, len(f.body), n)
		total += n
	}
	t.Logf("app shell: %d B gzip (budget %d B)", total, budget)
	if total > budget {
		t.Errorf("the app shell is %d B gzip, over its budget of %d B", total, budget)
	}
}
