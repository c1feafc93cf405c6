// Roshumba: cross-instance tool calls — idempotent, at-most-once incoming calls to local components, and outgoing calls to peers (spec §10).
import type Database from "better-sqlite3";
import type { Logger } from "pino";
import { sha256Base64Url } from "../../protocol/signing.ts";
import { randomId } from "../../protocol/random-id.ts";
import { CALL_ANSWER_MARGIN_MS, CALL_TIMEOUT_MAX_MS, MIN_RESULT_RETENTION_MS } from "../../protocol/limits.ts";
import { canonicalBytes } from "../../protocol/canonical-json.ts";
import { SmcpError, isErrorCode } from "../../protocol/errors.ts";
import { errorFromAnswer, type HttpAnswer } from "../../protocol/http-client.ts";
import { parseComponentUri } from "../../protocol/identity.ts";
import { validate } from "../../protocol/schemas.ts";
import type { CallTool, RegistryListing, RemoteCall, RemoteCallResult } from "../../protocol/types.ts";
import { ComponentUnavailableError, type ComponentHost } from "../components/host.ts";
import type { FederationSender } from "../federation-sender.ts";
import type { ForwardOrigin } from "./forward-origin.ts";
import type { ForwardConsent } from "./forward-consent.ts";
import type { ForwardRoutes } from "./forward-routes.ts";
import { CallStore, type CallRow } from "./store.ts";

/** Default and ceiling of `timeout_ms` (spec §10.4 CALL-16). */
export const MAX_CALL_TIMEOUT_MS = CALL_TIMEOUT_MAX_MS;
/** Results are kept at least this long (spec §10.3 CALL-14). */
export const RESULT_RETENTION_MS = MIN_RESULT_RETENTION_MS;
const PRUNE_INTERVAL_MS = 60_000;
/** The peer gives up after timeout_ms and answers 504; wait T + 5 s for that answer (spec §10.4 CALL-19). */
const NETWORK_MARGIN_MS = CALL_ANSWER_MARGIN_MS;
/** Remote errors the control API relays with their own errcode (spec §12.4 CTRL-28); any other becomes 502. */
const RELAYED_ERRORS: ReadonlySet<string> = new Set([
  "SMCP_FORBIDDEN", "SMCP_UNKNOWN_TARGET", "SMCP_UNKNOWN_TOOL", "SMCP_CONFLICT", "SMCP_COMPONENT_UNAVAILABLE", "SMCP_CALL_TIMEOUT",
]);
const CALL_PATH = "/federation/v1/call";

export interface RoshumbaOptions {
  self: string;
  db: Database.Database;
  components: ComponentHost;
  federation: FederationSender;
  /** Whether `origin` may call this instance's components: a member of a channel we hub, or allow-listed (spec §10.5). */
  mayCall: (origin: string) => boolean;
  now?: () => number;
  logger?: Logger;
  /** How much longer than the call's timeout a caller waits for the peer's answer (default 5 s, CALL-19; tests shorten it). */
  networkMarginMs?: number;
  /** 1.1 forwarding (spec §10.6): the origin's side, the routes, and the consent advertised in the registry listing. */
  forwarding?: { origin: ForwardOrigin; routes: ForwardRoutes; consent: ForwardConsent };
}

interface InFlight {
  bodySha256: string;
  promise: Promise<RemoteCallResult>;
}

/** Local calls have no body bytes: their identity is the hash of the call's canonical JSON. */
function localBodySha256(call: RemoteCall): string {
  try {
    return sha256Base64Url(canonicalBytes(call));
  } catch (err) {
    throw new SmcpError("SMCP_INVALID", `params have no canonical JSON form: ${(err as Error).message}`);
  }
}

export function newCallId(): string {
  return randomId(16);
}

function clampTimeout(ms: number | undefined): number {
  return Math.min(Math.max(ms ?? MAX_CALL_TIMEOUT_MS, 1), MAX_CALL_TIMEOUT_MS);
}

