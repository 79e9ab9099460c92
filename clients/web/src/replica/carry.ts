// Hand-carried files (api/villagesync/v1/carry.proto), as api/wire/carry.go
// makes and reads them, byte for byte: a CarriedFile, gzip-compressed, its
// payload (gzip-compressed protobuf) sealed with NaCl box (X25519, XSalsa20-Poly1305) between the
// device's key pair and the server's. tweetnacl's box is the construction
// golang.org/x/crypto/nacl/box implements, so a file sealed here opens
// with wire.OpenPush and one sealed by wire.SealPull opens here; the Go
// interop test (systest/appworker carry_test.go) proves both ways.
//
// Refusals are CarryRefusal: the English format of the Go side and its
// arguments, so the app says them in the page's language through the same
// catalogue the server's messages use (schema.gen.ts messagesZH).
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import nacl from "tweetnacl";
import {
  CarriedFileSchema,
  CarriedKind,
  CarriedPullSchema,
  CarriedPushSchema,
  type CarriedFile,
  type CarriedPull,
  type CarriedPush,
} from "../gen/villagesync/v1/carry_pb";
import type { Arg } from "../rules/gofmt";

export { hex, unhex } from "./hex";

export const carriedMagic = "villagesync-carried";
export const carriedFormat = 1;
/** As wire.MaxCarriedBytes and maxCarriedInflated. */
export const maxCarriedBytes = 8 << 20;
/** What the outer layer may inflate to before its seal is checked: the
 * sealed payload is compressed already, so a real file's outer layer is
 * hardly larger than the file; a few KB cover the clear fields. 64 MB is
 * only for the opened (authenticated) payload. */
const maxOuterInflated = maxCarriedBytes + 4096;
const maxCarriedInflated = 64 << 20;
export const boxKeySize = 32;

/** A refusal of a carried file: the Go side's English format and its
 * arguments (say() them in the page's language). */
export class CarryRefusal extends Error {
  constructor(
    readonly format: string,
    readonly args: readonly Arg[] = [],
  ) {
    super(format);
  }
}

/** wire.ErrCarriedDamaged. */
export const damaged = () =>
  new CarryRefusal(
    "the file is damaged or was changed on the way (it fails its seal): make it again on the device and carry the new one",
  );

