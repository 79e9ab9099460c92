// The device: what the volunteer app's worker does for the page. It owns
// the replica (../replica) in the worker's SQLite file and the Connect
// clients that enroll it and sync it; it fills in and checks the forms by
// schema's rules (../rules) before anything is saved, so a volunteer sees
// the server's own words at once and the server, which checks again,
// never has to refuse what the device could have told her. Written
// against the replica's Db interface: it runs in the worker on OPFS, and
// could run under Node over an in-memory database.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor, type Transport as ConnectTransport } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { v7 as uuidv7 } from "uuid";
import { AccessService } from "../gen/villagesync/v1/access_pb";
import { SyncService, ValueSchema } from "../gen/villagesync/v1/sync_pb";
import type { SyncRequest, SyncResponse, Value as PbValue } from "../gen/villagesync/v1/sync_pb";
import { boxKeySize, CarryRefusal, damaged, hex, newBoxKeys, openPull, readCarried, sealPush, unhex } from "../replica/carry";
import { CarriedKind, CarriedPushSchema } from "../gen/villagesync/v1/carry_pb";
import { CarryGap, Replica, deleted, plainValue, readMeta, readRows, seedStatements, type RecordState } from "../replica/replica";
import type { Db, Statement } from "../replica/db";
import { bookkeepingDDL, deviceDDL, sqlType, tableDDL } from "../replica/ddl";
import { checkParsed, checkRecord, fieldName, parseField, say, type Village } from "../rules/check";
import { fillDefaults, formNamed } from "../rules/defaults";
import { goFloat } from "../rules/gofmt";
import { separators, tables, versions } from "../rules/schema.gen";
import type { Column, Table, Value } from "../rules/schema.gen";
import { attachmentsAdded, attachmentsDDL, attachmentsIndexes, Photos, PhotoRefusal, removingStatements, restoredStatements } from "./photos";
import type { Carried, Exported, FieldProblem, FormName, Identity, Lang, Listed, Photo, Refused, SyncState } from "./protocol";

/** A refusal of the device's own checks or of the server: the message in
 * the page's language, the fields at fault, the Connect code if the
 * server said it. */
export class Refusal extends Error {
  constructor(
    message: string,
    readonly problems: FieldProblem[] = [],
    readonly code = "",
  ) {
    super(message);
  }
}

// How the device waits out a server that says it is called too fast, and
// resends after a link failure (clients/go/replica's transport): each
// wait at most a minute, two minutes in all.
const maxRateWaitMs = 60_000;
const maxRateWaitTotalMs = 120_000;
const maxResends = 2;
// A call that has not answered by then is given up, as a link failure: a
// half-open connection or a captive portal would otherwise hold the sync
// (and the app's update, which waits for it) until the page is reloaded.
// A pulled page of a thousand records is ~50 KB: minutes of a bad link.
const syncTimeoutMs = 120_000;
const enrollTimeoutMs = 30_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const programTables: Readonly<Record<string, Table>> = tables;

function tableOf(name: string): Table {
  const t = Object.prototype.hasOwnProperty.call(programTables, name) ? programTables[name] : undefined;
  if (!t) throw new Refusal(`unknown table ${JSON.stringify(name)}`);
  return t;
}

/** A column's value as the forms show it (schema's Column.Format). */
function text(c: Column, v: unknown): string {
  if (v === null || v === undefined) return "";
  if (c.type === "real") return goFloat(Number(v));
  return String(v);
}

