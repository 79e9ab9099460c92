// Photos on the screens: the field that takes them (camera or gallery,
// up to the column's MaxItems, thumbnails with remove), thumbnails in
// lists, and the original when one is opened. The bytes live in the
// worker's file; the page shows them through blob: URLs (the CSP's
// img-src allows blob:), asked for only when an image is drawn.
import { h, clear } from "../../dom";
import { splitAttachments } from "../../rules/check";
import { tables, type Column } from "../../rules/schema.gen";
import type { Photo } from "../db";
import { errText, type Ctx } from "../ctx";
import { colName } from "./forms";

// Thumbnails by digest, for the page's life: a list drawn again (after a
// sync, a delete) shows them at once. Small (320 px, or the device's own
// 1600 px photo, which the browser decodes once).
const thumbs = new Map<string, Promise<{ url: string; photo: Photo }>>();

function load(ctx: Ctx, digest: string, thumbnail: boolean): Promise<{ url: string; photo: Photo }> {
  const got = ctx.db.photo(digest, thumbnail, ctx.lang).then((photo) => ({
    photo,
    url: photo.bytes ? URL.createObjectURL(new Blob([photo.bytes as Uint8Array<ArrayBuffer>], { type: photo.mediaType || "image/jpeg" })) : "",
  }));
  if (!thumbnail) return got;
  const had = thumbs.get(digest);
  if (had) return had;
  thumbs.set(digest, got);
  // One that could not be had (offline), or whose upload is still to
  // come (its mark changes), is asked again next time it is drawn.
  void got.then((g) => (!g.url || !g.photo.uploaded || g.photo.refused) && thumbs.delete(digest), () => thumbs.delete(digest));
  return got;
}

// Images are asked for when they come into view: a list of 200 records
// fetches the thumbnails she scrolls to, not all of them.
let seen: IntersectionObserver | undefined;
const onSeen = new WeakMap<Element, () => void>();
function whenShown(el: Element, f: () => void): void {
  if (typeof IntersectionObserver === "undefined") return f();
  seen ??= new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      seen!.unobserve(e.target);
      onSeen.get(e.target)?.();
      onSeen.delete(e.target);
    }
  });
  onSeen.set(el, f);
  seen.observe(el);
}

/** A thumbnail of one photo; a press opens the original. */
export function thumbnail(ctx: Ctx, digest: string, extra?: HTMLElement | null, lazy = true): HTMLElement {
  const img = h("img", { class: "thumb", alt: "", "data-test": "photo", "data-digest": digest, "data-state": "loading" });
  const note = h("span", { class: "photo-note small" });
  const box = h(
    "button",
    { type: "button", class: "photo", "data-test": "photo-open", "data-digest": digest, onclick: () => void openPhoto(ctx, digest) },
    img,
    note,
  );
  const wrap = h("span", { class: "photo-wrap" }, box, extra ?? null);
  (lazy ? (f: () => void) => whenShown(box, f) : (f: () => void) => f())(() => {
    void load(ctx, digest, true).then(
      ({ url, photo }) => {
        if (url) {
          img.src = url;
          img.setAttribute("data-state", "shown");
          // One not kept for the next drawing (it still waits to upload)
          // is let go once shown: the decoded image stays on screen.
          if (thumbs.get(digest) === undefined) img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
        } else {
          img.setAttribute("data-state", "missing");
          img.alt = photo.missing;
          note.textContent = photo.missing;
        }
        if (photo.refused) {
          note.textContent = ctx.m.photoRefused + photo.refused;
          box.classList.add("refused");
          img.setAttribute("data-refused", "1");
        } else if (!photo.uploaded) {
          box.classList.add("waiting");
          img.setAttribute("data-uploaded", "0");
          note.textContent = ctx.m.photoWaits;
        } else img.setAttribute("data-uploaded", "1");
      },
      (e) => {
        img.setAttribute("data-state", "missing");
        note.textContent = errText(e);
      },
    );
  });
  return wrap;
}

/** The photo at its full size over the screen, until closed. */
async function openPhoto(ctx: Ctx, digest: string): Promise<void> {
  const img = h("img", { class: "full", alt: "", "data-test": "photo-full", "data-digest": digest, "data-state": "loading" });
  const note = h("p", { class: "notice", hidden: true });
  let url = "";
  const close = () => {
    viewer.remove();
    if (url) URL.revokeObjectURL(url);
  };
  const viewer = h(
    "div",
    { class: "photo-viewer", role: "dialog", "aria-modal": "true", "data-test": "photo-viewer" },
    h("button", { type: "button", class: "btn", "data-test": "photo-close", onclick: close }, ctx.m.photoClose),
    img,
    note,
  );
  document.body.append(viewer);
  try {
    const got = await load(ctx, digest, false);
    url = got.url;
    if (url) {
      img.src = url;
      img.setAttribute("data-state", "shown");
    } else {
      img.setAttribute("data-state", "missing");
      note.textContent = got.photo.missing;
      note.hidden = false;
    }
  } catch (e) {
    note.textContent = errText(e);
    note.hidden = false;
  }
}

