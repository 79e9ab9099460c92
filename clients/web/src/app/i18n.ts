// The volunteer app's strings, Chinese (the default) and English; `en` is
// typed as the shape of `zh`, so a key missing from either is a compile
// error.
export type Lang = "zh" | "en";

const zh = {
  title: "villagesync · 本机存储自检",
  otherTab: "此应用已在另一个标签页中打开。请到那个标签页继续，或关闭它后重新载入本页。",
  noLocks: "此浏览器不支持 Web Locks，无法安全地打开本机数据库。",
  opening: "正在打开本机数据库…",
  retrying: (n: number) => `数据库仍被上一个页面占用，正在重试（第 ${n} 次）…`,
  open: (v: string) => `本机数据库已打开（SQLite ${v}）。`,
  failed: (m: string) => `无法打开本机数据库：${m}`,
  closed: "本机数据库已关闭。",
  persistGranted: "浏览器已同意长期保存本机数据。",
  persistDenied: "浏览器未同意长期保存：空间不足时可能删除本机数据，请尽早同步。",
  lockHeld: "本标签页持有数据库。",
  save: "保存一行",
  saved: (n: number) => `已保存（共 ${n} 行）。`,
  saveFailed: (m: string) => `未保存：${m}`,
  empty: "还没有保存的行。",
  switchLang: "English",
};
type Messages = typeof zh;

const en: Messages = {
  title: "villagesync · on-device storage self-test",
  otherTab: "The app is open in another tab. Continue there, or close it and reload this page.",
  noLocks: "This browser has no Web Locks: the on-device database cannot be opened safely.",
  opening: "Opening the on-device database…",
  retrying: (n: number) => `The previous page still holds the database; retrying (attempt ${n})…`,
  open: (v: string) => `The on-device database is open (SQLite ${v}).`,
  failed: (m: string) => `Could not open the on-device database: ${m}`,
  closed: "The on-device database is closed.",
  persistGranted: "The browser agreed to keep this device's data.",
  persistDenied: "The browser did not agree to keep the data: it may delete it when space runs low, so sync early.",
  lockHeld: "This tab owns the database.",
  save: "Save a row",
  saved: (n: number) => `Saved (${n} rows).`,
  saveFailed: (m: string) => `Not saved: ${m}`,
  empty: "No rows saved yet.",
  switchLang: "中文",
};

// The language is the page's ?lang= (en or zh), else the one chosen last
// on this device, else Chinese.
const key = "villagesync-app-lang";
export function pickLang(): Lang {
  const q = new URLSearchParams(location.search).get("lang");
  if (q === "en" || q === "zh") return q;
  return localStorage.getItem(key) === "en" ? "en" : "zh";
}
export function rememberLang(l: Lang): void {
  localStorage.setItem(key, l);
}
export function messages(l: Lang): Messages {
  return l === "en" ? en : zh;
}
