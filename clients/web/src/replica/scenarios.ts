// The runner of clients/protocol-scenarios for this replica, as
// clients/go/replica/scenarios_internal_test.go plays them for the Go one:
// the state before written straight into a fresh database, the replica
// driven through a scripted transport with the fixed wall clock, every
// request compared whole, every state read back and compared. It returns
// the failures, each naming the file, the step and the round; the Go test
// cmd/villagesync/internal/systest/scenarios runs it under Node.
import { create, equals, fromJson, toJsonString } from "@bufbuild/protobuf";
import type { JsonValue } from "@bufbuild/protobuf";
import type { Db } from "./db";
import { allTables, deviceDDL } from "./ddl";
import { Replica, fromPbRecord, fromPbVV, pbRecord, readMeta, readRows, upsert } from "./replica";
import type { Transport } from "./replica";
import {
  RecordSchema,
  SyncRequestSchema,
  SyncResponseSchema,
  TombstoneSchema,
  ValueSchema,
  VersionVectorSchema,
} from "../gen/villagesync/v1/sync_pb";
import type { Record as PbRecord, SyncRequest, SyncResponse, Value as PbValue } from "../gen/villagesync/v1/sync_pb";

type Obj = { [k: string]: JsonValue };

interface State {
  meta?: { [k: string]: string };
  rows?: { record: Obj; own?: number; acked?: number; gen?: number }[];
  rejected?: { table: string; id: string; counter: number; code: string; message: string }[];
  own_deletes?: { table: string; id: string; version: Obj; tombstone: Obj }[];
}

interface Write {
  table: string;
  id: string;
  fields?: { [k: string]: Obj };
  error?: string;
}

interface Round {
  request: Obj;
  response?: Obj;
  fail?: string;
  in_flight?: Step[];
}

interface Step {
  put?: Write;
  delete?: Write;
  sync?: { rounds: Round[]; error?: string };
  after?: State;
}

interface Scenario {
  name: string;
  why: string;
  wall_ms: number;
  before: State;
  steps: Step[];
  after: State;
}

const metaDefaults: { [k: string]: string } = {
  replica: "", server_id: "0", incarnation: "0", cursor: "0", scope: "*", scope_hash: "0",
  full_pull: "0", gen: "0", sweep: "0", pull_horizon: "0", hlc: "0",
  scrub: "0", rejected_removed: "0", server_schema: "1",
};

// The meta keys compared only when a state gives them: identity, the
// clock, the scrub flag and count of refused changes dropped with a
// village, and the server's schema version, which few scenarios are about.
const statedOnly = new Set(["replica", "server_id", "hlc", "scrub", "rejected_removed", "server_schema"]);

// Unknown keys are errors: a misspelt key must not pass as "nothing asserted".
const known: { [what: string]: string[] } = {
  scenario: ["name", "why", "wall_ms", "before", "steps", "after"],
  state: ["meta", "rows", "rejected", "own_deletes"],
  row: ["record", "own", "acked", "gen"],
  rejected: ["table", "id", "counter", "code", "message"],
  own_delete: ["table", "id", "version", "tombstone"],
  step: ["put", "delete", "sync", "after"],
  write: ["table", "id", "fields", "error"],
  sync: ["rounds", "error"],
  round: ["request", "response", "fail", "in_flight"],
};

function checkKeys(where: string, what: string, v: unknown): void {
  if (typeof v !== "object" || v === null) return;
  for (const k of Object.keys(v)) {
    if (!known[what]!.includes(k)) throw new Error(`${where}: unknown key ${JSON.stringify(k)} in a ${what}`);
  }
}

function checkScenario(file: string, sc: Scenario): void {
  checkKeys(file, "scenario", sc);
  const state = (w: string, s: State | undefined) => {
    if (!s) return;
    checkKeys(w, "state", s);
    for (const r of s.rows ?? []) checkKeys(w, "row", r);
    for (const r of s.rejected ?? []) checkKeys(w, "rejected", r);
    for (const r of s.own_deletes ?? []) checkKeys(w, "own_delete", r);
    for (const k of Object.keys(s.meta ?? {})) {
      if (!(k in metaDefaults)) throw new Error(`${w}: meta key ${JSON.stringify(k)} is not one of the checklist's`);
    }
  };
  const steps = (w: string, ss: Step[]) =>
    ss.forEach((st, i) => {
      const sw = `${w} step ${i + 1}`;
      checkKeys(sw, "step", st);
      checkKeys(sw, "write", st.put);
      checkKeys(sw, "write", st.delete);
      checkKeys(sw, "sync", st.sync);
      state(sw, st.after);
      st.sync?.rounds.forEach((r, j) => {
        checkKeys(`${sw} round ${j + 1}`, "round", r);
        steps(`${sw} round ${j + 1} in_flight`, r.in_flight ?? []);
      });
    });
  state(`${file} before`, sc.before);
  state(`${file} after`, sc.after);
  steps(file, sc.steps);
  if (!sc.name || !sc.why || sc.why.includes("\n")) throw new Error(`${file}: a scenario needs a name and a one-line why`);
  if (!sc.wall_ms) throw new Error(`${file}: wall_ms (the device's wall clock) is required: dots carry it`);
}

