// The volunteer app: takes the origin's database lock, opens the worker
// that holds SQLite and the device replica, and draws the screens from the
// route in the hash. The body's data-* attributes say the state for the
// browser tests (data-page, data-ready, data-sync, data-pending,
// data-rejected, data-persist, data-lock); the text says it for people.
import { clear, h } from "../dom";
import { Db, DbError, askPersist, takeOwnership, whenFree, type FormName, type Identity, type SyncState } from "./db";
import { errText, type Ctx } from "./ctx";
import { messages, pickLang, rememberLang, type Lang } from "./i18n";
import { editRecord, newRecord } from "./screens/forms";
import { listedTables, recordItem, records, refused } from "./screens/lists";
import { applyUpdate, registerServiceWorker } from "./sw-register";
import { Scheduler } from "./sync";

// The content-hashed name build.mjs gave the worker bundle.
declare const DB_WORKER_FILE: string;

const lang: Lang = pickLang();
const m = messages(lang);
document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";

const body = document.body;
const set = (k: string, v: string) => body.setAttribute("data-" + k, v);

/** The oldest pending write past this is shown as at risk. */
const oldPendingMs = 3 * 86_400_000;

let state: SyncState | undefined;
let identity: Identity | null = null;
let db: Db;
let sched: Scheduler;
let persisted = false;

const langButton = h("button", { type: "button", class: "btn lang", "data-test": "lang" }, m.switchLang);
langButton.addEventListener("click", () => {
  rememberLang(lang === "en" ? "zh" : "en");
  location.reload();
});
const who = h("p", { class: "who", "data-test": "who" });
const statusBox = h("section", { class: "status", "aria-live": "polite", "data-test": "status" });
const main = h("main", { id: "screen" });

function page(name: string): void {
  set("page", name);
  body.removeAttribute("data-ready");
}

// The status bar, on every screen once enrolled: what waits, the last
// sync, the sync state, and the warning about old unsynced changes.
function drawStatus(): void {
  const s = state;
  clear(statusBox);
  if (!s || !identity) return;
  const mode = s.syncing ? "syncing" : s.offline || !navigator.onLine ? "offline" : s.lastError ? "error" : "idle";
  set("sync", mode);
  set("pending", String(s.pending));
  set("rejected", String(s.rejected));
  set("photos-pending", String(s.photosPending));
  const syncButton = h("button", { type: "button", class: "btn", "data-test": "sync-now", disabled: s.syncing }, s.syncing ? m.syncing : m.syncNow);
  syncButton.addEventListener("click", () => sched.now());
  statusBox.append(
    h(
      "div",
      { class: "status-row" },
      h(
        "div",
        null,
        h("p", { class: s.pending ? "pending-line has" : "pending-line", "data-test": "pending-count", "data-count": String(s.pending) }, m.pending(s.pending)),
        h("p", { class: "small", "data-test": "last-sync", "data-ms": String(s.lastSyncMs) }, m.lastSync, s.lastSyncMs ? m.ago(Date.now() - s.lastSyncMs) : m.never),
        // Photos go after their records, on their own: a record can be
        // synced while its photo still waits, and she should see which.
        h(
          "p",
          { class: "small photos-line", "data-test": "photos-pending", "data-count": String(s.photosPending), "data-refused": String(s.photosRefused), hidden: s.photosPending + s.photosRefused === 0 },
          s.photosPending > 0 ? m.photosPending(s.photosPending) : "",
          s.photosPending > 0 && s.photosRefused > 0 ? " · " : "",
          s.photosRefused > 0 ? h("span", { class: "bad" }, m.photosRefused(s.photosRefused)) : "",
        ),
      ),
      syncButton,
    ),
  );
  if (mode === "offline") statusBox.append(h("p", { class: "notice", "data-test": "sync-state" }, m.offline));
  else if (mode === "error") statusBox.append(h("p", { class: "notice bad", "data-test": "sync-state", role: "alert" }, m.syncError, s.lastError));
  if (s.pending > 0 && s.oldestPendingMs > 0 && Date.now() - s.oldestPendingMs > oldPendingMs) {
    const exportNote = h("p", { class: "small", "data-test": "export-status" });
    const exportButton = h("button", { type: "button", class: "btn primary big", "data-test": "export" }, m.export);
    exportButton.addEventListener("click", () => void exportFile(exportNote));
    statusBox.append(
      h(
        "div",
        { class: "old-pending", "data-test": "old-pending", role: "alert" },
        h("p", null, m.oldPending(Math.floor((Date.now() - s.oldestPendingMs) / 86_400_000))),
        exportButton,
        exportNote,
      ),
    );
  } else if (s.pending > 0) {
    // Before the warning too: someone who is going to town anyway can
    // carry the changes, whatever their age.
    const exportNote = h("p", { class: "small", "data-test": "export-status" });
    const exportButton = h("button", { type: "button", class: "btn", "data-test": "export" }, m.export);
    exportButton.addEventListener("click", () => void exportFile(exportNote));
    statusBox.append(h("div", { class: "export-row" }, exportButton, exportNote));
  }
  statusBox.append(carryInRow());
  if (s.rejected > 0) statusBox.append(h("a", { class: "notice bad link", href: "#/refused", "data-test": "refused-count" }, m.refusedCount(s.rejected)));
  if (s.held > 0) statusBox.append(h("p", { class: "notice", "data-test": "held-count", "data-count": String(s.held) }, m.heldCount(s.held, s.serverSchema, s.appSchema)));
}