export interface BoxKeys {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** A key pair from the browser's randomness (tweetnacl uses crypto.getRandomValues). */
export function newBoxKeys(): BoxKeys {
  return nacl.box.keyPair();
}

/** The public key of a secret key (the device keeps only the secret one's bytes and this). */
export function boxKeysOf(secretKey: Uint8Array): BoxKeys {
  return nacl.box.keyPair.fromSecretKey(secretKey);
}

/** wire.BoxKey: a public key from the wire; undefined for an empty one. */
export function boxKey(b: Uint8Array): Uint8Array | undefined {
  if (b.length === 0) return undefined;
  if (b.length !== boxKeySize) throw new CarryRefusal("a box public key is %d bytes, not %d", [boxKeySize, b.length]);
  return b;
}

async function gzip(raw: Uint8Array): Promise<Uint8Array> {
  const out = new Blob([raw as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/** gunzip inflates at most limit bytes (more: null), so a small file
 * cannot make the page hold gigabytes. */
async function gunzip(file: Uint8Array, limit: number): Promise<Uint8Array | null> {
  const reader = new Blob([file as BlobPart]).stream().pipeThrough(new DecompressionStream("gzip")).getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    parts.push(value);
  }
  const raw = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    raw.set(p, at);
    at += p.length;
  }
  return raw;
}

async function seal(plain: Uint8Array, f: CarriedFile, secretKey: Uint8Array, peer: Uint8Array): Promise<Uint8Array> {
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  f.magic = carriedMagic;
  f.format = carriedFormat;
  f.nonce = nonce;
  // Compressed before it is sealed, as wire.seal: sealed bytes do not compress.
  f.sealed = nacl.box(await gzip(plain), nonce, peer, secretKey);
  return gzip(toBinary(CarriedFileSchema, f));
}

/** wire.SealPush: a push file of p, from the device's secret key for the server's public key. */
export function sealPush(p: CarriedPush, secretKey: Uint8Array, serverPub: Uint8Array): Promise<Uint8Array> {
  p.kind = CarriedKind.PUSH;
  p.format = carriedFormat;
  const outer = create(CarriedFileSchema, { kind: p.kind, serverId: p.serverId, replica: p.replica, madeAtMs: p.madeAtMs });
  return seal(toBinary(CarriedPushSchema, p), outer, secretKey, serverPub);
}

/** wire.SealPull (tests, and a server in TypeScript if one is ever needed). */
export function sealPull(p: CarriedPull, secretKey: Uint8Array, devicePub: Uint8Array): Promise<Uint8Array> {
  p.kind = CarriedKind.PULL;
  p.format = carriedFormat;
  const outer = create(CarriedFileSchema, { kind: p.kind, serverId: p.serverId, replica: p.replica, madeAtMs: p.madeAtMs });
  return seal(toBinary(CarriedPullSchema, p), outer, secretKey, devicePub);
}

/** wire.ReadCarried: the outer layer, refusing what is no carried file,
 * a damaged one and a newer format. */
export async function readCarried(file: Uint8Array): Promise<CarriedFile> {
  if (file.length > maxCarriedBytes) {
    throw new CarryRefusal("the file is %d bytes, more than a carried file's %d: carry the device's changes in several files", [
      file.length,
      maxCarriedBytes,
    ]);
  }
  if (file.length < 2 || file[0] !== 0x1f || file[1] !== 0x8b) {
    throw new CarryRefusal("the file is not a villagesync carried file (it is not gzip-compressed)");
  }
  let raw: Uint8Array | null;
  try {
    raw = await gunzip(file, maxOuterInflated);
  } catch {
    raw = null;
  }
  if (raw === null) {
    throw new CarryRefusal(
      "the file is truncated or damaged (its compression does not read through): carry it again, or make it again on the device",
    );
  }
  let f: CarriedFile;
  try {
    f = fromBinary(CarriedFileSchema, raw);
  } catch {
    throw new CarryRefusal("the file is not a villagesync carried file");
  }
  if (f.magic !== carriedMagic) throw new CarryRefusal("the file is not a villagesync carried file");
  if (f.format > carriedFormat) {
    throw new CarryRefusal("the file is of a newer format (%d; this app reads %d): update the app", [f.format, carriedFormat]);
  }
  if (f.nonce.length !== nacl.box.nonceLength) throw damaged();
  return f;
}

async function open(f: CarriedFile, secretKey: Uint8Array, peer: Uint8Array): Promise<Uint8Array> {
  const sealed = nacl.box.open(f.sealed, f.nonce, peer, secretKey);
  if (!sealed) throw damaged();
  let plain: Uint8Array | null;
  try {
    plain = await gunzip(sealed, maxCarriedInflated);
  } catch {
    plain = null;
  }
  if (plain === null) throw damaged();
  return plain;
}

/** wire.OpenPull: the payload, opened with the device's secret key and
 * the server's public key, checked against the outer layer. */
export async function openPull(f: CarriedFile, secretKey: Uint8Array, serverPub: Uint8Array): Promise<CarriedPull> {
  const plain = await open(f, secretKey, serverPub);
  let p: CarriedPull;
  try {
    p = fromBinary(CarriedPullSchema, plain);
  } catch {
    throw damaged();
  }
  if (p.kind !== f.kind || p.format !== f.format || p.serverId !== f.serverId || p.replica !== f.replica || p.madeAtMs !== f.madeAtMs) throw damaged();
  return p;
}

/** wire.OpenPush (tests). */
export async function openPush(f: CarriedFile, secretKey: Uint8Array, devicePub: Uint8Array): Promise<CarriedPush> {
  const plain = await open(f, secretKey, devicePub);
  let p: CarriedPush;
  try {
    p = fromBinary(CarriedPushSchema, plain);
  } catch {
    throw damaged();
  }
  if (p.kind !== f.kind || p.format !== f.format || p.serverId !== f.serverId || p.replica !== f.replica || p.madeAtMs !== f.madeAtMs ||
    !p.request || p.request.replica !== p.replica) {
    throw damaged();
  }
  return p;
}
