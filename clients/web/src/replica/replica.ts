// The device replica: local writes, the push/pull loop and the commit of
// each answer, as clients/go/replica does them (sync.go, pending.go,
// commit.go, scope.go, restore.go), step by step after sync/DESIGN.md's
// device checklist: rescope, sweep, collect and evictions in the commit,
// re-pull and server restore in the loop, the scrub after each sync.
import { create, fromJsonString, toJsonString } from "@bufbuild/protobuf";
import type { Db, SqlValue, Statement } from "./db";
import { Clock, bump, replicas } from "./clock";
import type { Dot, VV } from "./clock";
import { allTables } from "./ddl";
import { hex, unhex } from "./hex";
import type { CarriedPull } from "../gen/villagesync/v1/carry_pb";
import { seedVillages, seedWrite, versions } from "../rules/schema.gen";
import type { Column, Table } from "../rules/schema.gen";
import {
  DotSchema,
  FieldSchema,
  Outcome,
  RecordSchema,
  SyncRequestSchema,
  TombstoneSchema,
  ValueSchema,
  VersionVectorSchema,
} from "../gen/villagesync/v1/sync_pb";
import type {
  Dot as PbDot,
  Record as PbRecord,
  SyncRequest,
  SyncResponse,
  Value as PbValue,
  VersionVector,
} from "../gen/villagesync/v1/sync_pb";

/** A carried pull file that cannot be applied here: what is off
 * ("incarnation": the server was restored since; "cursor": the file
 * starts after what the device has, so pages are missing between;
 * "page": a page no pull would be). The device says to sync directly. */
export class CarryGap extends Error {
  constructor(
    readonly why: "incarnation" | "cursor" | "page" | "scope" | "repull" | "table",
    /** The unknown table ("table"). */
    readonly table = "",
  ) {
    super(`carried pull file: ${why}`);
  }
}

/** Carries one request to the server and returns its answer (retries,
 * auth and waits are the transport's business, below the replica). */
export interface Transport {
  sync(req: SyncRequest): Promise<SyncResponse>;
}

export interface Options {
  transport: Transport;
  /** The wall clock in Unix milliseconds (tests fix it). */
  wallMs?: () => number;
  pageLimit?: number;
  pushBatch?: number;
  /** Statements of the device's own tables (its photos) that go in the
   * transaction of a restore: what the restored server may have lost. */
  restored?: () => Statement[];
  /** Statements that go last in a commit that removes records, before the
   * scrub that takes their bytes out of the file: the cached photos only
   * those records named go with them. */
  removing?: () => Statement[];
}

/** A field of a record: its value (undefined kind: NULL) and its dot. */
export interface FieldState {
  value: PbValue;
  dot: Dot;
}

export interface Tomb {
  dot: Dot;
  context: VV;
}

/** A record's replicated state as the device keeps it. */
export interface RecordState {
  table: string;
  id: string;
  version: VV;
  fields: Map<string, FieldState>;
  tombstone: Tomb | undefined;
}

/** A stored row: the record and its bookkeeping columns. */
export interface StoredRow {
  rec: RecordState;
  own: bigint;
  acked: bigint;
  gen: number;
  seq: bigint;
}

interface Pending {
  table: Table;
  id: string;
  own: bigint;
  change: RecordState;
}

/** Most changes in one request (protocol.MaxChanges). */
const defaultPushBatch = 500;
/** protocol.MaxChanges: a carried push file holds one request, and the
 * server refuses one of more. */
export const maxChanges = 1000;
const maxRounds = 100000;
/** record.MaxClockAhead: 24 hours. */
const maxClockAheadMs = 24 * 60 * 60 * 1000;

// ---- Encoding of the sync columns (JSON text; see ddl.ts). ----

type DotJSON = [number, string, string];

function dotJSON(d: Dot): DotJSON {
  return [d.replica, d.counter.toString(), d.hlc.toString()];
}

function dotOf(j: DotJSON): Dot {
  return { replica: j[0], counter: BigInt(j[1]), hlc: BigInt(j[2]) };
}

function vvJSON(v: VV): [number, string][] {
  return replicas(v).map((r) => [r, (v.get(r) ?? 0n).toString()]);
}

function vvOf(j: [number, string][]): VV {
  return new Map(j.map(([r, c]) => [r, BigInt(c)]));
}

function tombJSON(t: Tomb | undefined): string | null {
  return t ? JSON.stringify({ dot: dotJSON(t.dot), context: vvJSON(t.context) }) : null;
}

function tombOf(s: SqlValue): Tomb | undefined {
  if (s === null) return undefined;
  const j = JSON.parse(String(s)) as { dot: DotJSON; context: [number, string][] };
  return { dot: dotOf(j.dot), context: vvOf(j.context) };
}

/** A value as SQLite and the rules hold it: text, a number, or null. */
export function plainValue(v: PbValue): string | number | null {
  switch (v.kind.case) {
    case "text":
      return v.kind.value;
    case "integer":
      return Number(v.kind.value);
    case "real":
      return v.kind.value;
    case "boolean":
      return v.kind.value ? 1 : 0;
    default:
      return null;
  }
}

function fromSql(c: Column, s: SqlValue): PbValue {
  if (s === null || s === undefined) return create(ValueSchema, {});
  switch (c.type) {
    case "integer":
      return create(ValueSchema, { kind: { case: "integer", value: BigInt(s as number) } });
    case "real":
      return create(ValueSchema, { kind: { case: "real", value: Number(s) } });
    default:
      return create(ValueSchema, { kind: { case: "text", value: String(s) } });
  }
}