// "Save unsynced changes to a file": the worker writes the bytes, the page
// hands them to the browser as a download.
async function exportFile(note: HTMLElement): Promise<void> {
  try {
    const x = await db.export(lang);
    const url = URL.createObjectURL(new Blob([x.bytes as BlobPart], { type: x.mime }));
    const a = h("a", { href: url, download: x.name, hidden: true });
    body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    note.textContent = m.exported(x.records, x.name) + (x.held > 0 ? " " + m.exportedHeld(x.held) : "") +
      (x.more > 0 ? " " + m.exportedMore(x.more) : "");
  } catch (e) {
    note.textContent = m.exportFailed + errText(e);
  }
}

// "Open a file from staff": a carried pull file (staff wrote it in the
// console for this device) applied as if pulled. What it brought stays
// shown across the status line's redraws (its own state event redraws it).
let carryNote: { text: string; bad: boolean } | undefined;

function carryInRow(): HTMLElement {
  const input = h("input", { type: "file", accept: ".vscarry,application/octet-stream", class: "file-input", id: "carry-in", "data-test": "carry-in" }) as HTMLInputElement;
  input.addEventListener("change", () => {
    const f = input.files?.[0];
    if (f) void carryIn(f);
  });
  const note = h("p", { class: carryNote?.bad ? "small bad" : "small", "data-test": "carry-in-status", role: carryNote?.bad ? "alert" : null }, carryNote?.text ?? "");
  return h("div", { class: "export-row" }, h("label", { class: "btn", for: "carry-in" }, m.carryIn), input, note);
}

async function carryIn(f: File): Promise<void> {
  try {
    const got = await db.carryIn(await f.arrayBuffer(), lang);
    carryNote = { text: got.pages === 0 && got.acks === 0 ? m.carriedNothing : m.carried(got.records, got.acks), bad: false };
  } catch (e) {
    carryNote = { text: m.carryFailed + errText(e), bad: true };
  }
  if (state) drawStatus();
  // The screen shows the records the file brought, and hers as synced.
  void route();
}

function setState(s: SyncState): void {
  state = s;
  // The forms offer the villages the last sync said she serves: a
  // village staff added shows without a new enrollment. The form on
  // screen keeps its choices until it is drawn again.
  if (identity && s.villages.length > 0) identity.villages = s.villages;
  drawStatus();
  tryUpdate();
}

const formPages = new Set(["log-session", "report-cleanup", "lend", "return", "edit", "enroll"]);
let updateReady = false;
// Deferred: applyUpdate reloads the page, which must not happen inside
// the state event that a save's answer is still being drawn after.
function tryUpdate(): void {
  if (!updateReady) return;
  setTimeout(() => {
    // data-update says a new build waits for her to finish (the tests
    // wait on it before they check nothing was reloaded under her).
    set("update", applyUpdate() ? "applying" : "waiting");
  }, 0);
}

