// The device's photos: the attachment lane's device side (sync/DESIGN.md,
// Attachments). A photo she picks is downsized here in the worker (the
// page stays responsive while a 12 MP picture is decoded), stored in the
// device's file under its SHA-256, and named by the record; the record
// syncs first, and this lane uploads the photo after each record sync,
// apart from it: a slow or refused photo never holds a record back.
// Photos of other devices' records are fetched only when shown
// (thumbnails for lists, the original when opened) and kept in the file.
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { AttachmentService } from "../gen/villagesync/v1/sync_pb";
import type { Db } from "../replica/db";
import { splitAttachments, validDigest } from "../rules/check";
import { attachmentLimits, tables, type Table } from "../rules/schema.gen";
import type { Lang, Photo } from "./protocol";

/** The device-file table of attachments: those written here (to upload)
 * and those fetched (a cache: thumb alone until the original is opened). */
export const attachmentsDDL = [
  `CREATE TABLE IF NOT EXISTS _attachments (
    digest TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    bytes BLOB,
    thumb BLOB,
    uploaded INTEGER NOT NULL DEFAULT 0,
    origin TEXT NOT NULL CHECK (origin IN ('written', 'fetched')),
    refused TEXT NOT NULL DEFAULT '',
    added_ms INTEGER NOT NULL DEFAULT 0,
    refused_ms INTEGER NOT NULL DEFAULT 0,
    unnamed_ms INTEGER
  )`,
];

/** Columns added to _attachments since its first release: a file made by
 * that app gets them (device.ts's migrate), before the indexes below. */
export const attachmentsAdded: readonly { name: string; decl: string }[] = [
  // When the server last refused the photo: it is tried again after
  // refusedRetryMs (a quota may have room by then).
  { name: "refused_ms", decl: "INTEGER NOT NULL DEFAULT 0" },
  // When a prune first found no record naming it (NULL: named): her own
  // photo goes a day after that, not a day after she took it.
  { name: "unnamed_ms", decl: "INTEGER" },
];

export const attachmentsIndexes = [
  `CREATE INDEX IF NOT EXISTS _attachments_waiting ON _attachments (uploaded, origin)`,
  `CREATE INDEX IF NOT EXISTS _attachments_unnamed ON _attachments (unnamed_ms) WHERE unnamed_ms IS NOT NULL`,
];

const programTables: readonly Table[] = Object.values(tables as Readonly<Record<string, Table>>);

/** The tables with attachment columns, and those columns. */
export const attachmentColumns: readonly { table: string; columns: string[] }[] = programTables
  .map((t) => ({ table: t.name, columns: t.columns.filter((c) => c.format === "attachments").map((c) => c.name) }))
  .filter((t) => t.columns.length > 0);

// Holds takes at most 100 digests a call (sync.proto).
const holdsBatch = 100;
// The lane's calls: a chunk is 32 KB, so a minute is a very bad link.
const callTimeoutMs = 60_000;
// After a failure the lane asks Holds again and goes on, this many times
// in one run; then it waits for the next record sync.
const maxResumes = 3;
// Originals are fetched in parts of this size (a download cut midway
// resumes from what arrived).
const fetchPart = 1 << 20;
// JPEG quality of a downsized photo: a 1600 px sign-in sheet stays
// legible at ~300 KB.
const jpegQuality = 0.85;

/** How long a photo of her own that no record names is kept, from when
 * a prune first found it unnamed. */
const unnamedKeepMs = 24 * 3600_000;
/** How long a photo the server refused waits before it is tried again
 * (the Go device tries at every call; the quota may have room later). */
export const refusedRetryMs = 10 * 60_000;
// The records' names are read this many rows a query: a save queued in
// the worker meanwhile runs between two of them.
const namesPage = 500;

/** Which records count as naming a photo: a live one, or one whose delete
 * the server has not acknowledged (refused, or lost to an edit, it comes
 * back naming the photo). */
const namingRows = `(x._deleted = 0 OR x._own > x._acked)`;

/** SQL that holds when a record (live, or with a pending delete) or a
 * refused change names the digest in expr; all: any row, deleted too. */
function namedSQL(expr: string, all = false): string {
  const tests = attachmentColumns.flatMap((t) =>
    t.columns.map((c) => `EXISTS (SELECT 1 FROM ${t.table} AS x WHERE ${all ? "1" : namingRows} AND instr(x.${c}, ${expr}) > 0)`));
  tests.push(`EXISTS (SELECT 1 FROM rejected AS r WHERE instr(r.change, ${expr}) > 0)`);
  return tests.join(" OR ");
}

