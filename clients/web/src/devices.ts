// Devices: every enrolled phone and browser, whose it is, when it last
// synced and how far behind the server's feed it is; staff revoke one
// (after a confirmation) and its next call is refused.
import { access, Code, isCode, manages, ownReplica, reports, SignedOut } from "./api";
import { confirmDialog } from "./confirm";
import { h } from "./dom";
import type { Child } from "./dom";
import { showError } from "./errors";
import { carriedSection, writeFileFor } from "./carry";
import type { Device, User } from "./gen/villagesync/v1/access_pb";
import { roleName, t } from "./i18n";
import { dateTime, num, relative } from "./format";
import type { Ctx } from "./page";

// Row is what the page shows of a device, from ListDevices or, for a
// coordinator (who may not list devices), from the report's freshness.
interface Row {
  replica: number;
  name: string;
  user: string;
  role: string;
  enrolledAtMs: bigint;
  lastSeenMs: bigint;
  revokedAtMs: bigint;
  behind: bigint;
}

async function load(ctx: Ctx): Promise<{ rows: Row[]; users: User[]; fromReport: boolean }> {
  if (ctx.caps.listDevices) {
    const [ds, us] = await Promise.all([
      access.listDevices({}),
      ctx.caps.listUsers ? access.listUsers({}) : Promise.resolve({ users: [] as User[] }),
    ]);
    return { rows: ds.devices.map(fromDevice), users: us.users, fromReport: false };
  }
  try {
    const ds = await access.listDevices({});
    return { rows: ds.devices.map(fromDevice), users: [], fromReport: false };
  } catch (e) {
    if (!isCode(e, Code.PermissionDenied)) throw e;
  }
  // The report's freshness lists the same devices, with their users, last
  // syncs and lag: the coordinators' read-only view.
  const rep = await reports.getReport({});
  const rows = (rep.freshness?.devices ?? []).map((d): Row => ({
    replica: d.replica, name: d.name, user: d.user, role: "", enrolledAtMs: 0n,
    lastSeenMs: d.lastSeenMs, revokedAtMs: d.revokedAtMs, behind: d.behind,
  }));
  return { rows, users: [], fromReport: true };
}

function fromDevice(d: Device): Row {
  return {
    replica: d.replica, name: d.name, user: d.user, role: d.role, enrolledAtMs: d.enrolledAtMs,
    lastSeenMs: d.lastSeenMs, revokedAtMs: d.revokedAtMs, behind: d.behind,
  };
}

// isConsole tells the browsers this console enrolled (signin.ts names
// them): they read through the API and never sync, so their lag means
// nothing.
export function isConsole(name: string): boolean {
  return /^console-[a-z]+-[0-9a-f]{4}$/.test(name);
}

// lag is a device's "changes not pulled" cell. A device that has never
// synced (a console's browser, or a phone not yet used) has no lag: the
// server says 0 for it (access.proto's Device.behind), which is not "up
// to date".
export function lag(behind: bigint, lastSeenMs: bigint): Child {
  const m = t();
  if (lastSeenMs === 0n) return h("span", { class: "muted", "data-test": "never-synced" }, m.neverSynced);
  return [h("span", { "data-test": "behind", class: "num" }, num(behind)),
    behind === 0n ? [" ", h("span", { class: "ok" }, m.upToDate)] : null];
}

export async function devices(ctx: Ctx): Promise<void> {
  const m = t();
  const { root } = ctx;
  root.append(h("div", { class: "page-head" }, h("h1", null, m.devicesTitle), h("p", { class: "muted" }, m.devicesIntro)));
  const data = await load(ctx);
  if (!ctx.live()) return;
  draw(ctx, data.rows, data.users, data.fromReport);
  root.append(carriedSection(ctx));
}

