// checkRecord: the checks the server runs on a record (schema's
// Column.CheckIn on each field, record.Validate's unknown fields,
// record.CheckRequired's required fields and date orders), with the
// server's messages in both languages. Every rule value and every message
// format comes from schema.gen.ts, generated from schema/: nothing here
// is a copy of a rule. The conformance test
// (cmd/villagesync/internal/systest/rules) runs the Go checks and these
// over the same records and compares field and words exactly.
import { checkMessages, checkWrap, fieldsZH, limits, messagesZH, recordMessages, separators, tables } from "./schema.gen";
import type { Column, Table, TableName, Value } from "./schema.gen";
import { Real, goLower, sprintf } from "./gofmt";
import type { Arg } from "./gofmt";

export type Lang = "en" | "zh";

/** One thing wrong with a record, as the server would refuse it. */
export interface Problem {
  /** What is wrong, as the server names it: "tutoring_sessions.children_present". */
  readonly field: string;
  /** The message without the field, in lang. */
  message(lang: Lang): string;
  /** The field's name in lang, its separator and the message: what the server's rejected list says. */
  text(lang: Lang): string;
}

export interface Village {
  readonly name: string;
  readonly pinyin: string;
  readonly aliases: readonly string[];
}

/** What checks need beyond the record; a check that needs what is missing is skipped (as schema.Env). */
export interface Env {
  /** Now, in milliseconds since the epoch: dates more than a day ahead are refused. */
  readonly now?: number;
  /** The villages the device holds: village columns must name one by its canonical name. */
  readonly villages?: readonly Village[];
}

/** schema.Say: format in lang, by the catalogue's Chinese when it has it. */
export function say(lang: Lang, format: string, args: readonly Arg[]): string {
  const f = lang === "zh" ? (messagesZH[format] ?? format) : format;
  return sprintf(f, args);
}

const allTables: Readonly<Record<string, Table>> = tables;

function tableOf(name: string): Table | undefined {
  return Object.prototype.hasOwnProperty.call(allTables, name) ? allTables[name] : undefined;
}

function columnOf(t: Table, name: string): Column | undefined {
  return t.columns.find((c) => c.name === name);
}

/** schema.FieldName: a field's name in lang. */
export function fieldName(lang: Lang, field: string): string {
  if (lang !== "zh" || field === "") return field;
  if (Object.prototype.hasOwnProperty.call(fieldsZH, field)) return fieldsZH[field]!;
  const parts = field.split(".");
  let t: Table | undefined;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const c = t ? columnOf(t, p) : undefined;
    if (c) {
      parts[i] = c.zh;
      t = undefined;
      continue;
    }
    const byName = tableOf(p);
    if (Object.prototype.hasOwnProperty.call(fieldsZH, p) && fieldsZH[p] !== "") parts[i] = fieldsZH[p]!;
    else if (byName) parts[i] = byName.zh;
    t = byName;
  }
  return parts.join(".");
}

function problem(field: string, format: string, args: readonly Arg[]): Problem {
  return {
    field,
    message: (lang) => say(lang, format, args),
    text: (lang) => fieldName(lang, field) + separators[lang] + say(lang, format, args),
  };
}

type Kind = keyof typeof checkMessages;

/** schema.CheckError: a check's refusal in English (the Chinese in parentheses) and in Chinese alone. */
interface Said {
  readonly en: string;
  readonly zh: string;
}

/**
 * Column.say: a check message in English, wrapped with the column's
 * Chinese when it has one, and in Chinese after the column's Chinese name
 * (the English again when the kind has no Chinese).
 */
function sayCheck(c: Column, kind: Kind, args: readonly Arg[]): Said {
  const m = checkMessages[kind];
  const en = sprintf(m.en, args);
  if (m.zh === "") return { en, zh: en };
  const zh = m.zh.includes("%") ? sprintf(m.zh, args) : m.zh;
  return { en: sprintf(checkWrap, [en, c.zh, zh]), zh: c.zh + zh };
}

/** record.Refused: the problem a column check (or a date order) found, in the words the check made in each language. */
function refused(field: string, said: Said): Problem {
  const message = (lang: Lang) => (lang === "zh" ? said.zh : said.en);
  return { field, message, text: (lang) => fieldName(lang, field) + separators[lang] + message(lang) };
}

// Go's unicode.IsControl plus the bidirectional controls (schema.IsControl).
function isControl(r: number): boolean {
  return r <= 0x1f || (r >= 0x7f && r <= 0x9f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069);
}

/** schema.ControlChar: the first control character and its position in characters from 1, or at 0. */
export function controlChar(s: string, multiline: boolean): { r: number; at: number } {
  let n = 0;
  for (const ch of s) {
    n++;
    const r = ch.codePointAt(0)!;
    if (multiline && (r === 9 || r === 10 || r === 13)) continue;
    if (isControl(r)) return { r, at: n };
  }
  return { r: 0, at: 0 };
}

