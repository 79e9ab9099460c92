// A record's history: the audit of every change made to it (who, on which
// device, when, with what outcome), newest at the top.
import { access } from "./api";
import { h } from "./dom";
import { showError } from "./errors";
import { outcomeName, t, tableName, tables } from "./i18n";
import { dateTime, num } from "./format";
import { go } from "./router";
import type { Ctx } from "./page";

export async function history(ctx: Ctx): Promise<void> {
  const m = t();
  const { root } = ctx;
  const table = ctx.params.get("table") ?? "";
  const id = ctx.params.get("id") ?? "";
  const tableSel = h("select", { id: "h-table", name: "table", "data-test": "history-table", "data-field": "table" },
    tables.map((tb) => h("option", { value: tb, selected: tb === table }, tableName(tb))));
  const idIn = h("input", { id: "h-id", name: "record_id", type: "text", "data-test": "history-id", "data-field": "record_id",
    autocomplete: "off", spellcheck: "false", class: "mono" });
  idIn.value = id;
  const form = h("form", { class: "panel", novalidate: true },
    h("div", { class: "form-errors" }),
    h("div", { class: "filter-row" },
      h("div", { class: "field" }, h("label", { for: "h-table" }, m.table), tableSel),
      h("div", { class: "field grow" }, h("label", { for: "h-id" }, m.recordId), idIn),
      h("div", { class: "filter-actions" }, h("button", { type: "submit", class: "btn primary", "data-test": "history-show" }, m.show))));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    go("history", { table: tableSel.value, id: idIn.value.trim() });
  });
  root.append(h("div", { class: "page-head" }, h("h1", null, m.historyPageTitle), h("p", { class: "muted" }, m.historyIntro)), form);
  if (!table || !id) {
    root.append(h("p", { class: "muted" }, m.chooseRecord));
    return;
  }
  let changes;
  try {
    changes = (await access.listChanges({ table, recordId: id })).changes;
  } catch (e) {
    if (!ctx.live()) return;
    if (e instanceof Error && e.name === "SignedOut") throw e;
    showError(form, e);
    return;
  }
  if (!ctx.live()) return;
  const sorted = [...changes].sort((a, b) => Number(b.seq - a.seq) || Number(b.atMs - a.atMs));
  root.append(h("section", { class: "panel" },
    h("h2", null, tableName(table), " ", h("span", { class: "mono muted" }, id)),
    sorted.length === 0 ? h("p", { class: "muted" }, m.noChanges)
      : h("ol", { class: "timeline", "data-test": "timeline" }, sorted.map((c) =>
        h("li", { "data-test": "change", "data-seq": c.seq.toString(), "data-outcome": c.outcome, class: `outcome-${c.outcome.split(" ")[0]}` },
          h("div", { class: "when" }, dateTime(c.atMs)),
          h("div", { class: "what" }, h("strong", null, outcomeName(c.outcome)), " · ", who(c.replica, c.user, c.device)),
          c.detail ? h("div", { class: "detail" }, c.detail) : null,
          c.seq ? h("div", { class: "seq muted" }, `${m.seq} ${num(c.seq)}`) : null)))));
}

// who names the writer of a change. A volunteer is not told who another
// volunteer is (replica 0, see access.proto's Change); the server's own
// writes (replica 1) have no user.
function who(replica: number, user: string, device: string): string {
  const m = t();
  if (replica === 0) return m.otherVolunteer;
  if (!user && replica === 1) return m.server;
  return `${user || "?"} · ${m.onDevice(num(replica), device)}`;
}