function tableOf(name: string): Table {
  const t = allTables.find((t) => t.name === name);
  if (!t) throw new Error(`unknown table ${JSON.stringify(name)} (known: ${allTables.map((t) => t.name).join(", ")})`);
  return t;
}

/** The upsert of a row with all its columns (sync/sqlite.Upsert). */
export function upsert(t: Table, row: StoredRow, verb = "INSERT OR REPLACE"): Statement {
  const rec = row.rec;
  const dots: Record<string, DotJSON> = {};
  const names = ["id"];
  const bind: SqlValue[] = [rec.id];
  for (const c of t.columns) {
    const f = rec.fields.get(c.name);
    names.push(c.name);
    bind.push(f ? plainValue(f.value) : null);
    if (f) dots[c.name] = dotJSON(f.dot);
  }
  for (const name of rec.fields.keys()) {
    if (!t.columns.some((c) => c.name === name)) throw new Error(`${t.name}.${name}: unknown field`);
  }
  names.push("_vv", "_dots", "_tomb", "_deleted", "_own", "_acked", "_gen", "_seq");
  bind.push(JSON.stringify(vvJSON(rec.version)), JSON.stringify(dots), tombJSON(rec.tombstone), deleted(rec) ? 1 : 0,
    Number(row.own), Number(row.acked), row.gen, Number(row.seq));
  return {
    sql: `${verb} INTO ${t.name} (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`,
    bind,
  };
}

/**
 * The villages every database starts with (record.Seeds): fixed ids, the
 * server's replica, counter 1, at schema.SeedTime, so the rows are the
 * ones the server and every Go device hold, in sync without a pull (the
 * server never sends them). INSERT OR IGNORE: a device keeps what it has
 * learnt of them since (a staff edit syncs like any write).
 */
export function seedStatements(): Statement[] {
  const t = tableOf("villages");
  const dot: Dot = { replica: seedWrite.replica, counter: 1n, hlc: BigInt(seedWrite.ms) << 16n };
  const text = (s: string): FieldState => ({ value: create(ValueSchema, { kind: { case: "text", value: s } }), dot });
  return seedVillages.map((v) => {
    const fields = new Map([["name", text(v.name)], ["pinyin", text(v.pinyin)]]);
    if (v.aliases.length > 0) fields.set("aliases", text(v.aliases.join(",")));
    const rec: RecordState = { table: t.name, id: v.id, version: new Map([[dot.replica, 1n]]), fields, tombstone: undefined };
    return upsert(t, { rec, own: 0n, acked: 0n, gen: 0, seq: 0n }, "INSERT OR IGNORE");
  });
}

/** deleted: a tombstone that no field was written after (record.Deleted:
 * every field's dot is covered by the tombstone's context). */
export function deleted(rec: RecordState): boolean {
  const t = rec.tombstone;
  if (!t) return false;
  for (const f of rec.fields.values()) {
    if (f.dot.counter > (t.context.get(f.dot.replica) ?? 0n)) return false;
  }
  return true;
}

export async function readRows(db: Db, t: Table, where = "", bind: SqlValue[] = []): Promise<StoredRow[]> {
  const rows = await db.query(`SELECT * FROM ${t.name} ${where} ORDER BY id`, bind);
  return rows.map((r) => {
    const dots = JSON.parse(String(r["_dots"])) as Record<string, DotJSON>;
    const fields = new Map<string, FieldState>();
    for (const c of t.columns) {
      const d = dots[c.name];
      if (d) fields.set(c.name, { value: fromSql(c, r[c.name] ?? null), dot: dotOf(d) });
    }
    return {
      rec: {
        table: t.name,
        id: String(r["id"]),
        version: vvOf(JSON.parse(String(r["_vv"])) as [number, string][]),
        fields,
        tombstone: tombOf(r["_tomb"] ?? null),
      },
      own: BigInt(r["_own"] as number),
      acked: BigInt(r["_acked"] as number),
      gen: Number(r["_gen"]),
      seq: BigInt(r["_seq"] as number),
    };
  });
}

// ---- Wire conversions (api/wire). ----

export function pbVV(v: VV): VersionVector {
  const rs = replicas(v);
  return create(VersionVectorSchema, { replicas: rs, counters: rs.map((r) => v.get(r) ?? 0n) });
}

export function fromPbVV(m: VersionVector | undefined): VV {
  const out: VV = new Map();
  if (!m) return out;
  if (m.replicas.length !== m.counters.length) {
    throw new Error(`version: ${m.replicas.length} replicas but ${m.counters.length} counters`);
  }
  m.replicas.forEach((r, i) => out.set(r, m.counters[i] ?? 0n));
  return out;
}

function pbDot(d: Dot): PbDot {
  return create(DotSchema, { replica: d.replica, counter: d.counter, hlc: d.hlc });
}

function fromPbDot(d: PbDot | undefined): Dot {
  return { replica: d?.replica ?? 0, counter: d?.counter ?? 0n, hlc: d?.hlc ?? 0n };
}

/** The record as a villagesync.v1.Record, fields by name. */
export function pbRecord(rec: RecordState, seq = 0n): PbRecord {
  const names = [...rec.fields.keys()].sort();
  return create(RecordSchema, {
    table: rec.table,
    id: rec.id,
    version: pbVV(rec.version),
    fields: names.map((n) => {
      const f = rec.fields.get(n)!;
      return create(FieldSchema, { name: n, value: f.value, dot: pbDot(f.dot) });
    }),
    ...(rec.tombstone
      ? { tombstone: create(TombstoneSchema, { dot: pbDot(rec.tombstone.dot), context: pbVV(rec.tombstone.context) }) }
      : {}),
    seq,
  });
}

