// The four forms and the edit form. Every field's control, options and
// name come from schema/ (rules/schema.gen.ts, rules/check.ts fieldName);
// the defaults are rules/defaults.ts's, shown filled in so she sees what
// will be saved. A save is awaited but nothing is disabled while it runs:
// she can keep typing, and a refused field keeps what she typed with the
// reason beside it.
import { h, clear } from "../../dom";
import { fieldName } from "../../rules/check";
import { fillDefaults } from "../../rules/defaults";
import { tables, type Column } from "../../rules/schema.gen";
import { DbError, type FieldProblem, type FormName, type Listed } from "../db";
import { errText, formOfTable, type Ctx } from "../ctx";
import { valueLabel } from "../i18n";
import { photoField } from "./photos";

/** The columns each form shows, in order. */
const formFields: Record<FormName, readonly string[]> = {
  "log-session": ["village", "session_date", "start_time", "class_group", "children_present", "subjects", "volunteers", "notes", "sheet_photos"],
  "report-cleanup": ["village", "kind", "place", "status", "quantity", "unit", "crew_size", "routine", "notes", "photos_before", "photos_after"],
  lend: ["village", "borrower_card", "lent_on", "due_on", "notes"],
  return: ["returned_on"],
};

/** What editing a record shows beyond its form (a loan's return date,
 * a cleanup's times). */
const editExtra: Record<string, readonly string[]> = {
  loans: ["returned_on"],
  cleanup_tasks: ["reported_at", "finished_at"],
};

const tableOfForm: Record<FormName, string> = {
  "log-session": "tutoring_sessions",
  "report-cleanup": "cleanup_tasks",
  lend: "loans",
  return: "loans",
};

function column(table: string, name: string): Column | undefined {
  const t = (tables as Record<string, { columns: readonly Column[] }>)[table];
  return t?.columns.find((c) => c.name === name);
}

/** A column's name in lang: schema's Chinese name (fieldName's, without
 * the table's), or the column's own words in English. */
export function colName(lang: "zh" | "en", table: string, name: string): string {
  const c = column(table, name);
  if (!c) return fieldName(lang, name);
  if (lang === "zh") return c.zh;
  const words = c.name.replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

// The control for a column: a select for an enum or a village, a date or
// time picker, a number keypad for numbers (as text, so that what she
// typed is kept and checked by the same rules as the server's), else text.
function control(ctx: Ctx, c: Column, value: string): Control {
  const id = `f-${c.name}`;
  const common = { id, name: c.name, "data-field": c.name, "aria-describedby": `e-${c.name}` };
  if (c.enum.length > 0 || c.format === "village") {
    const opts = c.format === "village" ? ctx.identity.villages : c.enum;
    const sel = h(
      "select",
      { ...common, required: c.required },
      h("option", { value: "" }, ctx.m.choose),
      opts.map((o) => h("option", { value: o }, c.format === "village" ? o : valueLabel(ctx.m, o))),
    );
    // A value the options lack (a refused one, a village out of scope) is
    // still shown, so that she sees what was refused.
    if (value !== "" && !opts.includes(value)) sel.append(h("option", { value }, value));
    sel.value = value;
    return sel;
  }
  if (c.multiline) {
    const ta = h("textarea", { ...common, rows: 3 });
    ta.value = value;
    return ta;
  }
  const attrs: Record<string, string | boolean> = { ...common, autocomplete: "off" };
  if (c.format === "date") attrs.type = "date";
  else if (c.format === "clock") attrs.type = "time";
  else {
    attrs.type = "text";
    if (c.type === "integer") attrs.inputmode = "numeric";
    if (c.type === "real") attrs.inputmode = "decimal";
  }
  const input = h("input", attrs);
  input.value = value;
  return input;
}

function fieldRow(ctx: Ctx, table: string, name: string, value: string): { row: HTMLElement; control: Control; set?: (v: string) => void } | undefined {
  const c = column(table, name);
  if (!c) return undefined;
  if (c.format === "attachments") return photoField(ctx, table, name, value);
  const ctl = control(ctx, c, value);
  const row = h(
    "div",
    { class: "field", "data-field-row": name },
    h("label", { for: ctl.id }, colName(ctx.lang, table, name), c.required ? h("span", { class: "req" }, " *") : null),
    ctl,
    h("p", { class: "field-error", id: `e-${name}`, "data-error-for": name, role: "alert" }),
  );
  return { row, control: ctl };
}

/** Puts each problem beside its field; one with no field of the form goes
 * to the form's own line. */
export function showProblems(ctx: Ctx, form: HTMLFormElement, problems: FieldProblem[], fallback: string): void {
  clearProblems(form);
  const top = form.querySelector<HTMLElement>("[data-test=form-error]")!;
  const lost: string[] = [];
  for (const p of problems) {
    const at = form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(p.field)}"]`);
    if (at) {
      at.textContent = at.textContent ? `${at.textContent} ${p.message}` : p.message;
      at.closest(".field")?.classList.add("bad");
    } else lost.push(p.message);
  }
  top.textContent = problems.length > 0 && lost.length === 0 ? ctx.m.fixFields : [fallback, ...lost].filter(Boolean).join(" ");
  top.hidden = false;
}