function column(table: string, name: string): Column | undefined {
  const t = (tables as Record<string, { columns: readonly Column[] }>)[table];
  return t?.columns.find((c) => c.name === name);
}

/** Whether a form's column takes photos. */
export function isPhotoColumn(table: string, name: string): boolean {
  return column(table, name)?.format === "attachments";
}

/** The photo field of an attachments column: a hidden box with the
 * digests (the form's value, as every other field's), a button for the
 * camera or the gallery, and the photos with a remove each. */
export function photoField(ctx: Ctx, table: string, name: string, value: string): { row: HTMLElement; control: HTMLInputElement; set: (v: string) => void } {
  const c = column(table, name)!;
  const max = c.maxItems;
  const hidden = h("input", { type: "hidden", id: `f-${name}`, name, "data-field": name });
  const inputId = `p-${name}`;
  const picker = h("input", {
    type: "file",
    id: inputId,
    class: "photo-picker",
    accept: "image/*",
    capture: "environment",
    multiple: max > 1,
    "data-test": "photo-input",
    "data-column": name,
    "aria-describedby": `e-${name}`,
  });
  const list = h("div", { class: "photos", "data-test": "photos", "data-column": name });
  const count = h("span", { class: "small muted", "data-test": "photo-count" });
  const error = h("p", { class: "field-error", id: `e-${name}`, "data-error-for": name, role: "alert" });
  const busy = h("p", { class: "small muted", "aria-live": "polite", "data-test": "photo-busy" });
  let digests: string[] = [];
  const draw = () => {
    hidden.value = digests.join(",");
    clear(list);
    for (const d of digests) {
      const remove = h(
        "button",
        {
          type: "button",
          class: "btn small-btn",
          "data-test": "photo-remove",
          "data-digest": d,
          onclick: () => {
            digests = digests.filter((x) => x !== d);
            draw();
          },
        },
        ctx.m.removePhoto,
      );
      // The form's own photos are on the device: drawn at once.
      list.append(thumbnail(ctx, d, remove, false));
    }
    count.textContent = ctx.m.photoCount(digests.length, max);
    picker.disabled = digests.length >= max;
    list.setAttribute("data-count", String(digests.length));
  };
  const set = (v: string) => {
    digests = splitAttachments(v);
    draw();
  };
  picker.addEventListener("change", () => {
    const files = Array.from(picker.files ?? []);
    picker.value = "";
    error.textContent = "";
    error.closest(".field")?.classList.remove("bad");
    void (async () => {
      for (const f of files) {
        if (digests.length >= max) {
          error.textContent = ctx.m.tooManyPhotos(max);
          break;
        }
        busy.textContent = ctx.m.photoAdding;
        try {
          const d = await ctx.db.attach(await f.arrayBuffer(), ctx.lang);
          if (!digests.includes(d)) digests.push(d);
          draw();
        } catch (e) {
          error.textContent = `${f.name}: ${errText(e)}`;
          error.closest(".field")?.classList.add("bad");
        } finally {
          busy.textContent = "";
        }
      }
    })();
  });
  const row = h(
    "div",
    { class: "field photo-field", "data-field-row": name },
    h("label", { for: inputId }, colName(ctx.lang, table, name), " ", count),
    list,
    h("label", { class: "btn photo-add", for: inputId }, ctx.m.addPhoto),
    picker,
    hidden,
    busy,
    error,
  );
  set(value);
  return { row, control: hidden, set };
}

/** The thumbnails of a record's photos (the first few), for its line in a list. */
export function recordPhotos(ctx: Ctx, table: string, fields: Record<string, string>, most = 2): HTMLElement | null {
  const t = (tables as Record<string, { columns: readonly Column[] }>)[table];
  const all = (t?.columns ?? []).filter((c) => c.format === "attachments").flatMap((c) => splitAttachments(fields[c.name] ?? ""));
  if (all.length === 0) return null;
  return h("div", { class: "record-photos" }, all.slice(0, most).map((d) => thumbnail(ctx, d)), all.length > most ? h("span", { class: "small muted" }, `+${all.length - most}`) : null);
}
