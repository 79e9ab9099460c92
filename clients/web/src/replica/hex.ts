// Keys kept in the device file's meta as lowercase hex. Apart from
// carry.ts so that the replica (which also runs under Node, in the shared
// scenarios) does not pull in tweetnacl.
/** Bytes as lowercase hex, for keys kept in the device file's meta. */
export function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function unhex(s: string): Uint8Array {
  const out = new Uint8Array(s.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}
