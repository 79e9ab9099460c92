// What every screen is given: the database, the language, who the device
// is, the latest sync state, and a way to move to another screen.
import type { Db, Identity, SyncState } from "./db";
import type { Lang, Messages } from "./i18n";
import type { Scheduler } from "./sync";

export interface Ctx {
  db: Db;
  lang: Lang;
  m: Messages;
  identity: Identity;
  state: () => SyncState | undefined;
  sync: Scheduler;
  /** The route's parameters (after the ? in the hash). */
  params: URLSearchParams;
  /** The screen's container, emptied for each route. */
  root: HTMLElement;
  /** False once the volunteer has moved to another screen: late answers
   * are dropped instead of drawn over the new one. */
  live: () => boolean;
  go: (hash: string) => void;
  /** Marks the screen drawn (body[data-ready]). */
  ready: () => void;
}

export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The forms' tables, for editing a record with the form that made it. */
export const formOfTable: Record<string, "log-session" | "report-cleanup" | "lend"> = {
  tutoring_sessions: "log-session",
  cleanup_tasks: "report-cleanup",
  loans: "lend",
};
