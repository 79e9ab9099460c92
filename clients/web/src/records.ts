// The records behind a village's figures (ReportService.ListRecords):
// each class with its sign-in sheet beside the children present, each
// cleanup task with its before and after photos side by side, newest
// first, a page at a time. Reached from a village's card on the overview
// (#/records?table=tutoring_sessions&village=南香村).
import { reports, SignedOut } from "./api";
import { h, type Child } from "./dom";
import { showError } from "./errors";
import type { ConflictRecord } from "./gen/villagesync/v1/sync_pb";
import type { ListRecordsResponse } from "./gen/villagesync/v1/report_pb";
import { fieldName, t, tableName } from "./i18n";
import { dateTime, num } from "./format";
import { photoThumbs } from "./photos";
import { valueText } from "./review";
import { href } from "./router";
import type { Ctx } from "./page";

// The tables the page lists, and what each row shows.
export const recordTables = ["tutoring_sessions", "cleanup_tasks"] as const;
type RecordTable = (typeof recordTables)[number];

// A page of the server's: enough for a month of classes in a village.
const pageSize = 50;

function fieldOf(r: ConflictRecord, name: string) {
  return r.fields.find((f) => f.name === name);
}

function text(r: ConflictRecord, name: string): string {
  return valueText(fieldOf(r, name)?.value, name);
}

// photos is a photo column's thumbnails, or says plainly that none was
// taken (a photo named but not uploaded yet says so itself: photos.ts).
function photos(r: ConflictRecord, name: string): HTMLElement {
  const v = fieldOf(r, name)?.value?.kind;
  const shown = v?.case === "text" ? photoThumbs(v.value) : null;
  return shown ?? h("span", { class: "no-photo", "data-test": "no-photo" }, t().noPhoto);
}

export async function records(ctx: Ctx): Promise<void> {
  const m = t();
  const { root } = ctx;
  const asked = ctx.params.get("table") ?? "";
  const table: RecordTable = (recordTables as readonly string[]).includes(asked) ? (asked as RecordTable) : "tutoring_sessions";
  const village = ctx.params.get("village") ?? "";
  const tabs = h("nav", { class: "tabs", "aria-label": m.recordsTables }, recordTables.map((tb) =>
    h("a", { href: href("records", village ? { table: tb, village } : { table: tb }), class: "chip", "data-test": `records-tab-${tb}`,
      "aria-current": tb === table ? "page" : null }, tableName(tb))));
  const head = h("div", { class: "page-head" },
    h("h1", null, `${tableName(table)} · ${village || m.allVillages}`),
    h("p", { class: "muted" }, table === "tutoring_sessions" ? m.recordsIntroSessions : m.recordsIntroTasks),
    h("p", null, h("a", { href: href("overview"), class: "inline-link" }, `← ${m.navOverview}`)), tabs);
  root.append(head);
  const th = (s: string) => h("th", { scope: "col" }, s);
  const cols = table === "tutoring_sessions"
    ? [fieldName("session_date"), fieldName("start_time"), fieldName("class_group"), m.attendanceAndSheet, fieldName("volunteers"), m.lastWrite]
    : [fieldName("kind"), fieldName("place"), fieldName("status"), m.beforeAfter, m.lastWrite];
  const body = h("tbody");
  const list = h("table", { class: "grid stack record-list", "data-test": "records", "data-table": table },
    h("thead", null, h("tr", null, cols.map(th))), body);
  const fresh = h("p", { class: "hint", "data-test": "records-freshness" });
  const more = h("button", { type: "button", class: "btn", "data-test": "records-more", hidden: true }, m.more);
  const box = h("section", { class: "panel" }, h("div", { class: "form-errors" }),
    h("div", { class: "scroll" }, list), more, fresh);
  root.append(box);
  let before = "";
  let shown = 0;
  const load = async (): Promise<boolean> => {
    let res: ListRecordsResponse;
    try {
      res = await reports.listRecords({ table, village, beforeId: before, limit: pageSize });
    } catch (e) {
      if (e instanceof SignedOut || !ctx.live()) throw e;
      showError(box, e);
      return false;
    }
    if (!ctx.live()) return false;
    for (const r of res.records) body.append(table === "tutoring_sessions" ? sessionRow(ctx, r, cols) : taskRow(ctx, r, cols));
    shown += res.records.length;
    before = res.nextBeforeId;
    more.hidden = !before;
    // How fresh: when the server read the list, and that devices not
    // synced since hold records it cannot show (the overview's freshness
    // names them).
    fresh.replaceChildren(m.recordsRead(dateTime(res.generatedAtMs), num(res.feedSeq), num(shown)), " ",
      m.recordsFreshNote, " ", h("a", { href: href("overview"), class: "inline-link" }, m.freshness));
    if (shown === 0) box.querySelector(".scroll")!.replaceWith(h("p", { class: "muted", "data-test": "records-none" }, m.recordsNone));
    return true;
  };
  more.addEventListener("click", () => void ctx.busy(async () => {
    more.disabled = true;
    try {
      await load();
    } finally {
      more.disabled = false;
    }
  }));
  await load();
}

function cell(label: string, ...content: Child[]): HTMLElement {
  return h("td", { "data-label": label }, ...content);
}

function writer(ctx: Ctx, table: string, r: ConflictRecord, label: string): HTMLElement {
  const m = t();
  const who = r.user && r.device ? m.writtenBy(r.user, r.device) : r.user || (r.device ? m.deviceOnly(r.device) : m.serverWrite);
  return h("td", { "data-label": label, class: "who-cell" }, h("span", { class: "who" }, who), h("br"), h("small", { class: "muted" }, dateTime(r.writtenAtMs)),
    ctx.caps.history ? [" ", h("a", { href: href("history", { table, id: r.id }), class: "inline-link" }, m.viewHistory)] : null);
}

// sessionRow puts the sign-in sheet beside the children present: the
// photo is what makes the figure credible.
function sessionRow(ctx: Ctx, r: ConflictRecord, cols: string[]): HTMLElement {
  return h("tr", { "data-test": "record", "data-record": r.id },
    h("th", { scope: "row", "data-label": cols[0] }, text(r, "session_date")),
    cell(cols[1]!, text(r, "start_time")),
    cell(cols[2]!, text(r, "class_group")),
    h("td", { "data-label": cols[3], "data-test": "attendance", class: "attendance" },
      h("span", { class: "figure", "data-test": "children" }, text(r, "children_present")), photos(r, "sheet_photos")),
    cell(cols[4]!, text(r, "volunteers")),
    writer(ctx, "tutoring_sessions", r, cols[5]!));
}

function taskRow(ctx: Ctx, r: ConflictRecord, cols: string[]): HTMLElement {
  return h("tr", { "data-test": "record", "data-record": r.id },
    h("th", { scope: "row", "data-label": cols[0] }, text(r, "kind")),
    cell(cols[1]!, text(r, "place")),
    cell(cols[2]!, text(r, "status")),
    h("td", { "data-label": cols[3], "data-test": "before-after", class: "photos-cell" },
      h("div", { class: "before-after" },
        h("figure", { "data-test": "before" }, h("figcaption", null, fieldName("photos_before")), photos(r, "photos_before")),
        h("figure", { "data-test": "after" }, h("figcaption", null, fieldName("photos_after")), photos(r, "photos_after")))),
    writer(ctx, "cleanup_tasks", r, cols[4]!));
}
