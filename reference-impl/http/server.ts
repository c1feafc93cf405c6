// HTTP edge of the reference instance (all SMCP components): routing, body limits, request authentication,
// rate limiting, schema validation of requests and responses, one log line per request (spec §5, §12, §13).
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { hash, timingSafeEqual } from "node:crypto";
import type { Logger } from "pino";
import { SmcpError } from "../../protocol/errors.ts";
import { parseJsonBody, readBody, sendError, sendJson } from "../../protocol/http.ts";
import { assertBodyOrigin, authenticateRequest, type AuthContext } from "../../protocol/request-auth.ts";
import { validate } from "../../protocol/schemas.ts";
import { AUTH_HEADER, sha256Base64Url, type RequestAuth } from "../../protocol/signing.ts";
import type { VerifyKey } from "../../protocol/keys.ts";
import { LogLimiter } from "./log-limiter.ts";
import { FederationLimits, RateLimiter, UNAUTHENTICATED_BUDGET } from "./rate-limit.ts";
import { RouteTable } from "./route-table.ts";

export type RouteKind = "public" | "federation" | "control";

/** Bounds of an integer query parameter. */
export interface IntParam {
  min: number;
  max: number;
  required?: boolean;
}

export interface RequestContext {
  req: IncomingMessage;
  params: Record<string, string>;
  query: Record<string, number | undefined>;
  body: unknown;
  /** Exact body bytes and their SHA-256 (base64url), as signed. */
  raw: Buffer;
  bodySha256: string;
  /** Federation routes: the authenticated signer and its key. */
  auth?: RequestAuth;
  originKey?: VerifyKey;
  /** Aborted when the client goes away (long polls stop waiting). */
  signal: AbortSignal;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path template, e.g. `/control/v1/channels/{channel}`; parameters are single path segments. */
  path: string;
  kind: RouteKind;
  /** Schema of the request body; routes without one take no body. */
  body?: string;
  /** Schema of each path parameter. */
  params?: Record<string, string>;
  query?: Record<string, IntParam>;
  /** Schema of the 2xx answer, checked when response validation is on. */
  response?: string;
  handler: (ctx: RequestContext) => Promise<Reply> | Reply;
}

export interface HttpServerOptions {
  routes: Route[];
  logger: Logger;
  maxBodyBytes: number;
  rate: { perSecond: number; burst: number };
  /** Authentication context for federation routes (spec §5.6). */
  auth: Omit<AuthContext, "lookupKey"> & {
    /** `charge` is called before a lookup does unauthenticated outbound work (RATE-13); it throws 429 when over budget. */
    lookupKey: (origin: string, keyId: string, charge: () => void) => Promise<VerifyKey | null>;
    /** A request from `origin` verified (REG-02: only now is it recorded as a peer). */
    onVerified?: (origin: string) => void;
  };
  /** RATE-13: outbound work (discovery) on behalf of unauthenticated requests, per client address. */
  unauthenticated?: { perSecond: number; burst: number };
  controlToken: string;
  /** Check every answer against its schema (tests and development). */
  validateResponses: boolean;
  tls?: { cert: Buffer; key: Buffer };
  now?: () => number;
  /** Slow-client bounds (issue 10 finding 7, RATE-11, RATE-12). */
  edge?: Partial<EdgeBounds>;
  /** Log lines per client address and kind: sustained per second and burst (defaults 20 and 100). */
  log?: { perSecond?: number; burst?: number };
}

/** How long and how many connections one client address may hold before it is cut off. */
export interface EdgeBounds {
  /** Open connections per client address; one more is closed at once (RATE-11). */
  maxConnectionsPerAddress: number;
  /** From connection (or the previous request) to the end of the request headers. */
  headersTimeoutMs: number;
  /** From the first byte to the end of the request body: a trickled body is cut off here (408). */
  requestTimeoutMs: number;
}

export const EDGE_DEFAULTS: EdgeBounds = { maxConnectionsPerAddress: 128, headersTimeoutMs: 10_000, requestTimeoutMs: 30_000 };

export class HttpServer {
  readonly server: Server;
  private readonly routes: RouteTable<Route>;
  private readonly limiter: FederationLimits;
  private readonly unauthenticatedWork: RateLimiter;
  private readonly controlTokenDigest: Buffer;
  private readonly logLimiter: LogLimiter;