// Each route draws into a fresh container; a route left before its data
// came back draws nothing (live() is false).
let routeSeq = 0;
async function route(): Promise<void> {
  const seq = ++routeSeq;
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query] = raw.split("?", 2) as [string, string | undefined];
  const params = new URLSearchParams(query ?? "");
  clear(main);
  const screen = h("div", { class: "screen" });
  main.append(screen);
  if (!identity) {
    page("enroll");
    await enroll(screen, path === "/enroll" ? (params.get("code") ?? "") : "", () => seq === routeSeq);
    return;
  }
  if (path === "/enroll") {
    // Already enrolled: a second scan of a code does not re-enroll her.
    location.replace("#/");
    return;
  }
  const ctx: Ctx = {
    db,
    lang,
    m,
    identity,
    state: () => state,
    sync: sched,
    params,
    root: screen,
    live: () => seq === routeSeq,
    go: (hash) => {
      location.hash = hash;
    },
    ready: () => {
      if (seq === routeSeq) set("ready", "1");
    },
  };
  const name = path.slice(1) || "home";
  page(name);
  const back = h("a", { href: "#/", class: "back", "data-test": "home" }, "‹ ", m.back);
  if (name !== "home") screen.append(back);
  try {
    switch (name) {
      case "home":
        await home(ctx);
        break;
      case "log-session":
      case "report-cleanup":
      case "lend":
      case "return":
        await newRecord(ctx, name as FormName);
        break;
      case "records":
        await records(ctx);
        break;
      case "edit":
        await editRecord(ctx);
        break;
      case "refused":
        await refused(ctx);
        break;
      default:
        location.replace("#/");
    }
  } catch (e) {
    if (!ctx.live()) return;
    screen.append(h("p", { class: "notice bad", role: "alert", "data-test": "screen-error" }, errText(e)));
    ctx.ready();
  }
}

async function home(ctx: Ctx): Promise<void> {
  const forms: FormName[] = ["log-session", "report-cleanup", "lend", "return"];
  const recent = h("ul", { class: "records", "data-test": "recent" });
  ctx.root.append(
    h(
      "nav",
      { class: "big-buttons" },
      forms.map((f) => h("a", { class: `btn big form-link f-${f}`, href: `#/${f}`, "data-test": `go-${f}` }, m.forms[f])),
    ),
    h("p", { class: persisted ? "small muted" : "notice", "data-test": "persist" }, persisted ? m.persistGranted : m.persistDenied),
    h("h2", null, m.recent),
    recent,
    h(
      "nav",
      { class: "tabs" },
      listedTables.map((t) => h("a", { class: "tab", href: `#/records?table=${t}`, "data-test": `records-${t}` }, m.allRecords, " · ", m.tables[t] ?? t)),
    ),
  );
  const lists = await Promise.all(listedTables.map((t) => ctx.db.list(t, 3, lang)));
  if (!ctx.live()) return;
  const rows = lists.flat();
  if (rows.length === 0) recent.append(h("li", { class: "muted" }, m.noRecords));
  for (const r of rows) recent.append(recordItem(ctx, r));
  ctx.ready();
}

// A name for this device from the browser, so staff can tell her phones
// apart in the console.
function deviceName(): string {
  const ua = navigator.userAgent;
  const kind = /Android/i.test(ua)
    ? "Android"
    : /iPhone|iPad|iPod/i.test(ua)
      ? "iOS"
      : /HarmonyOS/i.test(ua)
        ? "HarmonyOS"
        : /Windows/i.test(ua)
          ? "Windows"
          : /Mac OS X/i.test(ua)
            ? "macOS"
            : /Linux/i.test(ua)
              ? "Linux"
              : "Web";
  return m.deviceName(kind);
}

// #/enroll?code=: enrolls at once; a refused code shows the server's
// reason and a field to type another.
async function enroll(root: HTMLElement, code: string, live: () => boolean): Promise<void> {
  const msg = h("p", { class: "notice", "data-test": "enroll-message", role: "status" });
  const input = h("input", { id: "f-code", name: "code", type: "text", autocomplete: "off", autocapitalize: "characters", "data-test": "enroll-code", value: code });
  const form = h(
    "form",
    { "data-form": "enroll", novalidate: true, class: "form" },
    h("div", { class: "field" }, h("label", { for: "f-code" }, m.enrollCode), input, h("p", { class: "field-error", "data-error-for": "code" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "btn primary big", "data-test": "enroll-submit" }, m.enrollButton)),
  );
  root.append(h("h1", null, m.enrollTitle), h("p", null, m.enrollIntro), msg, form);
  const attempt = async (c: string) => {
    msg.textContent = m.enrolling;
    body.removeAttribute("data-ready");
    try {
      identity = await db.enroll(c, deviceName(), lang);
      drawWho();
      setState(await db.state(lang));
      sched.start();
      location.replace("#/");
      await route();
    } catch (e) {
      if (!live()) return;
      msg.className = "notice bad";
      msg.setAttribute("role", "alert");
      msg.textContent = m.enrollRefused + errText(e);
      const field = e instanceof DbError ? e.problems.find((p) => p.field === "code") : undefined;
      form.querySelector<HTMLElement>("[data-error-for=code]")!.textContent = field?.message ?? "";
      set("ready", "1");
    }
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const c = input.value.trim();
    if (c) void attempt(c);
  });
  if (code) await attempt(code);
  else set("ready", "1");
}

