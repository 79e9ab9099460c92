// The Connect clients: one same-origin transport in binary protobuf, with
// an interceptor that adds the device token (only ever in the
// Authorization header) and the page's language, and that signs the
// browser out when the server no longer knows its token.
import {
  Code, ConnectError, createClient, createContextKey, createContextValues, type CallOptions, type Client, type Interceptor,
} from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AccessService, ErrorDetailSchema, type WhoamiResponse } from "./gen/villagesync/v1/access_pb";
import { ReportService } from "./gen/villagesync/v1/report_pb";
import { AttachmentService, ConflictService } from "./gen/villagesync/v1/sync_pb";
import { getLang } from "./i18n";

const tokenKey = "villagesync.token";
const replicaKey = "villagesync.replica";

export function token(): string {
  return localStorage.getItem(tokenKey) ?? "";
}

export function ownReplica(): number {
  return Number(localStorage.getItem(replicaKey) ?? 0);
}

export function keepToken(tok: string, replica: number): void {
  localStorage.setItem(tokenKey, tok);
  localStorage.setItem(replicaKey, String(replica));
  me = null;
}

export function forgetToken(): void {
  localStorage.removeItem(tokenKey);
  localStorage.removeItem(replicaKey);
  me = null;
}

// SignedOut is thrown instead of the server's error once the browser has
// been sent back to sign-in: the page that made the call has nothing left
// to show.
export class SignedOut extends Error {
  constructor() {
    super("signed out");
    this.name = "SignedOut";
  }
}

// NetworkError marks a request that never reached the server (offline, the
// server down), as opposed to one the server refused.
class NetworkError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = "NetworkError";
  }
}

let onSignedOut: () => void = () => {};

export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

// keepSignIn marks a call whose "unauthenticated" must not sign the
// browser out: the sign-in page asks who holds the stored token before
// it offers to replace that sign-in, and must keep the code it is holding.
const keepSignIn = createContextKey(false, { description: "keep sign-in" });

export function withoutSignOut(): CallOptions {
  return { contextValues: createContextValues().set(keepSignIn, true) };
}

const interceptor: Interceptor = (next) => async (req) => {
  req.header.set("Accept-Language", getLang());
  const current = token();
  if (!req.header.has("Authorization") && current) req.header.set("Authorization", `Bearer ${current}`);
  const sent = req.header.get("Authorization");
  try {
    return await next(req);
  } catch (e) {
    const err = ConnectError.from(e);
    // Only the token this browser holds: an enrollment's bad code is the
    // form's error. Calls refused together sign the browser out once.
    if (err.code === Code.Unauthenticated && current && sent === `Bearer ${current}` && !req.contextValues.get(keepSignIn)) {
      if (token() === current) {
        forgetToken();
        onSignedOut();
      }
      throw new SignedOut();
    }
    throw err;
  }
};

export const transport = createConnectTransport({
  baseUrl: location.origin,
  useBinaryFormat: true,
  interceptors: [interceptor],
  fetch: (input, init) =>
    globalThis.fetch(input, init).catch((e: unknown) => {
      if (e instanceof Error && (e.name === "AbortError" || e.name === "TimeoutError")) throw e;
      throw new NetworkError(e);
    }),
  defaultTimeoutMs: 60_000,
});

export const access: Client<typeof AccessService> = createClient(AccessService, transport);
export const reports: Client<typeof ReportService> = createClient(ReportService, transport);
export const conflicts: Client<typeof ConflictService> = createClient(ConflictService, transport);
export const attachments: Client<typeof AttachmentService> = createClient(AttachmentService, transport);

export type Role = "volunteer" | "coordinator" | "staff" | "admin";

let me: WhoamiResponse | null = null;

export function whoami(): WhoamiResponse | null {
  return me;
}

export async function loadWhoami(): Promise<WhoamiResponse> {
  me = await access.whoami({});
  return me;
}

// What a role may do, as api/rpc's table of roles allows it; the page
// offers nothing else.
export function caps(role: string) {
  const staff = role === "staff" || role === "admin";
  const reader = staff || role === "coordinator";
  return {
    overview: true,
    review: reader,
    resolve: staff,
    devices: reader,
    listDevices: staff,
    enroll: staff,
    listUsers: staff,
    history: reader,
    people: role === "admin",
    // ReportService.ListRecords: anyone, a volunteer's villages only.
    records: true,
    // CarryService.CarryFor: a pull file for a device.
    carryFor: staff,
  };
}

export type Caps = ReturnType<typeof caps>;

// manages mirrors the server's rule for whose devices and codes a caller
// handles: an admin everyone's, staff those of volunteers and coordinators.
export function manages(myRole: string, theirRole: string): boolean {
  return myRole === "admin" || (myRole === "staff" && (theirRole === "volunteer" || theirRole === "coordinator"));
}

export function isNetwork(err: unknown): boolean {
  if (err instanceof NetworkError) return true;
  return err instanceof ConnectError && err.cause instanceof NetworkError;
}

export function isCode(err: unknown, code: Code): boolean {
  return err instanceof ConnectError && err.code === code;
}

// errorField is the request field a refusal names (ErrorDetail), or "".
export function errorField(err: unknown): string {
  if (!(err instanceof ConnectError)) return "";
  for (const d of err.findDetails(ErrorDetailSchema)) {
    if (d.field) return d.field;
  }
  return "";
}

// errorText is what to tell the person: the server's own message (already
// in the page's language), or that it could not be reached.
export function errorText(err: unknown, unreachable: string): string {
  if (isNetwork(err)) return unreachable;
  if (err instanceof ConnectError) return err.rawMessage;
  return err instanceof Error ? err.message : String(err);
}

export { Code, ConnectError };
