// Conformance harness self-tests: planted receiver bugs as small declarations — "answer 200 instead of 401 to a stale
// timestamp" — each an msw handler on an instance's broken front, naming the one check it must make fail (spec §16).
import { http, HttpResponse, type RequestHandler } from "msw";
import { ERROR_STATUS, type ErrorCode } from "../../../protocol/errors.ts";
import type { Role } from "../../../conformance/context.ts";
import type { FaultFactory, FrontTools } from "./broken-front.ts";

/** A request as a fault sees it. */
export interface Seen {
  request: Request;
  method: string;
  path: string;
  query: URLSearchParams;
  bytes: Buffer;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  json: any;
  /** Fields of the X-SMCP-Authorization header (spec §5.2), when there is one. */
  auth?: Record<string, string>;
  tools: FrontTools;
}

/** One planted bug: the check it breaks (a full check ID), what an implementer got wrong, and the scripted answers. */
export interface Fault {
  breaks: string;
  bug: string;
  /** The instance whose front carries it; by default the @role of `breaks`. */
  on?: Role;
  /** Checks that share the faulty request and so fail with it by design (kept short: a fault should hit one check); a check not in the registry is ignored. */
  alsoFails?: string[];
  handlers: FaultFactory;
}

export type Method = "get" | "post" | "put" | "delete" | "all";
type Respond = (s: Seen) => Response | undefined | Promise<Response | undefined>;

function parseAuth(h: string | null): Record<string, string> | undefined {
  if (!h?.startsWith("SMCP-Ed25519 ")) return undefined;
  return Object.fromEntries(h.slice(13).split(" ").map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)]));
}

export function seenFor(request: Request, tools: FrontTools): Seen {
  const url = new URL(request.url);
  const bytes = tools.bytesOf(request);
  const text = bytes.toString("utf8");
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  const auth = parseAuth(request.headers.get("x-smcp-authorization"));
  return { request, method: request.method, path: url.pathname, query: url.searchParams, bytes, text, json, ...(auth ? { auth } : {}), tools };
}

/** Passes a fault's answer on, counting it when there is one. */
export function counted(tools: FrontTools, check: string, r: Response | undefined): Response | undefined {
  if (r) tools.fired(check);
  return r;
}

/** A fault on requests matching `method` and msw `path` (e.g. `*\/federation/v1/ping`); `respond` returning undefined passes the request on. */
export function fault(breaks: string, bug: string, method: Method, path: string, respond: Respond, more: Pick<Fault, "on" | "alsoFails"> = {}): Fault {
  return {
    breaks,
    bug,
    ...more,
    handlers: (tools): RequestHandler[] => [http[method](path, async ({ request }) => counted(tools, breaks, await respond(seenFor(request, tools))))],
  };
}

/** A fault that keeps state (what it has seen): `make` runs once per front, so runs never share it. */
export function statefulFault(breaks: string, bug: string, method: Method, path: string, make: () => Respond, more: Pick<Fault, "on" | "alsoFails"> = {}): Fault {
  return {
    breaks,
    bug,
    ...more,
    handlers: (tools): RequestHandler[] => {
      const respond = make();
      return [http[method](path, async ({ request }) => counted(tools, breaks, await respond(seenFor(request, tools))))];
    },
  };
}

/** `then` for requests passing `test`; every other request goes on to the instance. */
export function when(test: (s: Seen) => boolean, then: (s: Seen) => Response | Promise<Response | undefined> | undefined): Respond {
  return (s) => (test(s) ? then(s) : undefined);
}

/**
 * The instance's TransactionResult with the items `pick` selects among those it rejected reported as processed —
 * a receiver that does not enforce the rule behind that rejection (spec §8.5).
 */
export function reportProcessed(s: Seen, pick: (item: { id: string; errcode: string }, sent: any) => boolean): Promise<Response | undefined> {
  const sent = [...(s.json?.submissions ?? []), ...(s.json?.events ?? [])];
  const itemOf = (id: string): unknown => sent.find((x: any) => x.submission_id === id || x.event_id === id);
  return altered(s, (a) => {
    if (a.status !== 200 || !Array.isArray(a.body?.rejected)) return;
    const moved = a.body.rejected.filter((r: any) => pick(r, itemOf(r.id)));
    if (moved.length === 0) return;
    return { body: { ...a.body, rejected: a.body.rejected.filter((r: any) => !moved.includes(r)), processed: [...a.body.processed, ...moved.map((r: any) => r.id)] } };
  });
}

/** Answers `body` with `status`. */
export function answer(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
  return body === undefined ? new HttpResponse(null, { status, headers }) : HttpResponse.json(body as never, { status, headers });
}

/** Answers the spec's error body for `errcode`, with the status of the error table (spec §13). */
export function error(errcode: ErrorCode, extra: Record<string, unknown> = {}): Response {
  return answer(ERROR_STATUS[errcode], { errcode, error: "planted fault", ...extra });
}

/**
 * The instance's own answer to the request, passed through `alter` (status, parsed body, headers); when `alter`
 * changes nothing the request goes on to the next fault (the instance is asked once, whoever asks).
 */
export async function altered(s: Seen, alter: (a: { status: number; body: any; headers: Headers }) => { status?: number; body?: unknown; headers?: Record<string, string> } | void): Promise<Response | undefined> {
  const real = await s.tools.forward(s.request);
  const text = await real.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  const a = { status: real.status, body, headers: real.headers };
  const before = [...real.headers].join();
  const changed = alter(a);
  if (!changed && [...real.headers].join() === before) return undefined;
  const out = changed ?? {};
  const headers: Record<string, string> = {};
  real.headers.forEach((v, k) => {
    if (k !== "content-length") headers[k] = v;
  });
  const finalBody = "body" in out ? out.body : a.body;
  return new HttpResponse(finalBody === undefined ? text : JSON.stringify(finalBody), { status: out.status ?? a.status, headers: { ...headers, ...out.headers } });
}

/** The role a fault's front belongs to. */
export function roleOf(f: Fault): Role {
  if (f.on) return f.on;
  const m = /@(alice|bob)$/.exec(f.breaks);
  if (!m) throw new Error(`fault for ${f.breaks} must say which instance carries it (on)`);
  return m[1] as Role;
}

/** The fronts' fault factories for a set of faults, per role. */
export function frontsFor(faults: Fault[]): Partial<Record<Role, FaultFactory>> {
  const out: Partial<Record<Role, FaultFactory>> = {};
  for (const role of ["alice", "bob"] as Role[]) {
    const mine = faults.filter((f) => roleOf(f) === role);
    if (mine.length > 0) out[role] = (tools) => mine.flatMap((f) => f.handlers(tools));
  }
  return out;
}

/** A stale or future signing timestamp (beyond the 60 s default skew). */
export function skewed(s: Seen, ms = 60_000): boolean {
  const ts = Number(s.auth?.ts);
  return Number.isFinite(ts) && Math.abs(Date.now() - ts) > ms;
}