/** The tool was certainly not run: nothing to remember, a retry may run it. */
function notDispatched(err: unknown): boolean {
  if (err instanceof ComponentUnavailableError) return !err.dispatched;
  return err instanceof SmcpError && (err.errcode === "SMCP_UNKNOWN_TARGET" || err.errcode === "SMCP_UNKNOWN_TOOL");
}

export class Roshumba {
  private readonly self: string;
  private readonly store: CallStore;
  private readonly components: ComponentHost;
  private readonly federation: FederationSender;
  private readonly mayCall: (origin: string) => boolean;
  private readonly now: () => number;
  private readonly log: Logger | undefined;
  private readonly networkMarginMs: number;
  private readonly forwarding: RoshumbaOptions["forwarding"];
  private readonly inFlight = new Map<string, InFlight>();
  private lastPrune = 0;

  constructor(opts: RoshumbaOptions) {
    this.self = opts.self;
    this.components = opts.components;
    this.federation = opts.federation;
    this.mayCall = opts.mayCall;
    this.now = opts.now ?? Date.now;
    this.log = opts.logger;
    this.networkMarginMs = opts.networkMarginMs ?? NETWORK_MARGIN_MS;
    this.forwarding = opts.forwarding;
    this.store = new CallStore(opts.db);
    // Nothing is in flight yet, so any `started` row was cut short by a crash.
    const interrupted = this.store.recoverInterrupted(this.now());
    if (interrupted > 0) this.log?.warn({ interrupted }, "calls interrupted by a restart are answered SMCP_COMPONENT_UNAVAILABLE");
  }

  /**
   * `POST /federation/v1/call`, after the edge authenticated the request and validated the body.
   * `bodySha256` identifies the exact body bytes (the request's content_sha256): same call_id, other bytes → 409.
   */
  handleIncoming(origin: string, call: RemoteCall, bodySha256: string): Promise<RemoteCallResult> {
    if (!this.mayCall(origin)) {
      return Promise.reject(new SmcpError("SMCP_FORBIDDEN", `${origin} is neither a member of a channel ${this.self} hubs nor on its call allow-list`));
    }
    return this.run(origin, call, bodySha256);
  }

  /** `POST /control/v1/calls`: call a tool on a peer (or on this instance, without going through HTTP). */
  async callRemote(req: CallTool): Promise<RemoteCallResult> {
    const issues = validate("CallTool", req);
    if (issues.length > 0) throw new SmcpError("SMCP_INVALID", "invalid call request", { details: issues });
    const server = parseComponentUri(req.target)!.server;
    const call: RemoteCall = { origin: this.self, call_id: req.call_id ?? newCallId(), target: req.target, tool: req.tool, params: req.params };
    if (req.timeout_ms !== undefined) call.timeout_ms = req.timeout_ms;
    // Our own components: same idempotency rules, keyed by our own name, without a network round trip.
    if (server === this.self) return this.run(this.self, call, localBodySha256(call));
    const callIssues = validate("RemoteCall", call);
    if (callIssues.length > 0) throw new SmcpError("SMCP_INVALID", "invalid remote call", { details: callIssues });
    // 1.1: the caller's `via` (FWD-36), else an operator's route for this destination (FWD-27), sends the call through it.
    if (req.via !== undefined) {
      if (!this.forwarding) throw new SmcpError("SMCP_INVALID", "this instance does not forward calls", { details: [{ path: "/via", message: "forwarding is not enabled" }] });
      const bad = req.via.findIndex((v) => v === this.self || v === server);
      if (bad >= 0) throw new SmcpError("SMCP_INVALID", "via names this instance or the destination", { details: [{ path: `/via/${bad}`, message: "not an intermediate" }] });
      return this.forwarding.origin.call(call, server, req.via);
    }
    const configured = this.forwarding?.routes.configuredFor(server) ?? [];
    if (configured.length > 0 && this.forwarding!.origin.canForwardTo(server)) return this.forwarding!.origin.call(call, server, configured);
    const waitMs = clampTimeout(call.timeout_ms) + this.networkMarginMs;
    // The transport's own timeout is set later than ours, so that our wait ending first is 504, not 502 (CTRL-29).
    let answer: HttpAnswer;
    try {
      answer = await withDeadline(this.federation.request(server, "POST", CALL_PATH, call, { timeoutMs: waitMs + 1_000 }), waitMs, () =>
        new SmcpError("SMCP_CALL_TIMEOUT", `no answer from ${server} to call ${call.call_id} within ${waitMs} ms`));
    } catch (err) {
      return this.forwardInstead(call, server, err);
    }
    return this.checkAnswer(server, call, answer);
  }

