// The lists: her records per table (edit, delete after a confirmation)
// and the changes the server refused (the reason in her language, a way to
// correct each, and dismiss).
import { h, clear } from "../../dom";
import type { Listed } from "../db";
import { errText, type Ctx } from "../ctx";
import { valueLabel, type Messages } from "../i18n";
import { colName } from "./forms";
import { recordPhotos } from "./photos";

export const listedTables = ["tutoring_sessions", "cleanup_tasks", "loans"] as const;

/** One line that says what a record is. */
export function summary(m: Messages, r: Listed): string {
  const f = r.fields;
  const parts: (string | undefined)[] =
    r.table === "tutoring_sessions"
      ? [f.session_date, f.start_time, f.village, f.class_group, f.children_present ? m.children(f.children_present) : "", f.subjects]
      : r.table === "cleanup_tasks"
        ? [f.village, f.kind && valueLabel(m, f.kind), f.place, f.status && valueLabel(m, f.status), f.quantity && `${f.quantity}${f.unit ?? ""}`]
        : r.table === "loans"
          ? [f.village, f.borrower_card, f.lent_on, f.due_on && `→ ${f.due_on}`, f.returned_on && `✓ ${f.returned_on}`]
          : Object.values(f).slice(0, 4);
  return parts.filter(Boolean).join(" · ");
}

export function recordItem(ctx: Ctx, r: Listed, onDeleted?: () => void): HTMLElement {
  const status = h("span", { class: r.pending ? "badge pending" : "badge synced" }, r.pending ? ctx.m.pendingMark : ctx.m.syncedMark);
  const actions = h("div", { class: "row-actions" });
  const li = h(
    "li",
    { class: "record", "data-test": "record", "data-id": r.id, "data-table": r.table, "data-pending": r.pending ? "1" : "0" },
    h("p", { class: "summary" }, summary(ctx.m, r), " ", status),
    recordPhotos(ctx, r.table, r.fields),
    actions,
  );
  const note = h("p", { class: "field-error", role: "alert" });
  const drawActions = () => {
    clear(actions);
    actions.append(h("a", { class: "btn", href: `#/edit?table=${encodeURIComponent(r.table)}&id=${encodeURIComponent(r.id)}`, "data-test": "edit" }, ctx.m.edit));
    if (onDeleted) actions.append(h("button", { type: "button", class: "btn danger-outline", "data-test": "delete", onclick: confirmDelete }, ctx.m.delete));
  };
  // Deleting asks once more, in the page (a browser dialog would stop
  // everything else, the sync included).
  const confirmDelete = () => {
    clear(actions);
    actions.append(
      h(
        "button",
        {
          type: "button",
          class: "btn danger",
          "data-test": "delete-confirm",
          onclick: async () => {
            try {
              await ctx.db.delete(r.table, r.id, ctx.lang);
              ctx.sync.soon();
              onDeleted?.();
            } catch (e) {
              note.textContent = errText(e);
              drawActions();
            }
          },
        },
        ctx.m.confirmDelete,
      ),
      h("button", { type: "button", class: "btn", "data-test": "delete-cancel", onclick: drawActions }, ctx.m.cancel),
    );
  };
  drawActions();
  li.append(note);
  return li;
}

/** #/records?table=T */
export async function records(ctx: Ctx): Promise<void> {
  const table = (listedTables as readonly string[]).includes(ctx.params.get("table") ?? "") ? ctx.params.get("table")! : "tutoring_sessions";
  const tabs = h(
    "nav",
    { class: "tabs" },
    listedTables.map((t) =>
      h("a", { href: `#/records?table=${t}`, class: t === table ? "tab on" : "tab", "aria-current": t === table ? "page" : null, "data-test": `tab-${t}` }, ctx.m.tables[t] ?? t),
    ),
  );
  const list = h("ul", { class: "records", "data-test": "records", "data-table": table });
  ctx.root.append(h("h1", null, ctx.m.records), tabs, list);
  const draw = async () => {
    const rows = await ctx.db.list(table, 200, ctx.lang);
    if (!ctx.live()) return;
    clear(list);
    if (rows.length === 0) list.append(h("li", { class: "muted" }, ctx.m.noRecords));
    for (const r of rows) list.append(recordItem(ctx, r, () => void draw()));
    list.setAttribute("data-count", String(rows.length));
  };
  await draw();
  ctx.ready();
}

/** #/refused */
export async function refused(ctx: Ctx): Promise<void> {
  const list = h("ul", { class: "records refused", "data-test": "refused-list" });
  ctx.root.append(h("h1", null, ctx.m.refused), list);
  const draw = async () => {
    const all = await ctx.db.rejected(ctx.lang);
    if (!ctx.live()) return;
    clear(list);
    if (all.length === 0) list.append(h("li", { class: "muted", "data-test": "no-refused" }, ctx.m.noRefused));
    for (const r of all) {
      const what = [ctx.m.tables[r.table] ?? r.table, r.field ? colName(ctx.lang, r.table, r.field) : "", new Date(r.rejectedMs).toLocaleString(ctx.lang === "zh" ? "zh-CN" : "en-GB")]
        .filter(Boolean)
        .join(" · ");
      const values = Object.entries(r.change)
        .filter(([, v]) => v !== "")
        .slice(0, 5)
        .map(([k, v]) => `${colName(ctx.lang, r.table, k)}：${valueLabel(ctx.m, v)}`)
        .join("　");
      const note = h("p", { class: "field-error", role: "alert" });
      list.append(
        h(
          "li",
          { class: "record", "data-test": "refused", "data-id": String(r.id), "data-record": r.recordId, "data-table": r.table },
          h("p", { class: "refused-message", "data-test": "refused-message" }, r.message),
          h("p", { class: "muted small" }, what),
          values ? h("p", { class: "small" }, values) : null,
          h(
            "div",
            { class: "row-actions" },
            h(
              "a",
              {
                class: "btn primary",
                "data-test": "refused-fix",
                href: `#/edit?table=${encodeURIComponent(r.table)}&id=${encodeURIComponent(r.recordId)}&rejected=${r.id}`,
              },
              ctx.m.fix,
            ),
            h(
              "button",
              {
                type: "button",
                class: "btn",
                "data-test": "refused-dismiss",
                onclick: async () => {
                  try {
                    await ctx.db.dismiss(r.id, ctx.lang);
                    await draw();
                  } catch (e) {
                    note.textContent = errText(e);
                  }
                },
              },
              ctx.m.dismiss,
            ),
          ),
          note,
        ),
      );
    }
  };
  await draw();
  ctx.ready();
}
