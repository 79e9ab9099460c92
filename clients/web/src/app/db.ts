// The page's side of the database: one Worker (db-worker.ts) holds the
// SQLite connection, this module talks to it with typed requests, and
// makes sure only one tab of the origin ever opens it.
import type {
  Carried,
  Exported,
  FieldProblem,
  FormName,
  FromWorker,
  Identity,
  Lang,
  Listed,
  Opened,
  Photo,
  Refused,
  Request,
  Response,
  Row,
  SqlValue,
  Statement,
  SyncState,
} from "./protocol";
import { lockName } from "./protocol";

export type { Carried, Exported, FieldProblem, FormName, Identity, Lang, Listed, Photo, Refused, Row, SqlValue, Statement, SyncState } from "./protocol";

// Distributive Omit: each request kind keeps its own fields.
type Body = Request extends infer R ? (R extends unknown ? Omit<R, "id"> : never) : never;

export class DbError extends Error {
  constructor(
    message: string,
    readonly busy: boolean,
    /** The fields the checks refused (nothing was saved). */
    readonly problems: FieldProblem[] = [],
    /** The server's Connect code when it refused the call. */
    readonly code = "",
  ) {
    super(message);
  }
}

/** A connection to the database in its worker. */
export class Db {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (r: Response & { ok: true }) => void; reject: (e: Error) => void }>();

  private readonly stateListeners = new Set<(s: SyncState) => void>();

  private constructor(private readonly worker: Worker) {
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if ("event" in e.data) {
        if (e.data.event === "state") for (const l of this.stateListeners) l(e.data.state);
        return;
      }
      const w = this.waiting.get(e.data.id);
      if (!w) return;
      this.waiting.delete(e.data.id);
      if (e.data.ok) w.resolve(e.data);
      else w.reject(new DbError(e.data.error, e.data.busy ?? false, e.data.problems ?? [], e.data.code ?? ""));
    };
    worker.onerror = (e) => this.failAll(`the database worker failed: ${e.message || "could not load"}`);
  }

  private failAll(msg: string) {
    for (const w of this.waiting.values()) w.reject(new DbError(msg, false));
    this.waiting.clear();
  }

  private send(body: Body, transfer: Transferable[] = []): Promise<Response & { ok: true }> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...body, id } as Request, transfer);
    });
  }

  /** Runs statements that return no rows (schema, pragmas). */
  async exec(sql: string, bind?: SqlValue[]): Promise<number> {
    return (await this.send(bind ? { op: "exec", sql, bind } : { op: "exec", sql })).changes ?? 0;
  }

  async query(sql: string, bind?: SqlValue[]): Promise<Row[]> {
    return (await this.send(bind ? { op: "query", sql, bind } : { op: "query", sql })).rows ?? [];
  }

  /** Runs the statements in one transaction; resolves once COMMIT has
   * returned (the write is in the file), rejects after a ROLLBACK. */
  async transaction(statements: Statement[]): Promise<number> {
    return (await this.send({ op: "transaction", statements })).changes ?? 0;
  }

  /** Whether a request is in flight (a save being written, a sync). */
  busy(): boolean {
    return this.waiting.size > 0;
  }

  /** Calls l with each StateEvent the worker posts unasked; returns the
   * function that stops it. */
  onState(l: (s: SyncState) => void): () => void {
    this.stateListeners.add(l);
    return () => this.stateListeners.delete(l);
  }

  // The device's ops. Each rejects with a DbError (problems set when the
  // checks refused a form) and resolves to what the worker answered.

  async enroll(code: string, deviceName: string, lang: Lang): Promise<Identity> {
    return (await this.send({ op: "enroll", code, deviceName, lang })).identity!;
  }

  async state(lang: Lang): Promise<SyncState> {
    return (await this.send({ op: "state", lang })).state!;
  }

  /** Saves a new record from a form; resolves to its id. */
  async save(form: FormName, fields: Record<string, string>, lang: Lang, recordId?: string): Promise<string> {
    const body: Body = recordId === undefined ? { op: "save", form, fields, lang } : { op: "save", form, fields, lang, recordId };
    return (await this.send(body)).recordId ?? "";
  }

  /** Changes the given fields (only those) of a record. */
  async edit(table: string, recordId: string, fields: Record<string, string>, lang: Lang): Promise<void> {
    await this.send({ op: "edit", table, recordId, fields, lang });
  }

  async delete(table: string, recordId: string, lang: Lang): Promise<void> {
    await this.send({ op: "delete", table, recordId, lang });
  }

  async list(table: string, limit: number, lang: Lang): Promise<Listed[]> {
    return (await this.send({ op: "list", table, limit, lang })).listed ?? [];
  }

  /** The record, or undefined when the device does not hold it. */
  async get(table: string, recordId: string, lang: Lang): Promise<Listed | undefined> {
    return (await this.send({ op: "get", table, recordId, lang })).listed?.[0];
  }

  async findBooks(query: string, limit: number, lang: Lang): Promise<Listed[]> {
    return (await this.send({ op: "findBooks", query, limit, lang })).listed ?? [];
  }

  async rejected(lang: Lang): Promise<Refused[]> {
    return (await this.send({ op: "rejected", lang })).refused ?? [];
  }

  async dismiss(rejectedId: number, lang: Lang): Promise<void> {
    await this.send({ op: "dismiss", rejectedId, lang });
  }

  /** Runs one sync cycle; resolves to the state after it (a failed sync
   * that the state records resolves too: see SyncState.lastError). */
  async sync(lang: Lang): Promise<SyncState | undefined> {
    return (await this.send({ op: "sync", lang })).state;
  }

  /** Hands a picked file's bytes to the worker (transferred: the page's
   * copy is gone) to be downsized and stored; resolves to its digest. */
  async attach(bytes: ArrayBuffer, lang: Lang): Promise<string> {
    return (await this.send({ op: "attach", bytes, lang }, [bytes])).digest!;
  }

  /** A photo's thumbnail or original, from the device or the server. */
  async photo(digest: string, thumbnail: boolean, lang: Lang): Promise<Photo> {
    return (await this.send({ op: "photo", digest, thumbnail, lang })).photo!;
  }

  async export(lang: Lang): Promise<Exported> {
    return (await this.send({ op: "export", lang })).exported!;
  }

  /** Opens a file from staff (a carried pull file). */
  async carryIn(bytes: ArrayBuffer, lang: Lang): Promise<Carried> {
    return (await this.send({ op: "carryIn", bytes, lang })).carried!;
  }

  /** Closes the database, then ends the worker: the OPFS access handles
   * are released before the promise resolves. On pagehide nobody waits
   * for it: the page's end terminates the worker anyway, and the next
   * page retries while the handles are still held (see open). */
  async close(): Promise<void> {
    try {
      await this.send({ op: "close" });
    } finally {
      this.worker.terminate();
      this.failAll("the database is closed");
    }
  }

  /** Ends the worker at once; its access handles go with it. */
  terminate(): void {
    this.worker.terminate();
    this.failAll("the database is closed");
  }

  /**
   * Starts the worker and opens the database, retrying with backoff while
   * the access handles are still held (the previous page of a fast reload
   * whose worker the browser has not torn down yet). onRetry reports each
   * wait, for the status line.
   */
  static async open(workerURL: string, onRetry: (attempt: number, msg: string) => void): Promise<{ db: Db; opened: Opened }> {
    const db = new Db(new Worker(workerURL, { type: "module", name: "villagesync-db" }));
    let delay = 50;
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await db.send({ op: "open" });
        return { db, opened: r.opened! };
      } catch (e) {
        if (!(e instanceof DbError) || !e.busy || attempt >= maxOpenAttempts) {
          // Terminated, not closed: a worker that failed to load would
          // never answer a close.
          db.terminate();
          throw e;
        }
        onRetry(attempt, e.message);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}

