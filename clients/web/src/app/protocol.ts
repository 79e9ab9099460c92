// The messages between the page (db.ts) and the database worker
// (db-worker.ts). Both sides import these types, so a change to one side
// that the other does not follow is a compile error.

/** A value SQLite stores and returns: numbers are doubles (INTEGER
 * columns beyond 2^53 are not used by the app). */
export type SqlValue = string | number | null | Uint8Array;

/** One row of a query, by column name. */
export type Row = Record<string, SqlValue>;

export type Statement = { sql: string; bind?: SqlValue[] };

export type Request =
  | { id: number; op: "open" }
  | { id: number; op: "exec"; sql: string; bind?: SqlValue[] }
  | { id: number; op: "query"; sql: string; bind?: SqlValue[] }
  | { id: number; op: "transaction"; statements: Statement[] }
  | { id: number; op: "close" };

/** What opening found: the SQLite version and the file it opened. */
export type Opened = { sqliteVersion: string; file: string; vfs: string };

export type Response =
  | { id: number; ok: true; rows?: Row[]; changes?: number; opened?: Opened }
  // busy: the OPFS access handles are held by someone else (typically the
  // previous page of a fast reload, whose worker is not yet gone): the
  // page retries. Any other error is final for that request.
  | { id: number; ok: false; error: string; busy?: boolean };

/** The Web Lock that makes one tab of the origin the database's owner. */
export const lockName = "villagesync-db";
