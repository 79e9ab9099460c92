// The shell: language, sign-in state, navigation by role, and the
// body[data-page][data-ready] contract the browser tests wait on (ready
// only once the page's data is fetched and drawn).
import { caps, forgetToken, keepToken, loadWhoami, ownReplica, access, SignedOut, token, whenSignedOut, whoami } from "./api";
import type { Caps } from "./api";
import { h, clear } from "./dom";
import { getLang, roleName, setLang, t, type Lang } from "./i18n";
import { current, go, href, replace, type Page } from "./router";
import type { Ctx, PageFn } from "./page";
import { overview } from "./overview";
import { review } from "./review";
import { devices } from "./devices";
import { enroll } from "./enroll";
import { people } from "./people";
import { history } from "./history";
import { records } from "./records";
import { signin, setFlash } from "./signin";
import { showError } from "./errors";

const langKey = "villagesync.lang";

const pageFns: Record<Exclude<Page, "signin">, PageFn> = { overview, review, devices, enroll, people, history, records };

function allowed(page: Page, c: Caps): boolean {
  return page === "signin" || c[page];
}

function startLang(): void {
  const saved = localStorage.getItem(langKey);
  setLang(saved === "en" ? "en" : "zh");
  document.documentElement.lang = getLang();
}

function switchLang(): void {
  const next: Lang = getLang() === "zh" ? "en" : "zh";
  localStorage.setItem(langKey, next);
  setLang(next);
  document.documentElement.lang = next;
  // Drawn again from the server, whose messages follow Accept-Language.
  void render();
}

let generation = 0;
let leaving: (() => void)[] = [];

const body = document.body;

function setReady(ready: boolean): void {
  if (ready) body.setAttribute("data-ready", "");
  else body.removeAttribute("data-ready");
}

function header(page: Page): HTMLElement {
  const m = t();
  const me = whoami();
  const brand = h("a", { class: "brand", href: me ? href("overview") : href("signin") },
    h("span", { class: "brand-name" }, m.appName), h("span", { class: "brand-sub" }, m.appSub));
  const lang = h("button", { type: "button", class: "btn ghost", "data-test": "lang", lang: getLang() === "zh" ? "en" : "zh",
    "aria-label": m.switchLangLabel, onclick: switchLang }, m.switchLang);
  if (!me) return h("header", { class: "top" }, h("div", { class: "top-row" }, brand, h("div", { class: "top-me" }, lang)));
  const c = caps(me.role);
  const items: [Page, string, string][] = [
    ["overview", m.navOverview, "nav-overview"],
    ["review", m.navReview, "nav-review"],
    ["devices", m.navDevices, "nav-devices"],
    ["enroll", m.navEnroll, "nav-enroll"],
    ["people", m.navPeople, "nav-people"],
    ["history", m.navHistory, "nav-history"],
  ];
  const nav = h("nav", { class: "nav", "aria-label": m.mainNav },
    items.filter(([p]) => c[p as keyof Caps]).map(([p, label, test]) =>
      h("a", { href: href(p), "data-test": test, "aria-current": p === page ? "page" : null }, label)));
  // Parts apart, so that a phone can stack them in one row of the header
  // (the name cut short, the role under it); the text stays "name · role".
  const who = h("span", { class: "whoami", "data-test": "whoami", title: `${me.user} · ${roleName(me.role)}` },
    h("strong", { class: "who-name" }, me.user), h("span", { class: "who-sep" }, " · "),
    h("span", { class: "who-role" }, roleName(me.role)));
  // A phone shows the short label; the button is named in full either way.
  const out = h("button", { type: "button", class: "btn ghost", "data-test": "signout", "aria-label": m.signOut, onclick: signOut },
    h("span", { class: "label-long" }, m.signOut), h("span", { class: "label-short", "aria-hidden": "true" }, m.signOutShort));
  // The nav's own box, unfaded, under it: on a phone the nav scrolls
  // sideways and its right edge fades to say so (style.css).
  return h("header", { class: "top" },
    h("div", { class: "top-row" }, brand, h("div", { class: "top-me" }, who, lang, out)), h("div", { class: "nav-bar" }, nav));
}

// showCurrentTab scrolls the nav, on a phone, to the page's own tab: one
// past the screen's edge would leave no sign of where one is.
function showCurrentTab(): void {
  body.querySelector(".nav [aria-current=page]")?.scrollIntoView({ block: "nearest", inline: "center" });
}

async function signOut(): Promise<void> {
  setReady(false);
  // A browser may revoke its own device: a forgotten token must not stay
  // valid on the server for whoever copies it from this disk.
  try {
    await access.revokeDevice({ replica: ownReplica() });
    setFlash(t().signedOutByUser);
  } catch (e) {
    if (e instanceof SignedOut) return;
    setFlash(t().signedOutLocally);
  }
  forgetToken();
  go("signin");
}

async function render(): Promise<void> {
  const my = ++generation;
  for (const f of leaving) f();
  leaving = [];
  setReady(false);
  let route = current();
  const m = t();
  document.documentElement.lang = getLang();

  if (!token() && route.page !== "signin") {
    replace("signin");
    route = current();
  }
  body.setAttribute("data-page", route.page);

  const root = h("main", { id: "main", class: "page" });
  const live = () => my === generation;
  const busy = async <T,>(f: () => Promise<T>): Promise<T> => {
    setReady(false);
    try {
      return await f();
    } finally {
      if (live()) setReady(true);
    }
  };

  if (route.page === "signin") {
    document.title = `${m.signinTitle} · ${m.appName}`;
    clear(body);
    body.append(header("signin"), root);
    await signin(root, route.params, { live, busy, signedIn: () => go("overview"), keep: keepToken });
    if (live()) setReady(true);
    return;
  }

  let me = whoami();
  if (!me) {
    clear(body);
    body.append(header(route.page), root);
    root.append(h("p", { class: "muted" }, m.loading));
    try {
      me = await loadWhoami();
    } catch (e) {
      if (e instanceof SignedOut || !live()) return;
      failed(root, e);
      setReady(true);
      return;
    }
    if (!live()) return;
    clear(root);
  }
  const c = caps(me.role);
  if (!allowed(route.page, c)) {
    replace("overview");
    route = current();
    body.setAttribute("data-page", route.page);
  }
  const titles: Record<Exclude<Page, "signin">, string> = {
    overview: m.navOverview, review: m.navReview, devices: m.navDevices,
    enroll: m.navEnroll, people: m.navPeople, history: m.navHistory, records: m.navRecords,
  };
  const page = route.page as Exclude<Page, "signin">;
  document.title = `${titles[page]} · ${m.appName}`;
  clear(body);
  body.append(header(page), root);
  showCurrentTab();
  const ctx: Ctx = { root, params: route.params, me, caps: c, live, busy, onLeave: (f) => leaving.push(f) };
  try {
    await pageFns[page](ctx);
  } catch (e) {
    if (e instanceof SignedOut || !live()) return;
    failed(root, e);
  }
  if (live()) setReady(true);
}

startLang();
whenSignedOut(() => {
  setFlash(t().signedOutRevoked);
  go("signin");
});
window.addEventListener("hashchange", () => void render());
void render();

// failed replaces a page that could not load with the reason and a retry.
function failed(root: HTMLElement, e: unknown): void {
  clear(root);
  const box = h("div", { class: "panel" }, h("button", { type: "button", class: "btn", onclick: () => void render() }, t().retry));
  root.append(box);
  showError(box, e);
}