// 50 ms doubling to 2 s: about 20 s in all, far longer than a browser
// takes to end the worker of a page that is gone.
const maxOpenAttempts = 14;

export type Ownership =
  | { state: "owner"; release: () => void }
  | { state: "other-tab" }
  | { state: "unsupported" };

/**
 * Takes the origin's database lock if no other tab holds it, and keeps it
 * until release() (called on pagehide) or the page's end. Never waits: a
 * second tab learns at once that it is not the owner.
 */
export function takeOwnership(): Promise<Ownership> {
  if (!navigator.locks) return Promise.resolve({ state: "unsupported" });
  return new Promise((resolve, reject) => {
    navigator.locks
      .request(lockName, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve({ state: "other-tab" });
          return undefined;
        }
        // The lock is held while this promise is pending.
        return new Promise<void>((release) => resolve({ state: "owner", release: () => release() }));
      })
      .catch(reject);
  });
}

/** Resolves once no other tab holds the lock (that tab closed), without
 * taking it: the second tab then reloads and becomes the owner. */
export function whenFree(): Promise<void> {
  return new Promise((resolve) => {
    void navigator.locks?.request(lockName, { mode: "shared" }, () => resolve());
  });
}

/** Asks the browser not to evict the origin's storage under pressure;
 * false when it declined (or cannot be asked). */
export async function askPersist(): Promise<boolean> {
  try {
    if (await navigator.storage?.persisted?.()) return true;
    return (await navigator.storage?.persist?.()) ?? false;
  } catch {
    return false;
  }
}
