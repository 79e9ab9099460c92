// The review queue: what sync could not decide alone, each entry with both
// sides (who wrote what, on which device, when), the records it is about,
// and what each resolution would do, in a sentence; resolved with a click
// and a confirmation, then listed under the queue's history.
import { conflicts, SignedOut } from "./api";
import { confirmDialog } from "./confirm";
import { append, h, type Child } from "./dom";
import { showError } from "./errors";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { Conflict, ConflictRecord, ListConflictsRequestSchema, Value } from "./gen/villagesync/v1/sync_pb";
import { cleanupKind, fieldName, kindName, libraryName, resolutionName, statusName, t, tableName } from "./i18n";
import { dateTime, hlcMs, num } from "./format";
import { photoThumbs } from "./photos";
import { href } from "./router";
import type { Ctx } from "./page";

// The resolutions each kind takes, as sync/store and schema declare them.
const resolutionsByKind: Record<string, string[]> = {
  field: ["keep", "take_loser", "noted"],
  delete_vs_edit: ["keep", "take_loser", "noted"],
  duplicate_session: ["merge", "distinct"],
  double_loan: ["noted"],
};

// The fields staff decide a flag by, per table; the rest stay in the
// record's history.
const shownFields: Record<string, string[]> = {
  tutoring_sessions: ["village", "session_date", "start_time", "class_group", "children_present", "volunteers", "subjects", "notes"],
  loans: ["village", "book_id", "borrower_card", "lent_on", "due_on", "returned_on", "notes"],
  cleanup_tasks: ["village", "kind", "place", "status", "quantity", "unit", "crew_size", "reported_at", "finished_at", "photos_before", "photos_after"],
  books: ["village", "library", "title", "author", "isbn", "copy_no"],
  villages: ["name", "pinyin", "aliases"],
};

async function listAll(req: MessageInitShape<typeof ListConflictsRequestSchema>): Promise<Conflict[]> {
  const out: Conflict[] = [];
  let after = 0n;
  // Pages of the server's largest: 1000 entries, 100 with their records
  // (sync.proto's ListConflictsRequest.limit), so a page shorter than
  // that is the last. 20,000 entries is more than any season has produced.
  const page = req.withRecords ? 100 : 1000;
  for (let i = 0; i < 20000 / page; i++) {
    const res = await conflicts.listConflicts({ ...req, afterId: after, limit: page });
    out.push(...res.conflicts);
    if (res.conflicts.length < page) break;
    after = res.conflicts[res.conflicts.length - 1]!.id;
  }
  return out;
}

export async function review(ctx: Ctx): Promise<void> {
  const m = t();
  const { root } = ctx;
  root.append(h("div", { class: "page-head" }, h("h1", null, m.reviewTitle), h("p", { class: "muted" }, m.reviewIntro)));
  const [queue, done] = await lists();
  if (!ctx.live()) return;
  draw(ctx, queue, done);
}

// lists is the queue and its history. Each is filtered here as well: an
// entry is open exactly while it has no resolution, whatever a server
// that predates resolved_only sends.
async function lists(): Promise<[Conflict[], Conflict[]]> {
  const [queue, done] = await Promise.all([
    listAll({ openOnly: true, withRecords: true }),
    listAll({ resolvedOnly: true }),
  ]);
  return [queue.filter((c) => !c.resolution), done.filter((c) => c.resolution)];
}

function draw(ctx: Ctx, queue: Conflict[], done: Conflict[]): void {
  const m = t();
  const { root } = ctx;
  root.querySelectorAll(".review-lists").forEach((e) => e.remove());
  done.sort((a, b) => Number(b.resolvedAtMs - a.resolvedAtMs) || Number(b.id - a.id));
  root.append(h("div", { class: "review-lists" },
    h("section", { class: "queue", "data-test": "queue", "aria-label": m.reviewTitle },
      h("h2", null, m.reviewTitle, " ", h("span", { class: "count", "data-test": "queue-count" }, num(queue.length))),
      queue.length ? queue.map((c) => entry(ctx, c)) : h("p", { class: "panel muted" }, m.queueEmpty)),
    h("section", { class: "history", "data-test": "history", "aria-label": m.historyTitle },
      h("h2", null, m.historyTitle, " ", h("span", { class: "count" }, num(done.length))),
      done.length ? h("ol", { class: "done-list" }, done.slice(0, 300).map((c) => resolved(ctx, c)))
        : h("p", { class: "muted" }, m.historyEmpty))));
}

