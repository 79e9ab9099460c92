// The messages between the page and the database worker (db-worker.ts).
// The worker owns the SQLite file and the device replica that lives in it
// (../replica): the page sends it what the volunteer did (save a form,
// delete, sync) and asks it what to show; it never runs SQL of its own
// except through the raw ops, which the storage tests use. Both sides
// import these types, so a change to one side that the other does not
// follow is a compile error.

/** A value SQLite stores and returns: numbers are doubles (INTEGER
 * columns beyond 2^53 are not used by the app). */
export type SqlValue = string | number | null | Uint8Array;

/** One row of a query, by column name. */
export type Row = Record<string, SqlValue>;

export type Statement = { sql: string; bind?: SqlValue[] };

export type Lang = "zh" | "en";

/** The forms a volunteer fills in (schema.Forms, by name). */
export type FormName = "log-session" | "report-cleanup" | "lend" | "return";

/** Who this device is, from its enrollment (and Whoami at each sync). */
export interface Identity {
  replica: number;
  user: string;
  role: string;
  deviceName: string;
  serverId: string;
  /** The villages she serves, canonical names; every village when allVillages. */
  villages: string[];
  allVillages: boolean;
}

/** What the status line shows: what waits, when the device last reached
 * the server, what it refused. Times are Unix milliseconds, 0 for never. */
export interface SyncState {
  /** Records with writes the server has not acknowledged. */
  pending: number;
  /** When the oldest of those writes was made (0: none pending). */
  oldestPendingMs: number;
  lastSyncMs: number;
  lastAttemptMs: number;
  /** Why the last attempt failed, in the page's language; "" if it did not. */
  lastError: string;
  /** The last attempt never reached the server (no signal, server down). */
  offline: boolean;
  syncing: boolean;
  /** Changes the server refused, kept until she corrects or dismisses them. */
  rejected: number;
  /** Pending changes kept on the device for the server's update: they
   * write columns newer than the server's schema version (serverSchema,
   * as it last stated it; 1 until it does). appSchema is this app's. */
  held: number;
  serverSchema: number;
  appSchema: number;
  /** The villages she serves as the last sync said (the forms offer
   * these); at enrollment, Whoami's. */
  villages: string[];
  /** Photos taken here that the server does not hold yet (the upload
   * lane sends them after the records that name them). */
  photosPending: number;
  /** Photos the server refused (each keeps its reason; the others go on). */
  photosRefused: number;
}

/** A photo as the worker hands it to the page: its bytes and type, or why
 * it cannot be shown (not on the device and the server out of reach). */
export interface Photo {
  digest: string;
  mediaType: string;
  bytes?: Uint8Array;
  /** Why there are no bytes ("" when there are). */
  missing: string;
  /** Whether the server holds it (false: it waits to upload). */
  uploaded: boolean;
  /** The server's refusal of its upload, in the page's language. */
  refused: string;
}

/** A record as the app shows it: each column's value as the forms' text
 * (schema's Column.Format: "" for NULL), and whether it waits to sync. */
export interface Listed {
  table: string;
  id: string;
  fields: Record<string, string>;
  pending: boolean;
}

/** A change the server refused: what it was and why, in the page's language. */
export interface Refused {
  id: number;
  table: string;
  recordId: string;
  /** The field the refusal names ("" when it names the record). */
  field: string;
  code: string;
  message: string;
  rejectedMs: number;
  /** The refused values, as text (the form to correct them opens with these). */
  change: Record<string, string>;
}

/** A field the device's own checks refused before saving: the same
 * message the server would give, in the page's language. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** The file "save unsynced changes" writes (a sealed carried push file,
 * api/wire/carry.go): the bytes and the name to download them under. */
export interface Exported {
  name: string;
  mime: string;
  bytes: Uint8Array;
  records: number;
  /** Of those, the changes held back for the server's update (in the file
   * all the same: they are unsynced). */
  held: number;
  /** Pending changes that did not fit (a file holds one request, at most
   * protocol.MaxChanges changes): once this file is carried and
   * confirmed, another file takes them. */
  more: number;
}

/** What opening a file from staff brought: records pulled, own changes
 * acknowledged, pages applied (0: the file was older than the device). */
export interface Carried {
  records: number;
  acks: number;
  pages: number;
}

export type Request =
  // Storage.
  | { id: number; op: "open" }
  | { id: number; op: "exec"; sql: string; bind?: SqlValue[] }
  | { id: number; op: "query"; sql: string; bind?: SqlValue[] }
  | { id: number; op: "transaction"; statements: Statement[] }
  | { id: number; op: "close" }
  // The device. lang: the language of messages in the answer.
  | { id: number; op: "enroll"; code: string; deviceName: string; lang: Lang }
  | { id: number; op: "state"; lang: Lang }
  | { id: number; op: "save"; form: FormName; fields: Record<string, string>; lang: Lang; recordId?: string }
  | { id: number; op: "edit"; table: string; recordId: string; fields: Record<string, string>; lang: Lang }
  | { id: number; op: "delete"; table: string; recordId: string; lang: Lang }
  | { id: number; op: "list"; table: string; limit: number; lang: Lang }
  | { id: number; op: "get"; table: string; recordId: string; lang: Lang }
  | { id: number; op: "findBooks"; query: string; limit: number; lang: Lang }
  | { id: number; op: "rejected"; lang: Lang }
  | { id: number; op: "dismiss"; rejectedId: number; lang: Lang }
  | { id: number; op: "sync"; lang: Lang }
  | { id: number; op: "export"; lang: Lang }
  // carryIn: a pull file from staff (its bytes, transferred).
  | { id: number; op: "carryIn"; bytes: ArrayBuffer; lang: Lang }
  // Photos. attach: the picked file's bytes (transferred), downsized and
  // stored; answers its digest. photo: a photo's thumbnail (lists) or
  // original, from the file or else fetched and kept.
  | { id: number; op: "attach"; bytes: ArrayBuffer; lang: Lang }
  | { id: number; op: "photo"; digest: string; thumbnail: boolean; lang: Lang }
  // uploads: waits for the photo lane's run the last sync started (tests).
  | { id: number; op: "uploads"; lang: Lang };

/** What opening found: the SQLite version, the file, and the device's
 * identity when it is enrolled (null: show enrollment). */
export type Opened = { sqliteVersion: string; file: string; vfs: string; identity: Identity | null };

export type Response =
  | {
      id: number;
      ok: true;
      rows?: Row[];
      changes?: number;
      opened?: Opened;
      identity?: Identity;
      state?: SyncState;
      recordId?: string;
      listed?: Listed[];
      refused?: Refused[];
      exported?: Exported;
      carried?: Carried;
      digest?: string;
      photo?: Photo;
    }
  // busy: the OPFS access handles are held by someone else (typically the
  // previous page of a fast reload, whose worker is not yet gone): the
  // page retries. problems: the form's fields the checks refused (nothing
  // was saved). code: the server's Connect code when it refused the call.
  | { id: number; ok: false; error: string; busy?: boolean; problems?: FieldProblem[]; code?: string };

/** Sent unasked whenever the sync state changes (a save, a sync's start
 * and end), so the status line never polls. */
export type StateEvent = { event: "state"; state: SyncState };

/** Everything the worker posts. */
export type FromWorker = Response | StateEvent;

/** The Web Lock that makes one tab of the origin the database's owner. */
export const lockName = "villagesync-db";
