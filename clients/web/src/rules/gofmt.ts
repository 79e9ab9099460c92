// Go's fmt, as far as the server's messages use it: %s %v %d %q %U %%
// and explicit argument indexes (%[2]d), so a format from schema/ says
// here exactly what it says on the server. Numbers are integers (%d, or
// %v of an integer) or reals (%v of a real); which one is the caller's
// to say, since JavaScript has one number type.
import { goLowerRuns, goPrintRuns } from "./schema.gen";

/** A real argument, printed by %v as Go prints a float64. */
export class Real {
  constructor(readonly value: number) {}
}

export type Arg = string | number | Real;

/** Go's strconv.FormatFloat(x, 'g', -1, 64) with %v's exponent rule. */
export function goFloat(x: number): string {
  if (Number.isNaN(x)) return "NaN";
  if (x === Infinity) return "+Inf";
  if (x === -Infinity) return "-Inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const [mant, expText] = x.toExponential().split("e");
  const exp = Number(expText);
  // Shortest precision: %e when the exponent is < -4 or >= 6 (strconv's
  // eprec for shortest), with at least two exponent digits.
  if (exp < -4 || exp >= 6) {
    const digits = String(Math.abs(exp)).padStart(2, "0");
    return `${mant}e${exp < 0 ? "-" : "+"}${digits}`;
  }
  return String(x);
}

// Go's unicode.IsPrint (letters, marks, numbers, punctuation, symbols and
// the ASCII space) by Go's own table: JavaScript's \p{...} classes follow
// the engine's Unicode version, and a rune assigned after Go's would be
// quoted as itself here and as \u escape by the server.
// printStarts[i] is where the i-th run begins; odd runs are printable.
const printStarts: readonly number[] = (() => {
  const out: number[] = [];
  let at = 0;
  for (const n of goPrintRuns) {
    out.push(at);
    at += n;
  }
  return out;
})();

/** The index of the last run in starts (step apart, at offset) beginning at or before r. */
function runAt(starts: readonly number[], r: number, step = 1): number {
  let lo = 0;
  let hi = starts.length / step - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid * step]! <= r) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Go's unicode.IsPrint. */
export function goIsPrint(r: number): boolean {
  return runAt(printStarts, r) % 2 === 1;
}

/** Go's unicode.ToLower. */
export function goLowerRune(r: number): number {
  const i = runAt(goLowerRuns, r, 4) * 4;
  const [lo, hi, stride, delta] = [goLowerRuns[i]!, goLowerRuns[i + 1]!, goLowerRuns[i + 2]!, goLowerRuns[i + 3]!];
  return r >= lo && r <= hi && (r - lo) % stride === 0 ? r + delta : r;
}

/** Go's strings.ToLower: rune by rune, without JavaScript's SpecialCasing (İ, final Σ). */
export function goLower(s: string): string {
  let out = "";
  for (const ch of s) out += String.fromCodePoint(goLowerRune(ch.codePointAt(0)!));
  return out;
}

/** Go's strconv.Quote. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const r = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case "\\":
        out += "\\\\";
        continue;
      case "\x07":
        out += "\\a";
        continue;
      case "\b":
        out += "\\b";
        continue;
      case "\f":
        out += "\\f";
        continue;
      case "\n":
        out += "\\n";
        continue;
      case "\r":
        out += "\\r";
        continue;
      case "\t":
        out += "\\t";
        continue;
      case "\v":
        out += "\\v";
        continue;
    }
    if (r >= 0xd800 && r <= 0xdfff) {
      // A lone surrogate is invalid UTF-8 to Go, said as U+FFFD.
      out += "\\ufffd";
    } else if (goIsPrint(r)) {
      out += ch;
    } else if (r < 0x20 || r === 0x7f) {
      out += "\\x" + r.toString(16).padStart(2, "0");
    } else if (r < 0x10000) {
      out += "\\u" + r.toString(16).padStart(4, "0");
    } else {
      out += "\\U" + r.toString(16).padStart(8, "0");
    }
  }
  return out + '"';
}

function verb(v: string, a: Arg | undefined): string {
  if (a === undefined) return `%!${v}(MISSING)`;
  switch (v) {
    case "s":
    case "v":
      if (a instanceof Real) return goFloat(a.value);
      return String(a);
    case "d":
      return a instanceof Real ? `%!d(float64=${goFloat(a.value)})` : String(a);
    case "q":
      return goQuote(String(a));
    case "U":
      return "U+" + Number(a).toString(16).toUpperCase().padStart(4, "0");
  }
  return `%!${v}(${String(a)})`;
}

/** Go's fmt.Sprintf for the verbs the server's messages use. */
export function sprintf(format: string, args: readonly Arg[]): string {
  let next = 0;
  return format.replace(/%(?:\[(\d+)\])?(\.\d+)?([%sdvqUf])/g, (_m, index: string | undefined, prec: string | undefined, v: string) => {
    if (v === "%") return "%";
    if (index !== undefined) next = Number(index) - 1;
    const a = args[next++];
    if (v === "f" && typeof a === "number") return a.toFixed(prec ? Number(prec.slice(1)) : 6);
    return verb(v, a);
  });
}