  constructor(private readonly opts: HttpServerOptions) {
    this.routes = new RouteTable(opts.routes);
    // Compile the request schemas now rather than on the first requests, which would each wait for ajv's code
    // generation (tens of milliseconds, once per process).
    for (const r of opts.routes) for (const name of [r.body, ...Object.values(r.params ?? {})]) if (name) validate(name, undefined);
    this.limiter = new FederationLimits(opts.rate.perSecond, opts.rate.burst, opts.now ?? Date.now);
    const budget = opts.unauthenticated ?? UNAUTHENTICATED_BUDGET;
    this.unauthenticatedWork = new RateLimiter(budget.perSecond, budget.burst, opts.now ?? Date.now, "client address (unauthenticated work)");
    this.controlTokenDigest = sha256(opts.controlToken);
    this.logLimiter = new LogLimiter(opts.log?.perSecond, opts.log?.burst, opts.now ?? Date.now);
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const edge = { ...EDGE_DEFAULTS, ...opts.edge };
    // Node checks both timeouts on this interval: a quarter of the shorter one keeps the overshoot small.
    const timing = {
      headersTimeout: edge.headersTimeoutMs, requestTimeout: edge.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.floor(Math.min(edge.headersTimeoutMs, edge.requestTimeoutMs) / 4)),
    };
    this.server = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, ...timing }, handler) : createHttpServer(timing, handler);
    this.server.keepAliveTimeout = 65_000;
    this.limitConnections(edge.maxConnectionsPerAddress);
  }

  /** Connections refused because their address already held its share (RATE-11). */
  refusedConnections = 0;

  /** RATE-11: at most `max` open connections per client address; the next one is closed before it is read. */
  private limitConnections(max: number): void {
    const open = new Map<string, number>();
    this.server.on("connection", (socket: Socket) => {
      const address = socket.remoteAddress ?? "";
      const count = open.get(address) ?? 0;
      if (count >= max) {
        this.refusedConnections++;
        this.logOnce("connections", { address, max }, "connection refused: per-address connection cap");
        socket.destroy();
        return;
      }
      open.set(address, count + 1);
      socket.once("close", () => {
        const left = (open.get(address) ?? 1) - 1;
        if (left === 0) open.delete(address);
        else open.set(address, left);
      });
    });
  }

  /** Takes a token from `origin`'s bucket outside a request of its own: a forwarded call's envelope origin (FWD-14). */
  chargeOrigin(origin: string): void {
    this.limiter.takeOrigin(origin);
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve(this.server.address() as AddressInfo));
    });
  }

  /** Stops accepting connections and waits for in-flight requests; idle keep-alive sockets are closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
      setTimeout(() => this.server.closeAllConnections(), 2_000).unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const target = req.url ?? "/";
    const q = target.indexOf("?");
    const path = q < 0 ? target : target.slice(0, q);
    let origin: string | undefined;
    let status = 500;
    try {
      const { route, params } = this.routes.match(req.method ?? "GET", path);
      const ctx = await this.prepare(route, params, req, target, q < 0 ? "" : target.slice(q + 1), closeSignal(res));
      origin = ctx.auth?.origin;
      const reply = await route.handler(ctx);
      this.checkResponse(route, reply);
      status = reply.status;
      sendJson(res, reply.status, reply.body, reply.headers);
    } catch (err) {
      if (!(err instanceof SmcpError)) this.logLimited("error", `failed ${path}`, { err, path }, "handler failed");
      const allow = (err as { allow?: string[] }).allow;
      if (allow && !res.headersSent) res.setHeader("allow", allow.join(", "));
      status = sendError(res, err).status;
      // SIGN-30: after a 413 sendError closes the connection instead; other refusals drain the (bounded) body.
      if (!req.complete && status !== 413) req.resume();
    } finally {
      const duration_ms = Math.round((performance.now() - started) * 1000) / 1000;
      this.logLimited("info", `request ${req.socket.remoteAddress ?? ""}`, { origin, method: req.method, path, status, duration_ms }, "request");
    }
  }

  /** One log line, unless its key (client address or kind) is over its rate; the next line says how many were dropped. */
  private logLimited(level: "info" | "warn" | "error", key: string, fields: Record<string, unknown>, message: string): void {
    const suppressed = this.logLimiter.take(key);
    if (suppressed < 0) return;
    this.opts.logger[level](suppressed > 0 ? { ...fields, suppressed_lines: suppressed } : fields, message);
  }

  private logOnce(kind: string, fields: Record<string, unknown>, message: string): void {
    this.logLimited("warn", `${kind} ${String(fields.address ?? "")}`, fields, message);
  }

  /** Runs the edge checks in the spec's order and builds the handler's context. */
  private async prepare(
    route: Route,
    params: Record<string, string>,
    req: IncomingMessage,
    uri: string,
    rawQuery: string,
    signal: () => AbortSignal,
  ): Promise<RequestContext> {
    if (route.kind === "control") this.checkControlAccess(req);
    const raw = await readBody(req, this.opts.maxBodyBytes);
    const ctx: RequestContext = {
      req, params, query: {}, body: undefined, raw, bodySha256: "",
      get signal() {
        return signal();
      },
    };
    if (route.kind === "federation") await this.authenticate(ctx, uri);
    // Check 9 in its order: (a) a body where none is taken, (b) any content coding (SIGN-22), (c) media type and I-JSON.
    if (route.body === undefined && raw.length > 0) throw new SmcpError("SMCP_INVALID", `${route.method} ${route.path} takes no body`);
    const coding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
    if (coding !== "identity") throw new SmcpError("SMCP_UNSUPPORTED_MEDIA_TYPE", `Content-Encoding ${coding} is not accepted`);
    if (route.body !== undefined) ctx.body = parseJsonBody(req, raw);
    if (ctx.auth) {
      assertBodyOrigin(ctx.auth, ctx.body);
      this.limiter.take(ctx.auth.origin, ctx.auth.keyId, clientAddress(req));
    }
    for (const name of Object.keys(params)) params[name] = decodeSegment(params[name]!);
    checkParams(route, params);
    ctx.query = parseQuery(route, rawQuery);
    if (route.body !== undefined) assertValid(route.body, ctx.body);
    return ctx;
  }

  private async authenticate(ctx: RequestContext, uri: string): Promise<void> {
    const base = this.opts.auth;
    const address = clientAddress(ctx.req);
    const charge = () => this.unauthenticatedWork.take(address);
    const auth = await authenticateRequest(
      { ...base, lookupKey: async (o, k) => (ctx.originKey = (await base.lookupKey(o, k, charge)) ?? undefined) ?? null },
      single(ctx.req.headers[AUTH_HEADER]),
      { method: ctx.req.method ?? "GET", uri, body: ctx.raw },
    );
    base.onVerified?.(auth.origin);
    ctx.auth = auth;
    ctx.bodySha256 = sha256Base64Url(ctx.raw);
  }

  /** Control API: loopback callers with the bearer token only (spec §12). */
  private checkControlAccess(req: IncomingMessage): void {
    const remote = req.socket.remoteAddress ?? "";
    if (!isLoopbackAddress(remote)) throw new SmcpError("SMCP_FORBIDDEN", "the control API answers loopback callers only");
    const header = req.headers.authorization ?? "";
    // Digests of equal length compared in constant time: neither the token's length nor its content leaks.
    const given = sha256(header.startsWith("Bearer ") ? header.slice(7) : "");
    if (!header.startsWith("Bearer ") || !timingSafeEqual(given, this.controlTokenDigest)) {
      throw new SmcpError("SMCP_UNAUTHORIZED", "missing or wrong control token");
    }
  }

  private checkResponse(route: Route, reply: Reply): void {
    if (!this.opts.validateResponses || !route.response || reply.status >= 300 || reply.status === 204) return;
    const issues = validate(route.response, reply.body);
    if (issues.length > 0) {
      this.opts.logger.error({ route: route.path, issues }, "response does not match its schema");
      throw new Error(`response of ${route.method} ${route.path} does not match ${route.response}: ${JSON.stringify(issues)}`);
    }
  }
}

