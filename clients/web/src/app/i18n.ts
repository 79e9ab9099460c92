// The volunteer app's strings, Chinese (the default) and English; `en` is
// typed as the shape of `zh`, so a key missing from either is a compile
// error. Field names, the enumerations' values in words and the checks'
// messages are not here: they come from schema/ (rules/check.ts fieldName,
// schema.gen.ts valueNames, and the worker's answers).
import { valueNames } from "../rules/schema.gen";
import type { Lang } from "./protocol";

export type { Lang } from "./protocol";

const zh = {
  title: "三村项目 · 志愿者",
  otherTab: "此应用已在另一个标签页中打开。请到那个标签页继续，或关闭它后重新载入本页。",
  noLocks: "此浏览器不支持 Web Locks，无法安全地打开本机数据库。请换用较新的浏览器。",
  opening: "正在打开本机数据库…",
  retrying: (n: number) => `数据库仍被上一个页面占用，正在重试（第 ${n} 次）…`,
  failed: (m: string) => `无法打开本机数据库：${m}`,
  persistGranted: "浏览器已同意长期保存本机数据。",
  persistDenied: "浏览器未同意长期保存：空间不足时可能删除本机数据，请尽早同步。",
  switchLang: "English",
  // Enrollment.
  enrollTitle: "登记本机",
  enrolling: "正在登记本机…",
  enrollIntro: "请扫描工作人员出示的二维码，或输入注册码。",
  enrollCode: "注册码",
  enrollButton: "登记",
  enrollRefused: "注册码未被接受：",
  deviceName: (kind: string) => `手机浏览器 · ${kind}`,
  // Status.
  pending: (n: number) => (n === 0 ? "没有待同步的改动" : `${n} 条改动待同步`),
  lastSync: "上次同步：",
  never: "从未",
  syncNow: "立即同步",
  syncing: "正在同步…",
  offline: "无网络：改动已保存在本机，联网后会自动同步。",
  syncError: "同步失败：",
  synced: "已同步",
  oldPending: (days: number) => `有改动已 ${days} 天未同步！浏览器可能删除本机数据。请尽快联网同步，或把未同步的改动保存成文件交给工作人员。`,
  export: "把未同步的改动保存成文件",
  exported: (n: number, name: string) => `已保存 ${n} 条记录到文件 ${name}。`,
  exportedHeld: (n: number) => `其中 ${n} 条要等服务器更新后才能同步。`,
  exportedMore: (n: number) => `还有 ${n} 条放不下：这个文件传到并确认后，再保存一个文件。`,
  exportFailed: "未能保存文件：",
  carryIn: "打开工作人员给的文件",
  carried: (records: number, acks: number) => `已从文件收到 ${records} 条记录，${acks} 条改动已确认同步。`,
  carriedNothing: "这个文件里没有本机还没有的东西。",
  carryFailed: "未能打开文件：",
  refusedCount: (n: number) => `${n} 条改动被服务器拒绝，点此查看并更正`,
  heldCount: (n: number, server: number, app: number) =>
    `${n} 条改动等服务器更新后才能同步（服务器数据版本 ${server}，本应用 ${app}），已安全保存在本机`,
  photosPending: (n: number) => `${n} 张照片待上传（记录已先同步）`,
  photosRefused: (n: number) => `${n} 张照片被服务器拒绝`,
  // Photos.
  addPhoto: "拍照或选择照片",
  removePhoto: "删除",
  photoCount: (n: number, max: number) => `${n} / ${max} 张`,
  tooManyPhotos: (max: number) => `最多 ${max} 张照片。`,
  photoAdding: "正在处理照片…",
  photoWaits: "待上传",
  photoRefused: "服务器拒绝：",
  photoClose: "关闭",
  ago: (ms: number) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return "刚刚";
    if (s < 3600) return `${Math.floor(s / 60)} 分钟前`;
    if (s < 86400) return `${Math.floor(s / 3600)} 小时前`;
    return `${Math.floor(s / 86400)} 天前`;
  },
  signedInAs: (user: string, device: string) => `${user} · ${device}`,
  // Home.
  home: "首页",
  recent: "最近的记录",
  noRecords: "还没有记录。",
  allRecords: "全部记录",
  // Forms.
  forms: {
    "log-session": "记录 7 点钟课堂",
    "report-cleanup": "上报环境整治",
    lend: "借出图书",
    return: "归还图书",
  },
  save: "保存",
  saving: "正在保存…",
  saved: "已保存在本机，将自动同步。",
  notSaved: "未保存：",
  fixFields: "请更正标出的字段。",
  choose: "请选择",
  back: "返回首页",
  findBook: "按书名或 ISBN 查找图书",
  noBooks: "没有找到图书。",
  chosenBook: "已选：",
  villageOfBook: "借阅记在图书所在的村。",
  chooseLoan: "选择要归还的借阅",
  noOpenLoans: "没有未归还的借阅。",
  loanLabel: (card: string, book: string, due: string) => `借书证 ${card} · ${book}${due ? ` · 应还 ${due}` : ""}`,
  // Records.
  records: "记录",
  pendingMark: "待同步",
  syncedMark: "已同步",
  edit: "修改",
  delete: "删除",
  confirmDelete: "确认删除",
  cancel: "取消",
  deleted: "已删除。",
  editTitle: "修改记录",
  notFound: "本机没有这条记录。",
  noChanges: "没有改动。",
  // Refused.
  refused: "被拒绝的改动",
  noRefused: "没有被拒绝的改动。",
  fix: "更正",
  dismiss: "不再显示",
  fixing: "更正被拒绝的改动：",
  tables: {
    tutoring_sessions: "课堂",
    cleanup_tasks: "环境整治",
    loans: "借阅",
    books: "图书",
  } as Record<string, string>,
  children: (n: string) => `${n} 名儿童`,
};
type Messages = typeof zh;

