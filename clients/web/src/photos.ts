// Photos in the console: the thumbnail a record names (a class's sign-in
// sheet beside its attendance, a cleanup's before and after), fetched
// through the console's AttachmentService client with its token, shown
// through blob: URLs (the CSP's img-src allows blob:), and the original
// over the page when clicked.
import { Code, ConnectError } from "@connectrpc/connect";
import { attachments } from "./api";
import { h } from "./dom";
import { t } from "./i18n";

const thumbs = new Map<string, Promise<string>>();
// Originals in parts (sync.proto's FetchRequest.limit), so that a cut
// link costs one part.
const part = 1 << 20;

function url(data: Uint8Array, type: string): string {
  return URL.createObjectURL(new Blob([data as Uint8Array<ArrayBuffer>], { type: type || "image/jpeg" }));
}

function thumbURL(digest: string): Promise<string> {
  let got = thumbs.get(digest);
  if (!got) {
    got = attachments.fetch({ digest, thumbnail: true }).then((r) => url(r.data, r.mediaType));
    thumbs.set(digest, got);
    got.catch(() => thumbs.delete(digest));
  }
  return got;
}

async function fullURL(digest: string): Promise<string> {
  const parts: Uint8Array[] = [];
  let got = 0;
  let size = Infinity;
  let type = "";
  while (got < size) {
    const r = await attachments.fetch({ digest, offset: BigInt(got), limit: part });
    size = Number(r.size);
    type = r.mediaType;
    if (r.data.length === 0) break;
    parts.push(r.data);
    got += r.data.length;
  }
  return URL.createObjectURL(new Blob(parts as Uint8Array<ArrayBuffer>[], { type: type || "image/jpeg" }));
}

function why(e: unknown): string {
  const m = t();
  const err = ConnectError.from(e);
  return err.code === Code.NotFound ? m.photoMissing : m.photoFailed + (err.rawMessage || err.message);
}

/** The thumbnails of an attachments value; a click opens the original. */
export function photoThumbs(value: string): HTMLElement | null {
  // schema.SplitAttachments (rules/check.ts's would bring the record
  // checks into the console's bundle for one split).
  const digests = value === "" ? [] : value.split(",");
  if (digests.length === 0) return null;
  return h("span", { class: "photo-thumbs" }, digests.map(thumb));
}

function thumb(digest: string): HTMLElement {
  const m = t();
  const img = h("img", { class: "thumb", alt: m.photoOpen, "data-test": "photo", "data-digest": digest, "data-state": "loading" });
  const btn = h("button", { type: "button", class: "photo", title: m.photoOpen, "data-test": "photo-open", "data-digest": digest, onclick: () => void open(digest) }, img);
  thumbURL(digest).then(
    (u) => {
      img.src = u;
      img.setAttribute("data-state", "shown");
    },
    (e) => {
      img.setAttribute("data-state", "missing");
      img.alt = why(e);
      btn.title = why(e);
      btn.classList.add("missing");
      // Said on the page, not only in a tooltip a phone cannot show.
      btn.append(h("span", { class: "photo-note", "data-test": "photo-note" },
        ConnectError.from(e).code === Code.NotFound ? t().photoNotYet : t().photoFailed.replace(/[:：]\s*$/, "")));
    },
  );
  return btn;
}

async function open(digest: string): Promise<void> {
  const m = t();
  const img = h("img", { class: "full", alt: "", "data-test": "photo-full", "data-digest": digest, "data-state": "loading" });
  const note = h("p", { class: "notice", hidden: true });
  let u = "";
  const close = () => {
    dlg.remove();
    if (u) URL.revokeObjectURL(u);
  };
  const dlg = h("div", { class: "photo-viewer", role: "dialog", "aria-modal": "true", "data-test": "photo-viewer", onclick: (e: Event) => e.target === dlg && close() },
    h("button", { type: "button", class: "btn", "data-test": "photo-close", onclick: close }, m.photoClose), img, note);
  document.body.append(dlg);
  try {
    u = await fullURL(digest);
    img.src = u;
    img.setAttribute("data-state", "shown");
  } catch (e) {
    img.setAttribute("data-state", "missing");
    note.textContent = why(e);
    note.hidden = false;
  }
}