/**
 * fromPbRecord reads a record off the wire, without the fields this
 * version of the app does not know (a newer server's schema adds fields:
 * sync/DESIGN.md, "Versions"), as the Go replica's knownFields: the device
 * can neither show nor store them and never pushes them (only its own
 * writes), so the server keeps them; the version vector, which covers
 * their writes, stays whole.
 */
export function fromPbRecord(m: PbRecord): RecordState {
  const t = allTables.find((t) => t.name === m.table);
  const fields = new Map<string, FieldState>();
  for (const f of m.fields) {
    if (t && !t.columns.some((c) => c.name === f.name)) continue;
    fields.set(f.name, { value: f.value ?? create(ValueSchema, {}), dot: fromPbDot(f.dot) });
  }
  return {
    table: m.table,
    id: m.id,
    version: fromPbVV(m.version),
    fields,
    tombstone: m.tombstone ? { dot: fromPbDot(m.tombstone.dot), context: fromPbVV(m.tombstone.context) } : undefined,
  };
}

function cloneRecord(rec: RecordState): RecordState {
  return { ...rec, version: new Map(rec.version), fields: new Map(rec.fields) };
}

/** A lock: local writes and commits take turns (an await between a
 * commit's reads and its transaction must not let a write in). */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(f: () => Promise<T>): Promise<T> {
    const r = this.tail.then(f);
    this.tail = r.then(
      () => undefined,
      () => undefined,
    );
    return r;
  }
}

// Ids per query when a commit reads a page's rows: under SQLite's
// default limit of host parameters with room to spare.
const prefetchChunk = 500;

export class Replica {
  private readonly lock = new Mutex();
  /** Why records removed from the device (villages it no longer serves)
   * could not yet be wiped from its file's free space; "" when they were. */
  scrubPending = "";
  /** The changes the last sync held back for the server's update (they
   * write columns newer than the server's schema version; they stay
   * pending), and that version as the server last stated it. */
  held = 0;
  serverSchema = 1;
  private syncing: Promise<unknown> = Promise.resolve();
  /** Counts the commits that may have changed which records name what
   * (a write, a pulled or removed record, an acknowledgement): the photos'
   * prune scans the records only when it moved. */
  touched = 0;

  private constructor(
    private readonly db: Db,
    readonly id: number,
    private readonly clock: Clock,
    private readonly opt: Options,
  ) {}

  /** open reads the device's identity and clock from meta. */
  static async open(db: Db, opt: Options): Promise<Replica> {
    const meta = await readMeta(db);
    const id = Number(meta.get("replica") ?? NaN);
    if (!Number.isInteger(id) || id <= 0) throw new Error("device database is not initialised (no replica in meta)");
    return new Replica(db, id, new Clock(BigInt(meta.get("hlc") ?? "0"), opt.wallMs), opt);
  }

  /** put writes fields of a record (a new one when it has none). */
  put(table: string, id: string, values: Map<string, PbValue>): Promise<void> {
    const t = tableOf(table);
    if (values.size === 0) return Promise.reject(new Error("put: give at least one field=value"));
    for (const name of values.keys()) {
      if (!t.columns.some((c) => c.name === name)) {
        return Promise.reject(new Error(`${t.name}.${name}: unknown field (known: ${t.columns.map((c) => c.name).join(", ")})`));
      }
    }
    return this.write(t, id, (rec, k, ts) => {
      for (const [name, v] of values) rec.fields.set(name, { value: v, dot: { replica: this.id, counter: k, hlc: ts } });
    });
  }

  delete(table: string, id: string): Promise<void> {
    const t = tableOf(table);
    return this.write(t, id, (rec, k, ts) => {
      if (rec.fields.size === 0 && !rec.tombstone) throw new Error(`delete ${table} ${id}: no such record`);
      if (deleted(rec)) throw new Error(`delete ${table} ${id}: already deleted`);
      rec.tombstone = { dot: { replica: this.id, counter: k, hlc: ts }, context: new Map(rec.version) };
    });
  }

  private write(t: Table, id: string, edit: (rec: RecordState, k: bigint, ts: bigint) => void): Promise<void> {
    return this.lock.run(async () => {
      const [row] = await readRows(this.db, t, "WHERE id = ?", [id]);
      const rec = row ? cloneRecord(row.rec) : { table: t.name, id, version: new Map(), fields: new Map(), tombstone: undefined };
      const k = bump(rec.version, this.id);
      edit(rec, k, this.clock.now());
      // The clock goes to meta with each sync's commit, not with each
      // write, as the Go replica's (clients/go/replica saves it at sync
      // and close): a page fewer per save, a few milliseconds on OPFS.
      // After a killed tab the clock restarts from the last sync's value
      // or the wall clock, whichever is later; a write's counter, not its
      // hlc, orders it after this device's earlier writes.
      await this.db.transaction([upsert(t, { rec, own: k, acked: row?.acked ?? 0n, gen: row?.gen ?? 0, seq: row?.seq ?? 0n })]);
      this.touched++;
    });
  }

  /** sync pushes every pending change and pulls until the server has
   * nothing more; each answer commits in one transaction with its cursor. */
  sync(): Promise<void> {
    const run = this.syncing.then(async () => {
      try {
        await this.syncOnce();
      } finally {
        // The data synced even if the file could not be scrubbed: the
        // scrub waits in scrubPending and is tried again at the next sync.
        this.scrubPending = await this.scrub().then(
          () => "",
          (e: unknown) => (e instanceof Error ? e.message : String(e)),
        );
      }
    });
    this.syncing = run.catch(() => undefined);
    return run;
  }

