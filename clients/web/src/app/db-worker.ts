// The database worker: SQLite's WebAssembly build on the origin-private
// file system through the opfs-sahpool VFS. That VFS works in a dedicated
// worker without SharedArrayBuffer, so the server needs no COOP/COEP
// isolation headers; in exchange only one connection to its files exists
// at a time, which the page guarantees with a Web Lock (see db.ts).
import sqlite3InitModule from "@sqlite.org/sqlite-wasm";
import { openPragmas } from "./pragmas";
import type { Request, Response, Row, SqlValue, Statement } from "./protocol";

// The content-hashed name build.mjs gave sqlite3.wasm, beside this file.
declare const SQLITE_WASM_FILE: string;

// The worker's global scope, typed by hand: the "webworker" lib cannot be
// combined with "dom", which the page's files need.
const scope = self as unknown as {
  postMessage(m: Response): void;
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
    pool = await s.installOpfsSAHPoolVfs(opts);
    db = new pool.OpfsSAHPoolDb(file);
    // Full sync: COMMIT returns only once the sahpool VFS flushed the
    // journal and the database to its access handles.
    db.exec(openPragmas);
  }
  return { id: 0, ok: true, opened: { sqliteVersion: s.version.libVersion, file, vfs: vfsName, identity: null } };
}

function need(): DB {
  if (!db) throw new Error("the database is not open");
  return db;
}

function query(sql: string, bind: SqlValue[] | undefined): Row[] {
  return need().exec({ sql, bind: bind ?? [], rowMode: "object", returnValue: "resultRows" }) as Row[];
}

function transaction(statements: Statement[]): number {
  const d = need();
  let changes = 0;
  // oo1's transaction() runs BEGIN, the callback, then COMMIT, or
  // ROLLBACK when the callback throws: the reply below is sent only after
  // COMMIT returned, so what the page reports as saved is in the file.
  d.transaction("IMMEDIATE", (t) => {
    for (const st of statements) {
      t.exec({ sql: st.sql, bind: st.bind ?? [] });
      changes += Number(t.changes());
    }
  });
  return changes;
}

function close() {
  db?.close();
  db = undefined;
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
    default:
      throw new Error(`${req.op}: not built yet`);
  }
}

// Requests are handled one at a time, in order: a query sent after a
// write sees it.
let queue: Promise<unknown> = Promise.resolve();
scope.onmessage = (e) => {
  const req = e.data;
  queue = queue.then(async () => {
    let res: Response;
    try {
      res = await handle(req);
    } catch (err) {
      res = { id: req.id, ok: false, error: err instanceof Error ? err.message : String(err), busy: isBusy(err) };
    }
    scope.postMessage(res);
  });
};
