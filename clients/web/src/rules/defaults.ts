// fillDefaults: what a volunteer form fills its empty fields with, from
// the forms in schema.gen.ts (schema.Form.FillDefaults): today, now, a
// number of days after another date. The conformance test compares it
// with the Go replica's.
import { forms } from "./schema.gen";
import type { Form } from "./schema.gen";

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

// The wall clock at now in a zone offsetMinutes east of UTC, as UTC fields.
function wall(now: number, offsetMinutes: number): Date {
  return new Date(now + offsetMinutes * 60_000);
}

function dateOnly(d: Date): string {
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

// Go's time.Format(time.RFC3339) in a fixed zone: seconds, and Z for UTC.
function rfc3339(now: number, offsetMinutes: number): string {
  const d = wall(now, offsetMinutes);
  const a = Math.abs(offsetMinutes);
  const zone = offsetMinutes === 0 ? "Z" : `${offsetMinutes < 0 ? "-" : "+"}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
  return `${dateOnly(d)}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}${zone}`;
}

// A YYYY-MM-DD date as Go's time.Parse(time.DateOnly) reads it, or undefined.
function parseDay(s: string | undefined): Date | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s ?? "");
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const at = new Date(0);
  at.setUTCFullYear(y, mo - 1, d);
  // Go refuses a day past the month's end; Date would roll it over.
  return at.getUTCMonth() === mo - 1 && d >= 1 ? at : undefined;
}

/** The named form, or undefined. */
export function formNamed(name: string): Form | undefined {
  return (forms as readonly Form[]).find((f) => f.name === name);
}

/**
 * fillDefaults returns the text the named form fills each of its fields
 * with at now (ms since the epoch) in a zone offsetMinutes east of UTC
 * (default: the browser's), given what the volunteer typed. A field
 * given is still listed: the typed text comes first.
 */
export function fillDefaults(
  form: string,
  given: Readonly<Record<string, string>>,
  now: number,
  offsetMinutes: number = -new Date(now).getTimezoneOffset(),
): Record<string, string> {
  const f = formNamed(form);
  if (!f) throw new Error(`${form}: no such form in schema`);
  const out: Record<string, string> = {};
  for (const d of f.defaults) {
    if (d.when !== "" && !d.whenIn.includes(given[d.when] ?? "")) continue;
    switch (d.fill) {
      case "today":
        out[d.column] = dateOnly(wall(now, offsetMinutes));
        break;
      case "now":
        out[d.column] = rfc3339(now, offsetMinutes);
        break;
      case "days_after": {
        const from = parseDay(given[d.from]) ?? wall(now, offsetMinutes);
        out[d.column] = dateOnly(new Date(from.getTime() + d.days * 86_400_000));
        break;
      }
    }
  }
  return out;
}