  private async syncOnce(): Promise<void> {
    let hasMore = true; // the first round always asks: the server may have news
    for (let round = 0; round < maxRounds; round++) {
      // Read again each round: an answer from a server that updated
      // releases held-back changes, and they go in this same sync.
      const push = await this.pending(this.opt.pushBatch ?? defaultPushBatch);
      if (push.length === 0 && !hasMore) return;
      const req = await this.request(push);
      let resp: SyncResponse;
      try {
        resp = await this.opt.transport.sync(req);
      } catch (e) {
        throw new Error(`sync: ${e instanceof Error ? e.message : String(e)}`);
      }
      await this.noteServerSchema(resp.schemaVersion);
      if (resp.restored) {
        await this.serverRestored(resp.incarnation);
        hasMore = true;
        continue;
      }
      if (resp.repull) {
        await this.startRepull(resp.gcHorizon);
        hasMore = true;
        continue;
      }
      await this.commit(push, resp);
      hasMore = resp.hasMore;
      // A full pull does not see deletes collected while it runs: a
      // record it already took may have been deleted since, behind its
      // cursor's back. Only a fresh re-pull can tell.
      const h = resp.gcHorizon;
      if (req.fullPull && req.cursor !== 0n && req.cursor < h) {
        const since = BigInt((await readMeta(this.db)).get("pull_horizon") || "0");
        if (h > since) {
          await this.startRepull(h);
          hasMore = true;
        }
      }
    }
    throw new Error("sync: did not settle; local writes keep arriving faster than they sync");
  }

  /** pending reads up to limit records with unacknowledged writes, in
   * table order, then id order (the results come back by position), and
   * counts in this.held those it holds back: changes to a column the
   * server's schema version does not have (newerThan). Held-back changes
   * take no place in the batch, so they never keep the others back. */
  private async pending(limit: number): Promise<Pending[]> {
    const server = await this.readServerSchema();
    const out: Pending[] = [];
    let held = 0;
    for (const t of allTables) {
      if (out.length >= limit) break;
      const rows = await readRows(this.db, t, "WHERE _own > _acked", []);
      for (const row of rows) {
        if (out.length >= limit) break;
        const change = this.unacked(row.rec, row.acked);
        if (newerThan(t, change, server)) held++;
        else out.push({ table: t, id: row.rec.id, own: row.own, change });
      }
    }
    this.held = held;
    this.serverSchema = server;
    return out;
  }

  /** The schema version the server last stated; 1 until one does. */
  private async readServerSchema(): Promise<number> {
    return Math.max(Number((await readMeta(this.db)).get("server_schema") ?? "1") || 1, 1);
  }