export function valueText(v: Value | undefined, field = ""): string {
  const m = t();
  const k = v?.kind;
  if (!k || k.case === undefined) return m.valueNull;
  switch (k.case) {
    case "text":
      if (field === "kind") return cleanupKind(k.value);
      if (field === "library") return libraryName(k.value);
      if (field === "status") return statusName(k.value);
      return k.value === "" ? m.valueNull : k.value;
    case "integer":
      return num(k.value);
    case "real":
      return String(k.value);
    case "boolean":
      return k.value ? m.yes : m.no;
  }
}

function side(title: string, value: string, device: string, user: string, hlc: bigint | undefined, cls: string): HTMLElement {
  return h("div", { class: `side ${cls}` },
    h("h4", null, title),
    h("p", { class: "value", "data-test": cls === "winner" ? "winner-value" : "loser-value" }, value),
    h("p", { class: "who" }, who(user, device)),
    h("p", { class: "when" }, hlc ? dateTime(hlcMs(hlc)) : ""));
}

// who names the person and the device of a write; either may be unknown
// (a server write, or a device since deleted).
function who(user: string, device: string): string {
  const m = t();
  if (user && device) return m.writtenBy(user, device);
  return user || (device ? m.deviceOnly(device) : m.serverWrite);
}

function fieldOf(r: ConflictRecord, name: string) {
  return r.fields.find((f) => f.name === name);
}

function children(r: ConflictRecord): bigint {
  const v = fieldOf(r, "children_present")?.value?.kind;
  return v?.case === "integer" ? v.value : 0n;
}

function recordCard(ctx: Ctx, table: string, r: ConflictRecord, label: string): HTMLElement {
  const m = t();
  const names = shownFields[table] ?? r.fields.map((f) => f.name);
  return h("div", { class: `record${r.deleted ? " deleted" : ""}`, "data-test": "record", "data-record": r.id },
    h("h4", null, label, r.deleted ? [" ", h("span", { class: "badge muted" }, m.copyDeleted)] : null),
    h("dl", { class: "fields" }, names.map((name) => {
      const f = fieldOf(r, name);
      if (!f) return null;
      // A class's sign-in sheet stands beside its attendance: the photo
      // is what makes the figure credible.
      if (name === "children_present") {
        const sheet = fieldOf(r, "sheet_photos")?.value?.kind;
        return h("div", null, h("dt", null, fieldName(name)),
          h("dd", { "data-field-name": name }, h("span", { class: "figure" }, valueText(f.value, name)),
            sheet?.case === "text" ? photoThumbs(sheet.value) : null));
      }
      const v = f.value?.kind;
      if (name.startsWith("photos_")) {
        const shown = v?.case === "text" ? photoThumbs(v.value) : null;
        return shown ? h("div", null, h("dt", null, fieldName(name)), h("dd", { "data-field-name": name }, shown)) : null;
      }
      return h("div", null, h("dt", null, fieldName(name)), h("dd", { "data-field-name": name }, valueText(f.value, name)));
    })),
    h("p", { class: "who" }, `${m.lastWrite}: ${who(r.user, r.device)}, ${dateTime(r.writtenAtMs)}`),
    ctx.caps.history ? h("a", { href: href("history", { table, id: r.id }), class: "link" }, m.viewHistory) : null);
}

// effect says what resolving c as res would do, in the page's language,
// from the records as the server holds them now.
function effect(c: Conflict, res: string): string {
  const m = t();
  const winner = c.field === "_deleted" ? m.valueEdited : valueText(c.winnerValue, c.field);
  switch (res) {
    case "keep":
      return m.effKeep(winner);
    case "take_loser":
      return c.kind === "delete_vs_edit" ? m.effTakeLoserDelete : m.effTakeLoser(fieldName(c.field), valueText(c.loserValue, c.field));
    case "noted":
      return c.kind === "double_loan" ? m.effNotedLoan : m.effNoted;
    case "merge":
    case "distinct": {
      const live = c.records.filter((r) => !r.deleted).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      if (live.length === 0) return res === "merge" ? m.effMergeGeneric : m.effDistinctGeneric;
      const first = children(live[0]!);
      const all = live.reduce((a, r) => a + children(r), 0n);
      return res === "merge"
        ? m.effMerge(live.length - 1, num(first), "1")
        : m.effDistinct(num(live.length), num(all), "1", num(first));
    }
  }
  return "";
}