function wellFormed(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++;
    } else if (u >= 0xdc00 && u <= 0xdfff) {
      return false;
    }
  }
  return true;
}

const encoder = new TextEncoder();

// Days in a month of the proleptic Gregorian calendar, as Go's time has it
// (Date.UTC would read a year below 100 as 19xx).
function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0): number {
  const at = new Date(0);
  at.setUTCFullYear(y, mo - 1, d);
  at.setUTCHours(h, mi, s, 0);
  return at.getTime();
}

/** Go's time.Parse(time.DateOnly) behind schema's ^\d{4}-\d{2}-\d{2}$: the date at UTC midnight, or undefined. */
function parseDate(s: string): { year: number; ms: number } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo)) return undefined;
  return { year: y, ms: utc(y, mo, d) };
}

/** Go's time.Parse(time.RFC3339): the year as written and the instant, or undefined. */
function parseDateTime(s: string): { year: number; ms: number } | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d+))?(Z|([+-])(\d{2}):(\d{2}))$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, sec] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > daysIn(y!, mo!) || h! > 23 || mi! > 59 || sec! > 59) return undefined;
  let offset = 0;
  if (m[8] !== "Z") {
    const [oh, om] = [Number(m[10]), Number(m[11])];
    if (oh > 24 || om > 60) return undefined;
    offset = (m[9] === "-" ? -1 : 1) * (oh * 60 + om) * 60_000;
  }
  const frac = m[7] ? Number("0." + m[7]) * 1000 : 0;
  return { year: y!, ms: utc(y!, mo!, d!, h!, mi!, sec!) + frac - offset };
}

/** schema.ValidISBN. */
/** The digests an attachments value names (schema.SplitAttachments). */
export function splitAttachments(s: string): string[] {
  return s === "" ? [] : s.split(",");
}