function pbValue(c: Column, v: Value): PbValue {
  if (v === null) return create(ValueSchema, {});
  if (c.type === "integer") return create(ValueSchema, { kind: { case: "integer", value: BigInt(v) } });
  if (c.type === "real") return create(ValueSchema, { kind: { case: "real", value: Number(v) } });
  return create(ValueSchema, { kind: { case: "text", value: String(v) } });
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The device's connection to its server: the Connect transport with its
 * token and language, from the worker's own origin. */
export interface Net {
  transport(token: string, lang: () => Lang): ConnectTransport;
}

export const sameOrigin: Net = {
  transport(token, lang) {
    const auth: Interceptor = (next) => (req) => {
      req.header.set("Accept-Language", lang());
      if (token) req.header.set("Authorization", `Bearer ${token}`);
      return next(req);
    };
    return createConnectTransport({ baseUrl: self.location.origin, useBinaryFormat: true, interceptors: [auth] });
  },
};

/** A Connect code as the server's results name it: "invalid_argument". */
function codeName(c: Code): string {
  return (Code[c] ?? "").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** A call that failed on the way (no signal, the connection dropped,
 * the server down) rather than being answered: worth sending again. */
function linkFailure(err: ConnectError): boolean {
  return err.code === Code.Unavailable || (err.code === Code.Unknown && err.cause instanceof TypeError);
}

/** Whether a failed call never reached the server (or never came back)
 * rather than being answered with a refusal: the status line says
 * "offline", not the server's words. */
function unreached(e: unknown): boolean {
  const err = ConnectError.from(e);
  return linkFailure(err) || err.code === Code.DeadlineExceeded || err.code === Code.Canceled;
}

export class Device {
  private replica: Replica | undefined;
  private identity: Identity | null = null;
  private lang: Lang = "zh";
  private syncing = false;
  private offline = false;
  /** The last error of a call to the server: the replica wraps it in
   * words, and the status line needs to know whether it was reached. */
  private lastCallError: unknown;
  /** The attachment lane and the device's photos (photos.ts). */
  private readonly photos: Photos;
  private token = "";
  /** The photos' prune and lane run the last sync started. */
  private lane: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly net: Net,
    /** Called whenever what the status line shows may have changed. */
    private readonly changed: () => void,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.photos = new Photos(db, () => (this.replica ? this.net.transport(this.token, () => this.lang) : undefined), () => this.lang, changed, now);
  }

  setLang(l: Lang): void {
    this.lang = l;
  }

  /** Reads the identity of an enrolled device; null when it is not. */
  async open(): Promise<Identity | null> {
    const found = await this.db.query(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'meta'`);
    if (found.length === 0) return null;
    const meta = await readMeta(this.db);
    if (!meta.get("replica") || !meta.get("token")) return null;
    await this.migrate();
    // A device enrolled before carried files makes its key pair now; the
    // next sync sends the public half (replica.ts request()).
    if (!meta.get("box_secret_key")) {
      const k = newBoxKeys();
      await this.db.transaction([
        { sql: `INSERT OR REPLACE INTO meta (key, value) VALUES ('box_secret_key', ?)`, bind: [hex(k.secretKey)] },
        { sql: `INSERT OR REPLACE INTO meta (key, value) VALUES ('box_public_key', ?)`, bind: [hex(k.publicKey)] },
      ]);
    }
    this.token = meta.get("token") ?? "";
    this.identity = {
      replica: Number(meta.get("replica")),
      user: meta.get("user") ?? "",
      role: meta.get("role") ?? "",
      deviceName: meta.get("device_name") ?? meta.get("name") ?? "",
      serverId: meta.get("server_id") ?? "0",
      villages: JSON.parse(meta.get("villages") ?? "[]") as string[],
      allVillages: meta.get("all_villages") === "1",
    };
    this.replica = await Replica.open(this.db, {
      transport: this.transport(meta.get("token") ?? ""),
      restored: restoredStatements,
      removing: removingStatements,
    });
    return this.identity;
  }

  /**
   * Brings a file made by an earlier version of the app to this one's
   * tables before anything reads or writes them: a table this version
   * adds is created, a column it adds is added (NULL in the rows there
   * are: a record that never had the field). The schema only ever adds
   * (schema/ddl.go's rule for the server and the Go device alike), so
   * nothing is dropped or rewritten; an app update never costs a saved row.
   */
  private async migrate(): Promise<void> {
    // Table by table as schema/ddl.go migrates: the table, then the
    // columns it lacks, then its indexes (which may be on those columns).
    const stmts: Statement[] = bookkeepingDDL.map((sql) => ({ sql }));
    for (const t of Object.values(programTables)) {
      const [create, ...indexes] = tableDDL(t);
      const have = new Set((await this.db.query(`SELECT name FROM pragma_table_info(?)`, [t.name])).map((r) => String(r["name"])));
      stmts.push({ sql: create! });
      for (const c of t.columns) {
        if (have.size > 0 && !have.has(c.name)) stmts.push({ sql: `ALTER TABLE ${t.name} ADD COLUMN ${c.name} ${sqlType(c)}` });
      }
      stmts.push(...indexes.map((sql) => ({ sql })));
    }
    // Last, over the tables as they now are; a file made before the
    // device seeded its villages gets them (the Go device's migration
    // does the same).
    stmts.push(...seedStatements());
    // The device's photos (photos.ts): not a synced table, its own file
    // rows; a file of the first app with photos gets the columns added since.
    const had = new Set((await this.db.query(`SELECT name FROM pragma_table_info('_attachments')`)).map((r) => String(r["name"])));
    stmts.push(...attachmentsDDL.map((sql) => ({ sql })));
    for (const c of attachmentsAdded) {
      if (had.size > 0 && !had.has(c.name)) stmts.push({ sql: `ALTER TABLE _attachments ADD COLUMN ${c.name} ${c.decl}` });
    }
    stmts.push(...attachmentsIndexes.map((sql) => ({ sql })));
    await this.db.transaction(stmts);
  }

  private transport(token: string): { sync(req: SyncRequest): Promise<SyncResponse> } {
    const client = createClient(SyncService, this.net.transport(token, () => this.lang));
    return {
      // The request is idempotent: a retry at worst replays a push the
      // server has. As the device checklist (sync/DESIGN.md): resend
      // after a link failure, twice; refused for calling too fast
      // (nothing happened), wait as told, at most a minute each and two
      // minutes in all, and resend.
      sync: async (req) => {
        let waited = 0;
        let resends = 0;
        for (;;) {
          try {
            return await client.sync(req, { timeoutMs: syncTimeoutMs });
          } catch (e) {
            const err = ConnectError.from(e);
            const asked = Number(err.metadata.get("Retry-After-Ms") ?? NaN);
            const ms = Math.min(asked, maxRateWaitMs);
            if (err.code === Code.ResourceExhausted && asked > 0 && waited + ms <= maxRateWaitTotalMs) {
              waited += ms;
              await sleep(ms);
              continue;
            }
            if (linkFailure(err) && resends < maxResends) {
              resends++;
              continue;
            }
            this.lastCallError = err;
            throw err;
          }
        }
      },
    };
  }

  /** Exchanges a one-time code for this device's token and makes its
   * database. The database is made only once the server has answered:
   * a refused code leaves nothing behind. */
  async enroll(code: string, deviceName: string): Promise<Identity> {
    if (this.identity) throw new Refusal(this.lang === "zh" ? "本机已登记。" : "This device is already enrolled.");
    const access = createClient(AccessService, this.net.transport("", () => this.lang));
    // The key pair for carried files, made here: the private half stays in
    // this device's file (meta), the public half goes to the server.
    const keys = newBoxKeys();
    let reg;
    try {
      reg = await access.enroll({ code: code.trim(), deviceName, boxPublicKey: keys.publicKey }, { timeoutMs: enrollTimeoutMs });
    } catch (e) {
      const err = ConnectError.from(e);
      throw new Refusal(err.rawMessage, [], codeName(err.code));
    }
    const who = await createClient(AccessService, this.net.transport(reg.token, () => this.lang)).whoami({}, { timeoutMs: enrollTimeoutMs }).catch(() => undefined);
    const meta: [string, string][] = [
      ["replica", String(reg.replica)], ["server_id", reg.serverId.toString()], ["server_url", self.location.origin],
      ["name", deviceName], ["cursor", "0"], ["hlc", "0"], ["token", reg.token], ["scope_hash", "0"], ["scope", "*"],
      ["user", reg.user], ["role", reg.role], ["device_name", deviceName],
      ["villages", JSON.stringify(who?.villages ?? [])], ["all_villages", who?.allVillages ? "1" : "0"],
      ["box_secret_key", hex(keys.secretKey)], ["box_public_key", hex(keys.publicKey)],
      ...(reg.serverBoxPublicKey.length === boxKeySize ? [["server_box_public_key", hex(reg.serverBoxPublicKey)] as [string, string]] : []),
    ];
    await this.db.transaction([
      ...deviceDDL().map((sql) => ({ sql })),
      ...seedStatements(),
      ...meta.map(([k, v]) => ({ sql: `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, bind: [k, v] })),
    ]);
    const id = await this.open();
    if (!id) throw new Error("enroll: the device database was not written");
    this.changed();
    return id;
  }

  private need(): Replica {
    if (!this.replica) throw new Refusal(this.lang === "zh" ? "本机尚未登记。" : "This device is not enrolled.", [], "failed_precondition");
    return this.replica;
  }

  async state(): Promise<SyncState> {
    let pending = 0;
    let oldest = 0;
    let rejected = 0;
    let photos = { pending: 0, refused: 0 };
    const meta = this.replica ? await readMeta(this.db) : new Map<string, string>();
    if (this.replica) {
      // In SQL, over the pending index: this runs after every save, and a
      // phone offline for a week holds hundreds of pending records (read
      // and decoded row by row, it grew to dominate the next save). The
      // oldest pending write is the earliest of this device's own dots
      // past what the server acknowledged (a dot is [replica, counter,
      // hlc], its hlc's milliseconds above 16 bits).
      const me = this.identity!.replica;
      for (const t of Object.values(programTables)) {
        const [r] = await this.db.query(
          `SELECT count(*) AS n,
             (SELECT min(h) FROM (
                SELECT CAST(json_extract(d.value, '$[2]') AS INTEGER) AS h FROM ${t.name} AS x, json_each(x._dots) AS d
                  WHERE x._own > x._acked AND json_extract(d.value, '$[0]') = ?1
                    AND CAST(json_extract(d.value, '$[1]') AS INTEGER) > x._acked
                UNION ALL
                SELECT CAST(json_extract(_tomb, '$.dot[2]') AS INTEGER) FROM ${t.name}
                  WHERE _own > _acked AND _tomb IS NOT NULL AND json_extract(_tomb, '$.dot[0]') = ?1
                    AND CAST(json_extract(_tomb, '$.dot[1]') AS INTEGER) > _acked)) >> 16 AS oldest
           FROM ${t.name} WHERE _own > _acked`, [me]);
        pending += Number(r?.["n"] ?? 0);
        const ms = Number(r?.["oldest"] ?? 0);
        if (ms > 0 && (oldest === 0 || ms < oldest)) oldest = ms;
      }
      rejected = Number((await this.db.query(`SELECT count(*) AS n FROM rejected`))[0]?.["n"] ?? 0);
      photos = await this.photos.counts();
    }
    // Reads rows only while the server is older than the app (then only
    // the tables with newer columns): after an update this costs nothing.
    const { held, serverSchema } = this.replica ? await this.replica.heldBack() : { held: 0, serverSchema: 1 };
    return {
      pending,
      oldestPendingMs: oldest,
      lastSyncMs: Number(meta.get("last_sync_ms") ?? 0),
      lastAttemptMs: Number(meta.get("last_attempt_ms") ?? 0),
      lastError: meta.get("last_error") ?? "",
      offline: this.offline,
      syncing: this.syncing,
      rejected,
      held,
      serverSchema,
      appSchema: versions.schema,
      villages: await this.servedVillages(meta),
      photosPending: photos.pending,
      photosRefused: photos.refused,
    };
  }

  /** The villages she serves: the scope of the last sync (the server's
   * word, so a village added or taken away shows in the forms at the
   * next sync), else Whoami's at enrollment; every village the device
   * holds when she serves all. */
  private async servedVillages(meta: Map<string, string>): Promise<string[]> {
    if (!this.identity) return [];
    const scope = meta.get("scope") ?? "*";
    const all = scope === "*" ? meta.get("scope_hash") !== "0" || this.identity.allVillages : false;
    if (all) return ((await this.villages()) ?? []).map((v) => v.name).sort((a, b) => a.localeCompare(b, "zh"));
    if (scope !== "*") return JSON.parse(scope) as string[];
    return this.identity.villages;
  }

  /** The villages the device holds, for the village column's check: the
   * seeds every device starts with and those an admin added since
   * (undefined only for a file with none, which the server alone checks). */
  private async villages(): Promise<Village[] | undefined> {
    // Kept between saves: only a sync (or an edit of the table) changes them.
    this.villageCache ??= this.readVillages();
    return this.villageCache;
  }

  private villageCache: Promise<Village[] | undefined> | undefined;

  private async readVillages(): Promise<Village[] | undefined> {
    const t = tableOf("villages");
    const rows = await readRows(this.db, t);
    const live = rows.filter((r) => !deleted(r.rec));
    if (live.length === 0) return undefined;
    const f = (rec: RecordState, n: string) => {
      const v = rec.fields.get(n)?.value;
      return v?.kind.case === "text" ? v.kind.value : "";
    };
    return live.map((r) => ({
      name: f(r.rec, "name"),
      pinyin: f(r.rec, "pinyin"),
      aliases: f(r.rec, "aliases").split(",").filter((a) => a !== ""),
    }));
  }

  private problem(table: Table, column: string, msg: string): FieldProblem {
    return { field: column, message: msg || `${fieldName(this.lang, `${table.name}.${column}`)}` };
  }

  /** Reads the form's text for each column: the text given, else the
   * form's default, else the column's default (replica.fillIn). */
  private read(t: Table, given: Record<string, string>, defaults: Record<string, string>, all: boolean):
    { values: Map<string, Value>; problems: FieldProblem[] } {
    const values = new Map<string, Value>();
    const problems: FieldProblem[] = [];
    for (const c of t.columns) {
      const has = Object.prototype.hasOwnProperty.call(given, c.name);
      if (!all && !has) continue;
      let raw = given[c.name] ?? "";
      if (all && raw === "") raw = defaults[c.name] ?? "";
      if (raw === "" && all) {
        if (c.default !== null) values.set(c.name, c.default);
        continue;
      }
      // An emptied box clears the field (in an edit; a new record leaves
      // it out), whatever its type: a required one is then refused.
      if (raw === "") {
        values.set(c.name, null);
        continue;
      }
      // A box is text as typed: "null" there is the word, not the command
      // line's keyword for no value.
      const p = raw === "null" && c.type === "text" ? checkParsed(c, raw) : parseField(t.name, c.name, raw);
      if (p.error !== undefined) {
        // Go's error starts with the column; the form names the field.
        const en = p.error.startsWith(`${c.name}: `) ? p.error.slice(c.name.length + 2) : p.error;
        problems.push(this.problem(t, c.name, this.lang === "zh" ? p.zh : en));
      } else {
        values.set(c.name, p.value);
      }
    }
    return { values, problems };
  }

  private async check(t: Table, record: Map<string, Value>): Promise<FieldProblem[]> {
    const env = { now: this.now(), villages: await this.villages() };
    return checkRecord(t.name, Object.fromEntries(record), env).map((p) => ({
      field: p.field.startsWith(`${t.name}.`) ? p.field.slice(t.name.length + 1) : p.field,
      message: p.message(this.lang),
    }));
  }

  private refuse(t: Table, problems: FieldProblem[]): never {
    const first = problems[0]!;
    const where = fieldName(this.lang, `${t.name}.${first.field}`);
    throw new Refusal(where + separators[this.lang] + first.message, problems, "invalid_argument");
  }

  /** Saves a new record from a form, or (return) the return of a loan. */
  async save(form: FormName, given: Record<string, string>, recordId?: string): Promise<string> {
    const r = this.need();
    if (form === "return") {
      if (!recordId) throw new Refusal(this.lang === "zh" ? "请选择要归还的借阅。" : "Choose the loan to return.", [], "invalid_argument");
      const on = given["returned_on"] || fillDefaults("return", {}, this.now())["returned_on"] || "";
      return this.edit("loans", recordId, { returned_on: on });
    }
    const f = formNamed(form);
    if (!f) throw new Refusal(`${form}: no such form`);
    const t = tableOf(f.table);
    const { values, problems } = this.read(t, given, fillDefaults(form, given, this.now()), true);
    if (problems.length) this.refuse(t, problems);
    if (form === "lend") {
      const book = String(values.get("book_id") ?? "");
      const rows = book ? await readRows(this.db, tableOf("books"), "WHERE id = ? AND _deleted = 0", [book]) : [];
      const v = rows[0]?.rec.fields.get("village")?.value;
      if (!v) {
        const msg = this.lang === "zh" ? "本机没有这本书（请先同步，或检查编号）" : "no such book on this device (sync, or check it)";
        this.refuse(t, [{ field: "book_id", message: msg }]);
      }
      values.set("village", plainValue(v));
    }
    const checked = await this.check(t, values);
    if (checked.length) this.refuse(t, checked);
    const id = uuidv7();
    await r.put(t.name, id, new Map([...values].map(([n, v]) => [n, pbValue(t.columns.find((c) => c.name === n)!, v)])));
    this.changed();
    return id;
  }

  /** Changes fields of a record she can see: only those given are
   * written, and the record as it would stand is checked first. */
  async edit(table: string, recordId: string, given: Record<string, string>): Promise<string> {
    const r = this.need();
    const t = tableOf(table);
    const [row] = await readRows(this.db, t, "WHERE id = ?", [recordId]);
    if (!row || deleted(row.rec)) throw new Refusal(this.lang === "zh" ? "没有这条记录（可能已被删除）。" : "No such record (it may have been deleted).", [], "not_found");
    const { values, problems } = this.read(t, given, {}, false);
    if (problems.length) this.refuse(t, problems);
    const whole = new Map<string, Value>();
    for (const [n, f] of row.rec.fields) whole.set(n, plainValue(f.value));
    const changed = new Map<string, Value>();
    for (const [n, v] of values) {
      if (whole.get(n) !== v || !row.rec.fields.has(n)) changed.set(n, v);
      whole.set(n, v);
    }
    const checked = await this.check(t, whole);
    if (checked.length) this.refuse(t, checked);
    if (changed.size > 0) {
      if (t.name === "villages") this.villageCache = undefined;
      await r.put(t.name, recordId, new Map([...changed].map(([n, v]) => [n, pbValue(t.columns.find((c) => c.name === n)!, v)])));
      this.changed();
    }
    return recordId;
  }

  async delete(table: string, recordId: string): Promise<void> {
    const r = this.need();
    tableOf(table);
    try {
      await r.delete(table, recordId);
    } catch (e) {
      throw new Refusal(message(e), [], "not_found");
    }
    this.changed();
  }

  private listed(t: Table, row: Record<string, unknown>): Listed {
    const fields: Record<string, string> = {};
    for (const c of t.columns) fields[c.name] = text(c, row[c.name]);
    return { table: t.name, id: String(row["id"]), fields, pending: Number(row["_pending"]) === 1 };
  }

  /** The newest records of a table first (ids are UUIDv7: time order). */
  async list(table: string, limit: number, where = "", bind: (string | number)[] = []): Promise<Listed[]> {
    this.need();
    const t = tableOf(table);
    const rows = await this.db.query(
      `SELECT *, (_own > _acked) AS _pending FROM ${t.name} WHERE _deleted = 0 ${where} ORDER BY id DESC LIMIT ?`,
      [...bind, Math.max(1, Math.min(limit, 500))]);
    return rows.map((r) => this.listed(t, r));
  }

  async get(table: string, recordId: string): Promise<Listed | null> {
    const [r] = await this.list(table, 1, "AND id = ?", [recordId]);
    return r ?? null;
  }

  /** Books whose title contains the words, or whose ISBN (without its
   * hyphens and spaces) starts with the digits typed. */
  async findBooks(query: string, limit: number): Promise<Listed[]> {
    const q = query.trim();
    if (q === "") return this.list("books", limit);
    const digits = q.replace(/[\s-]/g, "");
    const like = `%${q.replace(/[\\%_]/g, (c) => "\\" + c)}%`;
    return this.list("books", limit,
      `AND (title LIKE ? ESCAPE '\\' OR replace(replace(COALESCE(isbn, ''), '-', ''), ' ', '') LIKE ? ESCAPE '\\')`,
      [like, `${digits.replace(/[\\%_]/g, (c) => "\\" + c)}%`]);
  }

  async rejected(): Promise<Refused[]> {
    this.need();
    const rows = await this.db.query(`SELECT id, tbl, record_id, code, message, change, rejected_ms FROM rejected ORDER BY id DESC`);
    return rows.map((r) => {
      const change = JSON.parse(String(r["change"])) as { fields?: Record<string, unknown>; field?: string };
      const t = programTables[String(r["tbl"])];
      const fields: Record<string, string> = {};
      for (const [n, v] of Object.entries(change.fields ?? {})) {
        const c = t?.columns.find((c) => c.name === n);
        fields[n] = c ? text(c, v) : String(v ?? "");
      }
      return {
        id: Number(r["id"]),
        table: String(r["tbl"]),
        recordId: String(r["record_id"]),
        field: change.field ?? "",
        code: String(r["code"]),
        message: String(r["message"]),
        rejectedMs: Number(r["rejected_ms"]),
        change: fields,
      };
    });
  }

  async dismiss(id: number): Promise<void> {
    this.need();
    await this.db.exec(`DELETE FROM rejected WHERE id = ?`, [id]);
    this.changed();
  }

  /** One sync: every pending change pushed and every page pulled, or the
   * reason it stopped, kept for the status line. A failure is not thrown:
   * the state says it, and the page retries later. */
  async sync(): Promise<SyncState> {
    const r = this.need();
    this.syncing = true;
    this.changed();
    const setMeta = (kv: [string, string][]) =>
      this.db.transaction(kv.map(([k, v]) => ({ sql: `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, bind: [k, v] })));
    const started = this.now();
    this.lastCallError = undefined;
    try {
      await r.sync();
      this.offline = false;
      await setMeta([["last_sync_ms", String(this.now())], ["last_attempt_ms", String(started)], ["last_error", ""]]);
    } catch (e) {
      this.offline = this.lastCallError !== undefined && unreached(this.lastCallError);
      const why = this.offline ? (this.lang === "zh" ? "连不上服务器（没有信号或服务器未开）" : "could not reach the server (no signal, or the server is down)") : message(e);
      await setMeta([["last_attempt_ms", String(started)], ["last_error", why]]);
    } finally {
      this.syncing = false;
      // The sync may have brought villages (a save during it may have
      // read them before its commit).
      this.villageCache = undefined;
    }
    // The photos go after the records that name them, apart from this
    // sync: its answer (and the status line's "synced") never waits for
    // an upload. A failed record sync leaves them for the next one.
    if (!this.offline) {
      this.lane = this.photos.prune(r.touched).catch((e) => console.warn("photo prune:", e)).then(() => this.photos.kick());
    }
    this.changed();
    return this.state();
  }

  /** Stores a picked photo (downsized to schema's PhotoMaxSide) and
   * answers its digest, for the form to name in its column. */
  async attach(bytes: ArrayBuffer): Promise<string> {
    this.need();
    try {
      return await this.photos.attach(bytes);
    } catch (e) {
      if (e instanceof PhotoRefusal) throw new Refusal(e.message, [], "invalid_argument");
      throw e;
    }
  }

  async photo(digest: string, thumbnail: boolean): Promise<Photo> {
    this.need();
    return this.photos.photo(digest, thumbnail);
  }

  /** Waits for what the last sync started of the photos (their prune
   * and the lane's run) to end; starts nothing. */
  async uploads(): Promise<void> {
    this.need();
    await this.lane;
    await this.photos.idle();
  }

  /** The server's refusal sentences of carried files, in her language. */
  private carrySay(e: unknown): never {
    if (e instanceof CarryRefusal) throw new Refusal(say(this.lang, e.format, e.args), [], "invalid_argument");
    throw e;
  }

  private async keys(): Promise<{ secret: Uint8Array; serverPub: Uint8Array | undefined }> {
    const meta = await readMeta(this.db);
    const s = meta.get("server_box_public_key") ?? "";
    return { secret: unhex(meta.get("box_secret_key") ?? ""), serverPub: s ? unhex(s) : undefined };
  }

  /**
   * The unsynced changes as a file to carry to town: a carried push file
   * (api/wire/carry.go's format), sealed for the server: exactly the
   * changes the next sync would push (held-back ones wait, as in a sync),
   * which stay pending until a sync or a staff file acknowledges them.
   * It holds her own writes alone and no token or key: it can be handed
   * on without handing on the device, and only the server can open it.
   */
  async export(): Promise<Exported> {
    this.need();
    const id = this.identity!;
    const { secret, serverPub } = await this.keys();
    if (!serverPub) {
      throw new Refusal(this.lang === "zh"
        ? "还不知道服务器的密钥：请先直接同步一次（之后就能把改动保存成文件）。"
        : "The server's key is not known yet: sync directly once (after that, changes can be saved to a file).", [], "failed_precondition");
    }
    const { request, held, more } = await this.need().pushRequest();
    const made = this.now();
    const push = create(CarriedPushSchema, {
      serverId: request.serverId, replica: id.replica, madeAtMs: BigInt(made), request,
    });
    const bytes = await sealPush(push, secret, serverPub).catch((e: unknown) => this.carrySay(e));
    const day = new Date(made).toISOString().slice(0, 10);
    return {
      name: `villagesync-${id.replica}-${day}.vscarry`,
      mime: "application/octet-stream",
      bytes,
      records: request.changes.length,
      held,
      more,
    };
  }

  /**
   * "Open a file from staff": a carried pull file made for this device
   * (CarryFor), applied as if its pages had been pulled, its
   * acknowledgements marking her changes pushed. A file for another device
   * or server, a damaged one, or one that would leave a gap is refused
   * whole, nothing applied.
   */
  async carryIn(file: Uint8Array): Promise<Carried> {
    const r = this.need();
    const id = this.identity!;
    const zh = this.lang === "zh";
    let f;
    try {
      f = await readCarried(file);
    } catch (e) {
      this.carrySay(e);
    }
    if (f.kind !== CarriedKind.PULL) {
      throw new Refusal(zh ? "这是设备写给服务器的文件，不是工作人员给本机的文件：请把它交给工作人员上传。"
        : "This file is a device's changes for the server, not a file from staff for this device: hand it to staff to carry.", [], "invalid_argument");
    }
    if (f.replica !== id.replica) {
      throw new Refusal(zh ? `这个文件是给设备 ${f.replica} 的，不是本机（${id.replica}）的：请向工作人员要本机的文件。`
        : `This file is for device ${f.replica}, not this one (${id.replica}): ask staff for a file for this device.`, [], "failed_precondition");
    }
    if (id.serverId !== "0" && f.serverId.toString() !== id.serverId) {
      throw new Refusal(zh ? "这个文件来自另一台服务器：请向本机登记的服务器的工作人员要文件。"
        : "This file is from another server: ask staff of the server this device is enrolled with.", [], "failed_precondition");
    }
    const { secret, serverPub } = await this.keys();
    if (!serverPub) {
      throw new Refusal(zh ? "还不知道服务器的密钥，打不开这个文件：请先直接同步一次。"
        : "The server's key is not known yet, so the file cannot be opened: sync directly once.", [], "failed_precondition");
    }
    let pull;
    try {
      pull = await openPull(f, secret, serverPub);
    } catch (e) {
      this.carrySay(e);
    }
    try {
      const got = await r.carryIn(pull);
      this.villageCache = undefined;
      this.lane = this.photos.prune(r.touched).catch((e) => console.warn("photo prune:", e));
      this.changed();
      return got;
    } catch (e) {
      if (e instanceof CarryGap && e.why === "scope") {
        // The Go device's sentence, in her language through the catalogue.
        this.carrySay(new CarryRefusal("this device's villages changed after the file was made: " +
          "sync directly (the sync brings the new villages' records) or ask staff for a new file"));
      }
      if (e instanceof CarryGap && e.why === "repull") {
        this.carrySay(new CarryRefusal("this device is part-way through pulling its villages again: " +
          "sync directly to finish that, then files from staff apply again"));
      }
      if (e instanceof CarryGap && e.why === "table") {
        this.carrySay(new CarryRefusal("the file holds a record of a table this app does not know (%s): update the app", [e.table]));
      }
      if (e instanceof CarryGap && e.why === "page") this.carrySay(damaged());
      if (e instanceof CarryGap) {
        throw new Refusal(zh ? "这个文件和本机已有的数据接不上（服务器已恢复，或中间缺了文件）：请直接同步，或向工作人员要新文件。"
          : "This file does not follow on from what the device has (the server was restored, or a file is missing in between): sync directly, or ask staff for a new file.", [], "failed_precondition");
      }
      throw e;
    }
  }
}