const en: Messages = {
  title: "Three villages · volunteer",
  otherTab: "The app is open in another tab. Continue there, or close it and reload this page.",
  noLocks: "This browser has no Web Locks: the on-device database cannot be opened safely. Use a newer browser.",
  opening: "Opening the on-device database…",
  retrying: (n: number) => `The previous page still holds the database; retrying (attempt ${n})…`,
  failed: (m: string) => `Could not open the on-device database: ${m}`,
  persistGranted: "The browser agreed to keep this device's data.",
  persistDenied: "The browser did not agree to keep the data: it may delete it when space runs low, so sync early.",
  switchLang: "中文",
  enrollTitle: "Enroll this device",
  enrolling: "Enrolling this device…",
  enrollIntro: "Scan the QR code staff show you, or type the code.",
  enrollCode: "Code",
  enrollButton: "Enroll",
  enrollRefused: "The code was not accepted: ",
  deviceName: (kind: string) => `Phone browser · ${kind}`,
  pending: (n: number) => (n === 0 ? "Nothing waits to sync" : n === 1 ? "1 change waits to sync" : `${n} changes wait to sync`),
  lastSync: "Last sync: ",
  never: "never",
  syncNow: "Sync now",
  syncing: "Syncing…",
  offline: "No connection: changes are saved on this device and sync when it is back.",
  syncError: "Sync failed: ",
  synced: "Synced",
  oldPending: (days: number) =>
    `Some changes have waited ${days} days to sync! The browser may delete this device's data. Sync soon, or save the unsynced changes to a file for staff.`,
  export: "Save unsynced changes to a file",
  exported: (n: number, name: string) => `Saved ${n} records to the file ${name}.`,
  exportedHeld: (n: number) => (n === 1 ? `1 of them waits for the server's update.` : `${n} of them wait for the server's update.`),
  exportedMore: (n: number) => `${n} more did not fit: once this file is carried and confirmed, save another.`,
  exportFailed: "Could not save the file: ",
  carryIn: "Open a file from staff",
  carried: (records: number, acks: number) =>
    `The file brought ${records === 1 ? "1 record" : `${records} records`}; ${acks === 1 ? "1 change" : `${acks} changes`} confirmed synced.`,
  carriedNothing: "The file holds nothing this device does not have already.",
  carryFailed: "Could not open the file: ",
  refusedCount: (n: number) => (n === 1 ? "The server refused 1 change: see and correct it" : `The server refused ${n} changes: see and correct them`),
  heldCount: (n: number, server: number, app: number) =>
    `${n === 1 ? "1 change waits" : `${n} changes wait`} for the server's update (server schema ${server}, this app ${app}); ${n === 1 ? "it is" : "they are"} kept safe on this device`,
  photosPending: (n: number) => (n === 1 ? "1 photo waits to upload (its record synced first)" : `${n} photos wait to upload (their records synced first)`),
  photosRefused: (n: number) => (n === 1 ? "The server refused 1 photo" : `The server refused ${n} photos`),
  // Photos.
  addPhoto: "Take or choose a photo",
  removePhoto: "Remove",
  photoCount: (n: number, max: number) => `${n} of ${max}`,
  tooManyPhotos: (max: number) => `At most ${max} photos.`,
  photoAdding: "Preparing the photo…",
  photoWaits: "waits to upload",
  photoRefused: "Refused by the server: ",
  photoClose: "Close",
  ago: (ms: number) => {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return "just now";
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} days ago`;
  },
  signedInAs: (user: string, device: string) => `${user} · ${device}`,
  home: "Home",
  recent: "Recent records",
  noRecords: "No records yet.",
  allRecords: "All records",
  forms: {
    "log-session": "Log a 7pm class",
    "report-cleanup": "Report a cleanup",
    lend: "Lend a book",
    return: "Return a book",
  },
  save: "Save",
  saving: "Saving…",
  saved: "Saved on this device; it will sync by itself.",
  notSaved: "Not saved: ",
  fixFields: "Please correct the marked fields.",
  choose: "Choose",
  back: "Back to home",
  findBook: "Find the book by title or ISBN",
  noBooks: "No book found.",
  chosenBook: "Chosen: ",
  villageOfBook: "The loan goes to the book's village.",
  chooseLoan: "Choose the loan to return",
  noOpenLoans: "No open loans.",
  loanLabel: (card: string, book: string, due: string) => `Card ${card} · ${book}${due ? ` · due ${due}` : ""}`,
  records: "Records",
  pendingMark: "waiting",
  syncedMark: "synced",
  edit: "Edit",
  delete: "Delete",
  confirmDelete: "Really delete",
  cancel: "Cancel",
  deleted: "Deleted.",
  editTitle: "Edit a record",
  notFound: "This device does not hold that record.",
  noChanges: "Nothing changed.",
  refused: "Refused changes",
  noRefused: "No refused changes.",
  fix: "Correct",
  dismiss: "Dismiss",
  fixing: "Correcting a refused change: ",
  tables: {
    tutoring_sessions: "Classes",
    cleanup_tasks: "Cleanups",
    loans: "Loans",
    books: "Books",
  },
  children: (n: string) => `${n} children`,
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
export type { Messages };

/** An enum value in words, in the language of m (schema.ValueName, so
 * the app says it as the console and the report's files do); an unknown
 * code shows as it is. */
export function valueLabel(m: Messages, v: string): string {
  const n = Object.prototype.hasOwnProperty.call(valueNames, v) ? valueNames[v] : undefined;
  return n ? n[m === en ? "en" : "zh"] : v;
}
