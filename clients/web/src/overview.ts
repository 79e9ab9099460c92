// The coordinators' overview: one GetReport call, drawn as totals since
// the start (overall and per village), charts, the village × month table
// and how fresh it all is. Every figure is the server's, unchanged.
import type { Chart } from "chart.js";
import { reports, SignedOut } from "./api";
import type { Series } from "./charts";
import { h, type Child } from "./dom";
import { clearErrors, showError } from "./errors";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetReportRequestSchema, GetReportResponse, ReportRow } from "./gen/villagesync/v1/report_pb";

type ReportQuery = MessageInitShape<typeof GetReportRequestSchema>;
import { cleanupKind, getLang, kindName, libraryName, t } from "./i18n";
import { amount, dateTime, month, num, relative, village } from "./format";
import { go, href } from "./router";
import type { Ctx } from "./page";
import { isConsole, lag } from "./devices";

// The villages seen in an unfiltered report, offered as quick picks.
let known: { name: string; pinyin: string }[] = [];

function request(params: URLSearchParams): ReportQuery {
  return {
    fromMonth: params.get("from") ?? "",
    toMonth: params.get("to") ?? "",
    villages: splitList(params.get("v") ?? ""),
  };
}

export function splitList(s: string): string[] {
  return s.split(/[,，、;；\s]+/).map((x) => x.trim()).filter(Boolean);
}

function sum(xs: bigint[]): bigint {
  return xs.reduce((a, b) => a + b, 0n);
}

const cleanupSums = (r: ReportRow) => ({
  reported: sum(r.cleanup.map((c) => c.reported)),
  done: sum(r.cleanup.map((c) => c.done)),
  checked: sum(r.cleanup.map((c) => c.checked)),
});

const loanSums = (r: ReportRow) => ({
  made: sum(r.loans.map((l) => l.made)),
  returned: sum(r.loans.map((l) => l.returned)),
  open: sum(r.loans.map((l) => l.open)),
  overdue: sum(r.loans.map((l) => l.overdue)),
});

const flagCount = (r: ReportRow): number => r.openFlags.reduce((a, f) => a + Number(f.count), 0);

// n is a number cell the tests read: plain digits under a data-test name.
const n = (test: string, v: bigint | number, tag: "td" | "span" = "td"): HTMLElement =>
  h(tag, { "data-test": test, class: "num" }, num(v));

export async function overview(ctx: Ctx): Promise<void> {
  const m = t();
  const req = request(ctx.params);
  const { root } = ctx;
  const filters = filterForm(req);
  // On a phone the figures come first: the filters fold away unless one
  // is set (or the server refused one, below).
  const filtered = !!(req.fromMonth || req.toMonth || req.villages?.length);
  const fold = h("details", { class: "filter-fold", open: filtered || matchMedia("(min-width: 720px)").matches },
    h("summary", null, m.filters), filters);
  root.append(h("div", { class: "page-head" }, h("h1", null, m.overviewTitle)), fold);
  const loading = h("p", { class: "muted" }, m.loading);
  root.append(loading);
  // Chart.js is half the console's code: fetched beside the report, not
  // before the sign-in page.
  const charting = import("./charts");
  charting.catch(() => undefined); // awaited below, once the report is in
  let rep: GetReportResponse;
  try {
    rep = await reports.getReport(req);
  } catch (e) {
    if (e instanceof SignedOut || !ctx.live()) throw e;
    loading.remove();
    fillVillagePicks(filters, ctx);
    fold.open = true;
    showError(filters, e);
    return;
  }
  if (!ctx.live()) return;
  loading.remove();
  if (!req.villages?.length) known = rep.villageTotals.map((v) => ({ name: v.village, pinyin: v.villagePinyin }));
  fillVillagePicks(filters, ctx);

  const head = root.querySelector(".page-head")!;
  head.append(
    h("p", { class: "period" }, `${m.period}: `,
      rep.fromMonth ? h("span", { "data-test": "period" }, `${month(rep.fromMonth)} – ${month(rep.toMonth)}`) : m.none),
    downloads(ctx, req));

  const open = rep.freshness?.openConflicts ?? [];
  const openTotal = open.reduce((a, c) => a + Number(c.count), 0);
  if (openTotal > 0) {
    root.append(h("div", { class: "banner warn", "data-test": "open-flags", role: "note" },
      m.flagsBanner(openTotal), " ",
      open.map((c, i) => [i ? m.sep : "", `${kindName(c.kind)} ${num(c.count)}`]),
      ctx.caps.review ? [" ", h("a", { href: href("review"), class: "inline-link" }, m.toReview)] : null));
  }

  if (!rep.total || rep.rows.length === 0) root.append(h("p", { class: "panel muted" }, m.noData));
  // "All villages" only when it is: a filter or a volunteer's scope
  // totals fewer.
  const some = (req.villages?.length ?? 0) > 0 || !ctx.me.allVillages;
  const totalTitle = some ? `${m.total}: ${rep.villageTotals.map((v) => village(v.village, v.villagePinyin)).join(m.sep)}` : m.allVillages;
  if (rep.total) root.append(totalBand(ctx, rep.total, totalTitle, "total"));
  root.append(h("section", { class: "cards" },
    rep.villageTotals.map((v) => totalBand(ctx, v, village(v.village, v.villagePinyin), "village-total"))));

  const charts = h("section", { class: "charts", "aria-label": m.charts },
    chartBox(m.chartAttendance, "chart-attendance", true),
    chartBox(m.chartCleanup, "chart-cleanup"),
    chartBox(m.chartLoans, "chart-loans"));
  root.append(charts);
  root.append(monthTable(ctx, rep));
  root.append(freshness(ctx, rep));

  // The charts need their boxes laid out to size themselves.
  const { bars } = await charting;
  if (!ctx.live()) return;
  const drawn = drawCharts(bars, charts, rep);
  ctx.onLeave(() => drawn.forEach((c) => c.destroy()));
  performance.mark("vs:overview-drawn");
}