function normRecord(m: PbRecord): PbRecord {
  m.fields.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return m;
}

function normRequest(m: SyncRequest): SyncRequest {
  m.changes.forEach(normRecord);
  return m;
}

const pretty = (m: SyncRequest) => toJsonString(SyncRequestSchema, m, { prettySpaces: 2, useProtoFieldName: true });
const prettyRecord = (m: PbRecord) => toJsonString(RecordSchema, m, { useProtoFieldName: true });

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** setUp writes a state straight into an empty database (storage, not history). */
async function setUp(file: string, db: Db, st: State): Promise<void> {
  for (const s of deviceDDL()) await db.exec(s);
  const meta: { [k: string]: string } = { hlc: "0", cursor: "0", scope: "*", scope_hash: "0", server_id: "0", ...st.meta };
  const me = Number(meta["replica"]);
  if (!Number.isInteger(me) || me <= 0) throw new Error(`${file} before: meta.replica is required`);
  for (const [k, v] of Object.entries(meta)) await db.exec(`INSERT INTO meta (key, value) VALUES (?, ?)`, [k, v]);
  for (const [i, row] of (st.rows ?? []).entries()) {
    const m = fromJson(RecordSchema, row.record);
    const rec = fromPbRecord(m);
    const t = allTables.find((t) => t.name === rec.table);
    if (!t) throw new Error(`${file} before: rows[${i}]: unknown table ${rec.table}`);
    const own = row.own !== undefined ? BigInt(row.own) : (rec.version.get(me) ?? 0n);
    const s = upsert(t, { rec, own, acked: BigInt(row.acked ?? 0), gen: row.gen ?? 0, seq: m.seq });
    await db.exec(s.sql, s.bind);
  }
  for (const rj of st.rejected ?? []) {
    await db.exec(`INSERT INTO rejected (tbl, record_id, counter, code, message, change, rejected_ms) VALUES (?, ?, ?, ?, ?, '{}', 0)`,
      [rj.table, rj.id, rj.counter, rj.code, rj.message]);
  }
  for (const tr of st.own_deletes ?? []) {
    await db.exec(`INSERT INTO own_deletes (tbl, record_id, vv, tomb) VALUES (?, ?, ?, ?)`, [tr.table, tr.id,
      toJsonString(VersionVectorSchema, fromJson(VersionVectorSchema, tr.version)),
      toJsonString(TombstoneSchema, fromJson(TombstoneSchema, tr.tombstone))]);
  }
}

function scopeSet(s: string): string {
  if (s === "*") return s;
  try {
    return JSON.stringify((JSON.parse(s) as string[]).slice().sort());
  } catch {
    return s;
  }
}

interface RowView {
  key: string;
  record: PbRecord;
  own: bigint;
  acked: bigint;
  gen: number;
}

const showRow = (r: RowView) => `${r.key} own=${r.own} acked=${r.acked} gen=${r.gen}\n  ${prettyRecord(r.record)}`;

/** checkState reads the device's state back and compares it with want. */
async function checkState(where: string, db: Db, me: number, want: State, fail: (s: string) => void): Promise<void> {
  const meta = await readMeta(db);
  for (const [k, def] of Object.entries(metaDefaults)) {
    let w = want.meta?.[k];
    if (w === undefined) {
      if (statedOnly.has(k)) continue;
      w = def;
    }
    let got = meta.get(k) ?? def;
    if (k === "scope") [got, w] = [scopeSet(got), scopeSet(w)];
    if (got !== w) fail(`${where}: meta ${k} = ${JSON.stringify(got)}, want ${JSON.stringify(w)}`);
  }

  const wantRows: RowView[] = (want.rows ?? []).map((row) => {
    const m = normRecord(fromJson(RecordSchema, row.record));
    const own = row.own !== undefined ? BigInt(row.own) : (fromPbVV(m.version).get(me) ?? 0n);
    return { key: `${m.table}/${m.id}`, record: m, own, acked: BigInt(row.acked ?? 0), gen: row.gen ?? 0 };
  });
  const gotRows: RowView[] = [];
  for (const t of allTables) {
    if (!t.program) continue;
    for (const row of await readRows(db, t)) {
      gotRows.push({ key: `${t.name}/${row.rec.id}`, record: pbRecord(row.rec, row.seq), own: row.own, acked: row.acked, gen: row.gen });
    }
  }
  const byKey = (a: RowView, b: RowView) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  wantRows.sort(byKey);
  gotRows.sort(byKey);
  const same = gotRows.length === wantRows.length && gotRows.every((g, i) => {
    const w = wantRows[i]!;
    return g.key === w.key && g.own === w.own && g.acked === w.acked && g.gen === w.gen && equals(RecordSchema, g.record, w.record);
  });
  if (!same) fail(`${where}: rows are\n${gotRows.map(showRow).join("\n")}\nwant\n${wantRows.map(showRow).join("\n")}`);

  const gotRej = (await db.query(`SELECT tbl, record_id, counter, code, message FROM rejected ORDER BY id`)).map((r) =>
    JSON.stringify([r["tbl"], r["record_id"], Number(r["counter"]), r["code"], r["message"]]));
  const wantRej = (want.rejected ?? []).map((r) => JSON.stringify([r.table, r.id, r.counter, r.code, r.message]));
  if (gotRej.join("\n") !== wantRej.join("\n")) {
    fail(`${where}: rejected are\n${gotRej.join("\n")}\nwant\n${wantRej.join("\n")}`);
  }

  const gotTr = (await db.query(`SELECT tbl, record_id, vv, tomb FROM own_deletes ORDER BY tbl, record_id`)).map((r) =>
    JSON.stringify([r["tbl"], r["record_id"], String(r["vv"]), String(r["tomb"])]));
  const wantTr = (want.own_deletes ?? [])
    .map((tr) => JSON.stringify([tr.table, tr.id, toJsonString(VersionVectorSchema, fromJson(VersionVectorSchema, tr.version)),
      toJsonString(TombstoneSchema, fromJson(TombstoneSchema, tr.tombstone))]))
    .sort();
  if (gotTr.join("\n") !== wantTr.join("\n")) fail(`${where}: own_deletes are\n${gotTr.join("\n")}\nwant\n${wantTr.join("\n")}`);
}