  /** FWD-27: a destination that could not be discovered or reached is tried through a known route, same call_id. */
  private async forwardInstead(call: RemoteCall, server: string, err: unknown): Promise<RemoteCallResult> {
    const f = this.forwarding;
    if (!f || !(err instanceof SmcpError) || err.errcode !== "SMCP_PEER_UNREACHABLE" || !f.origin.canForwardTo(server)) throw err;
    const vias = await f.routes.candidates(server, new Set([this.self, server]));
    if (vias.length === 0) throw err;
    this.log?.info({ destination: server, vias, call_id: call.call_id }, "destination unreachable; forwarding the call");
    return f.origin.call(call, server, vias);
  }

  /**
   * A forwarded call at its destination (spec §10.6 FWD-21, FWD-23): §10.1–§10.4 keyed by (origin, call_id), with
   * `identity` (the envelope's hash) standing for the body bytes; the forwarder authorised the origin (FWD-20).
   */
  runForwarded(origin: string, call: RemoteCall, identity: string): Promise<RemoteCallResult> {
    return this.run(origin, call, identity);
  }

  /** `GET /federation/v1/registry`: what `origin` may call here; nothing at all when it may not call (spec §11.2). */
  registryFor(origin: string): RegistryListing {
    const components = this.mayCall(origin) ? this.components.list(this.self) : [];
    const forwardsTo = this.forwarding?.consent.destinationsFor(origin) ?? [];
    // 1.1 (FWD-33): the destinations this instance forwards the caller's calls to; absent for anyone else.
    return forwardsTo.length > 0 ? { server_name: this.self, components, forwards_to: forwardsTo } : { server_name: this.self, components };
  }

