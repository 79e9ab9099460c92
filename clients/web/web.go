package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
)

//go:embed dist
var dist embed.FS

// Headers every response carries. The console runs no inline script or
// style and talks only to its own origin; blob: and data: images are the
// QR code and downloads. A page that cannot be framed or opened by another
// window keeps a token in localStorage out of other sites' reach.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; " +
		"img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; base-uri 'none'; " +
		"form-action 'none'; frame-ancestors 'none'",
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "no-referrer",
	"X-Frame-Options":            "DENY",
	"Cross-Origin-Opener-Policy": "same-origin",
}

// appSecurityHeaders are the console's, with the two additions the
// volunteer app's SQLite needs: 'wasm-unsafe-eval' lets the worker compile
// sqlite3.wasm (a CSP with a script-src refuses WebAssembly compilation
// without it -- Chromium applies the worker script's own CSP, and says
// "Compiling or instantiating WebAssembly module violates the following
// Content Security policy directive"; it allows no eval of JavaScript),
// and worker-src names the worker's origin explicitly instead of through
// the fallback to script-src. The app needs no COOP/COEP isolation: its
// opfs-sahpool VFS uses no SharedArrayBuffer.
var appSecurityHeaders = func() map[string]string {
	h := map[string]string{}
	for k, v := range securityHeaders {
		h[k] = v
	}
	h["Content-Security-Policy"] = strings.Replace(securityHeaders["Content-Security-Policy"],
		"script-src 'self';", "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; manifest-src 'self';", 1)
	return h
}()

// contentTypes are fixed here rather than taken from the mime package,
// which reads the machine's own tables: the same binary answers the same
// everywhere, and nosniff needs them right.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".txt":  "text/plain; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	// The app's web app manifest (installing it to the home screen).
	".webmanifest": "application/manifest+json",
	// Streaming compilation of the wasm needs exactly this type.
	".wasm": "application/wasm",
}

// file is one servable file, with its gzip form made once, at its first
// request that accepts it, and kept: the bundle changes only with the
// binary.
type file struct {
	body, contentType, etag, cacheControl string

	gzOnce sync.Once
	gz     string
}

func (f *file) gzipped() string {
	f.gzOnce.Do(func() {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestCompression) // the level is valid
		w.Write([]byte(f.body))                               // a bytes.Buffer does not fail
		w.Close()
		f.gz = b.String()
	})
	return f.gz
}

// Handler serves the console: "/" is index.html, "/assets/NAME" the
// bundle's content-hashed files; and the volunteer app: "/app/" is its
// index.html, "/app/NAME" its content-hashed scripts, stylesheet and
// sqlite3.wasm, and "/app/sw.js" its service worker. Anything else is
// 404. An index.html and sw.js are revalidated on every load (they name
// the current assets), the assets are cached for a year (a new build
// gives them new names).
func Handler() http.Handler {
	files, err := load()
	if err != nil {
		// The embedded tree is part of the binary: a broken one is a bug
		// of the build, not of the machine it runs on.
		panic("web: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		headers := securityHeaders
		if strings.HasPrefix(r.URL.Path, "/app/") {
			headers = appSecurityHeaders
		}
		for k, v := range headers {
			h.Set(k, v)
		}
		f := files[r.URL.Path]
		if f == nil {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.Set("Vary", "Accept-Encoding")
		h.Set("Cache-Control", f.cacheControl)
		if r.URL.Path == "/app/" {
			// The service worker takes a fresh index only with this mark:
			// a captive portal's login page, answered 200 in its place,
			// must not replace the cached app.
			h.Set(AppIndexHeader, "1")
		}
		body, etag := f.body, f.etag
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			body, etag = f.gzipped(), strings.TrimSuffix(f.etag, `"`)+`.gz"`
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("ETag", etag)
		if matches(r.Header.Get("If-None-Match"), etag) {
			h.Del("Content-Encoding")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", f.contentType)
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write([]byte(body))
		}
	})
}

// serviceWorker is the volunteer app's service worker in dist/app, the
// one file there not named by its content.
const serviceWorker = "sw.js"

// load reads the embedded files: index.html, and each file of
// dist/assets under /assets/; dist/app/index.html as /app/, and each other
// file of dist/app under /app/.
func load() (map[string]*file, error) {
	files := map[string]*file{}
	add := func(name, urlPath, cacheControl string) error {
		b, err := dist.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct, ok := contentTypes[path.Ext(name)]
		if !ok {
			return fmt.Errorf("%s: no content type for its extension; add one to contentTypes", name)
		}
		files[urlPath] = &file{body: string(b), contentType: ct, cacheControl: cacheControl,
			etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	}
	if err := add("dist/index.html", "/", "no-cache"); err != nil {
		return nil, err
	}
	assets, err := fs.ReadDir(dist, "dist/assets")
	if err != nil {
		return nil, err
	}
	for _, e := range assets {
		if e.IsDir() {
			continue
		}
		if err := add("dist/assets/"+e.Name(), "/assets/"+e.Name(), "public, max-age=31536000, immutable"); err != nil {
			return nil, err
		}
	}
	if err := add("dist/app/index.html", "/app/", "no-cache"); err != nil {
		return nil, err
	}
	app, err := fs.ReadDir(dist, "dist/app")
	if err != nil {
		return nil, err
	}
	for _, e := range app {
		if e.IsDir() || e.Name() == "index.html" {
			continue
		}
		cache := "public, max-age=31536000, immutable"
		if e.Name() == serviceWorker {
			// Its name is fixed: the browser asks for it again to find
			// a new build, and must get the server's current one.
			cache = "no-cache"
		}
		if err := add("dist/app/"+e.Name(), "/app/"+e.Name(), cache); err != nil {
			return nil, err
		}
	}
	return files, nil
}

// acceptsGzip reads an Accept-Encoding header (RFC 9110 12.5.3): gzip or
// * with a quality above zero.
func acceptsGzip(header string) bool {
	ok := false
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
					q = f
				}
			}
		}
		if coding == "gzip" {
			return q > 0 // an explicit gzip overrides *
		}
		ok = q > 0
	}
	return ok
}

// matches reports whether an If-None-Match header names etag (weak
// comparison, RFC 9110 13.1.2).
func matches(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}

// AppIndexHeader marks the volunteer app's index.html (see sw.ts).
const AppIndexHeader = "X-Villagesync-App"

// AppWorker is the file name of the volunteer app's database worker in
// /app/ (content-hashed: it changes with every build). Tests that drive
// the worker without the app's screens start it by this name.
func AppWorker() string {
	entries, err := fs.ReadDir(dist, "dist/app")
	if err != nil {
		panic("web: " + err.Error())
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "db-worker-") && strings.HasSuffix(e.Name(), ".js") {
			return e.Name()
		}
	}
	panic("web: dist/app has no db-worker-*.js")
}