function filterForm(req: ReportQuery): HTMLFormElement {
  const m = t();
  const from = h("input", { type: "month", name: "from", id: "f-from", "data-test": "filter-from", "data-field": "from_month" });
  from.value = req.fromMonth ?? "";
  const to = h("input", { type: "month", name: "to", id: "f-to", "data-test": "filter-to", "data-field": "to_month" });
  to.value = req.toMonth ?? "";
  const vs = h("input", { type: "text", name: "villages", id: "f-villages", "data-test": "filter-villages",
    "data-field": "villages", autocomplete: "off", "aria-describedby": "f-villages-hint" });
  vs.value = (req.villages ?? []).join(", ");
  const form = h("form", { class: "panel filters", novalidate: true, "aria-label": m.filters },
    h("div", { class: "form-errors" }),
    h("div", { class: "filter-row" },
      h("div", { class: "field month" }, h("label", { for: "f-from" }, m.fromMonth), from),
      h("div", { class: "field month" }, h("label", { for: "f-to" }, m.toMonth), to),
      h("div", { class: "field grow" }, h("label", { for: "f-villages" }, m.villages), vs,
        h("div", { class: "picks" }),
        h("small", { class: "hint", id: "f-villages-hint" }, m.villagesHint)),
      h("div", { class: "filter-actions" },
        h("button", { type: "submit", class: "btn primary", "data-test": "filter-apply" }, m.apply),
        h("button", { type: "button", class: "btn ghost", "data-test": "filter-reset", onclick: () => go("overview") }, m.resetFilters))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const p: Record<string, string> = {};
    if (from.value) p.from = from.value;
    if (to.value) p.to = to.value;
    const v = splitList(vs.value);
    if (v.length) p.v = v.join(",");
    go("overview", p);
  });
  return form;
}

// fillVillagePicks offers each known village as a toggle that edits the
// villages field, so a phone needs no typing.
function fillVillagePicks(form: HTMLFormElement, ctx: Ctx): void {
  const picks = form.querySelector(".picks")!;
  const input = form.querySelector<HTMLInputElement>("#f-villages")!;
  const list = ctx.me.allVillages ? known : ctx.me.villages.map((v) => known.find((k) => k.name === v) ?? { name: v, pinyin: "" });
  for (const v of list) {
    const on = () => splitList(input.value).includes(v.name);
    const b = h("button", { type: "button", class: "chip", "data-test": "pick-village", "data-village": v.name,
      "aria-pressed": String(on()) }, village(v.name, v.pinyin));
    b.addEventListener("click", () => {
      const cur = splitList(input.value);
      const next = on() ? cur.filter((x) => x !== v.name) : [...cur, v.name];
      input.value = next.join(", ");
      b.setAttribute("aria-pressed", String(on()));
    });
    picks.append(b);
  }
}

