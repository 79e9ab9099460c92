// People and villages (admins): users with their roles and villages, a new
// user, a volunteer's villages changed, a village added. The server checks
// every name; its messages land next to the field they name.
import { access, SignedOut } from "./api";
import { h } from "./dom";
import { clearErrors, showError } from "./errors";
import type { User, Village } from "./gen/villagesync/v1/access_pb";
import { roleName, t } from "./i18n";
import { dateTime } from "./format";
import { splitList } from "./overview";
import type { Ctx } from "./page";

const roles = ["volunteer", "coordinator", "staff", "admin"] as const;

async function load(): Promise<{ users: User[]; villages: Village[]; villagesError: unknown }> {
  const [us, vs] = await Promise.allSettled([access.listUsers({}), access.listVillages({})]);
  if (us.status === "rejected") throw us.reason;
  if (vs.status === "rejected" && vs.reason instanceof SignedOut) throw vs.reason;
  return {
    users: us.value.users,
    villages: vs.status === "fulfilled" ? vs.value.villages : [],
    villagesError: vs.status === "rejected" ? vs.reason : null,
  };
}

export async function people(ctx: Ctx): Promise<void> {
  const m = t();
  ctx.root.append(h("div", { class: "page-head" }, h("h1", null, m.peopleTitle)));
  const data = await load();
  if (!ctx.live()) return;
  draw(ctx, data, "");
}

type Data = Awaited<ReturnType<typeof load>>;

function draw(ctx: Ctx, data: Data, notice: string): void {
  const m = t();
  const { root } = ctx;
  root.querySelectorAll(".people").forEach((e) => e.remove());
  const users = [...data.users].sort((a, b) => roles.indexOf(a.role as never) - roles.indexOf(b.role as never) || a.name.localeCompare(b.name, "zh"));
  const th = (s: string) => h("th", { scope: "col" }, s);
  const reload = async (msg: string) => {
    const d = await load();
    if (ctx.live()) draw(ctx, d, msg);
  };
  root.append(h("div", { class: "people" },
    notice ? h("p", { class: "banner ok", role: "status", "data-test": "notice" }, notice) : null,
    h("section", { class: "panel" },
      h("h2", null, m.users),
      h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": m.users },
        h("table", { class: "grid stack" },
          h("thead", null, h("tr", null, th(m.name), th(m.role), th(m.villages), th(m.createdAt))),
          h("tbody", null, users.map((u) => h("tr", { "data-test": "user", "data-user": u.name, "data-role": u.role },
            h("th", { scope: "row", "data-label": m.name }, u.name),
            h("td", { "data-label": m.role }, roleName(u.role)),
            h("td", { "data-label": m.villages }, u.role === "volunteer" ? villagesEditor(ctx, u, reload) : (u.villages.join(t().sep) || m.everyVillage)),
            h("td", { "data-label": m.createdAt }, dateTime(u.createdAtMs)))))))),
    newUserForm(ctx, data.villages, reload),
    villagesSection(ctx, data, reload)));
}

function villageOptions(id: string, villages: Village[]): HTMLDataListElement {
  return h("datalist", { id }, villages.map((v) => h("option", { value: v.name }, v.pinyin)));
}

function villagesEditor(ctx: Ctx, u: User, reload: (msg: string) => Promise<void>): HTMLElement {
  const m = t();
  const input = h("input", { type: "text", name: "villages", "data-test": "set-villages-input", "data-field": "villages",
    "aria-label": `${m.editVillages}: ${u.name}`, autocomplete: "off" });
  input.value = u.villages.join(", ");
  const save = h("button", { type: "submit", class: "btn", "data-test": "set-villages" }, m.save);
  const form = h("form", { class: "inline-form", novalidate: true }, h("div", { class: "form-errors" }), h("div", { class: "field" }, input), save);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void ctx.busy(async () => {
      clearErrors(form);
      save.disabled = true;
      try {
        await access.setVillages({ user: u.name, villages: splitList(input.value) });
        await reload(m.villagesSaved(u.name));
      } catch (err) {
        if (err instanceof SignedOut || !ctx.live()) return;
        save.disabled = false;
        showError(form, err);
      }
    });
  });
  return form;
}

