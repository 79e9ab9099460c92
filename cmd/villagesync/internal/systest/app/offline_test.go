package app

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
)

// After one visit the app opens with the server gone: the service worker
// (dist/app/sw.js) has cached the index, the scripts and the wasm, and
// answers for them when the network fails.
func TestAppWorksOffline(t *testing.T) {
	var down atomic.Bool
	next := appharness.Handler(web.Handler())
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "503 the server is down", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p := newProfile(t, srv.URL)
	a := p.tab("visit")
	a.open(srv.URL + appharness.Path)
	a.WaitFor("the harness runs", `document.body.dataset.ready === "1"`)
	a.Eval("register the service worker", `navigator.serviceWorker.register("./sw.js", {scope: "./"}).then(() => true)`, nil)
	a.WaitFor("the page is controlled", `navigator.serviceWorker.controller !== null`)

	down.Store(true)
	var got struct {
		Index, Script int
		HasApp        bool
		Down          int
	}
	a.Eval("fetch the app with the server down", `(async () => {
		const index = await fetch("./");
		const text = await index.text();
		const script = text.match(/src="(app-[A-Z0-9]+\.js)"/);
		return {
			Index: index.status,
			HasApp: script !== null,
			Script: script ? (await fetch(script[1])).status : 0,
			Down: (await fetch("harness.js?uncached")).status,
		};
	})()`, &got)
	if got.Down != http.StatusServiceUnavailable {
		t.Fatalf("an uncached file answered %d with the server down: the switch does nothing", got.Down)
	}
	if got.Index != http.StatusOK || !got.HasApp || got.Script != http.StatusOK {
		t.Fatalf("with the server down: index %d (names the app's script: %v), script %d; want both from the cache",
			got.Index, got.HasApp, got.Script)
	}
	// The worker and its wasm load from the cache too: a worker started
	// now opens the database.
	var opened struct {
		OK    bool
		Error string
	}
	a.Eval("open the database from cached files", `new Promise((resolve) => {
		const w = new Worker(`+"`"+web.AppWorker()+"`"+`, {type: "module"});
		w.onerror = (e) => resolve({OK: false, Error: "the worker did not load: " + e.message});
		w.onmessage = (e) => resolve({OK: e.data.ok, Error: e.data.error ?? ""});
		w.postMessage({id: 1, op: "open"});
	})`, &opened)
	if !opened.OK {
		t.Fatalf("with the server down the worker could not open the database: %s", opened.Error)
	}

	b := p.tab("offline visit")
	b.Do("open the app with the server down", chromedp.Navigate(srv.URL+"/app/"))
	b.WaitFor("the app's index and script load from the cache",
		`document.title.endsWith("villagesync") && performance.getEntriesByType("resource").some((e) => /\/app-[A-Z0-9]+\.js$/.test(e.name))`)
}

// The app can be added to the home screen: Chromium reads its manifest
// without errors (name, icons of the sizes it wants, standalone, the
// scope of the service worker) and finds nothing that stops installing it.
func TestAppIsInstallable(t *testing.T) {
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	p := newProfile(t, srv.URL)
	a := p.tab("install")
	a.open(srv.URL + "/app/")
	a.WaitFor("the service worker controls the app", `navigator.serviceWorker.controller !== null`)
	ctx, cancel := context.WithTimeout(a.Ctx, actionTimeout)
	defer cancel()
	m, err := chromedp.Call(ctx, page.GetAppManifest, page.GetAppManifestParams{})
	if err != nil {
		t.Fatal(err)
	}
	var errs []string
	for _, e := range m.Errors {
		errs = append(errs, "manifest: "+e.Message)
	}
	name := ""
	if m.Manifest != nil {
		name = m.Manifest.Name
	}
	inst, err := chromedp.Call(ctx, page.GetInstallabilityErrors, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range inst.InstallabilityErrors {
		// The test's profile is a browser context of its own, which
		// Chromium counts as incognito, where it installs nothing; a
		// phone's browser is not one.
		if e.ErrorID != "in-incognito" {
			errs = append(errs, "installability: "+e.ErrorID)
		}
	}
	if len(errs) > 0 || name != "三村项目 · 志愿者" {
		t.Fatalf("manifest name %q, errors %v; want the app's name and none", name, errs)
	}
}