function entry(ctx: Ctx, c: Conflict): HTMLElement {
  const m = t();
  const id = c.id.toString();
  const card = h("article", { class: "conflict panel", "data-test": "conflict", "data-id": id, "data-kind": c.kind },
    h("header", null,
      h("h3", null, kindName(c.kind), " ", h("span", { class: "muted" }, m.entry(id))),
      h("p", { class: "meta" }, `${tableName(c.table)} · ${m.detectedAt} ${dateTime(c.detectedAtMs)}`)),
    h("div", { class: "form-errors" }));

  const flag = c.kind === "duplicate_session" || c.kind === "double_loan";
  if (!flag) {
    card.append(h("p", null, `${m.field}: `, h("strong", null, fieldName(c.field))));
    const winnerText = c.field === "_deleted" ? `${m.valueEdited}` : valueText(c.winnerValue, c.field);
    const loserText = c.field === "_deleted" ? m.valueDeleted : valueText(c.loserValue, c.field);
    card.append(h("div", { class: "sides" },
      side(m.kept, winnerText, c.winnerDevice, c.winnerUser, c.winnerDot?.hlc, "winner"),
      side(m.lost, loserText, c.loserDevice, c.loserUser, c.loserDot?.hlc, "loser")));
  }
  if (c.records.length) {
    const sorted = [...c.records].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const firstLive = sorted.find((r) => !r.deleted);
    card.append(h("h4", { class: "sub" }, m.recordsInvolved),
      h("div", { class: "records" }, sorted.map((r) => recordCard(ctx, c.table, r,
        c.kind === "duplicate_session" ? (r === firstLive ? m.earliestCopy : m.laterCopy) : `${m.record} ${r.id.slice(0, 8)}…`))));
  } else if (ctx.caps.history) {
    card.append(h("p", null, h("a", { href: href("history", { table: c.table, id: c.recordId }), class: "link" }, m.viewHistory)));
  }

  const options = resolutionsByKind[c.kind] ?? [];
  append(card, [h("h4", { class: "sub" }, m.whatItDoes),
    h("ul", { class: "options" }, options.map((res): Child => h("li", null,
      ctx.caps.resolve
        ? h("button", { type: "button", class: res === "merge" || res === "keep" ? "btn primary" : "btn", "data-test": `resolve-${res}`,
          "data-field": "resolution", onclick: () => void resolve(ctx, card, c, res) }, resolutionName(res))
        : h("strong", null, resolutionName(res)),
      h("span", { class: "effect" }, effect(c, res))))),
    ctx.caps.resolve ? null : h("p", { class: "muted" }, m.staffDecide)]);
  return card;
}

async function resolve(ctx: Ctx, card: HTMLElement, c: Conflict, res: string): Promise<void> {
  const m = t();
  const ok = await confirmDialog(m.confirmResolve(c.id.toString(), resolutionName(res)), effect(c, res), resolutionName(res));
  if (!ok) return;
  await ctx.busy(async () => {
    card.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      await conflicts.resolveConflict({ id: c.id, resolution: res, by: ctx.me.user });
      const [queue, done] = await lists();
      if (ctx.live()) draw(ctx, queue, done);
    } catch (e) {
      if (e instanceof SignedOut || !ctx.live()) return;
      card.querySelectorAll("button").forEach((b) => (b.disabled = false));
      showError(card, e);
    }
  });
}

function resolved(ctx: Ctx, c: Conflict): HTMLElement {
  const m = t();
  const id = c.id.toString();
  return h("li", { class: "conflict done", "data-test": "conflict", "data-id": id, "data-kind": c.kind, "data-resolution": c.resolution },
    h("span", { class: "what" }, kindName(c.kind), " ", h("span", { class: "muted" }, m.entry(id)), " · ", tableName(c.table)),
    h("span", { class: "how" }, m.resolvedBy(c.resolvedBy, dateTime(c.resolvedAtMs), resolutionName(c.resolution))),
    ctx.caps.history ? h("a", { href: href("history", { table: c.table, id: c.recordId }), class: "link" }, m.viewHistory) : null);
}