function newUserForm(ctx: Ctx, villages: Village[], reload: (msg: string) => Promise<void>): HTMLElement {
  const m = t();
  const name = h("input", { id: "nu-name", type: "text", name: "name", "data-test": "new-user-name", "data-field": "name", autocomplete: "off", required: true });
  const role = h("select", { id: "nu-role", name: "role", "data-test": "new-user-role", "data-field": "role" },
    roles.map((r) => h("option", { value: r }, roleName(r))));
  const vs = h("input", { id: "nu-villages", type: "text", name: "villages", "data-test": "new-user-villages", "data-field": "villages",
    autocomplete: "off", list: "village-names" });
  const create = h("button", { type: "submit", class: "btn primary", "data-test": "new-user-create" }, m.create);
  const form = h("form", { class: "panel", novalidate: true, "aria-labelledby": "nu-title" },
    h("h2", { id: "nu-title" }, m.newUser),
    h("div", { class: "form-errors" }),
    villageOptions("village-names", villages),
    h("div", { class: "filter-row" },
      h("div", { class: "field" }, h("label", { for: "nu-name" }, m.newUserName), name),
      h("div", { class: "field" }, h("label", { for: "nu-role" }, m.newUserRole), role),
      h("div", { class: "field grow" }, h("label", { for: "nu-villages" }, m.newUserVillages), vs,
        h("small", { class: "hint" }, m.villagesHint)),
      h("div", { class: "filter-actions" }, create)));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void ctx.busy(async () => {
      clearErrors(form);
      create.disabled = true;
      try {
        const res = await access.createUser({ name: name.value.trim(), role: role.value, villages: splitList(vs.value) });
        await reload(m.created(res.user?.name ?? name.value.trim()));
      } catch (err) {
        if (err instanceof SignedOut || !ctx.live()) return;
        create.disabled = false;
        showError(form, err);
      }
    });
  });
  return form;
}

function villagesSection(ctx: Ctx, data: Data, reload: (msg: string) => Promise<void>): HTMLElement {
  const m = t();
  const name = h("input", { id: "nv-name", type: "text", name: "name", "data-test": "new-village-name", "data-field": "name", autocomplete: "off" });
  const pinyin = h("input", { id: "nv-pinyin", type: "text", name: "pinyin", "data-test": "new-village-pinyin", "data-field": "pinyin", autocomplete: "off" });
  const aliases = h("input", { id: "nv-aliases", type: "text", name: "aliases", "data-test": "new-village-aliases", "data-field": "aliases", autocomplete: "off" });
  const add = h("button", { type: "submit", class: "btn primary", "data-test": "new-village-add" }, m.addVillage);
  const form = h("form", { class: "sub-form", novalidate: true, "aria-labelledby": "nv-title" },
    h("h3", { id: "nv-title" }, m.addVillage),
    h("div", { class: "form-errors" }),
    h("div", { class: "filter-row" },
      h("div", { class: "field" }, h("label", { for: "nv-name" }, m.name), name),
      h("div", { class: "field" }, h("label", { for: "nv-pinyin" }, m.pinyin), pinyin),
      h("div", { class: "field grow" }, h("label", { for: "nv-aliases" }, m.aliases), aliases, h("small", { class: "hint" }, m.aliasesHint)),
      h("div", { class: "filter-actions" }, add)));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void ctx.busy(async () => {
      clearErrors(form);
      add.disabled = true;
      try {
        await access.addVillage({ name: name.value.trim(), pinyin: pinyin.value.trim(), aliases: splitList(aliases.value) });
        await reload(m.villageAdded(name.value.trim()));
      } catch (err) {
        if (err instanceof SignedOut || !ctx.live()) return;
        add.disabled = false;
        showError(form, err);
      }
    });
  });
  const list = h("div", { class: "village-list" });
  if (data.villagesError) {
    list.append(h("p", { class: "muted" }, m.villagesUnavailable), h("div", { class: "form-errors" }));
    showError(list, data.villagesError);
  } else {
    list.append(h("ul", { class: "chips" }, data.villages.map((v) => h("li", { class: "chip static", "data-test": "village", "data-village": v.name },
      v.name, " ", h("span", { class: "muted" }, v.pinyin), v.aliases.length ? h("span", { class: "muted" }, ` (${v.aliases.join(t().sep)})`) : null))));
  }
  return h("section", { class: "panel" }, h("h2", null, m.villagesList), list, form);
}