function downloads(ctx: Ctx, req: ReportQuery): HTMLElement {
  const m = t();
  const box = h("div", { class: "downloads" }, h("div", { class: "form-errors" }));
  const button = (format: "xlsx" | "csv", label: string) => {
    const b = h("button", { type: "button", class: "btn", "data-test": `download-${format}`, "data-field": "format" }, label);
    b.addEventListener("click", () => void ctx.busy(async () => {
      clearErrors(box);
      b.disabled = true;
      b.textContent = m.downloading;
      try {
        const res = await reports.exportReport({ report: req, format, lang: getLang() });
        const blob = new Blob([res.content as Uint8Array<ArrayBuffer>], { type: res.contentType || "application/octet-stream" });
        const url = URL.createObjectURL(blob);
        const a = h("a", { href: url, download: res.filename || `villagesync-report.${format}`, class: "hidden" });
        document.body.append(a);
        a.click();
        a.remove();
        // The download has its own copy; give the browser a moment to take it.
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
      } catch (e) {
        if (e instanceof SignedOut || !ctx.live()) throw e;
        showError(box, e);
      } finally {
        b.disabled = false;
        b.textContent = label;
      }
    }));
    return b;
  };
  box.append(button("xlsx", m.downloadXlsx), button("csv", m.downloadCsv));
  return box;
}

function flagBadge(ctx: Ctx, r: ReportRow): Child {
  const count = flagCount(r);
  if (!count) return null;
  const title = r.openFlags.map((f) => `${kindName(f.kind)}: ${num(f.count)}`).join("; ");
  const text = `⚑ ${t().flagged(count)}`;
  return ctx.caps.review
    ? h("a", { class: "badge warn", href: href("review"), title, "data-test": "flags" }, text)
    : h("span", { class: "badge warn", title, "data-test": "flags" }, text);
}

// totalBand is one ReportRow over the period: the overall total or a
// village's, with the same data-test names inside.
function totalBand(ctx: Ctx, r: ReportRow, title: string, test: string): HTMLElement {
  const m = t();
  const cs = cleanupSums(r);
  const ls = loanSums(r);
  const kpi = (test: string, v: bigint, label: string) =>
    h("div", { class: "kpi" }, n(test, v, "span"), h("span", { class: "kpi-label" }, label));
  return h("article", { class: test === "total" ? "band" : "card", "data-test": test, "data-village": r.village || null },
    h("h2", null, title, " ", h("small", null, m.sinceStart), " ", flagBadge(ctx, r)),
    h("div", { class: "parts" },
    h("section", { class: "part" },
    h("h3", null, m.tutoring),
    h("div", { class: "kpis" },
      kpi("sessions", r.tutoring?.sessions ?? 0n, m.sessions),
      kpi("attendances", r.tutoring?.studentAttendances ?? 0n, m.attendances),
      kpi("volunteers", r.tutoring?.volunteers ?? 0n, m.volunteersCount)),
    recordsLink(r, "tutoring_sessions")),
    h("section", { class: "part" },
    h("h3", null, m.cleanup),
    h("div", { class: "scroll" }, h("table", { class: "mini" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, m.kindCol), h("th", { scope: "col" }, m.reported),
        h("th", { scope: "col" }, m.done), h("th", { scope: "col" }, m.checked))),
      h("tbody", null, r.cleanup.map((c) => {
        // The work done, per unit as recorded, under the kind's name.
        const qty = c.quantities.filter((q) => q.amount).map((q) => `${amount(q.amount)} ${q.unit}`.trim()).join(m.sep);
        return h("tr", { "data-test": "cleanup-kind", "data-kind": c.kind },
          h("th", { scope: "row" }, cleanupKind(c.kind),
            qty ? h("small", { class: "qty", "data-test": "quantity", title: m.quantity }, qty) : null),
          n("reported", c.reported), n("done", c.done), n("checked", c.checked));
      })),
      h("tfoot", null, h("tr", null, h("th", { scope: "row" }, m.total), n("cleanup-reported", cs.reported),
        n("cleanup-done", cs.done), n("cleanup-checked", cs.checked))))),
    recordsLink(r, "cleanup_tasks")),
    h("section", { class: "part" },
    h("h3", null, m.loans),
    h("div", { class: "scroll" }, h("table", { class: "mini" },
      h("thead", null, h("tr", null, h("th", { scope: "col" }, m.library), h("th", { scope: "col" }, m.made),
        h("th", { scope: "col" }, m.returned), h("th", { scope: "col" }, m.open), h("th", { scope: "col" }, m.overdue))),
      h("tbody", null, r.loans.map((l) => h("tr", { "data-test": "library", "data-library": l.library },
        h("th", { scope: "row" }, libraryName(l.library)), n("made", l.made), n("returned", l.returned), n("open", l.open),
        n("overdue", l.overdue)))),
      h("tfoot", null, h("tr", null, h("th", { scope: "row" }, m.total), n("loans-made", ls.made), n("loans-returned", ls.returned),
        n("loans-open", ls.open), n("loans-overdue", ls.overdue))))))));
}