  /** noteServerSchema remembers the version a server stated (0: one too
   * old to state it, which is 1), writing only when it changed. */
  private async noteServerSchema(stated: number): Promise<void> {
    const v = Math.max(stated, 1);
    if (v === (await this.readServerSchema())) return;
    await this.db.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('server_schema', ?)`, [String(v)]);
    this.serverSchema = v;
  }

  /** heldBack counts the pending changes held back for the server's
   * update, for a status shown before any sync of this session. */
  async heldBack(): Promise<{ held: number; serverSchema: number }> {
    const server = await this.readServerSchema();
    let held = 0;
    for (const t of allTables) {
      if (!t.columns.some((c) => c.since > server)) continue;
      for (const row of await readRows(this.db, t, "WHERE _own > _acked", [])) {
        if (newerThan(t, this.unacked(row.rec, row.acked), server)) held++;
      }
    }
    return { held, serverSchema: server };
  }

  /** unacked cuts a record to this device's writes the server has not acknowledged. */
  private unacked(rec: RecordState, acked: bigint): RecordState {
    const mine = (d: Dot) => d.replica === this.id && d.counter > acked;
    const fields = new Map([...rec.fields].filter(([, f]) => mine(f.dot)));
    return { ...rec, fields, tombstone: rec.tombstone && mine(rec.tombstone.dot) ? rec.tombstone : undefined };
  }

  private async request(push: Pending[]): Promise<SyncRequest> {
    const meta = await readMeta(this.db);
    return create(SyncRequestSchema, {
      replica: this.id,
      serverId: BigInt(meta.get("server_id") ?? "0"),
      cursor: BigInt(meta.get("cursor") ?? "0"),
      pageLimit: this.opt.pageLimit ?? 0,
      scopeHash: BigInt(meta.get("scope_hash") ?? "0"),
      fullPull: meta.get("full_pull") === "1",
      incarnation: BigInt(meta.get("incarnation") ?? "0"),
      changes: push.map((p) => pbRecord(p.change)),
      schemaVersion: versions.schema,
      // The device's box key (carried files) until the server has said
      // its own: a device enrolled before carried files sends it here.
      boxPublicKey: meta.get("server_box_public_key") ? new Uint8Array() : unhex(meta.get("box_public_key") ?? ""),
    });
  }

  /** pushRequest is the request the next sync would send first, with
   * every pending change it would push (held-back ones stay behind, as
   * they do in a sync), for a carried push file; nothing changes. */
  async pushRequest(): Promise<{ request: SyncRequest; held: number; more: number }> {
    return this.lock.run(async () => {
      // All of them read (so held counts them all), the first maxChanges
      // in the file, as the Go device's carry-out: the rest wait for the
      // next file, once this one is carried and confirmed.
      const all = await this.pending(Number.MAX_SAFE_INTEGER);
      const push = all.slice(0, maxChanges);
      const request = await this.request(push);
      // A carried file pulls nothing: no page limit, no key exchange.
      request.pageLimit = 0;
      request.boxPublicKey = new Uint8Array();
      return { request, held: this.held, more: all.length - push.length };
    });
  }

  /**
   * carryIn applies a carried pull file's payload (already opened and
   * checked as this device's by the caller) as if its pages had been
   * pulled, through the same commit as a sync's answers, after marking
   * this device's own changes the server acknowledged as pushed. Pages at or
   * before the device's cursor are skipped (an older file is a no-op);
   * a file starting after the cursor would leave a gap and is refused
   * (CarryGap). Waits for a running sync.
   */
  carryIn(pull: CarriedPull): Promise<{ records: number; acks: number; pages: number }> {
    const run = this.syncing.then(async () => {
      const meta = await readMeta(this.db);
      const cursor = BigInt(meta.get("cursor") ?? "0");
      const inc = BigInt(meta.get("incarnation") ?? "0");
      // As the Go device's CarryIn (clients/go/replica/carry.go), every
      // check before anything is applied: a refused file changes nothing.
      // A device that never synced takes the file's incarnation.
      if (inc !== 0n && pull.incarnation !== inc) throw new CarryGap("incarnation");
      // Made for her villages as the server knew them: villages changed
      // since (the device learnt it at a sync) need a direct sync's re-pull.
      // A device that never synced knows no scope (0): the file is its first
      // pull, and its first direct sync re-pulls its scope whole.
      const scope = BigInt(meta.get("scope_hash") ?? "0");
      if (scope !== 0n && pull.scopeHash !== scope) throw new CarryGap("scope");
      // Part-way through pulling its villages again, the device must see
      // every record of its scope before it sweeps those it did not; a
      // file's pages are the feed after a cursor, not that whole pull.
      if (Number(meta.get("sweep") ?? "0") !== 0 || meta.get("full_pull") === "1") throw new CarryGap("repull");
      const last = pull.pages.length > 0 ? pull.pages[pull.pages.length - 1]!.nextCursor : pull.fromCursor;
      if (cursor < pull.fromCursor && last > cursor) throw new CarryGap("cursor");
      const serverId = BigInt(meta.get("server_id") ?? "0");
      if (pull.pages.some((p) => p.restored || p.repull || p.results.length > 0 || p.incarnation !== pull.incarnation ||
        p.serverId !== pull.serverId || (serverId !== 0n && p.serverId !== serverId))) {
        throw new CarryGap("page");
      }
      // A record of a table this version does not know would be lost for
      // good once the cursor moves past it (as a sync's commit refuses it).
      const unknown = pull.pages.flatMap((p) => p.changes).find((m) => !allTables.some((t) => t.name === m.table));
      if (unknown) throw new CarryGap("table", unknown.table);
      // Acknowledgements first: a change the server has is then settled,
      // and the pages' state of it (merged with others', as the server
      // holds it) replaces the device's, as a sync's answer would.
      const acks = await this.lock.run(async () => {
        const stmts: Statement[] = [];
        for (const a of pull.acks) {
          const t = allTables.find((t) => t.name === a.table);
          if (!t) continue;
          const [row] = await readRows(this.db, t, "WHERE id = ?", [a.id]);
          if (!row || a.counter <= row.acked) continue;
          const acked = a.counter < row.own ? a.counter : row.own;
          stmts.push(upsert(t, { ...row, acked }));
        }
        if (stmts.length > 0) {
          await this.db.transaction(stmts);
          this.touched++;
        }
        return stmts.length;
      });
      let records = 0;
      let pages = 0;
      for (const page of pull.pages) {
        if (page.nextCursor <= BigInt((await readMeta(this.db)).get("cursor") ?? "0")) continue;
        await this.commit([], page);
        records += page.changes.length;
        pages++;
      }
      return { records, acks, pages };
    });
    this.syncing = run.catch(() => undefined);
    return run;
  }

  /** commit applies one answer in one transaction: outcomes first (so
   * acknowledged records accept newer server states), then the pulled
   * page, then the cursor. */
  private commit(push: Pending[], resp: SyncResponse): Promise<void> {
    return this.lock.run(async () => {
      this.clock.settle(resp.serverHlc, maxClockAheadMs);
      this.clock.observe(resp.serverHlc);
      if (resp.results.length !== push.length) {
        throw new Error(`sync: server answered ${resp.results.length} results for ${push.length} changes`);
      }
      const meta = await readMeta(this.db);
      const gen = Number(meta.get("gen") ?? "0");
      const stmts: Statement[] = [];
      // Rows as this commit leaves them, so later steps see earlier ones.
      const rows = new Map<string, StoredRow | null>();
      const key = (t: Table, id: string) => `${t.name}\u0000${id}`;
      const get = async (t: Table, id: string): Promise<StoredRow | null> => {
        const k = key(t, id);
        if (!rows.has(k)) rows.set(k, (await readRows(this.db, t, "WHERE id = ?", [id]))[0] ?? null);
        return rows.get(k)!;
      };
      const put = (t: Table, row: StoredRow) => {
        rows.set(key(t, row.rec.id), row);
        stmts.push(upsert(t, row));
      };
      const replace = (t: Table, m: PbRecord) => {
        const rec = fromPbRecord(m);
        const own = rec.version.get(this.id) ?? 0n;
        put(t, { rec, own, acked: own, gen, seq: m.seq });
      };
      for (const [i, res] of resp.results.entries()) {
        const p = push[i]!;
        const row = await get(p.table, p.id);
        const where = `sync: ${p.table.name} ${p.id}`;
        switch (res.outcome) {
          case Outcome.APPLIED:
          case Outcome.MERGED:
          case Outcome.ALREADY_HAD:
            if (res.current && row && (row.rec.version.get(this.id) ?? 0n) === p.own) {
              replace(p.table, res.current);
            } else if (row) {
              // The server has it: confirmed, as a re-pull confirms what it sends.
              put(p.table, { ...row, acked: row.acked > p.own ? row.acked : p.own, gen,
                seq: row.seq > res.seq ? row.seq : res.seq });
            }
            break;
          case Outcome.REJECTED: {
            // With the village of the record (which may leave the device below):
            // when the device stops serving it, the change leaves too (see rescope).
            const cur0 = res.current ? fromPbRecord(res.current) : undefined;
            const village = villageOf(p.table, [p.change, row?.rec, cur0]);
            stmts.push({
              sql: `INSERT INTO rejected (tbl, record_id, counter, code, message, change, rejected_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`,
              bind: [p.table.name, p.id, Number(p.own), res.code, res.message,
                JSON.stringify({ ...(pbRecordJSON(p.change) as object), ...(village ? { village } : {}) }), Date.now()],
            });
            if (!row) break;
            if ((row.rec.version.get(this.id) ?? 0n) === p.own) {
              if (res.current) replace(p.table, res.current);
              else {
                rows.set(key(p.table, p.id), null);
                stmts.push({ sql: `DELETE FROM ${p.table.name} WHERE id = ?`, bind: [p.id] });
              }
              break;
            }
            // Written again since: undo only the refused writes, keep the newer.
            const cur = res.current ? fromPbRecord(res.current) : undefined;
            const refused = (d: Dot) => d.replica === this.id && d.counter > row.acked && d.counter <= p.own;
            const rec = cloneRecord(row.rec);
            for (const [name, f] of rec.fields) {
              if (!refused(f.dot)) continue;
              const cf = cur?.fields.get(name);
              if (cf) rec.fields.set(name, cf);
              else rec.fields.delete(name);
            }
            if (rec.tombstone && refused(rec.tombstone.dot)) rec.tombstone = cur?.tombstone;
            put(p.table, { ...row, rec, own: rec.version.get(this.id) ?? 0n, acked: p.own });
            break;
          }
          default:
            throw new Error(`${where}: unknown outcome ${res.outcome}`);
        }
      }
      // The page's rows, read in a few queries rather than one per record
      // (a page is up to a thousand).
      const wanted = new Map<Table, string[]>();
      for (const m of resp.changes) {
        const t = tableOf(m.table);
        if (rows.has(key(t, m.id))) continue;
        rows.set(key(t, m.id), null);
        wanted.set(t, [...(wanted.get(t) ?? []), m.id]);
      }
      for (const [t, ids] of wanted) {
        for (let i = 0; i < ids.length; i += prefetchChunk) {
          const chunk = ids.slice(i, i + prefetchChunk);
          for (const r of await readRows(this.db, t, `WHERE id IN (${chunk.map(() => "?").join(", ")})`, chunk)) {
            rows.set(key(t, r.rec.id), r);
          }
        }
      }
      for (const m of resp.changes) {
        const t = tableOf(m.table);
        const row = await get(t, m.id);
        // Unpushed writes stay: the server merges them and hands the result back.
        if (row && row.own > row.acked) continue;
        replace(t, m);
      }
      const setMeta = (k: string, v: string) => {
        meta.set(k, v);
        stmts.push({ sql: `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, bind: [k, v] });
      };
      // The rows of t that match pred as this commit leaves them: those in
      // the file matching where (the same test in SQL), and those this
      // commit wrote.
      const matching = async (t: Table, where: string, bind: SqlValue[], pred: (r: StoredRow) => boolean) => {
        for (const r of await readRows(this.db, t, `WHERE ${where}`, bind)) {
          if (!rows.has(key(t, r.rec.id))) rows.set(key(t, r.rec.id), r);
        }
        const out: StoredRow[] = [];
        for (const [k, r] of rows) if (r && k.startsWith(`${t.name}\u0000`) && pred(r)) out.push(r);
        return out;
      };
      const remove = (t: Table, id: string) => {
        rows.set(key(t, id), null);
        stmts.push({ sql: `DELETE FROM ${t.name} WHERE id = ?`, bind: [id] });
      };
      // drop removes rows, first keeping a trace of this device's own
      // deletes among them (see serverRestored): whatever drops a
      // tombstone, a restore from an older backup must not undo it.
      const drop = (t: Table, victims: StoredRow[]) => {
        for (const r of victims) {
          const ts = r.rec.tombstone;
          if (deleted(r.rec) && r.own > 0n && ts && ts.dot.replica === this.id) {
            stmts.push({
              sql: `INSERT OR REPLACE INTO own_deletes (tbl, record_id, vv, tomb) VALUES (?, ?, ?, ?)`,
              bind: [t.name, r.rec.id, toJsonString(VersionVectorSchema, pbVV(r.rec.version)),
                toJsonString(TombstoneSchema, create(TombstoneSchema, { dot: pbDot(ts.dot), context: pbVV(ts.context) }))],
            });
          }
          remove(t, r.rec.id);
        }
      };
      const settled = (r: StoredRow) => r.own <= r.acked;

      // Step: rescope. Keep the villages the server says this device
      // serves; remove records of other villages except those with
      // unpushed writes (they go to the server first), and refused
      // changes of other villages (the server holds each).
      let removed = false;
      const prevHash = meta.get("scope_hash") ?? "0";
      setMeta("full_pull", resp.hasMore && ((resp.rescoped && prevHash !== "0") || meta.get("full_pull") === "1") ? "1" : "0");
      if (resp.rescoped) {
        // The pull starts again from zero: note the horizon it starts at.
        setMeta("pull_horizon", resp.gcHorizon.toString());
        setMeta("scope", resp.allVillages ? "*" : JSON.stringify(resp.scope));
        setMeta("scope_hash", resp.scopeHash.toString());
      }
      const scope = meta.get("scope") ?? "*";
      if (scope !== "*") {
        let villages: string[];
        try {
          villages = JSON.parse(scope) as string[];
        } catch (e) {
          throw new Error(`sync: corrupt scope ${JSON.stringify(scope)}: ${e instanceof Error ? e.message : String(e)}`);
        }
        const marks = villages.map(() => "?").join(", ");
        // As SQL's NOT IN: a NULL village (not known) is outside only if unknownToo.
        const outside = (col: string, unknownToo: boolean) =>
          villages.length > 0 ? `${col} NOT IN (${marks})` : unknownToo ? "1" : `${col} IS NOT NULL`;
        // Refused changes first, while the records that tell their village
        // are still here. resource_exhausted: refused because the server
        // would hold no more of this device's refused changes, so this copy
        // is the only one.
        for (const t of allTables) {
          if (!t.scope) continue;
          const village = `COALESCE(json_extract(change, '$.village'), json_extract(change, '$.fields.${t.scope}'),
            (SELECT ${t.scope} FROM ${t.name} WHERE id = rejected.record_id))`;
          const cond = `tbl = ? AND code <> 'resource_exhausted' AND ${outside(village, false)}`;
          const bind = [t.name, ...villages];
          stmts.push({
            sql: `INSERT OR REPLACE INTO meta (key, value) SELECT 'rejected_removed',
              COALESCE((SELECT value FROM meta WHERE key = 'rejected_removed'), 0) + (SELECT count(*) FROM rejected WHERE ${cond})
              WHERE EXISTS (SELECT 1 FROM rejected WHERE ${cond})`,
            bind: [...bind, ...bind],
          });
          stmts.push({ sql: `INSERT OR REPLACE INTO meta (key, value) SELECT 'scrub', '1' WHERE EXISTS (SELECT 1 FROM rejected WHERE ${cond})`, bind });
          stmts.push({ sql: `DELETE FROM rejected WHERE ${cond}`, bind });
        }
        for (const t of allTables) {
          if (!t.scope) continue;
          const out = (r: StoredRow) => {
            const f = r.rec.fields.get(t.scope);
            const v = f ? plainValue(f.value) : null;
            return villages.length > 0 ? v !== null && !villages.includes(String(v)) : true;
          };
          const victims = await matching(t, `_own <= _acked AND ${outside(t.scope, true)}`, villages, (r) => settled(r) && out(r));
          for (const r of victims) remove(t, r.rec.id);
          if (victims.length > 0) removed = true;
        }
      }
      // Step: sweep. The end of a re-pull: rows it did not confirm,
      // without unpushed writes, are gone on the server.
      const sweep = Number(meta.get("sweep") ?? "0");
      if (sweep && !resp.hasMore) {
        for (const t of allTables) {
          if (!t.program) continue; // reference data is seeded locally and never re-sent
          // Only a row the server may have collected: one whose last known
          // feed position is at or before the horizon (0: not known).
          const h = resp.gcHorizon;
          drop(t, await matching(t, `_gen < ? AND _own <= _acked AND _seq <= ?`, [sweep, Number(h)],
            (r) => r.gen < sweep && settled(r) && r.seq <= h));
        }
        setMeta("sweep", "0");
      }
      // Step: collect. Acknowledged tombstones at or before the server's
      // collection horizon go.
      if (resp.gcHorizon > 0n) {
        const h = resp.gcHorizon;
        for (const t of allTables) {
          if (!t.program) continue; // the server keeps deletes of reference data
          drop(t, await matching(t, `_deleted = 1 AND _own <= _acked AND _seq > 0 AND _seq <= ?`, [Number(h)],
            (r) => deleted(r.rec) && settled(r) && r.seq > 0n && r.seq <= h));
        }
      }
      // Step: evicted. Moved to a village this device does not serve.
      // Unpushed writes stay until pushed (the server keeps what it refuses).
      for (const e of resp.evicted) {
        const t = allTables.find((t) => t.name === e.table);
        if (!t || !t.scope) continue;
        const r = await get(t, e.id);
        if (r && settled(r)) {
          remove(t, e.id);
          removed = true;
        }
      }
      if (removed) {
        stmts.push(...(this.opt.removing?.() ?? []));
        // The file still has the removed rows' bytes: scrub them once this
        // commits, or at the next sync.
        setMeta("scrub", "1");
      }
      setMeta("cursor", resp.nextCursor.toString());
      setMeta("incarnation", resp.incarnation.toString());
      setMeta("server_id", resp.serverId.toString());
      setMeta("hlc", this.clock.lastValue.toString());
      // The first server key is kept for good, as the Go device does: a
      // different one later is another server's, or someone's in the middle.
      if (resp.serverBoxPublicKey.length === 32 && !meta.get("server_box_public_key")) {
        setMeta("server_box_public_key", hex(resp.serverBoxPublicKey));
      }
      await this.db.transaction(stmts);
      if (push.length > 0 || resp.changes.length > 0 || removed || sweep) this.touched++;
    });
  }

  /** startRepull starts pulling the whole scope again in a new
   * generation: every row the re-pull confirms is stamped with it, and
   * when the last page is in, rows it did not confirm are dropped (see
   * commit's sweep), unless they hold unpushed writes. */
  private startRepull(horizon: bigint): Promise<void> {
    return this.lock.run(async () => {
      const gen = Number((await readMeta(this.db)).get("gen") ?? "0") + 1;
      const set: [string, string][] = [["gen", String(gen)], ["sweep", String(gen)], ["cursor", "0"], ["full_pull", "1"],
        ["pull_horizon", horizon.toString()]];
      await this.db.transaction(set.map(([k, v]) => ({ sql: `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, bind: [k, v] })));
    });
  }

  /** serverRestored prepares a re-sync with a server restored from a
   * backup: every own write is pending again (the server may have lost
   * it), own deletes whose tombstones were dropped go back as pending
   * tombstones, and the whole scope is pulled again from the start. */
  private serverRestored(incarnation: bigint): Promise<void> {
    return this.lock.run(async () => {
      const stmts: Statement[] = allTables.map((t) => ({ sql: `UPDATE ${t.name} SET _acked = 0 WHERE _own > 0`, bind: [] }));
      for (const r of await this.db.query(`SELECT tbl, record_id, vv, tomb FROM own_deletes`)) {
        const t = allTables.find((t) => t.name === String(r["tbl"]));
        if (!t) continue; // a table this version no longer has
        const id = String(r["record_id"]);
        let rec: RecordState;
        try {
          const ts = fromJsonString(TombstoneSchema, String(r["tomb"]));
          rec = { table: t.name, id, version: fromPbVV(fromJsonString(VersionVectorSchema, String(r["vv"]))), fields: new Map(),
            tombstone: { dot: fromPbDot(ts.dot), context: fromPbVV(ts.context) } };
        } catch (e) {
          throw new Error(`sync: own delete of ${t.name} ${id}: ${e instanceof Error ? e.message : String(e)}`);
        }
        // Records the device holds again are left alone.
        stmts.push(upsert(t, { rec, own: rec.version.get(this.id) ?? 0n, acked: 0n, gen: 0, seq: 0n }, "INSERT OR IGNORE"));
      }
      // A full pull: the restored server may hold, as this device's own
      // writes, states this device has since dropped.
      const set: [string, string][] = [["cursor", "0"], ["scope_hash", "0"], ["full_pull", "1"], ["incarnation", incarnation.toString()]];
      for (const [k, v] of set) stmts.push({ sql: `INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, bind: [k, v] });
      stmts.push(...(this.opt.restored?.() ?? []));
      await this.db.transaction(stmts);
      this.touched++;
    });
  }

  /** scrub takes the bytes of rows a sync removed out of the file, if a
   * commit asked for it (clients/go/replica's scrub): VACUUM rewrites the
   * file from what it holds now, a TRUNCATE checkpoint empties the log. */
  private async scrub(): Promise<void> {
    if ((await readMeta(this.db)).get("scrub") !== "1") return;
    const truncateLog = async () => {
      const [r] = await this.db.query(`PRAGMA wal_checkpoint(TRUNCATE)`);
      if (r && Number(r["busy"] ?? 0) !== 0) throw new Error("sync: empty the log: a reader kept it busy; the next sync tries again");
    };
    try {
      await this.db.exec(`VACUUM`);
    } catch (e) {
      throw new Error(`sync: scrub removed records from the file: ${e instanceof Error ? e.message : String(e)}`);
    }
    await truncateLog();
    await this.db.exec(`DELETE FROM meta WHERE key = 'scrub'`);
    await truncateLog();
  }
}

/** villageOf is the village of a change to a record of t: the one the
 * change names, else the record's (here, then on the server); "" for a
 * table without villages or when none is known. */
function villageOf(t: Table, recs: (RecordState | undefined)[]): string {
  if (!t.scope) return "";
  for (const rec of recs) {
    const f = rec?.fields.get(t.scope);
    if (f && f.value.kind.case === "text") return f.value.kind.value;
  }
  return "";
}

function pbRecordJSON(rec: RecordState): unknown {
  return { table: rec.table, id: rec.id, fields: Object.fromEntries([...rec.fields].map(([n, f]) => [n, toSqlJSON(f.value)])) };
}

function toSqlJSON(v: PbValue): unknown {
  return v.kind.case === "integer" ? v.kind.value.toString() : (v.kind.value ?? null);
}

/** newerThan says whether change writes a column a server of schema
 * version server does not have (since above it): that server would refuse
 * the field, so the device keeps the change until the server updates. */
export function newerThan(t: Table, change: RecordState, server: number): boolean {
  if (server >= versions.schema) return false;
  for (const name of change.fields.keys()) {
    const c = t.columns.find((col) => col.name === name);
    if (c && c.since > server) return true;
  }
  return false;
}

/** waitingNote says that n changes wait for the server's update, as the
 * Go replica's WaitingNote does. */
export function waitingNote(n: number, server: number): string {
  return n === 1
    ? `1 change waits for the server's update (server schema ${server}, this app ${versions.schema})`
    : `${n} changes wait for the server's update (server schema ${server}, this app ${versions.schema})`;
}

export async function readMeta(db: Db): Promise<Map<string, string>> {
  const rows = await db.query(`SELECT key, value FROM meta`);
  return new Map(rows.map((r) => [String(r["key"]), String(r["value"])]));
}
