// Carried files in the console (issue 15): a device without signal saves
// its changes as a sealed file (the app's "save unsynced changes to a
// file"); whoever reaches a network drops it here and the server applies
// it as that device (CarryService.Carry), answering each change's outcome
// as a sync would. The console cannot open a file (only the server holds
// the key): it hands over the bytes and shows what the server said.
// CarryFor writes the server's updates for a device to carry back.
import { createClient, type Client } from "@connectrpc/connect";
import { transport } from "./api";
import { h } from "./dom";
import { showError } from "./errors";
import { CarryService, type CarryResponse } from "./gen/villagesync/v1/carry_pb";
import { Outcome } from "./gen/villagesync/v1/sync_pb";
import { t, tableName } from "./i18n";
import type { Ctx } from "./page";

export const carry: Client<typeof CarryService> = createClient(CarryService, transport);

const outcomeClass: Record<number, string> = {
  [Outcome.APPLIED]: "applied",
  [Outcome.MERGED]: "merged",
  [Outcome.ALREADY_HAD]: "already_had",
  [Outcome.REJECTED]: "rejected",
};

/** The drop zone and its file button, and where the outcomes show. */
export function carriedSection(ctx: Ctx): HTMLElement {
  const m = t();
  const out = h("div", { class: "carried-out", "data-test": "carried-out", "aria-live": "polite" });
  const input = h("input", { type: "file", class: "file-input", id: "carried-file", "data-test": "carried-file" }) as HTMLInputElement;
  const zone = h("div", { class: "drop-zone", "data-test": "drop-zone" },
    h("p", null, m.carriedDrop),
    h("label", { class: "btn", for: "carried-file" }, m.carriedPick), input);
  const take = (f: File | undefined) => {
    if (f) void carryFile(ctx, f, out);
  };
  input.addEventListener("change", () => {
    take(input.files?.[0]);
    input.value = "";
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    take(e.dataTransfer?.files[0]);
  });
  return h("section", { class: "panel carried", "data-test": "carried" },
    h("h2", null, m.carriedTitle), h("p", { class: "muted" }, m.carriedIntro), zone, out);
}

async function carryFile(ctx: Ctx, f: File, out: HTMLElement): Promise<void> {
  out.replaceChildren();
  await ctx.busy(async () => {
    try {
      const r = await carry.carry({ file: new Uint8Array(await f.arrayBuffer()) });
      out.replaceChildren(outcomes(f.name, r));
    } catch (e) {
      showError(out, e);
    }
  });
}

function outcomes(name: string, r: CarryResponse): HTMLElement {
  const m = t();
  const item = (res: CarryResponse["results"][number], i: number) => {
    const kind = outcomeClass[res.outcome] ?? "rejected";
    const what = res.current ? `${tableName(res.current.table)} ${res.current.id}` : m.carriedChange(i + 1);
    return h("li", { "data-test": "carried-result", "data-outcome": kind, class: `outcome-${kind}` },
      h("strong", null, (m as unknown as Record<string, string>)[`outcome_${kind}`] ?? kind), " · ", what,
      res.outcome === Outcome.REJECTED && res.message ? [" — ", h("span", { class: "bad", "data-test": "carried-reason" }, res.message)] : null);
  };
  return h("div", { "data-test": "carried-response", "data-replica": r.replica },
    h("p", null, h("strong", null, name), " · ", m.carriedFrom(r.device, r.user, r.replica)),
    r.results.length === 0 ? h("p", { class: "muted" }, m.carriedNone) : h("ol", { class: "carried-results" }, r.results.map(item)));
}

/** "Write a file for this device": CarryFor's file, downloaded. */
export async function writeFileFor(ctx: Ctx, replica: number, cell: HTMLElement): Promise<void> {
  const m = t();
  await ctx.busy(async () => {
    try {
      const r = await carry.carryFor({ replica });
      const name = `villagesync-for-${replica}-${new Date().toISOString().slice(0, 10)}.vscarry`;
      const url = URL.createObjectURL(new Blob([r.file as BlobPart], { type: "application/octet-stream" }));
      const a = h("a", { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
      cell.querySelector("[data-test=wrote-file]")?.remove();
      cell.append(h("p", { class: "small", "data-test": "wrote-file" }, m.wroteFile(name, r.records, r.acks)));
    } catch (e) {
      showError(cell, e);
    }
  });
}