// recordsLink opens the records behind a village's figures (records.ts);
// the overall band links to every village's.
function recordsLink(r: ReportRow, table: string): HTMLElement {
  const p: Record<string, string> = { table };
  if (r.village) p.village = r.village;
  return h("a", { href: href("records", p), class: "inline-link records-link", "data-test": `records-link-${table}` },
    `${table === "cleanup_tasks" ? t().recordsLinkTasks : t().recordsLinkSessions} →`);
}

function chartBox(title: string, test: string, wide = false): HTMLElement {
  return h("figure", { class: wide ? "chart wide" : "chart" },
    h("figcaption", null, title),
    h("div", { class: "chart-area" }, h("canvas", { "data-test": test, role: "img", "aria-label": title })));
}

type Bars = typeof import("./charts").bars;

function drawCharts(bars: Bars, box: HTMLElement, rep: GetReportResponse): Chart[] {
  const m = t();
  const canvas = (test: string) => box.querySelector<HTMLCanvasElement>(`canvas[data-test=${test}]`)!;
  // The classes' months only: open loans give every month up to now a row,
  // and a year of empty bars would squeeze the season into a corner.
  const taught = rep.rows.filter((r) => (r.tutoring?.sessions ?? 0n) > 0n).map((r) => r.month).sort();
  const all = [...new Set(rep.rows.map((r) => r.month))].sort();
  const months = taught.length ? all.filter((mo) => mo >= taught[0]! && mo <= taught[taught.length - 1]!) : all;
  const attendance: Series[] = rep.villageTotals.map((v) => ({
    label: village(v.village, v.villagePinyin),
    data: months.map((mo) => {
      const row = rep.rows.find((r) => r.village === v.village && r.month === mo);
      return Number(row?.tutoring?.studentAttendances ?? 0n);
    }),
  }));
  const total = rep.total;
  const kinds = total?.cleanup ?? [];
  const libs = total?.loans ?? [];
  return [
    bars(canvas("chart-attendance"), months.map(month), attendance),
    bars(canvas("chart-cleanup"), kinds.map((c) => cleanupKind(c.kind)), [
      { label: m.reported, data: kinds.map((c) => Number(c.reported)) },
      { label: m.done, data: kinds.map((c) => Number(c.done)) },
      { label: m.checked, data: kinds.map((c) => Number(c.checked)) },
    ]),
    bars(canvas("chart-loans"), libs.map((l) => libraryName(l.library)), [
      { label: m.made, data: libs.map((l) => Number(l.made)) },
      { label: m.returned, data: libs.map((l) => Number(l.returned)) },
      { label: m.open, data: libs.map((l) => Number(l.open)) },
      { label: m.overdue, data: libs.map((l) => Number(l.overdue)) },
    ]),
  ];
}

