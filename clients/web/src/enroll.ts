// Enrollment: a one-time code for a user, shown large as a QR code of the
// sign-in link, as text and as the link itself, with its expiry. A phone
// scans it and is signed in; the code works once.
import { access, manages, SignedOut } from "./api";
import { h, clear } from "./dom";
import { clearErrors, showError } from "./errors";
import { roleName, t } from "./i18n";
import { dateTime, relative } from "./format";
import { qrCode } from "./qr";
import type { Ctx } from "./page";

// A volunteer's code opens the volunteer app (which enrolls the phone as
// a device replica); everyone else's signs the browser into the console.
export function signinLink(code: string, role = ""): string {
  if (role === "volunteer") return `${location.origin}/app/#/enroll?code=${encodeURIComponent(code)}`;
  return `${location.origin}/#/signin?code=${encodeURIComponent(code)}`;
}

export async function enroll(ctx: Ctx): Promise<void> {
  const m = t();
  const { root } = ctx;
  root.append(h("div", { class: "page-head" }, h("h1", null, m.enrollTitle), h("p", { class: "muted" }, m.enrollIntro)));
  const { users } = await access.listUsers({});
  if (!ctx.live()) return;
  const order = ["volunteer", "coordinator", "staff", "admin"];
  const mine = users.filter((u) => manages(ctx.me.role, u.role))
    .sort((a, b) => order.indexOf(a.role) - order.indexOf(b.role) || a.name.localeCompare(b.name, "zh"));
  // No one is chosen for staff: a code made for the wrong person signs a
  // phone in as them.
  const user = h("select", { id: "enroll-user", name: "user", "data-test": "enroll-user", "data-field": "user", required: true },
    h("option", { value: "", disabled: true, selected: true }, m.chooseUser),
    mine.map((u) => h("option", { value: u.name }, `${u.name} · ${roleName(u.role)}${u.villages.length ? " · " + u.villages.join(t().sep) : ""}`)));
  const preset = ctx.params.get("user");
  if (preset) user.value = preset;
  const ttl = h("select", { id: "enroll-ttl", name: "ttl", "data-test": "enroll-ttl", "data-field": "ttl_seconds" },
    h("option", { value: "3600" }, m.ttl1h),
    h("option", { value: "86400", selected: true }, m.ttl24h),
    h("option", { value: "604800" }, m.ttl7d));
  const create = h("button", { type: "submit", class: "btn primary", "data-test": "enroll-create" }, m.enrollCreate);
  const result = h("section", { class: "enroll-result", "aria-live": "polite" });
  const form = h("form", { class: "panel enroll-form", novalidate: true },
    h("div", { class: "form-errors" }),
    mine.length === 0 ? h("p", { class: "muted" }, m.enrollNoUsers) : null,
    h("div", { class: "filter-row" },
      h("div", { class: "field grow" }, h("label", { for: "enroll-user" }, m.enrollUser), user),
      h("div", { class: "field" }, h("label", { for: "enroll-ttl" }, m.enrollTtl), ttl),
      h("div", { class: "filter-actions" }, create)));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void ctx.busy(async () => {
      clearErrors(form);
      create.disabled = true;
      try {
        const res = await access.createEnrollmentCode({ user: user.value, ttlSeconds: Number(ttl.value) });
        if (!ctx.live()) return;
        const role = mine.find((u) => u.name === user.value)?.role ?? "";
        drawCode(result, user.value, role, res.code, res.expiresAtMs);
      } catch (err) {
        if (err instanceof SignedOut || !ctx.live()) return;
        showError(form, err);
      } finally {
        create.disabled = false;
      }
    });
  });
  root.append(form, result);
}

function drawCode(box: HTMLElement, user: string, role: string, code: string, expires: bigint): void {
  const m = t();
  const link = signinLink(code, role);
  clear(box);
  box.append(h("div", { class: "panel enroll-card" },
    h("h2", null, m.enrollReady, " · ", user),
    h("div", { class: "qr-box" }, qrCode(link, m.qrLabel(link))),
    h("p", { class: "scan" }, m.enrollScan),
    h("p", { class: "code-label" }, m.enrollCodeLabel),
    h("p", { class: "code-big", "data-test": "enroll-code" }, code),
    h("p", { class: "code-label" }, m.enrollLinkLabel),
    h("p", { class: "link-box" }, h("a", { href: link, "data-test": "enroll-link", rel: "noreferrer" }, link)),
    h("p", { class: "expires", "data-test": "enroll-expires" }, m.enrollExpires(dateTime(expires), relative(expires)))));
}
