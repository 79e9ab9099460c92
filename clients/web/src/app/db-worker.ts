// The database worker: SQLite's WebAssembly build on the origin-private
// file system through the opfs-sahpool VFS. That VFS works in a dedicated
// worker without SharedArrayBuffer, so the server needs no COOP/COEP
// isolation headers; in exchange only one connection to its files exists
// at a time, which the page guarantees with a Web Lock (see db.ts).
import sqlite3InitModule from "@sqlite.org/sqlite-wasm";
import { Device, Refusal, sameOrigin } from "./device";
import { idleCheckpoint, openPragmas } from "./pragmas";
import type { FromWorker, Request, Response, Row, SqlValue, Statement } from "./protocol";
import type { Db as ReplicaDb } from "../replica/db";

// The content-hashed name build.mjs gave sqlite3.wasm, beside this file.
declare const SQLITE_WASM_FILE: string;

// The worker's global scope, typed by hand: the "webworker" lib cannot be
// combined with "dom", which the page's files need.
const scope = self as unknown as {
  postMessage(m: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<Request>) => void) | null;
  location: { href: string };
};

const vfsName = "villagesync-sahpool";
const file = "/villagesync.sqlite3";

type Sqlite = Awaited<ReturnType<typeof sqlite3InitModule>>;
type Pool = Awaited<ReturnType<Sqlite["installOpfsSAHPoolVfs"]>>;
type DB = InstanceType<Pool["OpfsSAHPoolDb"]>;

let sqlite: Promise<Sqlite> | undefined;
let pool: Pool | undefined;
let db: DB | undefined;
let device: Device | undefined;

function load(): Promise<Sqlite> {
  // The published types take no arguments; the Emscripten module does.
  const init = sqlite3InitModule as unknown as (m: object) => Promise<Sqlite>;
  sqlite ??= init({
    // The wasm is served under a content-hashed name (cached for a year);
    // without this the loader would ask for "sqlite3.wasm".
    locateFile: () => new URL(SQLITE_WASM_FILE, scope.location.href).href,
    print: () => {},
    printErr: (...args: unknown[]) => console.warn("sqlite:", ...args),
  });
  return sqlite;
}

async function open(): Promise<Response & { ok: true }> {
  const s = await load();
  if (!db) {
    const opts: Parameters<Sqlite["installOpfsSAHPoolVfs"]>[0] & { forceReinitIfPreviouslyFailed: boolean } = {
      name: vfsName,
      directory: ".villagesync",
      initialCapacity: 6,
      // Without this, a failed start (the access handles still held by the
      // previous page after a fast reload) makes the library remove the
      // pool's directory: every unsynced record gone. With it, the handles
      // it got are released and the files stay; the page retries.
      preserveOnInitFailure: true,
      // A retry in this worker must try again, not return the cached
      // failure (an option the published types lack).
      forceReinitIfPreviouslyFailed: true,
    };
    // A close paused the pool (its handles given back); opening again in
    // the same worker takes them again.
    if (pool?.isPaused()) await pool.unpauseVfs();
    else pool = await s.installOpfsSAHPoolVfs(opts);
    db = new pool.OpfsSAHPoolDb(file);
    // The settings and why are in pragmas.ts: a COMMIT returns only once
    // the WAL is flushed to its access handle.
    db.exec(openPragmas);
  }
  device ??= new Device(local, sameOrigin, stateChanged);
  const identity = await device.open();
  return { id: 0, ok: true, opened: { sqliteVersion: s.version.libVersion, file, vfs: vfsName, identity } };
}

function need(): DB {
  if (!db) throw new Error("the database is not open");
  return db;
}

// Prepared statements, kept by their text: a pulled page commits a
// thousand upserts of a few shapes, and compiling each again cost more
// than running it (the first pull of 3,000 records took three times its
// budget). Statements holding more than one command are not cached: a
// prepared statement runs only the first.
type Stmt = ReturnType<DB["prepare"]>;
const stmts = new Map<string, Stmt>();
const maxStmts = 64;

function prepared(sql: string): Stmt | undefined {
  if (sql.includes(";")) return undefined;
  let st = stmts.get(sql);
  if (!st) {
    if (stmts.size >= maxStmts) finalizeAll();
    st = need().prepare(sql);
    stmts.set(sql, st);
  }
  return st;
}

function finalizeAll() {
  for (const st of stmts.values()) st.finalize();
  stmts.clear();
}

/** Runs one statement; its rows when rows is set. */
function run(sql: string, bind: SqlValue[] | undefined, rows?: Row[]): void {
  const st = prepared(sql);
  if (!st) {
    if (rows) rows.push(...(need().exec({ sql, bind: bind ?? [], rowMode: "object", returnValue: "resultRows" }) as Row[]));
    else need().exec({ sql, bind: bind ?? [] });
    return;
  }
  try {
    if (bind && bind.length) st.bind(bind);
    while (st.step()) if (rows) rows.push(st.get({}) as Row);
  } finally {
    st.reset(true);
  }
}

function query(sql: string, bind: SqlValue[] | undefined): Row[] {
  const rows: Row[] = [];
  run(sql, bind, rows);
  return rows;
}

function transaction(statements: Statement[]): number {
  const d = need();
  let changes = 0;
  // oo1's transaction() runs BEGIN, the callback, then COMMIT, or
  // ROLLBACK when the callback throws: the reply below is sent only after
  // COMMIT returned, so what the page reports as saved is in the file.
  d.transaction("IMMEDIATE", (t) => {
    for (const st of statements) {
      run(st.sql, st.bind);
      changes += Number(t.changes());
    }
  });
  return changes;
}