function monthTable(ctx: Ctx, rep: GetReportResponse): HTMLElement {
  const m = t();
  const th = (s: string) => h("th", { scope: "col" }, s);
  const pinyin = new Map(rep.villageTotals.map((v) => [v.village, v.villagePinyin]));
  return h("section", { class: "panel" },
    h("h2", null, m.byMonth),
    h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": m.byMonth },
      h("table", { class: "grid", "data-test": "months" },
        h("thead", null,
          h("tr", null, h("th", { scope: "col", rowspan: 2 }, m.village), h("th", { scope: "col", rowspan: 2 }, m.month),
            h("th", { scope: "colgroup", colspan: 3 }, m.tutoring), h("th", { scope: "colgroup", colspan: 3 }, m.cleanup),
            h("th", { scope: "colgroup", colspan: 4 }, m.loans), h("th", { scope: "col", rowspan: 2 }, "")),
          h("tr", null, th(m.sessions), th(m.attendances), th(m.volunteersCount), th(m.reported), th(m.done), th(m.checked),
            th(m.made), th(m.returned), th(m.open), th(m.overdue))),
        h("tbody", null, rep.rows.map((r) => {
          const cs = cleanupSums(r);
          const ls = loanSums(r);
          const revised = Number(r.revisedAtMs) > 0;
          return h("tr", { "data-test": "row", "data-village": r.village, "data-month": r.month, class: revised ? "revised" : null },
            h("th", { scope: "row" }, village(r.village, pinyin.get(r.village) ?? r.villagePinyin)),
            h("td", { class: "month" }, month(r.month)),
            n("sessions", r.tutoring?.sessions ?? 0n), n("attendances", r.tutoring?.studentAttendances ?? 0n),
            n("volunteers", r.tutoring?.volunteers ?? 0n),
            n("cleanup-reported", cs.reported), n("cleanup-done", cs.done), n("cleanup-checked", cs.checked),
            n("loans-made", ls.made), n("loans-returned", ls.returned), n("loans-open", ls.open), n("loans-overdue", ls.overdue),
            h("td", { class: "marks" },
              revised ? h("span", { class: "badge info", "data-test": "revised",
                title: m.revisedTitle(dateTime(r.firstReportedAtMs), dateTime(r.revisedAtMs)) },
                `✎ ${m.revised} ${dateTime(r.revisedAtMs)}`) : null,
              flagBadge(ctx, r)));
        })))));
}

function freshness(ctx: Ctx, rep: GetReportResponse): HTMLElement {
  const m = t();
  const f = rep.freshness;
  const now = Date.now();
  const open = f?.openConflicts ?? [];
  return h("section", { class: "panel", "data-test": "freshness" },
    h("h2", null, m.freshness),
    h("dl", { class: "facts" },
      h("div", null, h("dt", null, m.generatedAt), h("dd", null, f ? dateTime(f.generatedAtMs) : m.never)),
      h("div", null, h("dt", null, m.feedSeq), h("dd", { "data-test": "feed-seq", class: "num" }, num(f?.feedSeq ?? 0n))),
      h("div", null, h("dt", null, m.openConflicts), h("dd", null,
        open.length ? open.map((c, i) => [i ? m.sep : "", `${kindName(c.kind)} ${num(c.count)}`]) : m.none,
        open.length && ctx.caps.review ? [" ", h("a", { href: href("review"), class: "inline-link" }, m.toReview)] : null))),
    h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": m.freshness },
      h("table", { class: "grid" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, m.device), h("th", { scope: "col" }, m.user),
          h("th", { scope: "col" }, m.lastSync), h("th", { scope: "col" }, m.behind))),
        h("tbody", null, (f?.devices ?? []).map((d) => {
          const revoked = Number(d.revokedAtMs) > 0;
          return h("tr", { "data-test": "device", "data-replica": d.replica, class: revoked ? "revoked" : null },
            h("th", { scope: "row" }, d.name, " ", h("small", { class: "muted" }, `#${d.replica}`),
              isConsole(d.name) ? [" ", h("span", { class: "badge muted", title: m.consoleNote }, m.consoleBadge)] : null,
              revoked ? [" ", h("span", { class: "badge muted", "data-test": "revoked", title: dateTime(d.revokedAtMs) }, m.revokedMark)] : null),
            h("td", null, d.user),
            h("td", { title: dateTime(d.lastSeenMs) }, relative(d.lastSeenMs, now)),
            h("td", null, lag(d.behind, d.lastSeenMs)));
        })))),
    h("p", { class: "hint" }, m.freshNote));
}