function draw(ctx: Ctx, rows: Row[], users: User[], fromReport: boolean): void {
  const m = t();
  const { root } = ctx;
  root.querySelectorAll(".devices").forEach((e) => e.remove());
  const villagesOf = new Map(users.map((u) => [u.name, u]));
  const now = Date.now();
  const mine = ownReplica();
  const showVillages = users.length > 0;
  const th = (s: string) => h("th", { scope: "col" }, s);
  const box = h("section", { class: "panel devices" },
    fromReport ? h("p", { class: "hint" }, m.devicesFromReport) : null,
    h("div", { class: "form-errors" }),
    rows.length === 0 ? h("p", { class: "muted" }, m.noDevices) : h("div", { class: "scroll", tabindex: 0, role: "region", "aria-label": m.devicesTitle },
      h("table", { class: "grid stack" },
        h("thead", null, h("tr", null, th(m.replica), th(m.name), th(m.user), fromReport ? null : th(m.role),
          showVillages ? th(m.villages) : null, fromReport ? null : th(m.enrolledAt), th(m.lastSync), th(m.behind), th(m.status),
          ctx.caps.listDevices ? th(m.actions) : null)),
        h("tbody", null, rows.map((d) => {
          const revoked = d.revokedAtMs > 0n;
          const u = villagesOf.get(d.user);
          const mayRevoke = ctx.caps.listDevices && !revoked && (d.replica === mine || manages(ctx.me.role, d.role));
          return h("tr", { "data-test": "device", "data-replica": d.replica, class: revoked ? "revoked" : null },
            h("td", { class: "num", "data-label": m.replica }, num(d.replica)),
            h("th", { scope: "row", "data-label": m.name }, d.name,
              d.replica === mine ? [" ", h("span", { class: "badge info" }, m.thisBrowser)]
              : isConsole(d.name) ? [" ", h("span", { class: "badge muted", title: m.consoleNote }, m.consoleBadge)] : null),
            h("td", { "data-label": m.user }, d.user),
            fromReport ? null : h("td", { "data-label": m.role }, roleName(d.role)),
            showVillages ? h("td", { "data-label": m.villages }, u ? (u.villages.length ? u.villages.join(t().sep) : m.everyVillage) : "") : null,
            fromReport ? null : h("td", { "data-label": m.enrolledAt }, dateTime(d.enrolledAtMs)),
            h("td", { title: dateTime(d.lastSeenMs), "data-label": m.lastSync }, relative(d.lastSeenMs, now)),
            h("td", { "data-label": m.behind }, lag(d.behind, d.lastSeenMs)),
            h("td", { "data-label": m.status }, revoked ? h("span", { class: "badge muted", "data-test": "revoked" }, m.revokedAt(dateTime(d.revokedAtMs)))
              : h("span", { class: "ok" }, m.active)),
            ctx.caps.listDevices ? h("td", { class: "actions" }, mayRevoke
              ? h("button", { type: "button", class: "btn danger", "data-test": "revoke", "data-field": "replica",
                onclick: (e: Event) => void revoke(ctx, d, (e.currentTarget as HTMLElement).closest("td")!) }, m.revoke)
              : null,
              // The server's updates for a phone, as a file to carry to it
              // (staff and admins; consoles never sync).
              ctx.caps.carryFor && !revoked && !isConsole(d.name) && d.replica !== mine
                ? h("button", { type: "button", class: "btn", "data-test": "write-file",
                  onclick: (e: Event) => void writeFileFor(ctx, d.replica, (e.currentTarget as HTMLElement).closest("td")!) }, m.writeFile)
                : null) : null);
        })))));
  const carried = root.querySelector(".carried");
  if (carried) carried.before(box);
  else root.append(box);
}

async function revoke(ctx: Ctx, d: Row, cell: HTMLElement): Promise<void> {
  const m = t();
  const self = d.replica === ownReplica();
  const ok = await confirmDialog(m.confirmRevoke(d.name, d.user), self ? m.confirmRevokeSelf : "", m.revoke, true);
  if (!ok) return;
  await ctx.busy(async () => {
    try {
      await access.revokeDevice({ replica: d.replica });
      if (self) {
        // This browser's own token is gone: its next call signs it out
        // with the usual sentence.
        await access.whoami({});
        return;
      }
      const data = await load(ctx);
      if (ctx.live()) draw(ctx, data.rows, data.users, data.fromReport);
    } catch (e) {
      if (e instanceof SignedOut || !ctx.live()) return;
      showError(cell, e);
    }
  });
}