/** The statement a commit that removes records runs before its scrub:
 * cached copies only those records named go in the same transaction, so
 * the scrub that follows takes their bytes out of the file. */
export function removingStatements(): { sql: string; bind: [] }[] {
  return [{ sql: `DELETE FROM _attachments WHERE origin = 'fetched' AND NOT (${namedSQL("_attachments.digest")})`, bind: [] }];
}

/** The statement a restore runs with its own: every photo of her own goes
 * back to waiting, since the restored server may have lost those sent
 * after its backup; the lane's next Holds marks again what it has. */
export function restoredStatements(): { sql: string; bind: [] }[] {
  return [{ sql: `UPDATE _attachments SET uploaded = 0 WHERE origin = 'written' AND bytes IS NOT NULL`, bind: [] }];
}

/** A refusal of a picked file, in her language. */
export class PhotoRefusal extends Error {}

function say(lang: Lang, zh: string, en: string): string {
  return lang === "zh" ? zh : en;
}

function hex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The SHA-256 of the bytes, as records name attachments. */
export async function digestOf(bytes: Uint8Array): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

/**
 * Decodes a picked file and downsizes it to schema's PhotoMaxSide (JPEG).
 * createImageBitmap honours the EXIF orientation, and the re-encoding
 * drops the EXIF block (a phone's photo carries where it was taken).
 */
export async function downsize(bytes: ArrayBuffer, lang: Lang): Promise<{ bytes: Uint8Array; width: number; height: number }> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(new Blob([bytes]));
  } catch {
    throw new PhotoRefusal(say(lang, "这个文件不是照片，只能附上图片（JPEG、PNG 或 WebP）。", "This file is not a photo: only images can be attached (JPEG, PNG or WebP)."));
  }
  try {
    if (bmp.width * bmp.height > attachmentLimits.maxPixels) {
      throw new PhotoRefusal(say(lang, `照片太大（${bmp.width}×${bmp.height} 像素）。`, `The photo is too large (${bmp.width}×${bmp.height} pixels).`));
    }
    const scale = Math.min(1, attachmentLimits.photoMaxSide / Math.max(bmp.width, bmp.height));
    const w = Math.max(1, Math.round(bmp.width * scale));
    const h = Math.max(1, Math.round(bmp.height * scale));
    const canvas = new OffscreenCanvas(w, h);
    const g = canvas.getContext("2d");
    if (!g) throw new Error("downsize: no 2d context");
    g.imageSmoothingQuality = "high";
    g.drawImage(bmp, 0, 0, w, h);
    const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: jpegQuality });
    const out = new Uint8Array(await blob.arrayBuffer());
    if (out.length > attachmentLimits.maxBytes) {
      throw new PhotoRefusal(say(lang, "照片压缩后仍然太大。", "The photo is still too large after downsizing."));
    }
    return { bytes: out, width: w, height: h };
  } finally {
    bmp.close();
  }
}

/** A Connect error's words for her list: the server's message. */
function words(e: unknown): string {
  const err = ConnectError.from(e);
  return err.rawMessage || err.message;
}

/** A failure worth trying again (the link, a deadline, a lost race with
 * another upload): anything else is the server's refusal of the photo. */
