// The volunteer app's shell, for now its storage self-test: it takes the
// database lock, opens SQLite in its worker, and saves and lists rows of a
// test table. The body's data-* attributes say the state for the browser
// tests (data-lock, data-db, data-persist); the text says it for people.
import { clear, h } from "../dom";
import { Db, askPersist, takeOwnership, type Row } from "./db";
import { messages, pickLang, rememberLang, type Lang } from "./i18n";

// The content-hashed name build.mjs gave the worker bundle.
declare const DB_WORKER_FILE: string;

let lang: Lang = pickLang();
let m = messages(lang);
document.documentElement.lang = lang;

const body = document.body;
const dbLine = h("p", { id: "db-status", role: "status" }, m.opening);
const lockLine = h("p", { id: "lock-status" });
const persistLine = h("p", { id: "persist-status" });
const saveButton = h("button", { id: "save", type: "button", disabled: true }, m.save);
const saveLine = h("p", { id: "save-status", "aria-live": "polite" });
const rows = h("ul", { id: "rows" });
const langButton = h("button", { id: "lang", type: "button" }, m.switchLang);
clear(body);
body.append(
  h("header", null, h("h1", null, m.title), langButton),
  h("section", { id: "status" }, lockLine, dbLine, persistLine),
  h("section", null, saveButton, saveLine, rows),
);
langButton.addEventListener("click", () => {
  rememberLang(lang === "en" ? "zh" : "en");
  location.reload();
});

const set = (k: "lock" | "db" | "persist", v: string) => body.setAttribute("data-" + k, v);

const schema = `CREATE TABLE IF NOT EXISTS selftest (
  id INTEGER PRIMARY KEY,
  note TEXT NOT NULL,
  saved_at TEXT NOT NULL
)`;

function drawRows(list: Row[]) {
  clear(rows);
  if (list.length === 0) rows.append(h("li", { class: "empty" }, m.empty));
  for (const r of list) rows.append(h("li", { "data-id": String(r.id) }, `#${r.id} ${r.note} · ${r.saved_at}`));
  rows.setAttribute("data-count", String(list.length));
}

async function saveRow(db: Db, note: string): Promise<void> {
  await db.transaction([
    { sql: "INSERT INTO selftest (note, saved_at) VALUES (?, ?)", bind: [note, new Date().toISOString()] },
  ]);
}

async function start() {
  set("db", "waiting");
  const persisted = askPersist().then((granted) => {
    set("persist", granted ? "granted" : "denied");
    persistLine.textContent = granted ? m.persistGranted : m.persistDenied;
    return granted;
  });
  const own = await takeOwnership();
  if (own.state !== "owner") {
    set("lock", own.state);
    set("db", "not-opened");
    lockLine.textContent = own.state === "other-tab" ? m.otherTab : m.noLocks;
    lockLine.setAttribute("role", "alert");
    dbLine.textContent = "";
    return;
  }
  set("lock", "held");
  lockLine.textContent = m.lockHeld;
  set("db", "opening");
  let db: Db | undefined;
  try {
    const r = await Db.open(new URL(DB_WORKER_FILE, location.href).href, (n) => {
      set("db", "retrying");
      body.setAttribute("data-open-retries", String(n));
      dbLine.textContent = m.retrying(n);
    });
    db = r.db;
    await db.exec(schema);
    drawRows(await db.query("SELECT id, note, saved_at FROM selftest ORDER BY id"));
    dbLine.textContent = m.open(r.opened.sqliteVersion);
    body.setAttribute("data-sqlite", r.opened.sqliteVersion);
    set("db", "open");
  } catch (e) {
    set("db", "error");
    dbLine.textContent = m.failed(e instanceof Error ? e.message : String(e));
    // The worker may hold the file's access handles even though a later
    // step failed: they go before the lock, or the next tab would find the
    // lock free and the files still taken.
    const opened = db;
    void (opened ? opened.close().catch(() => undefined) : Promise.resolve()).finally(own.release);
    return;
  }
  // The page gives the database and then the lock back when it goes
  // away (or into the back-forward cache, after which it reloads: its
  // worker and lock are gone).
  const opened = db;
  addEventListener("pagehide", () => {
    void opened.close().finally(own.release);
    set("db", "closed");
  });
  addEventListener("pageshow", (e) => {
    if (e.persisted) location.reload();
  });

  let n = 0;
  saveButton.disabled = false;
  saveButton.addEventListener("click", async () => {
    saveButton.disabled = true;
    try {
      await saveRow(db, `row ${++n} of this page`);
      const list = await db.query("SELECT id, note, saved_at FROM selftest ORDER BY id");
      drawRows(list);
      saveLine.textContent = m.saved(list.length);
    } catch (e) {
      saveLine.textContent = m.saveFailed(e instanceof Error ? e.message : String(e));
    } finally {
      saveButton.disabled = false;
    }
  });

  // For the benchmark (systest/app): n saves, one transaction each, timed
  // here so the DevTools round trip is not measured. Resolves to each
  // save's milliseconds.
  (globalThis as Record<string, unknown>).villagesyncSelfTest = {
    persisted,
    async timeSaves(count: number): Promise<number[]> {
      const ms: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        await saveRow(db, `benchmark ${i}`);
        ms.push(performance.now() - t0);
      }
      return ms;
    },
  };
}

void start();