function wantErr(where: string, err: unknown, want: string | undefined, fail: (s: string) => void): void {
  if (!want && err !== undefined) fail(`${where}: ${message(err)}`);
  else if (want && err === undefined) fail(`${where}: succeeded, want an error containing ${JSON.stringify(want)}`);
  else if (want && !message(err).includes(want)) fail(`${where}: ${message(err)}, want an error containing ${JSON.stringify(want)}`);
}

/** playScenario plays one file on a fresh database and returns what failed. */
export async function playScenario(file: string, data: unknown, db: Db): Promise<string[]> {
  const failures: string[] = [];
  const fail = (s: string) => failures.push(s);
  try {
    const sc = data as Scenario;
    checkScenario(file, sc);
    await setUp(file, db, sc.before);
    let script: { where: string; rounds: Round[]; n: number } = { where: "", rounds: [], n: 0 };
    const write = async (where: string, st: Step) => {
      let err: unknown;
      if (st.put) {
        const values = new Map<string, PbValue>();
        for (const [name, v] of Object.entries(st.put.fields ?? {})) values.set(name, fromJson(ValueSchema, v));
        await replica.put(st.put.table, st.put.id, values).catch((e: unknown) => (err = e));
        wantErr(`${where} (put)`, err, st.put.error, fail);
      } else if (st.delete) {
        await replica.delete(st.delete.table, st.delete.id).catch((e: unknown) => (err = e));
        wantErr(`${where} (delete)`, err, st.delete.error, fail);
      } else {
        throw new Error(`${where}: an in-flight step is a put or a delete`);
      }
    };
    const transport: Transport = {
      async sync(req: SyncRequest): Promise<SyncResponse> {
        if (script.n >= script.rounds.length) {
          fail(`${script.where}: the device sent request ${script.n + 1}, the scenario scripts ${script.rounds.length}:\n${pretty(req)}`);
          throw new Error("scenario: no more rounds scripted");
        }
        const round = script.rounds[script.n]!;
        const where = `${script.where} round ${++script.n}`;
        const want = normRequest(fromJson(SyncRequestSchema, round.request));
        const got = normRequest(create(SyncRequestSchema, req));
        if (!equals(SyncRequestSchema, got, want)) fail(`${where}: the device sent\n${pretty(got)}\nwant\n${pretty(want)}`);
        for (const [i, st] of (round.in_flight ?? []).entries()) await write(`${where} in_flight ${i + 1}`, st);
        if (round.fail) throw new Error(round.fail);
        return fromJson(SyncResponseSchema, round.response ?? {});
      },
    };
    const replica = await Replica.open(db, { transport, wallMs: () => sc.wall_ms });
    for (const [i, st] of sc.steps.entries()) {
      const where = `${file} step ${i + 1}`;
      if (st.put || st.delete) await write(where, st);
      else if (st.sync) {
        script = { where: `${where} (sync)`, rounds: st.sync.rounds, n: 0 };
        let err: unknown;
        await replica.sync().catch((e: unknown) => (err = e));
        wantErr(`${where} (sync)`, err, st.sync.error, fail);
        if (script.n !== script.rounds.length) {
          fail(`${where} (sync): the device sent ${script.n} requests, the scenario scripts ${script.rounds.length}`);
        }
      } else if (!st.after) throw new Error(`${where}: a step is a put, a delete, a sync or an after`);
      if (st.after) await checkState(where, db, replica.id, st.after, fail);
    }
    await checkState(`${file} after`, db, replica.id, sc.after, fail);
  } catch (e) {
    fail(`${file}: ${message(e)}`);
  }
  return failures;
}