function transient(err: ConnectError): boolean {
  return (
    err.code === Code.Unavailable ||
    err.code === Code.DeadlineExceeded ||
    err.code === Code.Canceled ||
    err.code === Code.Aborted ||
    err.code === Code.Internal ||
    // A server from before the lane: the photos wait for its update.
    err.code === Code.Unimplemented ||
    (err.code === Code.Unknown && err.cause instanceof TypeError)
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Photos {
  private running = false;
  private again = false;
  /** A run of the lane in progress (tests and the state wait on it). */
  private current: Promise<void> = Promise.resolve();
  /** The replica's touched count at the last scan of the records. */
  private pruned = -1;

  constructor(
    private readonly db: Db,
    private readonly transport: () => Transport | undefined,
    private readonly lang: () => Lang,
    private readonly changed: () => void,
    private readonly now: () => number,
  ) {}

  private client() {
    const t = this.transport();
    return t ? createClient(AttachmentService, t) : undefined;
  }

  /** Stores a picked file, downsized, as a photo written here; its digest. */
  async attach(bytes: ArrayBuffer): Promise<string> {
    const lang = this.lang();
    if (bytes.byteLength === 0) throw new PhotoRefusal(say(lang, "文件是空的。", "The file is empty."));
    const small = await downsize(bytes, lang);
    const digest = await digestOf(small.bytes);
    // The same photo picked twice (or fetched before) is one row; a
    // fetched copy without its original gets it.
    await this.db.exec(
      `INSERT INTO _attachments (digest, media_type, size, bytes, uploaded, origin, added_ms) VALUES (?, 'image/jpeg', ?, ?, 0, 'written', ?)
       ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes WHERE bytes IS NULL`,
      [digest, small.bytes.length, small.bytes, this.now()],
    );
    this.changed();
    return digest;
  }

  /** What the status bar shows of the lane: the photos a live record
   * names that the server does not hold yet (one picked and then removed,
   * or in a form never saved, waits for nothing). Over the few waiting
   * photos, each looked for in the records: this runs after every save. */
  async counts(): Promise<{ pending: number; refused: number }> {
    const [r] = await this.db.query(
      `SELECT sum(refused = '') AS pending, sum(refused <> '') AS refused FROM _attachments AS a
        WHERE origin = 'written' AND uploaded = 0 AND (${namedSQL("a.digest")})`,
    );
    return { pending: Number(r?.["pending"] ?? 0), refused: Number(r?.["refused"] ?? 0) };
  }

  /** The digests live records name whose record the server has: the only
   * ones it takes an upload of ("sync the record first"). */
  private async syncedNames(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const t of attachmentColumns) {
      const cols = t.columns.map((c) => `COALESCE(${c}, '')`).join(` || ',' || `);
      const rows = await this.db.query(`SELECT ${cols} AS names FROM ${t.table} WHERE _deleted = 0 AND _own <= _acked`);
      for (const r of rows) for (const d of splitAttachments(String(r["names"] ?? ""))) if (validDigest(d)) out.add(d);
    }
    return out;
  }

  /** Starts the lane unless it runs (then it runs once more after). */
  kick(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.current;
    }
    this.running = true;
    this.current = (async () => {
      try {
        do {
          this.again = false;
          await this.upload().catch((e) => console.warn("photo upload:", e));
        } while (this.again);
      } finally {
        this.running = false;
        this.changed();
      }
    })();
    return this.current;
  }

  /** One run of the lane: every waiting photo whose record the server
   * has, chunk by chunk from what the server holds. */
  private async upload(): Promise<void> {
    const client = this.client();
    if (!client) return;
    const named = await this.syncedNames();
    // A refused photo again once refusedRetryMs has passed.
    const waiting = (await this.db.query(
      `SELECT digest FROM _attachments WHERE origin = 'written' AND uploaded = 0 AND (refused = '' OR refused_ms <= ?) ORDER BY added_ms`,
      [this.now() - refusedRetryMs]))
      .map((r) => String(r["digest"]))
      .filter((d) => named.has(d));
    let resumes = 0;
    for (let i = 0; i < waiting.length; i += holdsBatch) {
      const batch = waiting.slice(i, i + holdsBatch);
      let held: Map<string, { stored: boolean; received: bigint }>;
      try {
        held = await this.holds(client, batch);
      } catch (e) {
        if (transient(ConnectError.from(e))) return;
        throw e;
      }
      for (const digest of batch) {
        for (;;) {
          try {
            await this.send(client, digest, held.get(digest) ?? { stored: false, received: 0n });
            break;
          } catch (e) {
            const err = ConnectError.from(e);
            const asked = Number(err.metadata.get("Retry-After-Ms") ?? NaN);
            if (err.code === Code.ResourceExhausted && asked > 0 && asked <= callTimeoutMs) {
              await sleep(asked);
            } else if ((transient(err) || (err.code === Code.FailedPrecondition && /offset/i.test(err.rawMessage))) && resumes < maxResumes) {
              resumes++;
            } else if (transient(err)) {
              return;
            } else if (err.code === Code.FailedPrecondition) {
              // The server does not have the record yet (another
              // device's delete, or a race): next run.
              break;
            } else {
              await this.db.exec(`UPDATE _attachments SET refused = ?, refused_ms = ? WHERE digest = ?`, [words(err), this.now(), digest]);
              this.changed();
              break;
            }
            // Resume from what the server holds now.
            try {
              held = await this.holds(client, batch);
            } catch (e2) {
              if (transient(ConnectError.from(e2))) return;
              throw e2;
            }
          }
        }
      }
    }
  }

  private async holds(client: NonNullable<ReturnType<Photos["client"]>>, digests: string[]) {
    const res = await client.holds({ digests }, { timeoutMs: callTimeoutMs });
    return new Map(res.held.map((h) => [h.digest, { stored: h.stored, received: h.received }]));
  }

  private async send(client: NonNullable<ReturnType<Photos["client"]>>, digest: string, held: { stored: boolean; received: bigint }): Promise<void> {
    const mark = async () => {
      await this.db.exec(`UPDATE _attachments SET uploaded = 1, refused = '', refused_ms = 0 WHERE digest = ?`, [digest]);
      this.changed();
    };
    if (held.stored) return mark();
    const [row] = await this.db.query(`SELECT bytes FROM _attachments WHERE digest = ?`, [digest]);
    const bytes = row?.["bytes"];
    if (!(bytes instanceof Uint8Array)) return;
    let offset = Number(held.received);
    if (offset > bytes.length) offset = 0;
    for (;;) {
      const data = bytes.subarray(offset, Math.min(bytes.length, offset + attachmentLimits.chunk));
      const res = await client.upload({ digest, size: BigInt(bytes.length), offset: BigInt(offset), data }, { timeoutMs: callTimeoutMs });
      if (res.stored) return mark();
      // The server answers what it holds (for a chunk it had already,
      // more than this one's end): the next chunk starts there.
      const next = Number(res.received);
      if (next === offset) throw new ConnectError("upload: the server took nothing of the chunk", Code.Aborted);
      offset = next;
    }
  }

  /** A photo to show: the thumbnail (a list) or the original (opened),
   * from the file, else fetched from the server and kept. */
  async photo(digest: string, thumbnail: boolean): Promise<Photo> {
    const lang = this.lang();
    const [row] = await this.db.query(`SELECT media_type, bytes, thumb, uploaded, origin, refused FROM _attachments WHERE digest = ?`, [digest]);
    const base = {
      digest,
      uploaded: row ? Number(row["uploaded"]) === 1 || row["origin"] === "fetched" : true,
      refused: row ? String(row["refused"] ?? "") : "",
    };
    // A photo taken here has no thumbnail of its own: its 1600 px
    // original serves, it is on the device anyway.
    const have = thumbnail ? (row?.["thumb"] ?? row?.["bytes"]) : row?.["bytes"];
    if (have instanceof Uint8Array) {
      const mediaType = thumbnail && row?.["thumb"] instanceof Uint8Array ? "image/jpeg" : String(row?.["media_type"] ?? "image/jpeg");
      return { ...base, mediaType, bytes: have, missing: "" };
    }
    const client = this.client();
    if (!client) return { ...base, mediaType: "", missing: say(lang, "本机没有这张照片。", "This photo is not on the device.") };
    try {
      let mediaType = "";
      let bytes: Uint8Array;
      if (thumbnail) {
        const res = await client.fetch({ digest, thumbnail: true }, { timeoutMs: callTimeoutMs });
        bytes = res.data;
        mediaType = res.mediaType || "image/jpeg";
      } else {
        const parts: Uint8Array[] = [];
        let got = 0;
        let size = Infinity;
        while (got < size) {
          const res = await client.fetch({ digest, offset: BigInt(got), limit: fetchPart }, { timeoutMs: callTimeoutMs });
          size = Number(res.size);
          mediaType = res.mediaType;
          if (res.data.length === 0) break;
          parts.push(res.data);
          got += res.data.length;
        }
        bytes = new Uint8Array(got);
        let at = 0;
        for (const p of parts) {
          bytes.set(p, at);
          at += p.length;
        }
        if ((await digestOf(bytes)) !== digest) throw new Error(say(lang, "下载的照片不完整。", "The downloaded photo is incomplete."));
      }
      await this.db.exec(
        thumbnail
          ? `INSERT INTO _attachments (digest, media_type, size, thumb, uploaded, origin, added_ms) VALUES (?, ?, 0, ?, 1, 'fetched', ?)
             ON CONFLICT (digest) DO UPDATE SET thumb = excluded.thumb`
          : `INSERT INTO _attachments (digest, media_type, size, bytes, uploaded, origin, added_ms) VALUES (?, ?, ?, ?, 1, 'fetched', ?)
             ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes, media_type = excluded.media_type, size = excluded.size`,
        thumbnail ? [digest, mediaType, bytes, this.now()] : [digest, mediaType, bytes.length, bytes, this.now()],
      );
      return { ...base, uploaded: true, mediaType, bytes, missing: "" };
    } catch (e) {
      const err = ConnectError.from(e);
      const missing = err.code === Code.NotFound
        ? say(lang, "服务器还没有这张照片（拍照的设备尚未上传）。", "The server does not have this photo yet (the device that took it has not uploaded it).")
        : transient(err)
          ? say(lang, "连不上服务器，照片暂时看不到。", "Cannot reach the server: the photo cannot be shown now.")
          : words(e);
      return { ...base, mediaType: "", missing };
    }
  }

  /** The run of the lane in progress, or none (resolves when it ends). */
  idle(): Promise<void> {
    return this.current;
  }

  /** The digests the records name, read a page at a time (a save waits at
   * most one page): live: named by a live record, a pending delete or a
   * refused change; any: by any row, deleted ones too. */
  private async names(): Promise<{ live: Set<string>; any: Set<string> }> {
    const live = new Set<string>();
    const any = new Set<string>();
    const add = (to: Set<string>[], text: unknown) => {
      for (const d of splitAttachments(String(text ?? ""))) if (validDigest(d)) for (const s of to) s.add(d);
    };
    for (const t of attachmentColumns) {
      const cols = t.columns.map((c) => `COALESCE(${c}, '')`).join(` || ',' || `);
      // By the primary key (the tables are WITHOUT ROWID).
      for (let after = ""; ;) {
        const rows = await this.db.query(
          `SELECT id, ${cols} AS names, (_deleted = 0 OR _own > _acked) AS live FROM ${t.table} WHERE id > ? ORDER BY id LIMIT ?`,
          [after, namesPage]);
        for (const r of rows) add(Number(r["live"]) === 1 ? [live, any] : [any], r["names"]);
        if (rows.length < namesPage) break;
        after = String(rows[rows.length - 1]!["id"]);
      }
    }
    // A refused change's fields, as JSON: the digests in it.
    for (const r of await this.db.query(`SELECT change FROM rejected`)) {
      for (const d of String(r["change"]).match(/[0-9a-f]{64}/g) ?? []) {
        live.add(d);
        any.add(d);
      }
    }
    return { live, any };
  }

  /**
   * Drops the photos no record on the device names any more: fetched
   * copies at once (those of records that left her villages go already in
   * the removal's commit, removingStatements), her own a day after a
   * prune first found them unnamed (one picked in a form she then left,
   * or removed from a record). Named counts a live record, one whose
   * delete is not acknowledged, and a change the server refused (the
   * correction will name it); and her own photo the server does not have
   * stays while any row names it at all. The records are scanned only when
   * touched (the replica's count of commits) moved; what it deletes is
   * scrubbed out of the file at the next sync.
   */
  async prune(touched: number): Promise<void> {
    const old = this.now() - unnamedKeepMs;
    if (touched !== this.pruned) {
      this.pruned = touched;
      const { live, any } = await this.names();
      const rows = await this.db.query(`SELECT digest, origin, uploaded, unnamed_ms FROM _attachments`);
      const stmts: { sql: string; bind: (string | number)[] }[] = [];
      for (const r of rows) {
        const d = String(r["digest"]);
        const own = r["origin"] === "written";
        const named = live.has(d) || (own && Number(r["uploaded"]) === 0 && any.has(d));
        if (named) {
          if (r["unnamed_ms"] !== null) stmts.push({ sql: `UPDATE _attachments SET unnamed_ms = NULL WHERE digest = ?`, bind: [d] });
        } else if (!own) {
          stmts.push({ sql: `DELETE FROM _attachments WHERE digest = ? AND origin = 'fetched'`, bind: [d] });
        } else if (r["unnamed_ms"] === null) {
          stmts.push({ sql: `UPDATE _attachments SET unnamed_ms = ? WHERE digest = ? AND unnamed_ms IS NULL`, bind: [this.now(), d] });
        }
      }
      if (stmts.length > 0) await this.db.transaction(stmts);
    }
    // Her own, unnamed for a day: asked again in SQL (a save since the
    // scan may name it), over the few such rows the index finds.
    const [n] = await this.db.query(`SELECT count(*) AS n FROM _attachments WHERE unnamed_ms IS NOT NULL AND unnamed_ms < ?`, [old]);
    if (Number(n?.["n"] ?? 0) === 0) return;
    const gone = await this.db.exec(
      `DELETE FROM _attachments AS a WHERE unnamed_ms IS NOT NULL AND unnamed_ms < ?
        AND NOT (${namedSQL("a.digest")}) AND NOT (origin = 'written' AND uploaded = 0 AND (${namedSQL("a.digest", true)}))`,
      [old]);
    // The photo's bytes leave the file at the next sync's scrub.
    if (gone > 0) await this.db.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('scrub', '1')`);
  }
}