function clearProblems(form: HTMLFormElement): void {
  for (const e of form.querySelectorAll<HTMLElement>("[data-error-for]")) e.textContent = "";
  for (const e of form.querySelectorAll(".field.bad")) e.classList.remove("bad");
  const top = form.querySelector<HTMLElement>("[data-test=form-error]");
  if (top) {
    top.textContent = "";
    top.hidden = true;
  }
}

function values(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  for (const el of form.querySelectorAll<Control>("[data-field]")) out[el.name] = el.value.trim();
  return out;
}

function formShell(ctx: Ctx, name: string, title: string, note?: HTMLElement | null) {
  const saveButton = h("button", { type: "submit", class: "btn primary big", "data-test": "save" }, ctx.m.save);
  const status = h("p", { class: "save-status", "aria-live": "polite", "data-test": "save-status" });
  const form = h(
    "form",
    { "data-form": name, novalidate: true, class: "form" },
    h("p", { class: "form-error", "data-test": "form-error", role: "alert", hidden: true }),
  );
  const actions = h("div", { class: "actions" }, saveButton, status);
  ctx.root.append(h("h1", null, title));
  if (note) ctx.root.append(note);
  ctx.root.append(form);
  return { form, actions, status };
}

// Runs a save without blocking the form: a second press while one runs is
// ignored, nothing else is.
function onSubmit(form: HTMLFormElement, run: () => Promise<void>): void {
  let busy = false;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (busy) return;
    busy = true;
    form.setAttribute("aria-busy", "true");
    void run().finally(() => {
      busy = false;
      form.removeAttribute("aria-busy");
    });
  });
}

function savedMark(status: HTMLElement, text: string): void {
  clear(status);
  status.append(h("span", { "data-test": "saved", class: "ok" }, text));
}

function failed(ctx: Ctx, form: HTMLFormElement, status: HTMLElement, e: unknown): void {
  clear(status);
  if (e instanceof DbError && e.problems.length > 0) showProblems(ctx, form, e.problems, "");
  else showProblems(ctx, form, [], ctx.m.notSaved + errText(e));
}

/** A new record: log-session, report-cleanup, lend. */
export async function newRecord(ctx: Ctx, name: FormName): Promise<void> {
  if (name === "return") return returnBook(ctx);
  const table = tableOfForm[name];
  const { form, actions, status } = formShell(ctx, name, ctx.m.forms[name]);
  const controls = new Map<string, Control>();
  const photoSetters = new Map<string, (v: string) => void>();
  let book: HTMLInputElement | undefined;
  // A loan's village is the book's (the device takes it from the book, as
  // the Go replica's Lend does), so the lend form shows it, not asks it.
  let bookVillage: HTMLOutputElement | undefined;
  if (name === "lend") {
    const out = h("output", { id: "f-village", class: "readonly", "data-test": "loan-village" });
    bookVillage = out;
    book = bookPicker(ctx, form, (village) => (out.textContent = village));
  }
  // The schema's column defaults and the form's, as it would fill them now.
  const initial = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const f of formFields[name]) {
      const d = column(table, f)?.default;
      if (d !== null && d !== undefined) out[f] = String(d);
    }
    if (ctx.identity.villages.length === 1) out.village = ctx.identity.villages[0]!;
    return { ...out, ...fillDefaults(name, out, Date.now()) };
  };
  const start = initial();
  for (const f of formFields[name]) {
    if (f === "village" && bookVillage) {
      form.append(
        h(
          "div",
          { class: "field", "data-field-row": "village" },
          h("label", { for: bookVillage.id }, colName(ctx.lang, table, f)),
          bookVillage,
          h("p", { class: "muted" }, ctx.m.villageOfBook),
          h("p", { class: "field-error", id: "e-village", "data-error-for": "village", role: "alert" }),
        ),
      );
      continue;
    }
    const r = fieldRow(ctx, table, f, start[f] ?? "");
    if (!r) continue;
    controls.set(f, r.control);
    if (r.set) photoSetters.set(f, r.set);
    form.append(r.row);
  }
  // The due date follows the lending date until she sets it herself.
  const lentOn = controls.get("lent_on");
  const dueOn = controls.get("due_on");
  if (lentOn && dueOn) {
    let touched = false;
    dueOn.addEventListener("input", () => (touched = true));
    lentOn.addEventListener("input", () => {
      if (!touched) dueOn.value = fillDefaults(name, { lent_on: lentOn.value }, Date.now()).due_on ?? dueOn.value;
    });
  }
  form.append(actions);
  onSubmit(form, async () => {
    clearProblems(form);
    status.textContent = ctx.m.saving;
    const sent = values(form);
    const given: Record<string, string> = {};
    for (const [k, v] of Object.entries(sent)) if (v !== "") given[k] = v;
    try {
      await ctx.db.save(name, given, ctx.lang);
      ctx.sync.soon();
      if (!ctx.live()) return;
      // Ready for the next one: the defaults again, the village kept. A
      // box she has typed into while the save was on its way keeps what
      // she typed.
      const again = initial();
      for (const [k, c] of controls) {
        if (k !== "village" && c.value === (sent[k] ?? "")) {
          const set = photoSetters.get(k);
          if (set) set(again[k] ?? "");
          else c.value = again[k] ?? "";
        }
      }
      if (book) book.value = "";
      if (bookVillage) bookVillage.textContent = "";
      form.querySelector<HTMLElement>("[data-test=chosen-book]")?.replaceChildren();
      savedMark(status, ctx.m.saved);
    } catch (e) {
      if (ctx.live()) failed(ctx, form, status, e);
    }
  });
  ctx.ready();
}