function drawWho(): void {
  who.textContent = identity ? m.signedInAs(identity.user, identity.deviceName) : "";
}

async function runSync(): Promise<boolean> {
  try {
    const s = await db.sync(lang);
    if (s) setState(s);
    const now = s ?? state;
    return !!now && !now.offline && now.lastError === "";
  } catch (e) {
    if (state) setState({ ...state, syncing: false, lastError: errText(e) });
    return false;
  }
}

async function start(): Promise<void> {
  clear(body);
  body.append(h("header", { class: "top" }, h("a", { href: "#/", class: "brand" }, m.title), langButton), who, statusBox, main);
  page("loading");
  void askPersist().then((granted) => {
    persisted = granted;
    set("persist", granted ? "granted" : "denied");
    const p = document.querySelector("[data-test=persist]");
    if (p) p.textContent = granted ? m.persistGranted : m.persistDenied;
  });
  const own = await takeOwnership();
  if (own.state !== "owner") {
    set("lock", own.state);
    clear(body);
    page(own.state === "other-tab" ? "other-tab" : "error");
    body.append(h("main", { class: "screen" }, h("p", { class: "notice bad big-text", role: "alert", "data-test": "lock-message" }, own.state === "other-tab" ? m.otherTab : m.noLocks)));
    set("ready", "1");
    // When the other tab closes, this one takes over.
    if (own.state === "other-tab") void whenFree().then(() => location.reload());
    return;
  }
  set("lock", "held");
  main.append(h("p", { class: "muted", role: "status" }, m.opening));
  let opened: Awaited<ReturnType<typeof Db.open>>;
  try {
    opened = await Db.open(new URL(DB_WORKER_FILE, location.href).href, (n) => {
      set("open-retries", String(n));
      clear(main);
      main.append(h("p", { class: "muted", role: "status" }, m.retrying(n)));
    });
  } catch (e) {
    own.release();
    clear(main);
    page("error");
    main.append(h("p", { class: "notice bad", role: "alert", "data-test": "open-error" }, m.failed(errText(e))));
    set("ready", "1");
    return;
  }
  db = opened.db;
  identity = opened.opened.identity;
  // The page gives the database and then the lock back when it goes away
  // (or into the back-forward cache, after which it reloads: its worker
  // and lock are gone).
  addEventListener("pagehide", () => {
    sched.stop();
    void db.close().finally(own.release);
  });
  addEventListener("pageshow", (e) => {
    if (e.persisted) location.reload();
  });
  db.onState(setState);
  sched = new Scheduler(runSync);
  addEventListener("offline", drawStatus);
  addEventListener("online", drawStatus);
  // The relative times age while the page is open.
  setInterval(drawStatus, 30_000);
  addEventListener("hashchange", () => void route().then(tryUpdate));
  // A new build takes over only when nothing is being written or synced
  // and she is not in the middle of a form; until then each state change
  // and each move between screens tries again.
  void registerServiceWorker({
    idle: () => {
      // Why a waiting build waits, for people reading the page (and tests).
      const why = db.busy() ? "busy" : state?.syncing ? "syncing" : formPages.has(body.dataset.page ?? "") ? "form" : "";
      set("update-blocked", why);
      return why === "";
    },
    onUpdateReady: () => {
      updateReady = true;
      tryUpdate();
    },
  });
  if (identity) {
    drawWho();
    try {
      setState(await db.state(lang));
    } catch {
      // The status bar stays empty until the worker's first state event.
    }
    sched.start();
  }
  await route();
}

void start();