  private run(origin: string, call: RemoteCall, bodySha256: string): Promise<RemoteCallResult> {
    // Everything up to the in-flight registration is synchronous, so concurrent duplicates cannot both dispatch.
    try {
      const key = `${origin}\n${call.call_id}`;
      const flight = this.inFlight.get(key);
      if (flight) return flight.bodySha256 === bodySha256 ? flight.promise : Promise.reject(this.conflict(call));
      this.maybePrune();
      const row = this.store.get(origin, call.call_id);
      if (row) return this.replay(row, call, bodySha256);
      const component = this.localComponent(call);
      this.store.start(origin, call.call_id, bodySha256, this.now());
      const promise = this.execute(origin, call, component);
      const clear = (): void => void this.inFlight.delete(key);
      promise.then(clear, clear);
      this.inFlight.set(key, { bodySha256, promise });
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The component named by a target on this server; unknown server/component/tool are 404s (spec §10.1). */
  private localComponent(call: RemoteCall): string {
    const target = parseComponentUri(call.target);
    if (!target || target.server !== this.self) {
      throw new SmcpError("SMCP_UNKNOWN_TARGET", `${call.target} is not a component of ${this.self}`);
    }
    const tools = this.components.tools(target.component);
    if (tools === undefined) throw new SmcpError("SMCP_UNKNOWN_TARGET", `${this.self} has no component named ${target.component}`);
    // An empty listing means the component never started: let the host answer COMPONENT_UNAVAILABLE instead.
    if (tools.length > 0 && !tools.some((t) => t.name === call.tool)) {
      throw new SmcpError("SMCP_UNKNOWN_TOOL", `component ${target.component} has no tool named ${call.tool}`);
    }
    return target.component;
  }

  private async execute(origin: string, call: RemoteCall, component: string): Promise<RemoteCallResult> {
    const started = this.now();
    try {
      const result = await this.components.callTool(component, call.tool, call.params, clampTimeout(call.timeout_ms));
      const answer: RemoteCallResult = { call_id: call.call_id, target: call.target, tool: call.tool, result };
      this.store.complete(origin, call.call_id, answer, this.now());
      this.log?.debug({ origin, call_id: call.call_id, tool: call.tool, ms: this.now() - started }, "call completed");
      return answer;
    } catch (err) {
      throw this.recordFailure(origin, call, err);
    }
  }

  /** Never dispatched → forgotten (a retry may run the tool); otherwise the id is spent and the error replayed. */
  private recordFailure(origin: string, call: RemoteCall, err: unknown): SmcpError {
    const e = err instanceof SmcpError ? err : new SmcpError("SMCP_INTERNAL", "internal error while calling the component");
    if (e !== err) this.log?.error({ err, call_id: call.call_id }, "component call failed unexpectedly");
    if (notDispatched(e)) this.store.forget(origin, call.call_id);
    else this.store.markFailed(origin, call.call_id, e.errcode, e.message, this.now());
    return e;
  }

  private replay(row: CallRow, call: RemoteCall, bodySha256: string): Promise<RemoteCallResult> {
    if (row.body_sha256 !== bodySha256) return Promise.reject(this.conflict(call));
    if (row.state === "done" && row.result !== null) return Promise.resolve(JSON.parse(row.result) as RemoteCallResult);
    const errcode = row.state === "failed" && isErrorCode(row.errcode) ? row.errcode : "SMCP_COMPONENT_UNAVAILABLE";
    const message = `call ${call.call_id} was already attempted and will not run again: ${row.error ?? "outcome unknown"}`;
    return Promise.reject(new SmcpError(errcode, message));
  }

  private conflict(call: RemoteCall): SmcpError {
    return new SmcpError("SMCP_CONFLICT", `call_id ${call.call_id} was already used with a different body`);
  }

  private maybePrune(): void {
    const now = this.now();
    if (now - this.lastPrune < PRUNE_INTERVAL_MS) return;
    this.lastPrune = now;
    const pruned = this.store.pruneBefore(now - RESULT_RETENTION_MS);
    if (pruned > 0) this.log?.debug({ pruned }, "expired call results pruned");
  }

  /**
   * A peer's 200 must be a RemoteCallResult for this very call. Its errors of CTRL-28 are relayed; any other error
   * or an invalid answer is the peer's failure: 502 SMCP_PEER_UNREACHABLE with the cause (spec §12.4 CTRL-29).
   */
  private checkAnswer(server: string, call: RemoteCall, answer: HttpAnswer): RemoteCallResult {
    if (answer.status < 200 || answer.status > 299) {
      const err = errorFromAnswer(answer, server);
      if (RELAYED_ERRORS.has(err.errcode)) throw err;
      throw peerFailed(server, `answered ${answer.status} ${err.errcode}: ${err.message}`, err.extra.retryAfterMs);
    }
    if (answer.status !== 200) throw peerFailed(server, `answered ${answer.status} to a call; expected 200`);
    if (answer.body === undefined) throw peerFailed(server, `answered 200 to a call without an I-JSON body${answer.bodyError ? ` (${answer.bodyError})` : ""}`);
    const issues = validate("RemoteCallResult", answer.body);
    if (issues.length > 0) {
      const where = issues.map((i) => `${i.path || "/"} ${i.message}`).join("; ");
      throw peerFailed(server, `answered a call with an invalid RemoteCallResult: ${where}`);
    }
    const result = answer.body as RemoteCallResult;
    if (result.call_id !== call.call_id || result.target !== call.target || result.tool !== call.tool) {
      throw peerFailed(server, `answered call ${call.call_id} with the result of another call (${result.call_id})`);
    }
    return result;
  }
}

function peerFailed(server: string, why: string, retryAfterMs = 1000): SmcpError {
  return new SmcpError("SMCP_PEER_UNREACHABLE", `${server} ${why}`, { retryAfterMs: Math.max(1, retryAfterMs) });
}

/** `promise`, or the error `onTimeout` makes if it has not settled within `ms`. */
function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