// Finding the book for a loan: by title or ISBN, as she types; choosing
// one sets book_id (and shows the book's village, the loan's).
function bookPicker(ctx: Ctx, form: HTMLFormElement, onVillage: (v: string) => void): HTMLInputElement {
  const hidden = h("input", { type: "hidden", name: "book_id", "data-field": "book_id" });
  const search = h("input", { id: "f-book", type: "search", "data-test": "book-search", autocomplete: "off", enterkeyhint: "search" });
  const results = h("ul", { class: "book-results", "data-test": "book-results" });
  const chosen = h("p", { class: "chosen", "data-test": "chosen-book" });
  let seq = 0;
  const find = async () => {
    const mine = ++seq;
    const q = search.value.trim();
    if (q === "") {
      clear(results);
      return;
    }
    try {
      const found = await ctx.db.findBooks(q, 20, ctx.lang);
      if (mine !== seq || !ctx.live()) return;
      clear(results);
      if (found.length === 0) results.append(h("li", { class: "muted" }, ctx.m.noBooks));
      for (const b of found) {
        const label = bookLabel(ctx, b);
        results.append(
          h(
            "li",
            null,
            h(
              "button",
              {
                type: "button",
                class: "btn choice",
                "data-test": "book-result",
                "data-id": b.id,
                onclick: () => {
                  hidden.value = b.id;
                  chosen.replaceChildren(ctx.m.chosenBook, label);
                  clear(results);
                  onVillage(b.fields.village ?? "");
                },
              },
              label,
            ),
          ),
        );
      }
    } catch (e) {
      if (mine === seq && ctx.live()) results.replaceChildren(h("li", { class: "field-error" }, errText(e)));
    }
  };
  search.addEventListener("input", () => void find());
  form.append(
    h(
      "div",
      { class: "field", "data-field-row": "book_id" },
      h("label", { for: "f-book" }, ctx.m.findBook, h("span", { class: "req" }, " *")),
      search,
      hidden,
      results,
      chosen,
      h("p", { class: "field-error", "data-error-for": "book_id", role: "alert" }),
    ),
  );
  return hidden;
}

export function bookLabel(ctx: Ctx, b: Listed): string {
  const f = b.fields;
  return [f.title, f.author, f.isbn, f.village, f.library ? valueLabel(ctx.m, f.library) : ""].filter(Boolean).join(" · ");
}