/** A SHA-256 digest as records name it: 64 lowercase hex digits (schema.ValidDigest). */
export function validDigest(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

export function validISBN(s: string): boolean {
  const d: number[] = [];
  for (const ch of s) {
    if (ch >= "0" && ch <= "9") d.push(ch.charCodeAt(0) - 48);
    else if (ch === "X" || ch === "x") d.push(10);
    else if (ch !== "-" && ch !== " ") return false;
  }
  if (d.length === 10) {
    let sum = 0;
    for (let i = 0; i < 10; i++) {
      if (d[i] === 10 && i !== 9) return false;
      sum += (10 - i) * d[i]!;
    }
    return sum % 11 === 0;
  }
  if (d.length === 13) {
    let sum = 0;
    for (let i = 0; i < 13; i++) {
      if (d[i] === 10) return false;
      sum += i % 2 === 1 ? 3 * d[i]! : d[i]!;
    }
    return sum % 10 === 0;
  }
  return false;
}

// Go's unicode.IsSpace, for strings.TrimSpace (JavaScript's trim differs:
// it trims U+FEFF and keeps U+0085).
const goSpace = "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000";

function goTrim(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && goSpace.includes(s[a]!)) a++;
  while (b > a && goSpace.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function byteOrder(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** schema.Villages.Canonical. */
function canonical(villages: readonly Village[], s: string): string | undefined {
  const known = new Map<string, string>();
  for (const v of villages) {
    known.set(v.name, v.name);
    if (v.pinyin !== "") known.set(goLower(v.pinyin), v.name);
    for (let a of v.aliases) {
      a = goTrim(a);
      if (a !== "") {
        known.set(a, v.name);
        known.set(goLower(a), v.name);
      }
    }
  }
  const t = goTrim(s);
  return known.get(t) ?? known.get(goLower(t));
}

/** How the server types a value for column c: a number is an integer when c is one and it is whole. */
function typeOf(c: Column, v: Exclude<Value, null>): string {
  if (typeof v === "string") return "text";
  if (c.type === "real") return "real";
  return Number.isInteger(v) ? "integer" : "real";
}

/** schema.Column.CheckIn: what is wrong with v in c, in English without the field's name, or undefined. */
export function checkValue(c: Column, v: Value, env: Env = {}): string | undefined {
  return checkSaid(c, v, env)?.en;
}

/** checkValue in both languages (schema.CheckError). */
function checkSaid(c: Column, v: Value, env: Env = {}): Said | undefined {
  if (v === null) return c.required ? sayCheck(c, "required", []) : undefined;
  const type = typeOf(c, v);
  if (type !== c.type) return sayCheck(c, "type", [c.type, type]);
  if (typeof v === "number") {
    if (c.type === "integer") {
      if ((c.min !== 0 || c.max !== 0) && (v < c.min || v > c.max)) return sayCheck(c, "range", [v, c.min, c.max]);
      return undefined;
    }
    if (!Number.isFinite(v)) return sayCheck(c, "not_finite", [new Real(v)]);
    if (v < 0) return sayCheck(c, "negative", [new Real(v)]);
    return undefined;
  }
  return checkText(c, v, env);
}

function checkText(c: Column, s: string, env: Env): Said | undefined {
  const bytes = encoder.encode(s).length;
  if (bytes > limits.maxTextBytes) return sayCheck(c, "bytes", [bytes, limits.maxTextBytes]);
  if (!wellFormed(s) || s.includes("\0")) return sayCheck(c, "utf8", []);
  const { r, at } = controlChar(s, c.multiline);
  if (at > 0) {
    const what = sprintf(checkMessages[c.multiline ? "control_lines" : "control_line"].en, []);
    return sayCheck(c, "control", [r, at, what]);
  }
  const n = [...s].length;
  if (c.maxRunes > 0 && n > c.maxRunes) return sayCheck(c, "runes", [n, c.maxRunes]);
  if (c.enum.length > 0 && !c.enum.includes(s)) return sayCheck(c, "enum", [s, c.enum.join(", ")]);
  const ahead = env.now === undefined ? undefined : env.now + limits.futureSlackMs;
  switch (c.format) {
    case "date": {
      const d = parseDate(s);
      if (!d) return sayCheck(c, "date", [s]);
      if (d.year < limits.minYear) return sayCheck(c, "date_year", [s, limits.minYear]);
      if (!c.future && ahead !== undefined && d.ms > ahead) return sayCheck(c, "date_future", [s]);
      break;
    }
    case "clock":
      if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(s)) return sayCheck(c, "clock", [s]);
      break;
    case "datetime": {
      const d = parseDateTime(s);
      if (!d) return sayCheck(c, "datetime", [s]);
      if (d.year < limits.minYear) return sayCheck(c, "datetime_year", [s, limits.minYear]);
      if (ahead !== undefined && d.ms > ahead) return sayCheck(c, "datetime_future", [s]);
      break;
    }
    case "isbn":
      if (!validISBN(s)) return sayCheck(c, "isbn", [s]);
      break;
    case "village":
      if (env.villages) {
        const canon = canonical(env.villages, s);
        if (canon === undefined) {
          const names = env.villages.map((v) => v.name).sort(byteOrder);
          return sayCheck(c, "village_unknown", [s, names.join(", ")]);
        }
        if (canon !== s) return sayCheck(c, "village_spelling", [s, canon, canon]);
      }
      break;
    case "attachments": {
      const digests = splitAttachments(s);
      if (digests.length > c.maxItems) return sayCheck(c, "attachment_count", [digests.length, c.maxItems]);
      for (let i = 0; i < digests.length; i++) {
        const d = digests[i]!;
        if (!validDigest(d)) return sayCheck(c, "attachment_digest", [d]);
        if (digests.indexOf(d) < i) return sayCheck(c, "attachment_repeat", [d]);
      }
      break;
    }
    case "free":
      break;
  }
  return undefined;
}

/** schema.Table.CheckDateOrders over a whole record: the first rule broken, naming its later column. */
function checkDateOrders(t: Table, fields: Readonly<Record<string, Value>>): Problem | undefined {
  for (const o of t.dateOrders) {
    const a = fields[o.earlier];
    const b = fields[o.later];
    if (typeof a !== "string" || typeof b !== "string") continue;
    const da = parseDate(a);
    const db = parseDate(b);
    // The shape check alone: Go's time.Parse here has no regex, but a
    // value that passed the column check has the shape.
    if (!da || !db) continue;
    const early = columnOf(t, o.earlier)!;
    const late = columnOf(t, o.later)!;
    const field = `${t.name}.${o.later}`;
    if (db.ms < da.ms) return refused(field, sayCheck(late, "order_before", [b, o.earlier, a, early.zh]));
    if (o.withinDays > 0 && db.ms > da.ms + o.withinDays * 86_400_000) {
      return refused(field, sayCheck(late, "order_within", [b, o.withinDays, o.earlier, a, early.zh]));
    }
  }
  return undefined;
}

/**
 * checkRecord lists what the server would refuse in a new record of table
 * (fields: column -> value; absent or null: no value): each field's own
 * problem (unknown field, type, bounds, format, control characters), in
 * the server's order (by field name); then, when every field is fine,
 * the first required field missing or else the first date order broken.
 * The first problem is the one the server would answer with.
 */
export function checkRecord(table: TableName | string, fields: Readonly<Record<string, Value>>, env: Env = {}): Problem[] {
  const t = tableOf(table);
  if (!t) {
    const known = Object.keys(allTables).sort(byteOrder).join(", ");
    return [problem("table", recordMessages.unknown_table, [table, known])];
  }
  const out: Problem[] = [];
  for (const name of Object.keys(fields).sort(byteOrder)) {
    const field = `${t.name}.${name}`;
    const c = columnOf(t, name);
    if (!c) {
      out.push(problem(field, recordMessages.unknown_field, [t.columns.map((c) => c.name).join(", ")]));
      continue;
    }
    const said = checkSaid(c, fields[name] ?? null, env);
    if (said !== undefined) out.push(refused(field, said));
  }
  if (out.length > 0) return out;
  const missing = t.columns.find((c) => c.required && (fields[c.name] ?? null) === null);
  if (missing) return [problem(`${t.name}.${missing.name}`, recordMessages.required, [missing.zh])];
  const order = checkDateOrders(t, fields);
  return order ? [order] : [];
}

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** Go's strconv.ParseInt(s, 10, 64), or undefined. */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = BigInt(s);
  return n < int64Min || n > int64Max ? undefined : n;
}

// Go's strconv underscoreOK: an underscore only between digits, or after
// a base prefix.
function underscoreOK(s: string): boolean {
  let saw = "^";
  let i = 0;
  if (s[0] === "-" || s[0] === "+") s = s.slice(1);
  let hex = false;
  if (s.length >= 2 && s[0] === "0" && "boxBOX".includes(s[1]!)) {
    i = 2;
    saw = "0";
    hex = s[1] === "x" || s[1] === "X";
  }
  for (; i < s.length; i++) {
    const ch = s[i]!;
    if ((ch >= "0" && ch <= "9") || (hex && /[a-fA-F]/.test(ch))) {
      saw = "0";
      continue;
    }
    if (ch === "_") {
      if (saw !== "0") return false;
      saw = "_";
      continue;
    }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/** Go's strconv.ParseFloat(s, 64) for decimal, hexadecimal (0x…p…), inf, infinity and nan; undefined when Go refuses it. */
function parseFloat64(s: string): number | undefined {
  if (s.includes("_")) {
    if (!underscoreOK(s)) return undefined;
    s = s.split("_").join("");
  }
  const special = /^([+-]?)(inf|infinity)$/i.exec(s);
  if (special) return special[1] === "-" ? -Infinity : Infinity;
  if (/^nan$/i.test(s)) return NaN;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) {
    const x = Number(s);
    // Go refuses what overflows a float64 (ErrRange).
    return Number.isFinite(x) ? x : undefined;
  }
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(s);
  if (hex && (hex[2]! + (hex[3] ?? "")).length > 0) {
    const digits = hex[2]! + (hex[3] ?? "");
    const x = Number(BigInt("0x" + digits)) * 2 ** (Number(hex[4]) - 4 * (hex[3] ?? "").length);
    return Number.isFinite(x) ? (hex[1] === "-" ? -x : x) : undefined;
  }
  return undefined;
}

/** What parseField makes of a form's text: a value, or Go's error for it. */
export type Parsed =
  | { readonly value: Value; readonly error?: undefined }
  // error: Go's error text (English, with the field); zh: the same refusal
  // in Chinese alone, without the field (schema.CheckError's ZH), for a
  // form that speaks Chinese.
  | { readonly value?: undefined; readonly error: string; readonly zh: string };

/**
 * parseField is schema's Column.Parse: text typed into a form, read for
 * column of table ("null", or an empty non-text field, is NULL), then
 * checked as far as the value alone tells. The error is the Go error's
 * text: "children_present: want an integer, got \"x\"".
 */
export function parseField(table: string, column: string, s: string): Parsed {
  const t = tableOf(table);
  const c = t ? columnOf(t, column) : undefined;
  if (!c) throw new Error(`${table}.${column}: no such column in schema`);
  if (s === "null" || (s === "" && c.type !== "text")) return { value: null };
  let value: Value = s;
  if (c.type === "integer") {
    const n = parseInt64(goTrim(s));
    if (n === undefined) return failed(c, sayCheck(c, "parse_integer", [s]));
    if (!Number.isSafeInteger(Number(n)) && (c.min !== 0 || c.max !== 0)) {
      // Past 2^53 a number is not exact: say the digits as Go does.
      return failed(c, sayCheck(c, "range", [n.toString(), c.min, c.max]));
    }
    value = Number(n);
  } else if (c.type === "real") {
    const x = parseFloat64(goTrim(s));
    if (x === undefined) return failed(c, sayCheck(c, "parse_number", [s]));
    value = x;
  }
  const said = checkSaid(c, value);
  return said === undefined ? { value } : failed(c, said);
}

/** A value of c checked as parseField checks what it read. */
export function checkParsed(c: Column, value: Value): Parsed {
  const said = checkSaid(c, value);
  return said === undefined ? { value } : failed(c, said);
}

function failed(c: Column, said: Said): Parsed {
  return { error: `${c.name}: ${said.en}`, zh: said.zh };
}