// The replica's storage: this worker's connection, called directly (the
// page's Db client sends the same calls as messages).
const local: ReplicaDb = {
  async exec(sql, bind) {
    run(sql, bind);
    return Number(need().changes());
  },
  async query(sql, bind) {
    return query(sql, bind);
  },
  async transaction(statements) {
    return transaction(statements);
  },
};

// The page learns of every change to what the status line shows; reads
// of the state are cheap next to a save, and coalesced to one per turn.
let stateQueued = false;
function stateChanged() {
  if (stateQueued || !device) return;
  stateQueued = true;
  // A task, not a microtask: the save's own answer is posted first, and
  // the status line's counts follow it (they cost a few queries).
  setTimeout(() => {
    stateQueued = false;
    device?.state().then(
      (state) => scope.postMessage({ event: "state", state }),
      () => undefined,
    );
  }, 0);
}

function needDevice(): Device {
  if (!device) throw new Error("the database is not open");
  return device;
}

function close() {
  finalizeAll();
  db?.close();
  db = undefined;
  device = undefined;
  // Hand the access handles back now rather than when the worker is
  // collected: the next page (a reload) can open at once.
  pool?.pauseVfs();
}

function isBusy(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  const msg = String((e as { message?: unknown } | null)?.message ?? e);
  return name === "NoModificationAllowedError" || /Access Handle/i.test(msg);
}

async function handle(req: Request): Promise<Response> {
  switch (req.op) {
    case "open":
      return { ...(await open()), id: req.id };
    case "exec":
      need().exec({ sql: req.sql, bind: req.bind ?? [] });
      return { id: req.id, ok: true, changes: Number(need().changes()) };
    case "query":
      return { id: req.id, ok: true, rows: query(req.sql, req.bind) };
    case "transaction":
      return { id: req.id, ok: true, changes: transaction(req.statements) };
    case "close":
      close();
      return { id: req.id, ok: true };
  }
  const d = needDevice();
  d.setLang(req.lang);
  switch (req.op) {
    case "enroll":
      return { id: req.id, ok: true, identity: await d.enroll(req.code, req.deviceName) };
    case "state":
      return { id: req.id, ok: true, state: await d.state() };
    case "save":
      return { id: req.id, ok: true, recordId: await d.save(req.form, req.fields, req.recordId) };
    case "edit":
      return { id: req.id, ok: true, recordId: await d.edit(req.table, req.recordId, req.fields) };
    case "delete":
      await d.delete(req.table, req.recordId);
      return { id: req.id, ok: true };
    case "list":
      return { id: req.id, ok: true, listed: await d.list(req.table, req.limit) };
    case "get": {
      const r = await d.get(req.table, req.recordId);
      return { id: req.id, ok: true, listed: r ? [r] : [] };
    }
    case "findBooks":
      return { id: req.id, ok: true, listed: await d.findBooks(req.query, req.limit) };
    case "rejected":
      return { id: req.id, ok: true, refused: await d.rejected() };
    case "dismiss":
      await d.dismiss(req.rejectedId);
      return { id: req.id, ok: true };
    case "sync":
      return { id: req.id, ok: true, state: await d.sync() };
    case "export":
      return { id: req.id, ok: true, exported: await d.export() };
    case "carryIn":
      return { id: req.id, ok: true, carried: await d.carryIn(new Uint8Array(req.bytes)) };
    case "attach":
      return { id: req.id, ok: true, digest: await d.attach(req.bytes) };
    case "photo":
      return { id: req.id, ok: true, photo: await d.photo(req.digest, req.thumbnail) };
    case "uploads":
      await d.uploads();
      return { id: req.id, ok: true };
  }
}

function failure(id: number, err: unknown): Response {
  if (err instanceof Refusal) {
    return { id, ok: false, error: err.message, problems: err.problems, ...(err.code ? { code: err.code } : {}) };
  }
  return { id, ok: false, error: err instanceof Error ? err.message : String(err), busy: isBusy(err) };
}

// Requests are handled one at a time, in order: a query sent after a
// write sees it.
let queue: Promise<unknown> = Promise.resolve();
// Except a sync: it waits on the network, and a save made meanwhile must
// not (the replica orders its own writes against the sync's commits).
scope.onmessage = (e) => {
  const req = e.data;
  const run = async () => {
    let res: Response;
    try {
      res = await handle(req);
    } catch (err) {
      res = failure(req.id, err);
    }
    // A photo's bytes are handed over, not copied. They are the
    // database's copy read for this answer, so nothing else holds them.
    // (Only a buffer of its own: never the WebAssembly heap, nor a buffer
    // other bytes share.)
    const bytes = res.ok ? res.photo?.bytes : undefined;
    const own = bytes && bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer && bytes.buffer.byteLength === bytes.length;
    scope.postMessage(res, own ? [bytes.buffer as ArrayBuffer] : []);
  };
  // A photo fetched from the server waits on the network as a sync does.
  if (req.op === "sync" || req.op === "photo" || req.op === "uploads") void run();
  else queue = queue.then(run);
  checkpointSoon();
};

// The WAL goes back into the database once nothing has been asked for a
// while (see pragmas.ts): never in a save's time.
const idleCheckpointMs = 1500;
let checkpointTimer: ReturnType<typeof setTimeout> | undefined;
function checkpointSoon() {
  clearTimeout(checkpointTimer);
  checkpointTimer = setTimeout(() => {
    queue = queue.then(() => {
      try {
        db?.exec(idleCheckpoint);
      } catch (e) {
        // A checkpoint that fails leaves the WAL as it is: nothing is
        // lost, the next one copies it.
        console.warn("checkpoint:", e);
      }
    });
  }, idleCheckpointMs);
}
