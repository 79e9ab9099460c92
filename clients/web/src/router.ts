// Routes live in the URL's hash (#/overview, #/history?table=T&id=ID), so
// the server serves one page and a reload or a shared link lands where it
// was. The token never appears here.

export const pages = ["signin", "overview", "review", "devices", "enroll", "people", "history", "records"] as const;
export type Page = (typeof pages)[number];

export interface Route {
  page: Page;
  params: URLSearchParams;
}

export function current(): Route {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = splitOnce(raw, "?");
  const page = (pages as readonly string[]).includes(path) ? (path as Page) : "overview";
  return { page, params: new URLSearchParams(query) };
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ""] : [s.slice(0, i), s.slice(i + 1)];
}

export function href(page: Page, params?: Record<string, string>): string {
  const q = params ? new URLSearchParams(params).toString() : "";
  return `#/${page}${q ? "?" + q : ""}`;
}

export function go(page: Page, params?: Record<string, string>): void {
  const to = href(page, params);
  if (location.hash === to) window.dispatchEvent(new HashChangeEvent("hashchange"));
  else location.hash = to;
}

// replace changes the URL without a new history entry or a navigation:
// the sign-in code leaves the address bar (and the history) at once.
export function replace(page: Page, params?: Record<string, string>): void {
  history.replaceState(null, "", location.pathname + location.search + href(page, params));
}