/** An AbortSignal that fires when the client goes away; made only when a handler asks (most never do). */
function closeSignal(res: ServerResponse): () => AbortSignal {
  let controller: AbortController | undefined;
  return () => {
    if (!controller) {
      const c = (controller = new AbortController());
      if (res.closed) c.abort();
      else res.once("close", () => c.abort());
    }
    return controller.signal;
  };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new SmcpError("SMCP_INVALID", `path segment ${segment} is not valid percent-encoding`);
  }
}

function checkParams(route: Route, params: Record<string, string>): void {
  for (const [name, schema] of Object.entries(route.params ?? {})) {
    const issues = validate(schema, params[name]);
    if (issues.length > 0) {
      throw new SmcpError("SMCP_INVALID", `path parameter ${name} is not a valid ${schema}`, {
        details: issues.map((i) => ({ path: `/${name}`, message: i.message })),
      });
    }
  }
}

function parseQuery(route: Route, rawQuery: string): Record<string, number | undefined> {
  const spec = route.query;
  // A route without query parameters ignores the query string, as it always did: nothing to parse.
  if (spec === undefined) return {};
  const given = new URLSearchParams(rawQuery);
  const out: Record<string, number | undefined> = {};
  for (const [name, bounds] of Object.entries(spec)) {
    const text = given.get(name);
    if (text === null) {
      if (bounds.required) throw invalid(name, "is required");
      continue;
    }
    const n = /^(0|[1-9][0-9]{0,15})$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(n) || n < bounds.min || n > bounds.max) throw invalid(name, `must be an integer in [${bounds.min}, ${bounds.max}]`);
    out[name] = n;
  }
  return out;
}

function invalid(name: string, message: string): SmcpError {
  return new SmcpError("SMCP_INVALID", `query parameter ${name} ${message}`, { details: [{ path: `/${name}`, message }] });
}

export function assertValid(schema: string, value: unknown): void {
  const issues = validate(schema, value);
  if (issues.length > 0) throw new SmcpError("SMCP_INVALID", `body is not a valid ${schema}`, { details: issues });
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The client's address as rate limits key it: IPv4-mapped IPv6 as plain IPv4. */
export function clientAddress(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? "";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

export function isLoopbackAddress(address: string): boolean {
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  return a === "::1" || /^127\./.test(a);
}

function sha256(text: string): Buffer {
  return hash("sha256", text, "buffer");
}
