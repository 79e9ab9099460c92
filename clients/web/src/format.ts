// Numbers, times and months as the page shows them. Counts are plain
// digits with no grouping separators (1950, not 1,950): the same in both
// languages, and what tests and people copying a figure read exactly.
import { getLang, t } from "./i18n";

// The programs run in Shenzhen: times are China time wherever the laptop is.
const zone = "Asia/Shanghai";

export function num(n: bigint | number): string {
  return typeof n === "bigint" ? n.toString() : String(Math.trunc(n));
}

// An amount of work (3.5 truckloads): at most two decimals, no trailing zeros.
export function amount(x: number): string {
  return String(Math.round(x * 100) / 100);
}

export function dateTime(ms: bigint | number): string {
  const v = Number(ms);
  if (!v) return t().never;
  // 2024-06-03 19:05 in English too: day and month never swap places.
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(v));
  const p = (type: string) => parts.find((x) => x.type === type)?.value ?? "";
  const sep = getLang() === "zh" ? "/" : "-";
  return `${p("year")}${sep}${p("month")}${sep}${p("day")} ${p("hour")}:${p("minute")}`;
}

// relative says how long ago (or ahead) ms is from now, in the largest unit
// that fits ("3 hours ago", "3小时前").
export function relative(ms: bigint | number, now = Date.now()): string {
  const v = Number(ms);
  if (!v) return t().never;
  const diff = (v - now) / 1000;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(getLang() === "en" ? "en" : "zh-CN", { numeric: "auto" });
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["week", 7 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
  ];
  for (const [unit, secs] of units) {
    if (abs >= secs) return rtf.format(Math.round(diff / secs), unit);
  }
  return rtf.format(Math.round(diff), "second");
}

// month turns "2024-06" into "2024年6月" or "Jun 2024".
export function month(m: string): string {
  const [y, mo] = m.split("-").map(Number);
  if (!y || !mo) return m;
  if (getLang() === "zh") return `${y}年${mo}月`;
  return new Intl.DateTimeFormat("en-GB", { month: "short", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(y, mo - 1, 1)),
  );
}

// hlcMs is the wall-clock part of a hybrid logical clock value
// (milliseconds << 16 | logical counter).
export function hlcMs(hlc: bigint): number {
  return Number(hlc >> 16n);
}

// village names a village the way the page's language reads it; the
// canonical Chinese name stays in data-village attributes.
export function village(name: string, pinyin: string): string {
  if (getLang() === "en" && pinyin) return `${pinyin} ${name}`;
  return name;
}