/** The return form: choose an open loan, the day it came back. */
async function returnBook(ctx: Ctx): Promise<void> {
  const { form, actions, status } = formShell(ctx, "return", ctx.m.forms.return);
  const loan = h("select", { id: "f-loan", name: "loan", "data-test": "loan", required: true }, h("option", { value: "" }, ctx.m.choose));
  form.append(
    h(
      "div",
      { class: "field" },
      h("label", { for: "f-loan" }, ctx.m.chooseLoan, h("span", { class: "req" }, " *")),
      loan,
      h("p", { class: "field-error", "data-error-for": "loan", role: "alert" }),
    ),
  );
  const day = fieldRow(ctx, "loans", "returned_on", fillDefaults("return", {}, Date.now()).returned_on ?? "")!;
  form.append(day.row, actions);
  const fill = async () => {
    const open = (await ctx.db.list("loans", 500, ctx.lang)).filter((l) => (l.fields.returned_on ?? "") === "");
    if (!ctx.live()) return;
    const want = ctx.params.get("loan") ?? loan.value;
    loan.replaceChildren(h("option", { value: "" }, open.length === 0 ? ctx.m.noOpenLoans : ctx.m.choose));
    const titles = await Promise.all(
      open.slice(0, 50).map((l) => ctx.db.get("books", l.fields.book_id ?? "", ctx.lang).catch(() => undefined)),
    );
    if (!ctx.live()) return;
    open.forEach((l, i) => {
      const b = titles[i];
      loan.append(h("option", { value: l.id }, ctx.m.loanLabel(l.fields.borrower_card ?? "", b ? bookLabel(ctx, b) : (l.fields.book_id ?? ""), l.fields.due_on ?? "")));
    });
    if (open.some((l) => l.id === want)) loan.value = want;
  };
  await fill();
  onSubmit(form, async () => {
    clearProblems(form);
    if (loan.value === "") {
      showProblems(ctx, form, [{ field: "loan", message: ctx.m.chooseLoan }], "");
      return;
    }
    status.textContent = ctx.m.saving;
    try {
      await ctx.db.save("return", { returned_on: day.control.value.trim() }, ctx.lang, loan.value);
      ctx.sync.soon();
      if (!ctx.live()) return;
      savedMark(status, ctx.m.saved);
      ctx.params.delete("loan");
      await fill();
    } catch (e) {
      if (ctx.live()) failed(ctx, form, status, e);
    }
  });
  ctx.ready();
}

/** #/edit?table=T&id=ID[&rejected=N]: the record's form, filled from the
 * device (or, correcting a refusal, with the refused values); saving sends
 * only the fields she changed. */
export async function editRecord(ctx: Ctx): Promise<void> {
  const table = ctx.params.get("table") ?? "";
  const id = ctx.params.get("id") ?? "";
  const rejectedId = Number(ctx.params.get("rejected") ?? "0");
  const formName = formOfTable[table];
  const [rec, refused] = await Promise.all([
    ctx.db.get(table, id, ctx.lang),
    rejectedId ? ctx.db.rejected(ctx.lang).then((all) => all.find((r) => r.id === rejectedId)) : Promise.resolve(undefined),
  ]);
  if (!ctx.live()) return;
  const title = ctx.m.editTitle + (ctx.m.tables[table] ? ` · ${ctx.m.tables[table]}` : "");
  if (!formName || (!rec && !refused)) {
    ctx.root.append(h("h1", null, title), h("p", { class: "notice", "data-test": "not-found" }, ctx.m.notFound));
    ctx.ready();
    return;
  }
  const note = refused ? h("p", { class: "notice warn", "data-test": "fixing" }, ctx.m.fixing, refused.message) : null;
  const { form, actions, status } = formShell(ctx, formName, title, note);
  form.setAttribute("data-record", id);
  const original = rec?.fields ?? {};
  const shown = { ...original, ...(refused?.change ?? {}) };
  const cols = [...formFields[formName], ...(editExtra[table] ?? [])];
  if (table === "loans") cols.unshift("book_id");
  for (const f of cols) {
    const r = fieldRow(ctx, table, f, shown[f] ?? "");
    if (r) form.append(r.row);
  }
  form.append(actions);
  if (refused?.field) {
    const at = form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(refused.field)}"]`);
    if (at) at.textContent = refused.message;
  }
  let base = { ...original };
  onSubmit(form, async () => {
    clearProblems(form);
    const now = values(form);
    const changed: Record<string, string> = {};
    for (const [k, v] of Object.entries(now)) if (v !== (base[k] ?? "")) changed[k] = v;
    if (Object.keys(changed).length === 0) {
      savedMark(status, ctx.m.noChanges);
      return;
    }
    status.textContent = ctx.m.saving;
    try {
      if (rec) await ctx.db.edit(table, id, changed, ctx.lang);
      // The refused record is not on this device any more (the server
      // never took it): the correction is a new record of its form.
      else await ctx.db.save(formName, Object.fromEntries(Object.entries(now).filter(([, v]) => v !== "")), ctx.lang);
      base = { ...base, ...changed };
      if (refused) await ctx.db.dismiss(refused.id, ctx.lang).catch(() => undefined);
      ctx.sync.soon();
      if (ctx.live()) savedMark(status, ctx.m.saved);
    } catch (e) {
      if (ctx.live()) failed(ctx, form, status, e);
    }
  });
  ctx.ready();
}
