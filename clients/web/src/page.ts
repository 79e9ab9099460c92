// What every page gets from the shell.
import type { WhoamiResponse } from "./gen/villagesync/v1/access_pb";
import type { Caps } from "./api";

export interface Ctx {
  // The page's own element, emptied before it is drawn.
  root: HTMLElement;
  params: URLSearchParams;
  me: WhoamiResponse;
  caps: Caps;
  // live is false once the person has gone to another page: a late answer
  // draws nothing.
  live(): boolean;
  // busy runs an action with body[data-ready] removed, and sets it again
  // once the action has drawn its result (or its error).
  busy<T>(f: () => Promise<T>): Promise<T>;
  // onLeave registers clean-up (charts) for when the page goes.
  onLeave(f: () => void): void;
}

export type PageFn = (ctx: Ctx) => Promise<void>;
